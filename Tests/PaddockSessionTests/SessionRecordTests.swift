import Foundation
import PaddockCore
import Testing

@testable import PaddockSession

/// A start reads only the sessions that may still concern it, however many the user has run.
@Suite("Session records and the open index")
struct SessionRecordTests {
    let bench: SessionBench
    var paths: PaddockPaths { bench.paths }

    init() throws { bench = try SessionBench() }

    func record(_ id: String, ended: Bool, mounted: Bool = true, guarded: Bool = false) throws -> SessionRecord {
        var record = SessionRecord(
            id: try #require(SessionID(id)), container: "paddock-p-\(id)", project: bench.project, agent: "shell",
            image: "paddock-shell:1", launcherPID: 1, startedAt: Date(timeIntervalSince1970: 1_000))
        if mounted {
            record.mounted = [MountedProject(path: bench.project, topLevelGitPinned: true)]
            record.workspaceStartedAt = record.startedAt
        }
        if ended { record.endedAt = record.startedAt }
        if guarded { record.guardedAt = record.startedAt }
        return record
    }

    var marks: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: SessionRecord.openIndex(paths: paths))) ?? []).sorted()
    }

    @Test func aRecordLeavesTheIndexOnlyWhenNothingIsLeftToDoForIt() throws {
        #expect(SessionRecord.open(paths: paths).isEmpty, "a first start makes the (empty) index")
        var running = try record("20261201-120000-0001", ended: false)
        try running.write(paths: paths)
        #expect(marks == ["20261201-120000-0001"])
        // Ended, but its guard has not run over the project it mounted: a later start (or clean) still must.
        running.endedAt = Date()
        try running.write(paths: paths)
        #expect(SessionRecord.open(paths: paths).map(\.id) == [running.id])
        running.guardedAt = Date()
        try running.write(paths: paths)
        #expect(marks.isEmpty)
        #expect(SessionRecord.open(paths: paths).isEmpty)
        #expect(SessionRecord.all(paths: paths).map(\.id) == [running.id], "the record itself stays")
        // A session that mounted nothing is over when it ends.
        try record("20261201-120000-0002", ended: true, mounted: false).write(paths: paths)
        #expect(marks.isEmpty)
    }

    @Test func ofAThousandSessionsAStartReadsTheOpenOnes() throws {
        _ = SessionRecord.open(paths: paths)
        for index in 0..<1000 {
            try record(String(format: "20261101-%06d-%04x", index, index), ended: true, guarded: true).write(
                paths: paths)
        }
        let killed = try record("20261201-120000-00aa", ended: false)
        try killed.write(paths: paths)
        #expect(marks == ["20261201-120000-00aa"])
        #expect(SessionRecord.open(paths: paths) == [killed])
    }

    /// A state folder written before the index existed: the first start builds it from every record, once, and
    /// leaves the records themselves as they were.
    @Test func aStateFolderFromBeforeTheIndexGetsOne() throws {
        let open = try record("20261201-120000-0003", ended: false)
        try open.write(paths: paths)
        try record("20261201-120000-0004", ended: true, guarded: true).write(paths: paths)
        #expect(!FileManager.default.fileExists(atPath: SessionRecord.openIndex(paths: paths)), "writes make none")
        let before = try Data(contentsOf: URL(fileURLWithPath: SessionRecord.path(open.id, paths: paths)))
        #expect(SessionRecord.open(paths: paths) == [open])
        #expect(marks == ["20261201-120000-0003"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: SessionRecord.path(open.id, paths: paths))) == before)
    }

    /// Regression (review): `paddock clean`, or any write, before the first start after an upgrade made the index
    /// folder with only the records it wrote, and the older open records were never read again.
    @Test func aWriteBeforeTheFirstStartDoesNotHideOlderOpenRecords() throws {
        let older = try record("20261201-120000-0008", ended: false)
        try older.write(paths: paths)
        try record("20261201-120000-0009", ended: true, guarded: true).write(paths: paths)
        #expect(SessionRecord.open(paths: paths) == [older])
    }

    /// A crash between the mark and the record leaves a mark with no record: it is skipped, not an error.
    @Test func aMarkWithoutARecordIsSkipped() throws {
        try FileManager.default.createDirectory(
            atPath: SessionRecord.openIndex(paths: paths), withIntermediateDirectories: true)
        #expect(
            FileManager.default.createFile(
                atPath: SessionRecord.openIndex(paths: paths) + "/20261201-120000-0005", contents: Data()))
        #expect(SessionRecord.open(paths: paths).isEmpty)
    }

    @Test func theLatestRecordIsFoundFromTheNewestBack() throws {
        try record("20261201-120000-0006", ended: true, guarded: true).write(paths: paths)
        var other = try record("20261201-120001-0007", ended: true, guarded: true)
        other.project = "/elsewhere"
        try other.write(paths: paths)
        let latest = SessionRecord.latest(paths: paths) { $0.project == bench.project }
        #expect(latest?.id.rawValue == "20261201-120000-0006")
    }
}
