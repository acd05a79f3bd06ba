import Foundation
import PaddockCore
import Subprocess

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Starts and removes one session's relay (`RelayPlan`), and finds the relay volumes a killed launcher left.
/// The relay is no boundary: the gateway checks the session's secret on every connection. It dials the gateway's
/// port afresh for each one, so it must not outlive the launcher (another program may bind that port later): its
/// stdin is a `Lifeline` and it ends when that closes.
public struct GatewayRelay: Sendable {
    public let engine: any ContainerEngine
    public let plan: RelayPlan
    private let lifeline = LifelineHolder()

    public init(engine: any ContainerEngine, plan: RelayPlan) {
        self.engine = engine
        self.plan = plan
    }

    /// The volume first (with labels, so `clean` finds it even if the container never started), then the relay.
    public func start() async throws {
        try await engine.createVolume(plan.volume, labels: plan.labels)
        do {
            lifeline.set(try await engine.startDetached(plan.container))
        } catch {
            await stop()
            throw error
        }
    }

    /// Removes the relay, then its volume. A volume in use cannot go, and the relay's `--rm` may still be removing
    /// it when `rm --force` returns, so the volume is retried for a few seconds.
    public func stop() async {
        let held = lifeline.take()
        held?.release()
        try? await engine.remove(containers: [plan.container.name])
        for _ in 0..<50 {
            if (try? await engine.removeVolumes([plan.volume])) != nil { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        _ = await held?.ended()
    }

    /// Relays and relay volumes whose launcher is gone.
    public static func orphans(engine: any ContainerEngine) async throws -> (
        containers: [ContainerSummary], volumes: [VolumeSummary]
    ) {
        let containers = try await engine.containers(withLabel: RelayPlan.label, all: true).filter {
            isOrphaned($0.labels)
        }
        let volumes = try await engine.volumes(withLabel: RelayPlan.label).filter { isOrphaned($0.labels) }
        return (containers, volumes)
    }

    static func isOrphaned(_ labels: [String: String]) -> Bool {
        guard let pid = labels[SessionLabels.launcherPID].flatMap(Int32.init) else { return true }
        return !HostProcess.isAlive(pid: pid, startToken: labels[SessionLabels.launcherStart])
    }
}

/// A child (the engine's CLI, attached to the relay) whose stdin is a pipe only this process holds and never
/// writes: when this process ends, killed or not, the pipe's last writer is gone and the child reads end of input.
/// swift-subprocess opens its pipes close-on-exec and closes every other descriptor in its children, so no other
/// child (the sandbox's CLI, which may outlive a killed launcher) holds the write end too. The child has a process
/// group of its own, so a terminal's ^C reaches only the launcher, which tears the session down in order.
public final class Lifeline: @unchecked Sendable {
    private let releasing: AsyncStream<Void>.Continuation
    private let run: Task<Int32, any Error>
    private let pidBox: PIDBox

    public init(_ command: Command) {
        let (released, releasing) = AsyncStream<Void>.makeStream()
        self.releasing = releasing
        var options = PlatformOptions()
        options.processGroupID = 0
        let box = PIDBox()
        run = Task.detached {
            defer { box.finish() }
            let result = try await Subprocess.run(
                SubprocessRunner.executable(command), arguments: Arguments(command.arguments),
                environment: SubprocessRunner.environment(command),
                workingDirectory: SubprocessRunner.directory(command),
                platformOptions: options, input: .inputWriter, output: .discarded, error: .discarded
            ) { execution in
                box.set(execution.processIdentifier.value)
                for await _ in released {}
                try? await execution.standardInputWriter.finish()
            }
            // Nothing is collected: the relay runs for the whole session, and a cap on what it prints would
            // end it when reached.
            return SubprocessRunner.status(result.terminationStatus)
        }
        pidBox = box
    }

    /// True once the child could not start or has exited (reaped: no process has its id any more).
    public var hasExited: Bool {
        if pidBox.finished { return true }
        guard let pid = pidBox.get() else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Closes the pipe: the child reads end of input.
    public func release() { releasing.finish() }

    /// Waits for the child after `release`; its exit status.
    public func ended() async -> Int32? {
        try? await run.value
    }
}

final class PIDBox: @unchecked Sendable {
    private let lock = NSLock()
    private var pid: pid_t?
    private var done = false
    func set(_ value: pid_t) { lock.withLock { pid = value } }
    func get() -> pid_t? { lock.withLock { pid } }
    func finish() { lock.withLock { done = true } }
    var finished: Bool { lock.withLock { done } }
}

/// The lifeline a started relay holds, shared by every copy of its `GatewayRelay`.
final class LifelineHolder: @unchecked Sendable {
    private let lock = NSLock()
    private var lifeline: Lifeline?
    func set(_ value: Lifeline) { lock.withLock { lifeline = value } }
    func take() -> Lifeline? {
        lock.withLock {
            defer { lifeline = nil }
            return lifeline
        }
    }
}

extension ContainerEngine {
    /// Runs `command` (an attached `run --interactive` of `spec`) on a `Lifeline` and returns once the container
    /// runs; if it never does, the CLI's own error.
    func startTied(_ command: Command, name: String) async throws -> Lifeline {
        let lifeline = Lifeline(command)
        for _ in 0..<150 {
            let listed = (try? await containers(withLabel: RelayPlan.label, all: true)) ?? []
            if listed.contains(where: { $0.name == name && $0.state.lowercased() == "running" }) { return lifeline }
            if lifeline.hasExited { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        lifeline.release()
        try? await remove(containers: [name])
        let status = await lifeline.ended()
        throw PaddockError.engineCommandFailed(
            command: command.description, status: status ?? -1,
            stderr:
                "the gateway relay did not start within 15 s; run the command above yourself to see the engine's error")
    }
}
