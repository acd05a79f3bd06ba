import Foundation
import PaddockCore
import PaddockEngine

/// Finds sandboxes whose launcher died without cleaning up (for example after SIGKILL).
public struct OrphanReport: Sendable {
    public var context: AppContext

    public init(context: AppContext) { self.context = context }

    public func find() async throws -> [ContainerSummary] {
        try await context.engine.containers(all: true).filter(Self.isOrphaned)
    }

    /// For a session start: asks the engine only when a record of this engine says a sandbox may have outlived its
    /// launcher. Every end a launcher sees is recorded, so a start with nothing suspect skips the container list
    /// (a Podman CLI call, 60–110 ms); `paddock clean` and `ps` still ask the engine about everything.
    public func findIfSuspected(records: [SessionRecord]) async throws -> [ContainerSummary] {
        guard Self.suspects(records, engine: context.engineChoice?.kind).isEmpty == false else { return [] }
        return try await find()
    }

    /// Sessions with no recorded end whose launcher is gone, on `engine` (records from before `engine` was
    /// recorded count for every engine).
    public static func suspects(_ records: [SessionRecord], engine: EngineKind?) -> [SessionRecord] {
        records.filter { record in
            guard record.endedAt == nil else { return false }
            if let recorded = record.engine, let engine, recorded != engine.rawValue { return false }
            return record.launcherIsGone
        }
    }

    /// After `clean`: a suspect whose container the engine no longer has is over; recording that keeps later
    /// starts from asking again.
    public static func closeGone(
        _ records: [SessionRecord], remaining: [ContainerSummary], engine: EngineKind?, paths: PaddockPaths
    ) {
        let running = Set(remaining.map(\.name))
        for var record in suspects(records, engine: engine) where !running.contains(record.container) {
            record.endedAt = Date()
            try? record.write(paths: paths)
        }
    }

    public static func isOrphaned(_ container: ContainerSummary) -> Bool {
        guard let pid = container.labels[SessionLabels.launcherPID].flatMap(Int32.init) else { return true }
        return !HostProcess.isAlive(pid: pid, startToken: container.labels[SessionLabels.launcherStart])
    }

    public func warn(about orphans: [ContainerSummary]) {
        guard !orphans.isEmpty else { return }
        let names = orphans.map { SafeText.quoted($0.name) }.joined(separator: ", ")
        context.say(
            "paddock: \(orphans.count) sandbox(es) outlived their launcher: \(names). Run `paddock clean` to remove them "
                + "and check their projects for git repositories the agent planted; until then do not run git there.")
    }
}
