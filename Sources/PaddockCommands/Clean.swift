import ArgumentParser
import Foundation
import PaddockCore

extension Paddock {
    struct Clean: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove sandboxes whose launcher is gone, and stale build folders.",
            discussion: "Agent homes (logins, history) are kept; remove one with `docker volume rm` if you mean to.")

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Only list what would be removed.")
        var dryRun = false

        func run() async throws {
            let context = AppContext.live(global)
            let orphans = try await OrphanReport(context: context).find()
            for orphan in orphans {
                let label = orphan.labels[SessionLabels.session] ?? orphan.name
                if !dryRun { try await context.engine.remove(containers: [orphan.name]) }
                print("\(dryRun ? "would remove" : "removed") sandbox \(label) (\(orphan.name))")
            }
            // Build contexts are only needed while a build runs.
            let builds = (try? FileManager.default.contentsOfDirectory(atPath: context.paths.buildDirectory)) ?? []
            for build in builds {
                let path = context.paths.buildDirectory + "/" + build
                if !dryRun { try? FileManager.default.removeItem(atPath: path) }
            }
            if orphans.isEmpty { print("no orphaned sandboxes") }
        }
    }
}
