import Foundation
import PaddockCore
import Testing

/// A running session's policy, re-read layer by layer: the agent's edit of the project file is held back, the
/// user's own edits (global file, session file, trust) apply whatever the agent did.
@Suite("Network layers reload on their own")
struct NetworkLayersTests {
    let root: String
    let files: NetworkLayerFiles

    init() throws {
        root = NSTemporaryDirectory() + "paddock-layers-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/project", withIntermediateDirectories: true)
        files = NetworkLayerFiles(
            globalFile: root + "/config.toml", projectFile: root + "/project/paddock.toml",
            sessionFile: root + "/network.toml",
            trust: TrustStore(directory: root + "/trust"), flags: NetworkConfig(allow: ["flag.example"]))
    }

    func write(_ text: String, to file: String) throws {
        try text.write(toFile: file, atomically: true, encoding: .utf8)
    }

    func decision(_ layers: NetworkLayers, _ host: String) throws -> Bool {
        try NetworkPolicy(config: layers.merged).check(host).decision.isAllowed
    }

    @Test func theUsersDenyAppliesWhileTheAgentsEditIsHeldBack() throws {
        try write("[network]\nallow = [\"global.example\"]\n", to: files.globalFile)
        let trusted = "[network]\nallow = [\"project.example\"]\n"
        try write(trusted, to: files.projectFile)
        try files.trust.trust(file: files.projectFile, content: trusted)
        var layers = try files.read()
        #expect(layers.merged.allow == ["global.example", "project.example", "flag.example"])

        // The agent widens the project file: not trusted, so its last trusted version stays.
        try write("[network]\nallow = [\"project.example\", \"evil.example\"]\n", to: files.projectFile)
        #expect(throws: PaddockError.self) { try files.read() }
        var held: [String]
        (layers, held) = files.reload(layers)
        #expect(try !decision(layers, "evil.example"))
        #expect(held.count == 1 && held[0].contains("paddock.toml"), "\(held)")

        // The user denies for the session and globally: both apply at once.
        try write("[network]\ndeny = [\"project.example\"]\n", to: files.sessionFile ?? "")
        try write("[network]\nallow = [\"global.example\"]\ndeny = [\"flag.example\"]\n", to: files.globalFile)
        (layers, held) = files.reload(layers)
        #expect(try !decision(layers, "project.example"))
        #expect(try !decision(layers, "flag.example"))
        #expect(try decision(layers, "global.example"))
        #expect(try !decision(layers, "evil.example"))

        // The user trusts the agent's version: now it counts.
        try files.trust.trust(
            file: files.projectFile, content: String(contentsOfFile: files.projectFile, encoding: .utf8))
        (layers, held) = files.reload(layers)
        #expect(held.isEmpty, "\(held)")
        #expect(try decision(layers, "evil.example"))
    }

    @Test func aBrokenOrMissingLayerKeepsItsLastGoodVersion() throws {
        let trusted = "[network]\ndeny = [\"project-denied.example\"]\nallow = [\"project.example\"]\n"
        try write(trusted, to: files.projectFile)
        try files.trust.trust(file: files.projectFile, content: trusted)
        try write("[network]\ndeny = [\"global-denied.example\"]\n", to: files.globalFile)
        var layers = try files.read()

        try write("[network\n", to: files.globalFile)
        try FileManager.default.removeItem(atPath: files.projectFile)
        try write("[network]\nallow = [\"*.com\"]\n", to: files.sessionFile ?? "")
        let (reloaded, held) = files.reload(layers)
        layers = reloaded
        #expect(held.count == 3, "\(held)")
        #expect(try !decision(layers, "global-denied.example"), "the broken global file's deny stays")
        #expect(try !decision(layers, "project-denied.example"), "deleting the project file drops none of its denies")
        #expect(layers.session.allow.isEmpty, "a rule that does not parse on its own is not applied")
    }
}
