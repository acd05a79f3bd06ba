import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Edits a configuration file's text in place for `paddock allow` and `paddock deny`.
public enum ConfigFileEdit {
    /// Applies `edit` to `file` (a missing file is empty). With `trust`, the file must be trusted as it is, and the
    /// edited text is trusted after it is written. Returns whether anything changed.
    ///
    /// The file is read once: trust is checked on those bytes, the edit is made to them, and before writing the
    /// file must still hold them (else nothing is written or trusted: someone, perhaps the agent, changed it
    /// meanwhile). The edit goes through a new file and a rename, so a link the agent put there is replaced, not
    /// followed. What is trusted is the buffer paddock wrote, never the file read back. `afterCheck` runs between
    /// the trust check and the edit: a seam for tests, where a racing agent acts.
    @discardableResult
    public static func apply(
        file: String, trust: TrustStore?, edit: (String) throws -> String, afterCheck: () -> Void = {}
    ) throws -> Bool {
        let original = try contents(file)
        let text = original ?? ""
        if let trust, original != nil {
            // Only a file the user already trusts may be edited and re-trusted: otherwise paddock would bless
            // whatever the agent wrote into it.
            try requireTrusted(file, text, trust)
        }
        afterCheck()
        let edited = try edit(text)
        guard edited != text else { return false }
        guard try contents(file) == original else {
            if let trust, let now = try contents(file) { try requireTrusted(file, now, trust) }
            throw PaddockError.fileSystem(
                path: file,
                message: "changed while paddock was editing it, so nothing was written; run the command again")
        }
        try replace(file, with: edited)
        if let trust { try trust.trust(file: file, content: edited) }
        return true
    }

    static func requireTrusted(_ file: String, _ text: String, _ trust: TrustStore) throws {
        switch try trust.status(file: file, content: text) {
        case .trusted: return
        case .neverTrusted(let diff), .changed(let diff):
            throw PaddockError.untrustedProjectConfig(file: file, diff: diff)
        }
    }

    /// The file's text, nil when there is none. Bytes that are not UTF-8 cannot be the text anyone trusted.
    static func contents(_ file: String) throws -> String? {
        guard let data = FileManager.default.contents(atPath: file) else {
            guard FileManager.default.fileExists(atPath: file) else { return nil }
            throw PaddockError.fileSystem(path: file, message: "cannot be read; check its permissions")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PaddockError.fileSystem(path: file, message: "is not UTF-8 text, so paddock will not edit it")
        }
        return text
    }

    /// Writes `text` to a new file beside `file` and renames it over `file`.
    static func replace(_ file: String, with text: String) throws {
        let directory = (file as NSString).deletingLastPathComponent
        let temporary =
            directory + "/." + (file as NSString).lastPathComponent + ".paddock-" + UUID().uuidString + ".tmp"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw PaddockError.fileSystem(path: directory, message: "cannot create the folder: \(error)")
        }
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw PaddockError.fileSystem(
                path: temporary, message: "cannot be created: \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        var written = 0
        var failure: Int32 = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                failure = errno
                break
            }
            written += result
        }
        if failure == 0, fsync(descriptor) != 0 { failure = errno }
        close(descriptor)
        if failure == 0, rename(temporary, file) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary)
            throw PaddockError.fileSystem(path: file, message: "cannot write: \(String(cString: strerror(failure)))")
        }
    }
}
