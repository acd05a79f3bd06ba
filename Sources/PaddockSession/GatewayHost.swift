import Foundation
import Logging
import PaddockCore
import PaddockEngine
import PaddockGateway

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The session's gateway, hosted by the launcher for the session's lifetime, with its policy kept current.
final class GatewayHost: Sendable {
    let directory: String
    let logPath: String
    let denials: DenialReporter?
    /// What makes the sandbox's clients trust the session authority (empty when nothing is intercepted).
    let trustEnvironment: [String: String]
    /// The host folder with the session authority's certificate, for `Interception.directoryInSandbox`; nil when
    /// nothing is intercepted.
    let trustDirectory: String?
    /// How the sandbox reaches this gateway, and what that needs (the relay transport's loopback port and secret).
    let link: GatewayLink
    private let gateway: Gateway
    private let log: FileConnectionLog
    private let watcher: Task<Void, Never>
    private let relay = RelayHolder()

    /// Starts listening on `<directory>/gateway.sock` (and, for the relay transport, on a random loopback port
    /// that wants the session's secret) and begins following policy changes.
    static func start(
        source: NetworkPolicySource, sessionID: SessionID, paths: PaddockPaths, sandboxUser: SandboxUser,
        logger: Logger, denials: DenialReporter? = nil, secrets: SessionSecrets = SessionSecrets(),
        transport: GatewayTransport = .boundFolder, flavor: EngineFlavor = .dockerEngine
    ) async throws -> GatewayHost {
        // What the gateway says for the user must not tear a full-screen agent's picture: it goes with the denials.
        let logger = denials.map { $0.gatewayLogger(logger) } ?? logger
        let layers = try source.files.read()
        let policy = try source.policy(layers)
        let sessionDirectory = paths.sessionDirectory(sessionID)
        var directory = sessionDirectory + "/gateway"
        // A unix socket path must fit in sun_path (104 bytes on macOS, 108 on Linux): fall back to a short private
        // folder.
        var shared = false
        if (directory + "/" + GatewayAccess.socketName).utf8.count > HostSystem.maxSocketPath {
            // In a shared temporary folder the name must be unguessable and newly made by us: a folder another
            // user prepared could let them swap the socket for a proxy of their own.
            directory = NSTemporaryDirectory() + "paddock-\(getuid())-\(UUID().uuidString.prefix(12).lowercased())"
            shared = true
        }
        let logPath = sessionDirectory + "/net.jsonl"
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: !shared, attributes: [.posixPermissions: 0o700])
            try FileManager.default.createDirectory(atPath: sessionDirectory, withIntermediateDirectories: true)
        } catch {
            throw PaddockError.fileSystem(path: directory, message: "cannot create the gateway's folder: \(error)")
        }
        let socket = directory + "/" + GatewayAccess.socketName
        // What the sandbox trusts lives apart from the socket, so every transport can mount it.
        let trustDirectory = sessionDirectory + "/trust"
        let interception: (Interception, [String: String])?
        do {
            try FileManager.default.createDirectory(
                atPath: trustDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            interception = try Interception.prepare(secrets, session: sessionID.rawValue, directory: trustDirectory)
        } catch let error as PaddockError {
            throw error
        } catch {
            throw PaddockError.fileSystem(
                path: trustDirectory, message: "cannot create the session's trust folder: \(error)")
        }
        let log = try FileConnectionLog(path: logPath)
        let credential = transport.needsSecret ? ProxyCredential.random() : nil
        // A bound socket file shows inside with the host's permission bits but, on Apple `container`, root's
        // owner: 0666 lets the sandbox's user connect, and the 0700 folder keeps everyone else on the host out.
        let gateway = Gateway(
            configuration: GatewayConfiguration(
                unixSocketPath: socket, unixSocketMode: transport == .boundSocketFile ? 0o666 : 0o600,
                tcpHost: credential == nil ? nil : "127.0.0.1", tcpCredential: credential,
                interception: interception?.0),
            policies: PolicyStore(policy), log: denials.map { TeeConnectionLog([log, $0]) } ?? log, logger: logger)
        let endpoints: Gateway.Endpoints
        do {
            endpoints = try await gateway.start()
        } catch {
            await log.close()
            throw PaddockError.other(
                "The network gateway could not start: \(error). Use --offline to run without network.")
        }
        // Only the sandbox's user may use the socket; it differs from the host user only when the host user is root.
        if sandboxUser.uid != getuid() {
            _ = chown(directory, sandboxUser.uid, sandboxUser.gid)
            _ = chown(socket, sandboxUser.uid, sandboxUser.gid)
        }
        chmod(directory, 0o700)
        let watcher = Task {
            await Self.follow(source: source, layers: layers, store: gateway.policies, logger: logger)
        }
        let link = GatewayLink(
            transport: transport, flavor: flavor, sessionID: sessionID, directory: directory, socket: socket,
            port: endpoints.tcpAddress?.port, credential: credential, launcherPID: HostProcess.currentPID,
            launcherStart: HostProcess.startToken(pid: HostProcess.currentPID))
        return GatewayHost(
            directory: directory, logPath: logPath, denials: denials, link: link, gateway: gateway, log: log,
            watcher: watcher, trustEnvironment: interception?.1 ?? [:],
            trustDirectory: interception == nil ? nil : trustDirectory)
    }

    private init(
        directory: String, logPath: String, denials: DenialReporter?, link: GatewayLink, gateway: Gateway,
        log: FileConnectionLog, watcher: Task<Void, Never>, trustEnvironment: [String: String], trustDirectory: String?
    ) {
        self.trustDirectory = trustDirectory
        self.trustEnvironment = trustEnvironment
        self.directory = directory
        self.logPath = logPath
        self.denials = denials
        self.link = link
        self.gateway = gateway
        self.log = log
        self.watcher = watcher
    }

    /// Probes the gateway answered: none after a sandbox exited with `GatewayAccess.probeFailedStatus` means
    /// its way out never worked.
    var probesAnswered: Int { gateway.probesAnswered }

    /// What the session plan mounts; for the relay transport this starts the relay (from `image`, once built),
    /// which `stop` removes with its volume.
    func attachment(engine: any ContainerEngine, image: String) async throws -> GatewayAttachment {
        if let plan = link.relayPlan(image: image) {
            let started = GatewayRelay(engine: engine, plan: plan)
            relay.set(started)
            try await started.start()
        }
        return link.attachment
    }

    /// Stops the gateway (no socket remains) and its relay, flushes the log and returns the end-of-session line.
    func stop() async -> String {
        watcher.cancel()
        await relay.take()?.stop()
        await gateway.shutdown()
        await log.close()
        try? FileManager.default.removeItem(atPath: directory)
        return gateway.summary.line
    }

    /// Polls the policy's files once a second; a change reaches the running gateway at once. Each layer is
    /// re-read on its own: a project file the agent edited (no longer trusted) keeps its last trusted version in
    /// force, a file that no longer parses keeps its last good one, and every other layer still applies, so the
    /// user's `paddock deny` always reaches the session while the agent's widening never does.
    static func follow(source: NetworkPolicySource, layers start: NetworkLayers, store: PolicyStore, logger: Logger)
        async
    {
        let files = source.files
        var layers = start
        var lastSeen = fingerprint(files.watchedFiles)
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let now = fingerprint(files.watchedFiles)
            guard now != lastSeen else { continue }
            lastSeen = now
            let (next, held) = files.reload(layers)
            for note in held { logger.notice("network policy: \(note)") }
            do {
                store.update(try source.policy(next))
                layers = next
                logger.debug("network policy reloaded")
            } catch {
                logger.notice("network policy unchanged: \(error)")
            }
        }
    }

    static func fingerprint(_ files: [String]) -> [String] {
        files.map { path in
            FileManager.default.contents(atPath: path).map { Hashing.sha256Hex($0) } ?? "-"
        }
    }
}

/// The relay a session started, held so `stop` removes it whichever path ends the session.
final class RelayHolder: @unchecked Sendable {
    private let lock = NSLock()
    private var relay: GatewayRelay?

    func set(_ relay: GatewayRelay) { lock.withLock { self.relay = relay } }
    func take() -> GatewayRelay? {
        lock.withLock {
            defer { relay = nil }
            return relay
        }
    }
}
