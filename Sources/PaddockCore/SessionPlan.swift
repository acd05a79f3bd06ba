import Foundation

/// Everything known about the host and the user's request when a session starts.
public struct SessionRequest: Sendable {
    public var sessionID: SessionID
    /// The project as the user sees it (labels, naming, the home volume).
    public var projectRoot: String
    /// The host folder bound read-write at /workspace; nil when paddock prepared the workspace mounts itself
    /// (clones, several repositories) and passes them in `additionalMounts`.
    public var workspaceSource: String?
    public var hostHome: String
    public var hostUID: UInt32
    public var hostGID: UInt32
    public var launcherPID: Int32
    /// Distinguishes this launcher from a later process that reuses its pid.
    public var launcherStart: String
    public var config: PaddockConfig
    public var profile: AgentProfile
    public var userArguments: [String]
    public var stdinIsTerminal: Bool
    /// Standard input is closed or the null device: the engine forwards none (its `--interactive` costs about 10 ms
    /// of every start), and the agent reads the same nothing from the engine's own null device.
    public var stdinReadsNothing = false
    public var allowDangerousMounts: Bool
    public var imageTag: String
    public var hostEnvironment: [String: String]
    /// Mounts other parts of paddock prepared (repositories, git protections, clones, the gateway socket). The
    /// launcher checks the user's paths among them against `MountPolicy` before preparing them.
    public var additionalMounts: [Mount]
    /// The host folders among `additionalMounts` that the agent gets read-write as its workspace (`--repo`
    /// folders, clones): places the agent can write, like the project.
    public var workspaces: [String] = []
    /// Host variables that never enter the sandbox, even when listed: the ones credential rules read (the sandbox
    /// gets their placeholders through `additionalEnvironment`).
    public var withheldEnvironment: Set<String> = []
    public var additionalEnvironment: [String: String]
    /// How the sandbox reaches the gateway; nil for a session with no way out at all.
    public var gateway: GatewayAttachment?
    /// The host folder holding the gateway's socket (the bound-folder transport).
    public var gatewayDirectory: String? {
        get { gateway?.transport == .boundFolder ? gateway?.source : nil }
        set { gateway = newValue.map { GatewayAttachment(transport: .boundFolder, source: $0) } }
    }
    public var paths: PaddockPaths

    public init(
        sessionID: SessionID, projectRoot: String, workspaceSource: String?, hostHome: String, hostUID: UInt32,
        hostGID: UInt32, launcherPID: Int32, launcherStart: String = "", config: PaddockConfig, profile: AgentProfile,
        userArguments: [String] = [], stdinIsTerminal: Bool = false, allowDangerousMounts: Bool = false,
        imageTag: String, hostEnvironment: [String: String] = [:], additionalMounts: [Mount] = [],
        additionalEnvironment: [String: String] = [:], gatewayDirectory: String? = nil, paths: PaddockPaths
    ) {
        self.sessionID = sessionID
        self.projectRoot = projectRoot
        self.workspaceSource = workspaceSource
        self.hostHome = hostHome
        self.hostUID = hostUID
        self.hostGID = hostGID
        self.launcherPID = launcherPID
        self.launcherStart = launcherStart
        self.config = config
        self.profile = profile
        self.userArguments = userArguments
        self.stdinIsTerminal = stdinIsTerminal
        self.allowDangerousMounts = allowDangerousMounts
        self.imageTag = imageTag
        self.hostEnvironment = hostEnvironment
        self.additionalMounts = additionalMounts
        self.additionalEnvironment = additionalEnvironment
        self.gateway = gatewayDirectory.map { GatewayAttachment(transport: .boundFolder, source: $0) }
        self.paths = paths
    }
}

/// Labels paddock puts on everything it starts, so `ps`, `stop` and `clean` find their own and nothing else.
public enum SessionLabels {
    public static let session = "paddock.session"
    public static let project = "paddock.project"
    public static let launcherPID = "paddock.launcher-pid"
    public static let launcherStart = "paddock.launcher-start"
    public static let agent = "paddock.agent"
    public static let homeVolume = "paddock.home-volume"

    /// Which of these label sets (one per container) belongs to the session of `project` that started last; a
    /// session label that is no id paddock makes never wins.
    public static func latest(of project: String, among labelSets: [[String: String]]) -> Int? {
        let candidates = labelSets.indices.compactMap { index -> (SessionID, Int)? in
            guard labelSets[index][self.project] == project,
                let id = labelSets[index][session].flatMap(SessionID.init)
            else { return nil }
            return (id, index)
        }
        return candidates.max { $0.0 < $1.0 }?.1
    }
}

public enum SessionPlanner {
    public static let defaultPidsLimit = 4096

    /// The hardened container for one session. Pure: every check that can fail happens here, before anything runs.
    /// `fileExists` answers for host paths (read-only host files are mounted only when present); `socketInside`
    /// finds a unix socket at or under a host path. It searches the live machine unless a caller says otherwise, so
    /// a caller that forgets it gets the refusal, not a silent pass. `resolvePath` resolves a host path on this
    /// machine, remembering each entry it looked up (see `PathResolution`).
    public static func plan(
        _ request: SessionRequest, socketInside: (String) -> String? = { MountPolicy.findSocket(at: $0) },
        resolvePath: (String) -> PathResolution = { PathResolution.resolve($0) },
        fileExists: (String) -> Bool
    ) throws -> ContainerSpec {
        let policy = MountPolicy(home: request.hostHome, paddockPaths: request.paths)
        let user = ImageRecipe.sandboxUser(hostUID: request.hostUID, hostGID: request.hostGID)
        let home = ImageRecipe.home

        func checked(_ path: String) throws -> String {
            try policy.check(path, allowDangerous: request.allowDangerousMounts, socketInside: socketInside)
            return path
        }

        // Where the agent can write: the project (mounted now or in any other session), the workspaces paddock
        // prepared, and read-write extra mounts. An entry there, renamed or swapped for a link, would decide what
        // a path through it leads to, today or between this check and the engine's mount; nothing the user named
        // may pass through one. The engine gets the real path, which passes through none.
        let extras = request.config.mounts.map { extra in
            (
                extra,
                resolvePath(MountPolicy.expand(extra.path, home: request.hostHome, relativeTo: request.projectRoot))
            )
        }
        var writable = [WritableArea(path: resolvePath(request.projectRoot).real, name: "the project")]
        if let workspace = request.workspaceSource {
            writable.append(WritableArea(path: resolvePath(workspace).real, name: "the project"))
        }
        for workspace in request.workspaces {
            writable.append(
                WritableArea(path: resolvePath(workspace).real, name: "the workspace \(SafeText.quoted(workspace))"))
        }
        for (extra, resolution) in extras where extra.readWrite {
            writable.append(
                WritableArea(path: resolution.real, name: "the read-write mount \(SafeText.quoted(extra.path))"))
        }
        func refuseRedirectable(_ written: String, _ resolution: PathResolution, besidesProject: Bool = false) throws {
            // `--repo` folders may sit in the project's folder when it is not mounted itself: that is what
            // `--repo` is for. They must not sit in one another or in a read-write mount.
            let areas = besidesProject && request.workspaceSource == nil ? Array(writable.dropFirst()) : writable
            for entry in resolution.entries + [resolution.real] {
                if let area = areas.first(where: { entry.hasPrefix($0.path == "/" ? "/" : $0.path + "/") }) {
                    throw PaddockError.redirectableMount(path: written, through: entry, area: area.name)
                }
            }
        }
        for workspace in request.workspaces {
            try refuseRedirectable(workspace, resolvePath(workspace), besidesProject: true)
        }

        var mounts: [Mount] = []
        if let workspace = request.workspaceSource {
            // Mount policy for the workspace was checked once, by the preparation that made it (before any clone
            // or protection existed); the project is not searched for sockets: its own are the user's to judge.
            try refuseRedirectable(workspace, resolvePath(workspace))
            mounts.append(.bind(workspace, at: ImageRecipe.workspace, readOnly: false))
        }
        mounts.append(.volume(ProjectNaming.homeVolume(project: request.projectRoot, uid: user.uid), at: home))
        // The user's own instructions and settings, readable but not changeable by the agent.
        for relative in request.profile.readOnlyHostFiles {
            let hostPath = request.hostHome + "/" + relative
            guard fileExists(hostPath) else { continue }
            let resolution = resolvePath(hostPath)
            try refuseRedirectable(hostPath, resolution)
            mounts.append(.bind(try checked(resolution.real), at: home + "/" + relative, readOnly: true))
        }
        var settingsLayerPresent = false
        if let layer = request.profile.settingsLayer, fileExists(request.hostHome + "/" + layer.hostFile) {
            let hostPath = request.hostHome + "/" + layer.hostFile
            let resolution = resolvePath(hostPath)
            try refuseRedirectable(hostPath, resolution)
            mounts.append(.bind(try checked(resolution.real), at: layer.sandboxPath, readOnly: true))
            settingsLayerPresent = true
        }
        for (extra, resolution) in extras {
            let resolved = resolution.real
            try refuseRedirectable(extra.path, resolution)
            guard fileExists(resolved) else {
                throw PaddockError.invalidArgument(
                    "The mount \(extra.path) does not exist on this machine (resolved to \(resolved)). Create it or remove it from `mounts`."
                )
            }
            let target = extra.target ?? "/mnt/" + (resolved as NSString).lastPathComponent
            try validateTarget(target)
            mounts.append(.bind(try checked(resolved), at: target, readOnly: !extra.readWrite))
        }
        mounts += request.additionalMounts
        if let gateway = request.gateway { mounts.append(gateway.mount) }
        for mount in mounts where mount.kind == .bind {
            try validateHostPath(mount.source)
        }

        var environment = request.profile.environment
        // Variables that carry the relay's secret go apart: every local user reads the engine CLI's argv.
        var secretEnvironment: [String: String] = [:]
        if let gateway = request.gateway {
            let plain = GatewayAccess.environment(credential: nil)
            for (name, value) in GatewayAccess.environment(credential: gateway.credential) {
                if gateway.credential != nil, plain[name] != value {
                    secretEnvironment[name] = value
                } else {
                    environment[name] = value
                }
            }
        }
        for (name, value) in request.additionalEnvironment { environment[name] = value }
        // Values stay in the launcher's environment: argv carries only names, so `ps` on the host shows no secret.
        // A variable a credential rule names never passes, whoever forgot to withhold it: the gateway adds its value.
        let withheld = request.withheldEnvironment.union(
            (request.profile.credentialRules + request.config.network.credentials).map(\.variable))
        var passthrough: [String] = []
        for name in (request.profile.credentialVariables + request.config.env).mergedUnique([])
        where request.hostEnvironment[name] != nil && environment[name] == nil && secretEnvironment[name] == nil
            && !withheld.contains(name)
        {
            passthrough.append(name)
        }
        if request.stdinIsTerminal, request.hostEnvironment["TERM"] != nil, !passthrough.contains("TERM") {
            passthrough.append("TERM")
        }

        for name in request.additionalEnvironment.keys { secretEnvironment[name] = nil }
        let command = request.profile.withSetup(
            request.profile.argv(userArguments: request.userArguments, settingsLayerPresent: settingsLayerPresent))
        var spec = ContainerSpec(
            name: ProjectNaming.containerName(project: request.projectRoot, session: request.sessionID),
            image: request.imageTag,
            labels: [
                SessionLabels.session: request.sessionID.rawValue,
                SessionLabels.project: request.projectRoot,
                SessionLabels.launcherPID: String(request.launcherPID),
                SessionLabels.launcherStart: request.launcherStart,
                SessionLabels.agent: request.profile.name,
                SessionLabels.homeVolume: ProjectNaming.homeVolume(project: request.projectRoot, uid: user.uid),
            ],
            user: user,
            workingDirectory: ImageRecipe.workspace,
            mounts: mounts,
            environment: environment,
            passthroughEnvironment: passthrough,
            network: .none,
            cpus: request.config.resources.cpus,
            memory: request.config.resources.memory,
            pidsLimit: request.config.resources.pids ?? defaultPidsLimit,
            interactive: request.stdinIsTerminal || !request.stdinReadsNothing,
            tty: request.stdinIsTerminal,
            command: request.gateway == nil ? command : GatewayAccess.wrap(command))
        spec.secretEnvironment = secretEnvironment
        return spec
    }

    /// A place the agent can write, by its real path.
    struct WritableArea {
        var path: String
        var name: String
    }

    static func validateTarget(_ target: String) throws {
        let standardized = (target as NSString).standardizingPath
        guard target.hasPrefix("/"), standardized != "/", !target.split(separator: "/").contains(".."),
            ![ImageRecipe.workspace, ImageRecipe.home].contains(standardized)
        else {
            throw PaddockError.invalidArgument(
                "Mount target \(target) is not allowed: use an absolute path other than /, /workspace and the agent's home."
            )
        }
        try validateHostPath(target)
    }

    /// Newlines or NULs in a path would corrupt the engine's mount syntax.
    static func validateHostPath(_ path: String) throws {
        if path.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\0" }) {
            throw PaddockError.invalidArgument(
                "The path \(path.debugDescription) contains a line break; rename it to mount it.")
        }
    }
}
