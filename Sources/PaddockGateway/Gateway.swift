// The egress gateway lands here (issue 3).
