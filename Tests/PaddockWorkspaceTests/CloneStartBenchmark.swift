import Foundation
import Testing

@testable import PaddockWorkspace

extension Tag {
    @Tag static var benchmark: Self
}

/// Session start in clone mode on a small and a large repository, against `git worktree add` and
/// `git clone --no-hardlinks`. Runs only from bench/clone/run.sh, which generates the repositories.
@Suite(
    "Clone start benchmark", .tags(.benchmark), .serialized,
    .enabled(
        if: ProcessInfo.processInfo.environment["PADDOCK_BENCH_CLONE_LARGE"] != nil,
        "run bench/clone/run.sh to benchmark clone start"))
struct CloneStartBenchmark {
    static func seconds(_ work: () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await work()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    @Test func cloneStartDoesNotGrowWithHistory() async throws {
        let environment = ProcessInfo.processInfo.environment
        let repositories = try [
            ("small", #require(environment["PADDOCK_BENCH_CLONE_SMALL"])),
            ("large", #require(environment["PADDOCK_BENCH_CLONE_LARGE"])),
        ]
        let rounds = Int(environment["PADDOCK_BENCH_ROUNDS"] ?? "") ?? 7
        let directory = try TestDirectory("bench")
        defer { directory.remove() }
        let store = CloneStore(root: directory.path + "/clones", git: realGit())
        var times: [String: [Double]] = [:]

        // Rounds alternate the repositories and the methods, so drift on a shared machine hits all alike.
        for round in 0..<rounds {
            for (label, repository) in repositories {
                let session = "bench-\(label)-\(round)"
                times["paddock clone \(label)", default: []].append(
                    try await Self.seconds {
                        _ = try await store.create(CloneRequest(hostPath: repository, sessionID: session))
                    })
                _ = try await store.land(sessionID: session, name: label)

                let worktree = directory.path + "/wt-\(label)"
                times["git worktree add \(label)", default: []].append(
                    try await Self.seconds { try sh("git worktree add -q --detach '\(worktree)'", in: repository) })
                try sh("git worktree remove --force '\(worktree)'", in: repository)

                let copy = directory.path + "/copy-\(label)"
                times["git clone --no-hardlinks \(label)", default: []].append(
                    try await Self.seconds { try sh("git clone -q --no-hardlinks '\(repository)' '\(copy)'") })
                try FileManager.default.removeItem(atPath: copy)
            }
        }

        var medians: [String: Double] = [:]
        for method in ["paddock clone", "git worktree add", "git clone --no-hardlinks"] {
            let small = Self.median(times["\(method) small"] ?? [])
            let large = Self.median(times["\(method) large"] ?? [])
            medians[method] = large
            let figures = String(
                format: "small %7.1f ms  large %8.1f ms  large/small %5.2fx", small * 1000, large * 1000, large / small)
            print("bench \(method.padding(toLength: 26, withPad: " ", startingAt: 0)) \(figures)")
            if method == "paddock clone" {
                #expect(large / small <= 1.2, "clone start grew with history: \(large / small)x")
            }
        }
        let clone = medians["paddock clone"] ?? 0
        print(
            String(
                format: "bench large repo: paddock clone is %.2fx git worktree add, %.3fx git clone --no-hardlinks",
                clone / (medians["git worktree add"] ?? 1), clone / (medians["git clone --no-hardlinks"] ?? 1)))
    }
}
