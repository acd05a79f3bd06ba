import Foundation
import PaddockCore
import PaddockEngine

/// Finds sandboxes whose launcher died without cleaning up (for example after SIGKILL).
struct OrphanReport {
    var context: AppContext

    func find() async throws -> [ContainerSummary] {
        try await context.engine.containers(all: true).filter(Self.isOrphaned)
    }

    static func isOrphaned(_ container: ContainerSummary) -> Bool {
        guard let pid = container.labels[SessionLabels.launcherPID].flatMap(Int32.init) else { return true }
        return !HostProcess.isAlive(pid: pid, startToken: container.labels[SessionLabels.launcherStart])
    }

    func warn(about orphans: [ContainerSummary]) {
        guard !orphans.isEmpty else { return }
        let names = orphans.map { SafeText.quoted($0.name) }.joined(separator: ", ")
        context.say(
            "paddock: \(orphans.count) sandbox(es) outlived their launcher: \(names). Run `paddock clean` to remove them "
                + "and check their projects for git repositories the agent planted; until then do not run git there.")
    }
}
