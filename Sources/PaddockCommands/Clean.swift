import ArgumentParser
import Foundation
import PaddockCore
import PaddockEngine
import PaddockSession
import PaddockWorkspace

extension Paddock {
    struct Clean: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "clean",
            abstract:
                "Remove sandboxes whose launcher is gone, check what their sessions left, remove clones whose work is safe and stale build folders.",
            discussion: "Agent homes (logins, history) are kept; remove one with `docker volume rm` if you mean to.")

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Only list what would be removed.")
        var dryRun = false

        @Flag(name: .long, help: "Also remove clones holding work that is nowhere else. Their work is lost.")
        var force = false

        func validate() throws {
            if force && dryRun { throw ValidationError("--force and --dry-run contradict each other.") }
        }

        func run() async throws {
            let context = try await AppContext.live(global, engine: nil)
            let orphans = try await OrphanReport(context: context).find()
            for orphan in orphans {
                let label = orphan.labels[SessionLabels.session] ?? orphan.name
                if !dryRun { try await context.engine.remove(containers: [orphan.name]) }
                Console.out(
                    "\(dryRun ? "would remove" : "removed") sandbox \(SafeText.quoted(label)) (\(SafeText.quoted(orphan.name)))"
                )
            }
            try await cleanRelays(context)
            // Build contexts are only needed while a build runs.
            let builds = (try? FileManager.default.contentsOfDirectory(atPath: context.paths.buildDirectory)) ?? []
            for build in builds {
                let path = context.paths.buildDirectory + "/" + build
                if !dryRun { try? FileManager.default.removeItem(atPath: path) }
            }
            if orphans.isEmpty { Console.out("no orphaned sandboxes") }
            // With the sandboxes gone, sessions whose launcher died get the guard they never ran.
            await PendingGuard(context: context).run(dryRun: dryRun)
            let remaining = try await context.engine.containers(all: true)
            if !dryRun {
                // Read again: the guard above has just written some of these records.
                OrphanReport.closeGone(
                    SessionRecord.all(paths: context.paths), remaining: remaining, engine: context.engineChoice?.kind,
                    paths: context.paths)
            }
            try await cleanClones(context, runningSessions: remaining.compactMap { $0.labels[SessionLabels.session] })
        }

        /// A relay ends with its launcher, but its volume (and a relay whose engine CLI was killed too) stays. A
        /// session may have run on another engine than today's default, so every engine a session record names
        /// is asked as well; one that no longer answers is reported, not fatal.
        func cleanRelays(_ context: AppContext) async throws {
            let recorded = Set(
                SessionRecord.all(paths: context.paths).compactMap { $0.engine.flatMap(EngineKind.init(rawValue:)) })
            var engines: [(engine: any ContainerEngine, required: Bool)] = [(context.engine, true)]
            for kind in recorded.sorted(by: { $0.rawValue < $1.rawValue }) where kind != context.engineChoice?.kind {
                let engine = EngineFactory.make(
                    kind, runner: context.runner, environment: context.environment,
                    stateDirectory: context.paths.stateDirectory)
                engines.append((engine, false))
            }
            for (engine, required) in engines {
                let relays: (containers: [ContainerSummary], volumes: [VolumeSummary])
                do {
                    relays = try await GatewayRelay.orphans(engine: engine)
                } catch {
                    if required { throw error }
                    Console.out("could not ask \(engine.name) for gateway relays: \(error)")
                    continue
                }
                if !dryRun {
                    try await engine.remove(containers: relays.containers.map(\.name))
                    try await engine.removeVolumes(relays.volumes.map(\.name))
                }
                let verb = dryRun ? "would remove" : "removed"
                for relay in relays.containers {
                    Console.out("\(verb) gateway relay \(SafeText.quoted(relay.name)) (\(engine.name))")
                }
                for volume in relays.volumes {
                    Console.out("\(verb) relay volume \(SafeText.quoted(volume.name)) (\(engine.name))")
                }
            }
        }

        /// A session that ended without landing (its launcher was killed) lands now, so its commits reach the
        /// host repository before anything is removed.
        func cleanClones(_ context: AppContext, runningSessions: [String]) async throws {
            let store = CloneStore(root: context.paths.clonesDirectory, git: Git(runner: context.runner))
            let idle = try await store.list().filter { !runningSessions.contains($0.record.sessionID) }
            if dryRun {
                for listing in idle {
                    Console.out("clone \(listing.record.sessionID)/\(listing.record.name): \(listing.status.rawValue)")
                }
                return
            }
            for listing in idle where listing.status == .unlandedCommits {
                let report = try await store.land(sessionID: listing.record.sessionID, name: listing.record.name)
                for line in report.lines { context.say("paddock: \(SafeText.line(line))") }
            }
            for session in Set(idle.map(\.record.sessionID)).sorted() {
                for decision in try await store.clean(force: force, sessionID: session) {
                    Console.out(
                        "clone \(decision.sessionID)/\(decision.name): \(decision.removed ? "removed" : "kept") (\(decision.reason))"
                    )
                }
            }
        }
    }
}
