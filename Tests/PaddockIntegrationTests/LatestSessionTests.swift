import Foundation
import PaddockCore
import PaddockTestSupport
import Testing

/// The issue: with several sessions started in one minute, "the latest" was whichever drew the largest random
/// suffix. Two sessions of one project, started seconds apart: `exec`, `stop` and `net log` with no id take the
/// one started last.
@Suite("The latest session is the last one started", .serialized, .tags(.engine))
struct LatestSessionTests {
    func sessions(_ fixture: IntegrationFixture) async throws -> [String] {
        let listing = try await fixture.paddock(["ps", "--json"])
        let rows = try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [[String: String]] ?? []
        return rows.filter { $0["project"] == fixture.project }.compactMap { $0["session"] }
    }

    @Test func execStopAndNetLogDefaultToTheLastStart() async throws {
        try await IntegrationFixture.with(engine: .docker) { fixture in
            let first = try fixture.start(["run", "--agent", "shell", "--", "sleep", "300"])
            #expect(try await fixture.waitUntil { try await sessions(fixture).count == 1 })
            let earlier = try #require(try await sessions(fixture).first)
            let second = try fixture.start(["run", "--agent", "shell", "--", "sleep", "300"])
            #expect(try await fixture.waitUntil { try await sessions(fixture).count == 2 })
            let later = try #require(try await sessions(fixture).first { $0 != earlier })
            #expect(
                SessionID(earlier).map { id in SessionID(later).map { id < $0 } ?? false } == true,
                "\(earlier) < \(later)")

            let exec = try await fixture.paddock(["exec", "--", "sh", "-c", "echo inside"])
            #expect(exec.status == 0 && exec.stdout == "inside\n", "\(exec.stderr)")
            let log = try await fixture.paddock(["net", "log", "--json"])
            #expect(log.status == 0, "\(log.stderr)")

            let stop = try await fixture.paddock(["stop"])
            #expect(stop.stdout == "stopped \(later)\n", "\(stop.stdout)\(stop.stderr)")
            second.waitUntilExit()
            #expect(try await sessions(fixture) == [earlier], "the earlier session still runs")
            let stopEarlier = try await fixture.paddock(["stop"])
            #expect(stopEarlier.stdout == "stopped \(earlier)\n", "\(stopEarlier.stderr)")
            first.waitUntilExit()
        }
    }
}
