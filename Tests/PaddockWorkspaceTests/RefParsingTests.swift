import Testing

@testable import PaddockWorkspace

/// The refs paddock reads from a clone without git: the agent wrote every byte. An id that comes out goes into git's
/// argv and paddock's scratch repository, so it must be what git takes for an object id.
@Suite("Refs read back from a clone")
struct RefParsingTests {
    static let id = "1f0e2d3c4b5a69788796a5b4c3d2e1f001122334"

    @Test func packedLooseAndSymbolicHEAD() {
        var snapshot = RefSnapshot()
        snapshot.refs = RefSnapshot.packedRefs(
            Array("# pack-refs with: peeled fully-peeled sorted \n\(Self.id) refs/heads/main\n^\(Self.id)\n".utf8),
            format: "sha1")
        snapshot.resolveHead(Array("ref: refs/heads/main\n".utf8), format: "sha1")
        #expect(snapshot.refs == ["refs/heads/main": Self.id])
        #expect(snapshot.headRef == "refs/heads/main")
        #expect(snapshot.head == Self.id)
        #expect(RefSnapshot.looseRef(Array("\(Self.id)\n".utf8), format: "sha1") == Self.id)
        #expect(RefSnapshot.looseRef(Array("ref: refs/heads/main\n".utf8), format: "sha1") == nil)
    }

    /// `Character.isHexDigit` is true for the fullwidth forms too (U+FF10–U+FF19, U+FF41–U+FF46).
    @Test(
        "look-alike ids are not object ids",
        arguments: [
            String(repeating: "\u{FF41}", count: 40), String(repeating: "\u{FF10}", count: 39) + "a",
            String(repeating: "A", count: 40), String(repeating: "a", count: 39),
        ])
    func lookAlikeIDs(_ text: String) {
        #expect(!RefSnapshot.isObjectID(text, format: "sha1"))
        #expect(RefSnapshot.packedRefs(Array("\(text) refs/heads/main\n".utf8), format: "sha1").isEmpty)
        #expect(RefSnapshot.looseRef(Array(text.utf8), format: "sha1") == nil)
        var snapshot = RefSnapshot()
        snapshot.resolveHead(Array(text.utf8), format: "sha1")
        #expect(snapshot.head == nil)
    }
}
