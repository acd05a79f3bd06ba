@testable import PaddockWorkspace

/// What paddock reads back from a session's clone without git: `packed-refs`, loose refs and HEAD, all written by
/// the agent. Every id that comes out is what git would take as an object id (it ends up in git's argv and in
/// paddock's scratch repository), every ref name is under `refs/`.
///
/// Input: the packed-refs text, then optionally a NUL and HEAD's text, then a NUL and one loose ref's text.
enum RefsFuzz {
    static func run(_ bytes: [UInt8]) {
        let parts = bytes.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        for format in ["sha1", "sha256"] {
            var snapshot = RefSnapshot()
            snapshot.refs = RefSnapshot.packedRefs(parts[0], format: format)
            if parts.count > 2, let id = RefSnapshot.looseRef(parts[2], format: format) {
                snapshot.refs["refs/heads/paddock/loose"] = id
            }
            if parts.count > 1 {
                snapshot.resolveHead(parts[1], format: format)
            }
            let length = format == "sha256" ? 64 : 40
            func isID(_ text: String) -> Bool {
                text.utf8.count == length
                    && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
            }
            for (name, id) in snapshot.refs {
                invariant(name.hasPrefix("refs/"), "ref name \(name.debugDescription) is not under refs/")
                invariant(isID(id), "\(name.debugDescription) was read as the \(format) id \(id.debugDescription)")
            }
            if let head = snapshot.head {
                invariant(isID(head), "HEAD was read as the \(format) id \(head.debugDescription)")
            }
            if let ref = snapshot.headRef {
                invariant(snapshot.head == snapshot.refs[ref], "HEAD -> \(ref.debugDescription) resolved to another id")
            }
        }
    }
}
