import Foundation
import PaddockCore
import PaddockEngine

/// Starts one session: config, trust, image, plan, run, teardown. Returns the agent's exit code.
struct SessionLauncher {
    var context: AppContext
    var options: SessionOptions
    /// Replaces the agent's command (for `paddock shell`).
    var commandOverride: [String]?
    var userArguments: [String]

    func launch() async throws -> Int32 {
        let project = context.projectRoot
        let loaded = try await loadTrustedConfig(project: project)
        let config = loaded.effective
        if options.engine == nil, let configured = config.engine,
            try EngineKind.parse(configured, source: "`engine` in the configuration") != context.requestedEngine
        {
            // The project file that names the engine was trusted only just now: start over on that engine. Compared
            // with what was asked for, not what answered: an engine that is down must not restart this forever.
            var next = self
            try await next.context.selectEngine(flag: nil, configured: configured)
            return try await next.launch()
        }
        let profile = try AgentProfile.named(config.agent ?? AgentProfile.claude.name)
        if let refusal = context.engine.startRefusal { throw refusal }
        for limitation in context.engine.limitations { context.say("paddock: \(limitation)") }

        let id = SessionID.make()
        let flags = options.configLayer
        let sandboxUser = ImageRecipe.sandboxUser(hostUID: context.hostUID, hostGID: context.hostGID)
        // The gateway starts while the image and the workspace are checked: start-up overhead is measured against
        // a bare `docker run`. Offline means no gateway at all: no socket, no proxy variables, nothing to reach.
        // A full-screen agent owns the terminal: denials go to its title then, and to lines everywhere else.
        let denials = DenialReporter(mode: context.stdinIsTerminal && context.stdoutIsTerminal ? .title : .lines)
        // Real secrets stay here: the gateway adds them, the sandbox gets placeholders. A missing one stops us now.
        let secrets = try SessionSecrets.resolve(
            config: config, profile: profile, environment: context.environment, home: context.paths.home, session: id,
            project: project)
        let gatewayStart: Task<GatewayHost, any Error>? =
            config.network.offline == true
            ? nil
            : Task { [context] in
                try await GatewayHost.start(
                    source: NetworkPolicySource(
                        paths: context.paths, projectRoot: project, sessionID: id, flags: flags, profile: profile),
                    sessionID: id, paths: context.paths, sandboxUser: sandboxUser, logger: context.logger,
                    denials: denials, secrets: secrets)
            }

        // Independent engine calls run side by side. bwrap has no image: the host's userland is the sandbox's.
        let builder = ImageBuilder(context: context)
        let preparation = WorkspacePreparation(
            context: context, isolation: WorkspacePreparation.Isolation(rawValue: config.isolate ?? "mount") ?? .mount,
            carry: options.carry, allowDangerousMounts: options.allowDangerousMounts)
        let recipe: ImageRecipe
        let workspace: WorkspacePreparation.Prepared
        do {
            recipe = try builder.recipe(for: config, profile: profile)
            let needsImage = context.engine.needsImage
            async let imageReady: ImageBuilder.Outcome = needsImage ? builder.ensure(recipe) : .upToDate
            async let orphans = OrphanReport(context: context).find()
            _ = try await imageReady
            OrphanReport(context: context).warn(about: (try? await orphans) ?? [])
            // A session here that was killed before its guard ran: its plants must not outlive this one's start.
            await PendingGuard(context: context).run(project: project)

            if options.carry, preparation.isolation != .clone {
                throw PaddockError.invalidArgument("--carry goes with --isolate clone: in mount mode the agent already sees your changes.")
            }
            let repositories = try WorkspacePreparation.repositories(
                project: project, repoArguments: options.repo, currentDirectory: context.currentDirectory,
                home: context.paths.home)
            workspace = try await preparation.prepare(repositories, sessionID: id)
        } catch {
            if let started = try? await gatewayStart?.value { _ = await started.stop() }
            throw error
        }
        var record = SessionRecord(
            id: id, container: ProjectNaming.containerName(project: project, session: id), project: project,
            agent: profile.name, image: recipe.tag, launcherPID: HostProcess.currentPID, startedAt: Date(),
            launcherStart: HostProcess.startToken(pid: HostProcess.currentPID),
            engine: context.engineChoice?.kind.rawValue, mounted: workspace.mountedRepositories,
            workspaceStartedAt: workspace.startedAt)
        let effectiveProfile = commandOverride.map { profile.running($0) } ?? profile
        var request = SessionRequest(
            sessionID: id, projectRoot: project, workspaceSource: workspace.workspaceSource, hostHome: context.paths.home, hostUID: context.hostUID,
            hostGID: context.hostGID, launcherPID: HostProcess.currentPID,
            launcherStart: HostProcess.startToken(pid: HostProcess.currentPID), config: config,
            profile: effectiveProfile, userArguments: userArguments,
            stdinIsTerminal: context.stdinIsTerminal && context.stdoutIsTerminal,
            allowDangerousMounts: options.allowDangerousMounts, imageTag: recipe.tag,
            hostEnvironment: context.environment, additionalMounts: workspace.mounts, paths: context.paths)
        request.workspaces = workspace.workspaces

        var gateway: GatewayHost?
        let spec: ContainerSpec
        do {
            gateway = try await gatewayStart?.value
            try record.write(paths: context.paths)
            request.gatewayDirectory = gateway?.directory
            request.additionalEnvironment.merge(secrets.sandboxEnvironment.merging(gateway?.trustEnvironment ?? [:]) { $1 }) { $1 }
            request.withheldEnvironment = secrets.withheldVariables
            spec = try SessionPlanner.plan(request) { FileManager.default.fileExists(atPath: $0) }
        } catch {
            await finish(gateway: gateway, preparation: preparation, workspace: workspace, record: &record)
            throw error
        }
        context.logger.debug("starting session", metadata: ["session": "\(id)", "container": "\(spec.name)"])

        let teardown = Teardown(engine: context.engine, container: spec.name)
        let trap = SignalTrap { signal in teardown.signalled(signal) }
        defer { trap.cancel() }
        let status: Int32
        do {
            status = try await context.engine.run(spec)
        } catch {
            _ = await teardown.finish(status: 1)
            await finish(gateway: gateway, preparation: preparation, workspace: workspace, record: &record)
            throw error
        }
        let exitCode = await teardown.finish(status: status)
        // The container is gone (run returned, or teardown removed it): only now is the work safe to inspect.
        await finish(gateway: gateway, preparation: preparation, workspace: workspace, record: &record)
        record.endedAt = Date()
        record.exitCode = exitCode
        try? record.write(paths: context.paths)
        return exitCode
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
        if await preparation.finish(workspace) { record.guardedAt = Date() }
        try? record.write(paths: context.paths)
    }

    /// Applies the project file only when trusted; an interactive user may approve it on the spot.
    func loadTrustedConfig(project: String) async throws -> LoadedConfig {
        let loader = context.configLoader
        if let (root, files) = context.fileConfig, root == project {
            var loaded = files
            loaded.effective = options.configLayer.merged(over: files.effective)
            return loaded
        }
        guard context.stdinIsTerminal, context.stderrIsTerminal else {
            return try loader.load(projectRoot: project, flags: options.configLayer)
        }
        return try loader.load(projectRoot: project, flags: options.configLayer) { review in
            let why = review.changedSinceApproval
                ? "changed again while you were deciding (the version you approved is trusted, not this one)"
                : "is new or changed since you last trusted it"
            context.say("\(review.file) \(why). The agent can edit this file.\n\(review.diff)")
            Console.say("Trust this version and continue? [y/N] ", terminator: "")
            guard let answer = readLine() else { return false }
            return ["y", "yes"].contains(answer.lowercased())
        }
    }
}

/// Removes the container when the launcher is told to stop, and turns that into the launcher's exit code.
final class Teardown: @unchecked Sendable {
    private let engine: any ContainerEngine
    private let container: String
    private let lock = NSLock()
    private var receivedSignal: Int32?
    private var removal: Task<Void, Never>?

    init(engine: any ContainerEngine, container: String) {
        self.engine = engine
        self.container = container
    }

    func signalled(_ signal: Int32) {
        lock.withLock {
            if receivedSignal == nil { receivedSignal = signal }
            guard removal == nil else { return }
            let engine = self.engine
            let container = self.container
            // Removing the container ends the attached client, so `run` returns and the launcher exits normally.
            removal = Task { try? await engine.remove(containers: [container]) }
        }
    }

    /// The exit code for the launcher: the agent's, or 128+N when a signal N stopped the session.
    func finish(status: Int32) async -> Int32 {
        let (signal, task) = lock.withLock { (receivedSignal, removal) }
        await task?.value
        if let signal { return 128 + signal }
        return status
    }
}
