/// The commented `paddock.toml` that `paddock init` writes and trusts.
public enum ConfigTemplate {
    public static let project = """
        # paddock.toml: this project's sandbox. The agent can edit this file, so paddock applies it only
        # after you approve its exact contents with `paddock trust` (paddock init trusts what it writes).

        # The agent: "claude" (default), "codex", "gemini" or "shell".
        # agent = "claude"

        # "mount" (default): the project itself at /workspace, edits live.
        # "clone": a per-session clone; work comes back as the branch paddock/<session>.
        # isolate = "mount"

        # Host environment variables passed through (names only; values never appear in argv).
        env = []

        [image]
        # base = "debian:bookworm-slim"
        # Debian packages added to the image (a change rebuilds it).
        packages = []

        [resources]
        # cpus = 2
        # memory = "8g"
        # pids = 4096

        # Extra host paths, read-only unless rw = true. ~/.ssh, cloud credentials and the home folder are refused.
        # [[mounts]]
        # path = "~/datasets"
        # target = "/mnt/datasets"
        # rw = false

        [network]
        # Hosts the sandbox may reach through paddock's gateway (everything else is refused).
        # presets = ["github"]
        # allow = ["example.com", "*.example.org", "github.com:22"]
        # deny = ["gist.github.com"]

        """
}
