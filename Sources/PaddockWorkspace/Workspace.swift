// Mount-mode protections and per-session clones land here (issue 4).
