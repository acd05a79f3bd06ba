import Foundation
import PaddockCore

/// Starts and removes one session's relay (`RelayPlan`), and finds the relays and volumes a killed launcher left.
/// The relay is no boundary: the gateway checks the session's secret on every connection, and with the launcher
/// gone its port is closed, so a leftover relay leads nowhere.
public struct GatewayRelay: Sendable {
    public let engine: any ContainerEngine
    public let plan: RelayPlan

    public init(engine: any ContainerEngine, plan: RelayPlan) {
        self.engine = engine
        self.plan = plan
    }

    /// The volume first (with labels, so `clean` finds it even if the container never started), then the relay.
    public func start() async throws {
        try await engine.createVolume(plan.volume, labels: plan.labels)
        do {
            try await engine.startDetached(plan.container)
        } catch {
            await stop()
            throw error
        }
    }

    /// Removes the relay, then its volume. A volume in use cannot go, and the relay's `--rm` may still be removing
    /// it when `rm --force` returns, so the volume is retried for a few seconds.
    public func stop() async {
        try? await engine.remove(containers: [plan.container.name])
        for _ in 0..<50 {
            if (try? await engine.removeVolumes([plan.volume])) != nil { return }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Relays and relay volumes whose launcher is gone.
    public static func orphans(engine: any ContainerEngine) async throws -> (containers: [ContainerSummary], volumes: [VolumeSummary]) {
        let containers = try await engine.containers(withLabel: RelayPlan.label, all: true).filter { isOrphaned($0.labels) }
        let volumes = try await engine.volumes(withLabel: RelayPlan.label).filter { isOrphaned($0.labels) }
        return (containers, volumes)
    }

    static func isOrphaned(_ labels: [String: String]) -> Bool {
        guard let pid = labels[SessionLabels.launcherPID].flatMap(Int32.init) else { return true }
        return !HostProcess.isAlive(pid: pid, startToken: labels[SessionLabels.launcherStart])
    }
}
