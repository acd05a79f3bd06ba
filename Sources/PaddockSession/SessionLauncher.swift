import Foundation
import Logging
import PaddockCore
import PaddockEngine
import PaddockGateway

/// What the user asked a session for: the flags of `run` and `shell`, translated once.
public struct LaunchRequest: Equatable, Sendable {
    /// The session's configuration layer, over the global and project files.
    public var flags: PaddockConfig
    /// `--engine`: chosen over `engine` in the configuration.
    public var engine: String?
    /// `--carry`: uncommitted changes into a clone.
    public var carry: Bool
    /// `--repo` folders, as typed.
    public var repositories: [String]
    public var allowDangerousMounts: Bool
    /// Replaces the agent's command (`paddock shell`).
    public var command: [String]?
    /// Arguments for the agent (after `--`).
    public var agentArguments: [String]

    public init(
        flags: PaddockConfig = PaddockConfig(), engine: String? = nil, carry: Bool = false, repositories: [String] = [],
        allowDangerousMounts: Bool = false, command: [String]? = nil, agentArguments: [String] = []
    ) {
        self.flags = flags
        self.engine = engine
        self.carry = carry
        self.repositories = repositories
        self.allowDangerousMounts = allowDangerousMounts
        self.command = command
        self.agentArguments = agentArguments
    }
}

/// Starts one session: trusted configuration, engine, image, workspace, gateway, plan, run, teardown. Returns the
/// agent's exit code, or 128+N when signal N stopped the session at any stage; whatever the stage, what was made
/// for the session is closed, and the work stays.
public struct SessionLauncher {
    public var context: AppContext

    public init(context: AppContext) {
        self.context = context
    }

    public func launch(_ request: LaunchRequest) async throws -> Int32 {
        let teardown = Teardown()
        let trap = context.signals.trap { signal in teardown.signalled(signal) }
        defer { trap.cancel() }
        do {
            let status = try await start(request, teardown: teardown)
            return await teardown.finish(status: status)
        } catch {
            // A stage that failed because the user stopped the session (a build killed by the same Ctrl-C) ends
            // as stopped; everything it made was closed on the way out.
            if let signal = teardown.receivedSignal {
                context.logger.debug("session stopped by signal \(signal): \(error)")
                return 128 + signal
            }
            throw error
        }
    }

    private func start(_ request: LaunchRequest, teardown: Teardown) async throws -> Int32 {
        let stages = StageLog(logger: self.context.logger)
        let project = self.context.projectRoot
        let loaded = try await stages.run("configuration") {
            try await loadTrustedConfig(project: project, flags: request.flags)
        }
        let config = loaded.effective
        // The engine is chosen once, from the flag or the trusted configuration.
        var choosing = self.context
        try await stages.run("engine") {
            try await choosing.selectEngine(flag: request.engine, configured: config.engine)
        }
        let context = choosing
        let engine = context.engine
        teardown.use(engine)
        let profile = try AgentProfile.named(config.agent ?? AgentProfile.claude.name)
        if let refusal = engine.startRefusal { throw refusal }
        for limitation in engine.limitations { context.say("paddock: \(limitation)") }
        if request.carry, config.isolate != "clone" {
            throw PaddockError.invalidArgument(
                "--carry goes with --isolate clone: in mount mode the agent already sees your changes.")
        }
        try teardown.stopIfSignalled()

        let id = context.newSessionID()
        let sandboxUser = context.sandboxUser
        // The gateway starts while the image and the workspace are checked: start-up overhead is measured against
        // a bare `docker run`. Offline means no gateway at all: no socket, no proxy variables, nothing to reach.
        // A full-screen agent owns the terminal: denials go to its title then, and to lines everywhere else.
        let denials = DenialReporter(
            mode: context.stdinIsTerminal && context.stdoutIsTerminal ? .title : .lines, terminal: context.terminal)
        // Real secrets stay here: the gateway adds them, the sandbox gets placeholders. A missing one stops us now.
        let secrets = try SessionSecrets.resolve(
            config: config, profile: profile, environment: context.environment, home: context.paths.home, session: id,
            project: project)
        let gatewayStart: Task<GatewayHost, any Error>? =
            config.network.offline == true
            ? nil
            : Task { [context] in
                try await stages.run("gateway") {
                    let flavor = await engine.engineFlavor()
                    let transport = try engine.capabilities.transport(
                        forced: try config.gatewayTransport.map {
                            try GatewayTransport.parse($0, source: "the gateway transport")
                        },
                        flavor: flavor, engine: engine.name)
                    return try await GatewayHost.start(
                        source: NetworkPolicySource(
                            paths: context.paths, projectRoot: project, sessionID: id, flags: request.flags,
                            profile: profile),
                        sessionID: id, paths: context.paths, sandboxUser: sandboxUser, logger: context.logger,
                        denials: denials, secrets: secrets, transport: transport, flavor: flavor)
                }
            }

        // Independent engine calls run side by side. bwrap has no image: the host's userland is the sandbox's.
        let builder = ImageBuilder(context: context)
        let preparation = WorkspacePreparation(
            context: context, isolation: WorkspacePreparation.Isolation(rawValue: config.isolate ?? "mount") ?? .mount,
            carry: request.carry, allowDangerousMounts: request.allowDangerousMounts)
        let recipe: ImageRecipe
        let workspace: WorkspacePreparation.Prepared
        do {
            recipe = try builder.recipe(for: config, profile: profile)
            let repositories = try WorkspacePreparation.repositories(
                project: project, repoArguments: request.repositories, currentDirectory: context.currentDirectory,
                home: context.paths.home)
            // Only open records can concern this start: a few, however many sessions the user has run.
            let records = SessionRecord.open(paths: context.paths)
            // The image and the workspace need nothing of each other: a build and a clone overlap.
            async let imageReady = outcome {
                try await stages.run("image and orphans") {
                    async let image: ImageBuilder.Outcome = engine.needsImage ? builder.ensure(recipe) : .upToDate
                    async let orphans = OrphanReport(context: context).findIfSuspected(records: records)
                    _ = try await image
                    OrphanReport(context: context).warn(about: (try? await orphans) ?? [])
                }
            }
            async let workspaceReady = outcome {
                try await stages.run("pending guards and workspace") {
                    // A session here that was killed before its guard ran: its plants must not outlive this start.
                    await PendingGuard(context: context).run(project: project, records: records)
                    return try await preparation.prepare(repositories, sessionID: id)
                }
            }
            // Both finish before anything else happens, whichever fails: a prepared workspace is never left behind.
            let (imageOutcome, prepared) = await (imageReady, workspaceReady)
            do {
                try imageOutcome.get()
                try teardown.stopIfSignalled()
            } catch {
                if case .success(let prepared) = prepared { _ = await preparation.finish(prepared) }
                throw error
            }
            workspace = try prepared.get()
        } catch {
            if let started = try? await gatewayStart?.value { _ = await started.stop() }
            throw error
        }
        var record = SessionRecord(
            id: id, container: ProjectNaming.containerName(project: project, session: id), project: project,
            agent: profile.name, image: recipe.tag, launcherPID: HostProcess.currentPID, startedAt: context.clock(),
            launcherStart: HostProcess.startToken(pid: HostProcess.currentPID),
            engine: context.engineChoice?.kind.rawValue, mounted: workspace.mountedRepositories,
            workspaceStartedAt: workspace.startedAt)
        let effectiveProfile = request.command.map { profile.running($0) } ?? profile
        var plan = SessionRequest(
            sessionID: id, projectRoot: project, workspaceSource: workspace.workspaceSource,
            hostHome: context.paths.home,
            hostUID: context.hostUID, hostGID: context.hostGID, launcherPID: HostProcess.currentPID,
            launcherStart: HostProcess.startToken(pid: HostProcess.currentPID), config: config,
            profile: effectiveProfile, userArguments: request.agentArguments,
            stdinIsTerminal: context.stdinIsTerminal && context.stdoutIsTerminal,
            allowDangerousMounts: request.allowDangerousMounts, imageTag: recipe.tag,
            hostEnvironment: context.environment, additionalMounts: workspace.mounts, paths: context.paths)
        plan.workspaces = workspace.workspaces
        plan.stdinReadsNothing = context.stdinReadsNothing

        var gateway: GatewayHost?
        var spec: ContainerSpec
        do {
            gateway = try await gatewayStart?.value
            try record.write(paths: context.paths)
            plan.gateway = try await gateway?.attachment(engine: engine, image: recipe.tag)
            plan.additionalEnvironment.merge(
                secrets.sandboxEnvironment.merging(gateway?.trustEnvironment ?? [:]) { $1 }
            ) { $1 }
            plan.withheldEnvironment = secrets.withheldVariables
            if let trust = gateway?.trustDirectory {
                plan.additionalMounts.append(.bind(trust, at: Interception.directoryInSandbox, readOnly: true))
            }
            spec = try stages.run("plan") {
                try SessionPlanner.plan(plan) { FileManager.default.fileExists(atPath: $0) }
            }
            // What each bind source is now, walked without following links; the sandbox checks it is what it got.
            // Only where the sandbox sees the host's inodes: a VM's file sharing numbers them anew.
            if await engine.mountsShowHostInodes() {
                let ownFolders = [
                    context.paths.home, context.paths.stateDirectory, context.paths.configDirectory,
                    NSTemporaryDirectory(),
                ]
                spec.command = MountIdentityCheck.wrap(
                    spec.command, identities: try MountIdentities.capture(spec.mounts, linkedPrefixes: ownFolders))
            }
            // From here a signal removes the container.
            try teardown.use(container: spec.name)
        } catch {
            await finish(gateway: gateway, preparation: preparation, workspace: workspace, record: &record)
            throw error
        }
        context.logger.debug("starting session", metadata: ["session": "\(id)", "container": "\(spec.name)"])

        let status: Int32
        do {
            status = try await stages.run("sandbox") { try await engine.run(spec) }
        } catch {
            // The engine may have made the container before it failed: nothing of the session may outlive it.
            try? await engine.remove(containers: [spec.name])
            _ = await teardown.finish(status: 1)
            await finish(gateway: gateway, preparation: preparation, workspace: workspace, record: &record)
            throw error
        }
        let exitCode = await teardown.finish(status: status)
        let unreachable = exitCode == GatewayAccess.probeFailedStatus && gateway?.probesAnswered == 0
        // The container is gone (run returned, or teardown removed it): only now is the work safe to inspect.
        await stages.run("teardown") {
            await finish(gateway: gateway, preparation: preparation, workspace: workspace, record: &record)
        }
        if unreachable, let gateway { throw gateway.link.unreachable(engine: engine.name) }
        record.endedAt = context.clock()
        record.exitCode = exitCode
        try? record.write(paths: context.paths)
        return status
    }

    /// After the sandbox is gone: close the way out, then land or keep the work, and record that the guard ran.
    func finish(
        gateway: GatewayHost?, preparation: WorkspacePreparation, workspace: WorkspacePreparation.Prepared,
        record: inout SessionRecord
    ) async {
        if let gateway {
            let summary = await gateway.stop()
            gateway.denials?.finish()
            context.say("paddock: \(summary) — `paddock net log` shows each connection")
        }
        if await preparation.finish(workspace) { record.guardedAt = context.clock() }
        // The sandbox is gone on every path here: the next start need not ask the engine about it.
        if record.endedAt == nil { record.endedAt = context.clock() }
        try? record.write(paths: context.paths)
    }

    /// Applies the project file only when trusted; an interactive user may approve it on the spot.
    func loadTrustedConfig(project: String, flags: PaddockConfig) async throws -> LoadedConfig {
        let loader = context.configLoader
        if let (root, files) = context.fileConfig, root == project {
            var loaded = files
            loaded.effective = flags.merged(over: files.effective)
            return loaded
        }
        guard context.stdinIsTerminal, context.stderrIsTerminal else {
            return try loader.load(projectRoot: project, flags: flags)
        }
        let terminal = context.terminal
        return try loader.load(projectRoot: project, flags: flags) { review in
            let why =
                review.changedSinceApproval
                ? "changed again while you were deciding (the version you approved is trusted, not this one)"
                : "is new or changed since you last trusted it"
            context.say("\(review.file) \(why). The agent can edit this file.\n\(review.diff)")
            return terminal.confirm("Trust this version and continue?")
        }
    }
}

/// Each stage of a session start with its duration, at debug level: `--debug` shows the path a session took.
struct StageLog: Sendable {
    var logger: Logger

    func run<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let started = ContinuousClock.now
        defer { logger.debug("stage \(name): \(LoggingRunner.milliseconds(since: started)) ms") }
        return try body()
    }

    func run<T>(_ name: String, _ body: () async throws -> T) async rethrows -> T {
        let started = ContinuousClock.now
        defer { logger.debug("stage \(name): \(LoggingRunner.milliseconds(since: started)) ms") }
        return try await body()
    }
}

/// Turns a signal into the session's end: before the sandbox exists the next stage stops; once it may exist it is
/// removed, which ends the attached client, so `run` returns and the launcher exits normally.
final class Teardown: @unchecked Sendable {
    private let lock = NSLock()
    private var engine: (any ContainerEngine)?
    private var container: String?
    private var signal: Int32?
    private var ended = false
    private var removals: [Task<Void, Never>] = []

    struct Stopped: Error {}

    var receivedSignal: Int32? { lock.withLock { signal } }

    func use(_ engine: any ContainerEngine) { lock.withLock { self.engine = engine } }

    /// The engine is about to make the container: a signal from here on removes it. Throws when one came already.
    func use(container: String) throws {
        lock.withLock { self.container = container }
        try stopIfSignalled()
    }

    func signalled(_ number: Int32) {
        lock.withLock {
            if signal == nil { signal = number }
            guard let engine, let container else { return }
            // Removed again a few times until `run` returns: the engine may make the container only after the
            // first removal ran (a signal between the check above and the engine's create).
            removals.append(
                Task { [weak self] in
                    for delay in [0, 1, 2, 4] {
                        if delay > 0 { try? await Task.sleep(for: .seconds(delay)) }
                        if self?.hasEnded ?? true { return }
                        try? await engine.remove(containers: [container])
                    }
                })
        }
    }

    private var hasEnded: Bool { lock.withLock { ended } }

    /// Between stages: a signal so far ends the session here.
    func stopIfSignalled() throws {
        if receivedSignal != nil { throw Stopped() }
    }

    /// The exit code for the launcher: the agent's, or 128+N when a signal N stopped the session.
    func finish(status: Int32) async -> Int32 {
        let tasks = lock.withLock {
            ended = true
            return removals
        }
        // `run` has returned, so the container is gone: the retries still asleep need not wait out their delay.
        for task in tasks {
            task.cancel()
            await task.value
        }
        if let signal = receivedSignal { return 128 + signal }
        return status
    }
}

/// What `body` returned or threw, as a value: two concurrent stages are both awaited before either error counts.
private func outcome<T: Sendable>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}
