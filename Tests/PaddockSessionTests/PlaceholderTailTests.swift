import Foundation
import PaddockCore
import Testing

@testable import PaddockSession

/// Claude Code remembers an approved API key by its last 20 characters: a placeholder new each session must end
/// the same way each session, or the user answers "use this API key?" every time.
@Suite("Placeholders end the same way every session")
struct PlaceholderTailTests {
    @Test func twoSessionsShareTheLast20CharactersAndNothingElse() throws {
        let bench = try SessionBench()
        let tails = PlaceholderTails(paths: bench.paths)
        let first = tails.tails()
        #expect(first == tails.tails(), "kept in the state directory")
        let anthropic = try #require(first["ANTHROPIC_API_KEY"])
        #expect(PlaceholderTails.isTail(anthropic))
        #expect(first["OPENAI_API_KEY"] != anthropic, "one per variable")
        let attributes = try FileManager.default.attributesOfItem(atPath: tails.file)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        func placeholder(_ session: String) throws -> String {
            let secrets = try SessionSecrets.resolve(
                config: PaddockConfig(), profile: .claude, environment: ["ANTHROPIC_API_KEY": "sk-real-secret-value"],
                home: bench.home, session: try #require(SessionID(session)), tails: first)
            return try #require(secrets.sandboxEnvironment["ANTHROPIC_API_KEY"])
        }
        let one = try placeholder("20261201-120000-00ab")
        let two = try placeholder("20261201-120001-00cd")
        #expect(one != two)
        #expect(one.suffix(20) == two.suffix(20))
        #expect(String(one.suffix(20)) == anthropic)
        #expect(!one.contains("sk-real") && !one.contains("secret-value"))
    }

    @Test func aDamagedFileIsReplacedNotTrusted() throws {
        let bench = try SessionBench()
        let tails = PlaceholderTails(paths: bench.paths)
        try FileManager.default.createDirectory(atPath: bench.paths.stateDirectory, withIntermediateDirectories: true)
        try #"{"ANTHROPIC_API_KEY": "sk-ant-a-real-key-pasted-here"}"#.write(toFile: tails.file, atomically: true, encoding: .utf8)
        let read = try #require(tails.tails()["ANTHROPIC_API_KEY"])
        #expect(PlaceholderTails.isTail(read), "only 20 lowercase hex characters are a tail: \(read)")
    }
}
