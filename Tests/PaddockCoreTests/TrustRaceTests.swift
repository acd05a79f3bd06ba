import Foundation
import PaddockCore
import Testing

/// An agent in a concurrent session rewrites paddock.toml while paddock shows it to the user, or while
/// `paddock allow` edits it. What gets trusted must be exactly what the user saw or paddock wrote.
@Suite("Trust exactly the bytes shown or edited")
struct TrustRaceTests {
    let root: String
    let paths: PaddockPaths
    var project: String { root + "/project" }
    var file: String { project + "/paddock.toml" }
    let trusted = "[resources]\npids = 100\n"
    /// What the user is shown: an innocent change.
    let shown = "[resources]\npids = 200\n"
    /// What the agent swaps in while the user reads.
    let swapped = "env = [\"AWS_SECRET_ACCESS_KEY\"]\n[resources]\npids = 200\n"

    init() throws {
        root = NSTemporaryDirectory() + "paddock-trust-race-\(UUID().uuidString)"
        paths = PaddockPaths(home: root + "/home", configDirectory: root + "/config", stateDirectory: root + "/state")
        try FileManager.default.createDirectory(atPath: root + "/project", withIntermediateDirectories: true)
    }

    var loader: ConfigLoader { ConfigLoader(paths: paths) }

    func write(_ text: String) throws {
        try text.write(toFile: file, atomically: true, encoding: .utf8)
    }

    @Test func thePromptTrustsWhatItShowedNotWhatIsThereAfterTheAnswer() throws {
        try write(trusted)
        try loader.trust.trust(file: file, content: trusted)
        try write(shown)
        var reviews: [TrustReview] = []
        let outcome = Result {
            try loader.load(projectRoot: project, flags: PaddockConfig()) { review in
                reviews.append(review)
                guard reviews.count == 1 else { return false }  // the user declines what they had not seen
                try write(swapped)  // while the prompt waits for the answer
                return true
            }
        }
        #expect(try loader.trust.status(file: file, content: swapped) != .trusted, "bytes nobody saw were trusted")
        #expect(try loader.trust.status(file: file, content: shown) == .trusted, "what the user approved is trusted")
        if case .success(let loaded) = outcome {
            #expect(!loaded.effective.env.contains("AWS_SECRET_ACCESS_KEY"), "the swapped file was applied")
        }
        #expect(reviews.count == 2, "the file that changed under the prompt is shown again")
        #expect(reviews.last?.diff.contains("+ env = [\"AWS_SECRET_ACCESS_KEY\"]") == true, "\(reviews)")
    }

    @Test func anApprovedFileThatStayedPutIsAppliedAsShown() throws {
        try write(shown)
        var asked = 0
        let loaded = try loader.load(projectRoot: project, flags: PaddockConfig()) { _ in
            asked += 1
            return true
        }
        #expect(asked == 1)
        #expect(loaded.effective.resources.pids == 200)
    }

    /// `paddock allow`: read, check trust, edit, write, trust. The agent rewrites the file in between.
    @Test func allowNeverTrustsAnEditThatRacedIt() throws {
        try write(trusted)
        try loader.trust.trust(file: file, content: trusted)
        let outcome = Result {
            try ConfigFileEdit.apply(
                file: file, trust: loader.trust,
                edit: {
                    try ConfigListEditor.adding(["example.com"], to: "allow", inTable: "network", in: $0, file: file)
                },
                afterCheck: { try? write(swapped) })
        }
        let now = try String(contentsOfFile: file, encoding: .utf8)
        let record = try #require(try loader.trust.record(for: file))
        #expect(!record.content.contains("AWS_SECRET_ACCESS_KEY"), "the agent's edit was trusted: \(record.content)")
        if now.contains("AWS_SECRET_ACCESS_KEY") {
            #expect(try loader.trust.status(file: file, content: now) != .trusted)
        }
        if case .success = outcome {
            #expect(record.content.contains("example.com"), "paddock's own edit is what it trusted")
        }
    }

    @Test func allowEditsAndTrustsATrustedFile() throws {
        try write(trusted)
        try loader.trust.trust(file: file, content: trusted)
        let changed = try ConfigFileEdit.apply(file: file, trust: loader.trust) {
            try ConfigListEditor.adding(["example.com"], to: "allow", inTable: "network", in: $0, file: file)
        }
        #expect(changed)
        let config = try loader.load(projectRoot: project, flags: PaddockConfig()).effective
        #expect(config.network.allow == ["example.com"])
        #expect(config.resources.pids == 100)
    }

    /// A link the agent planted at paddock.toml is replaced, never written through.
    @Test func allowWritesTheFileItselfNotWhereALinkLeads() throws {
        let elsewhere = root + "/home-profile"
        try trusted.write(toFile: elsewhere, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: elsewhere)
        try loader.trust.trust(file: file, content: trusted)
        try ConfigFileEdit.apply(file: file, trust: loader.trust) {
            try ConfigListEditor.adding(["example.com"], to: "allow", inTable: "network", in: $0, file: file)
        }
        #expect(
            try String(contentsOfFile: elsewhere, encoding: .utf8) == trusted, "paddock wrote through the agent's link")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: file)) == nil)
    }
}
