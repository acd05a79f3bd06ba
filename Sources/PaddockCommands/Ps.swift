import ArgumentParser
import PaddockCore
import PaddockEngine
import PaddockSession
import PaddockWorkspace

extension Paddock {
    struct Ps: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ps", abstract: "List sessions.")

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Include sandboxes whose launcher is gone and stopped ones.")
        var all = false

        @Flag(name: .long, help: "Print JSON instead of a table.")
        var json = false

        struct Row: Codable, Equatable {
            var session: String
            var project: String
            var agent: String
            var state: String
            var container: String
        }

        func run() async throws {
            let context = try await AppContext.live(global, engine: nil)
            let containers = try await context.engine.containers(all: true)
            var rows: [Row] = []
            for container in containers {
                let orphaned = OrphanReport.isOrphaned(container)
                let state = orphaned ? "orphaned (\(container.state))" : container.state
                guard all || (!orphaned && container.state == "running") else { continue }
                rows.append(
                    Row(
                        session: container.labels[SessionLabels.session] ?? "?",
                        project: container.labels[SessionLabels.project] ?? "?",
                        agent: container.labels[SessionLabels.agent] ?? "?", state: state, container: container.name))
            }
            if all {
                // Clones outlive their sessions when they hold work that is nowhere else.
                let store = CloneStore(root: context.paths.clonesDirectory, git: Git(runner: context.runner))
                for listing in try await store.list() {
                    rows.append(
                        Row(
                            session: listing.record.sessionID, project: listing.record.hostRepository, agent: "-",
                            state: "clone: \(listing.status.rawValue)", container: listing.paths.clone))
                }
            }
            rows.sort { $0.session < $1.session }
            if json {
                Console.json(OutputRenderer.json(rows))
            } else {
                Console.out(
                    OutputRenderer.table(
                        headers: ["SESSION", "AGENT", "STATE", "PROJECT"],
                        rows: rows.map { [$0.session, $0.agent, $0.state, $0.project] }))
            }
            if !all {
                OrphanReport(context: context).warn(about: containers.filter(OrphanReport.isOrphaned))
            }
        }
    }
}
