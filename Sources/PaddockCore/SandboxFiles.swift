/// Files paddock adds to every image, by path relative to `/`.
public enum SandboxFiles {
    public static let all: [String: String] = [:]
}
