/// Picks the step lines out of an image builder's output, so a build shows as progress instead of a dump.
public enum BuildProgress {
    /// The line itself when it starts a build step, else nil. Three builders: Docker's classic one
    /// ("Step 3/7 : RUN …"), BuildKit ("#5 [2/4] RUN …", "#5 [stage 2/4] RUN …") and Podman's Buildah
    /// ("STEP 3/7: RUN …"). BuildKit's own bookkeeping ("#2 [internal] load metadata for …") is not a step.
    public static func step(in line: String) -> String? {
        for prefix in ["Step ", "STEP "] where line.hasPrefix(prefix) {
            let words = line.dropFirst(prefix.count).split(separator: " ", maxSplits: 1)
            guard let count = words.first else { return nil }
            let isStep =
                isStepCount(count) && line.contains(":")
                || count.hasSuffix(":") && isStepCount(count.dropLast())
            return isStep ? line : nil
        }
        if line.hasPrefix("#"), let open = line.firstIndex(of: "["),
            let close = line[open...].firstIndex(of: "]"),
            let count = line[line.index(after: open)..<close].split(separator: " ").last
        {
            return isStepCount(count) ? line : nil
        }
        return nil
    }

    /// "N/M" with both numbers present.
    private static func isStepCount(_ text: Substring) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }
}
