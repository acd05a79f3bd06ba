import Foundation
import PaddockCore
import PaddockEngine

/// Sessions killed before their guard ran (SIGKILL, a crash, a power cut): the projects they mounted may hold git
/// repositories the agent planted, armed for the user's next `git status`. The guard runs from the session record,
/// against that session's own start, once its launcher and its sandbox are both gone.
public struct PendingGuard: Sendable {
    public var context: AppContext

    public init(context: AppContext) { self.context = context }

    /// Records (of `records`, or all on disk) whose guard has not run and whose launcher is gone; with `project`,
    /// only those that mounted it.
    public func pending(project: String? = nil, records: [SessionRecord]? = nil) -> [SessionRecord] {
        (records ?? SessionRecord.all(paths: context.paths)).filter { record in
            guard record.guardedAt == nil, record.workspaceStartedAt != nil, let mounted = record.mounted,
                !mounted.isEmpty
            else { return false }
            if let project, !mounted.contains(where: { $0.path == project }) { return false }
            return record.launcherIsGone
        }
    }

    /// Runs the guard for each pending session whose sandbox is gone, and says why when one cannot be checked yet.
    public func run(project: String? = nil, dryRun: Bool = false, records: [SessionRecord]? = nil) async {
        for var record in pending(project: project, records: records) {
            guard let start = record.workspaceStartedAt, let mounted = record.mounted else { continue }
            let names = mounted.map(\.path).joined(separator: ", ")
            do {
                guard try await sandboxIsGone(record) else {
                    context.say(
                        "paddock: session \(record.id) lost its launcher and its sandbox still runs: do not run git in "
                            + "\(names) until `paddock clean` has removed it and checked them.")
                    continue
                }
            } catch {
                context.say(
                    "paddock: could not ask \(record.engine ?? "the engine") whether session \(record.id) still runs "
                        + "(\(error)); do not run git in \(names) until `paddock clean` has checked them.")
                continue
            }
            if dryRun {
                context.terminal.out("would check \(names) for git repositories session \(record.id) planted")
                continue
            }
            context.say(
                "paddock: session \(record.id) ended without its launcher; checking \(names) for git repositories it planted"
            )
            guard
                WorkspacePreparation.guardMounted(
                    mounted, sessionID: record.id.rawValue, since: start, context: context)
            else { continue }
            record.guardedAt = Date()
            do {
                try record.write(paths: context.paths)
            } catch {
                context.say("paddock: \(error)")
            }
        }
    }

    /// Asks the engine the session ran on, which need not be the one chosen now.
    public func sandboxIsGone(_ record: SessionRecord) async throws -> Bool {
        var engine = context.engine
        if let recorded = record.engine.flatMap(EngineKind.init(rawValue:)), recorded != context.engineChoice?.kind {
            engine = EngineFactory.make(
                recorded, runner: context.runner, environment: context.environment,
                stateDirectory: context.paths.stateDirectory)
        }
        return try await !engine.containers(all: true).contains {
            $0.labels[SessionLabels.session] == record.id.rawValue
        }
    }
}
