import Crypto
import Foundation

/// An agent installed from a file the user already has (a single executable, or a tar archive holding it) rather
/// than from its installer: for air-gapped and company networks, and for tests with pinned real CLIs. The file is
/// copied into the build context; its SHA-256 names the image (through the context hash) and is recorded in the
/// image's `paddock.agent-sha256` label.
public struct AgentArtifact: Equatable, Sendable {
    public enum Kind: String, Sendable {
        case binary
        case archive
    }

    public static let label = "paddock.agent-sha256"
    public static let archiveSuffixes = [".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2"]
    /// Where an archive is unpacked in the image.
    public static let archiveDirectory = "/opt/paddock-agent"

    public var kind: Kind
    /// The resolved host path it was read from.
    public var hostPath: String
    public var sha256: String

    public init(kind: Kind, hostPath: String, sha256: String) {
        self.kind = kind
        self.hostPath = hostPath
        self.sha256 = sha256
    }

    /// The file's name in the build context. A fixed name, never the user's: nothing of the host path reaches the
    /// Dockerfile.
    public var contextPath: String {
        switch kind {
        case .binary: "agent/executable"
        case .archive: "agent/archive" + (Self.archiveSuffix(of: hostPath) ?? ".tar")
        }
    }

    public static func archiveSuffix(of path: String) -> String? {
        let lower = path.lowercased()
        return archiveSuffixes.filter { lower.hasSuffix($0) }.max { $0.count < $1.count }
    }

    /// The Dockerfile lines that put `executable` (the agent's command name) on PATH from this artifact. `ADD`
    /// unpacks a local tar archive itself, so the image needs no decompressor and keeps no copy of the archive.
    func dockerfileLines(executable: String) -> [String] {
        switch kind {
        case .binary:
            // The context copy is 0755, and COPY keeps the mode: no chmod layer holding the file a second time.
            return ["COPY \(contextPath) /usr/local/bin/\(executable)"]
        case .archive:
            return [
                "ADD \(contextPath) \(Self.archiveDirectory)/",
                """
                RUN found="$(find \(Self.archiveDirectory) -type f -name \(executable) | sort | head -n 1)" \\
                 && if [ -z "$found" ]; then echo "paddock: the agent archive holds no file named \(executable)" >&2; exit 1; fi \\
                 && chmod 0755 "$found" && ln -s "$found" /usr/local/bin/\(executable)
                """,
            ]
        }
    }

    /// SHA-256 of a file, read in pieces (the Claude Code executable is about 400 MB).
    public static func sha256(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw PaddockError.fileSystem(path: path, message: "cannot read the agent file")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        do {
            while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
                hasher.update(data: chunk)
            }
        } catch {
            throw PaddockError.fileSystem(path: path, message: "cannot read the agent file: \(error)")
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
