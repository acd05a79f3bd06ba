import Foundation
import PaddockCore

/// Whether git executes or follows what is at this path inside a git directory; the rest is data git only reads.
enum GitDirectoryPaths {
    static let followed: Set<String> = [
        "config", "config.worktree", "commondir", "gitdir", "hooks", "info", "branches", "remotes", "worktrees",
    ]

    static func isFollowed(_ components: [String]) -> Bool {
        for (index, component) in components.enumerated() {
            switch component {
            case "refs", "logs", "lfs", "rr-cache": return false
            case "objects": return components.dropFirst(index + 1).first == "info"
            default: if followed.contains(component) { return true }
            }
        }
        return false
    }

    /// `.git` as git finds it: also `.GIT` (case-insensitive file systems) and with the characters HFS+ ignores.
    static func isDotGit(_ name: RawPath) -> Bool {
        guard name.count >= 4, name.first == UInt8(ascii: ".") else { return false }
        let ignorable: ClosedRange<UInt32> = 0x200C...0x200F
        let scalars = String(decoding: name, as: UTF8.self).unicodeScalars.filter {
            !ignorable.contains($0.value) && !(0x202A...0x202E).contains($0.value)
                && !(0x206A...0x206F).contains($0.value) && $0.value != 0xFEFF
        }
        return String(String.UnicodeScalarView(scalars)).lowercased() == ".git"
    }
}
