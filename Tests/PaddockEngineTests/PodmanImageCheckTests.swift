import Foundation
import PaddockCore
import Testing

@testable import PaddockEngine

/// A remembered image answer holds only while nothing that could change it has changed.
@Suite("Podman image answers are remembered while the store is unchanged")
struct PodmanImageCheckTests {
    let root = NSTemporaryDirectory() + "paddock-imagecheck-" + UUID().uuidString
    var store: String { root + "/store" }
    var home: String { root + "/home" }

    func check(_ extra: [String: String] = [:]) -> PodmanImageCheck {
        PodmanImageCheck(
            directory: root + "/answers", environment: ["HOME": home].merging(extra) { $1 },
            invocation: ["podman", "--runtime", "/usr/sbin/runc"])
    }

    func writeList(_ text: String) throws {
        try FileManager.default.createDirectory(atPath: store + "/overlay-images", withIntermediateDirectories: true)
        // As containers/storage does: a new file renamed over the old one.
        try text.write(toFile: store + "/overlay-images/images.json", atomically: true, encoding: .utf8)
    }

    func remembered(_ check: PodmanImageCheck) throws -> String? {
        check.remembered(image: "paddock-claude:abc", label: "paddock.context")
    }

    func rememberNow(_ check: PodmanImageCheck) throws {
        let stamp = try #require(check.stamp(graphRoot: store))
        check.remember(
            image: "paddock-claude:abc", label: "paddock.context", value: "abc123", graphRoot: store, stamp: stamp)
    }

    @Test func anUnchangedStoreAnswersFromMemory() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        try writeList("[]")
        #expect(try remembered(check()) == nil)
        try rememberNow(check())
        #expect(try remembered(check()) == "abc123")
        #expect(check().remembered(image: "paddock-claude:other", label: "paddock.context") == nil)
    }

    @Test func aChangedImageListAsksAgain() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        try writeList("[]")
        try rememberNow(check())
        try writeList("[]")
        #expect(try remembered(check()) == nil, "same content, new file: Podman rewrote the list")
    }

    @Test func aMovedStoreAsksAgain() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        try writeList("[]")
        try rememberNow(check())
        try FileManager.default.createDirectory(atPath: home + "/.config/containers", withIntermediateDirectories: true)
        try "[storage]\ngraphroot = \"/elsewhere\"\n".write(
            toFile: home + "/.config/containers/storage.conf", atomically: true, encoding: .utf8)
        #expect(try remembered(check()) == nil, "a new storage.conf")
        try rememberNow(check())
        #expect(
            try remembered(check(["CONTAINERS_STORAGE_CONF": "/tmp/other.conf"])) == nil, "a variable that moves it")
        let otherRuntime = PodmanImageCheck(
            directory: root + "/answers", environment: ["HOME": home], invocation: ["podman"])
        #expect(try remembered(otherRuntime) == nil, "other global flags")
    }

    @Test func aStoreOfUnknownLayoutIsNeverRemembered() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        #expect(check().stamp(graphRoot: store) == nil)
    }

    @Test func aForgedAnswerForAnotherImageIsIgnored() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        try writeList("[]")
        try rememberNow(check())
        let check = check()
        let path = check.answerPath(image: "paddock-claude:abc", label: "paddock.context")
        let other = check.answerPath(image: "paddock-claude:zzz", label: "paddock.context")
        try FileManager.default.copyItem(atPath: path, toPath: other)
        #expect(check.remembered(image: "paddock-claude:zzz", label: "paddock.context") == nil)
    }
}
