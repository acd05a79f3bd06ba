import Foundation
import PaddockCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Read-only questions to the Docker Engine API on its local unix socket. Each answer takes about a millisecond,
/// where the docker CLI takes tens (it is measured against a bare `docker run`); anything else, and every
/// remote or context-configured engine, goes through the CLI.
public struct DockerAPI: Sendable {
    public let socketPath: String

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// The local socket the docker CLI would use, or nil when the CLI is configured for something else
    /// (DOCKER_HOST over TCP/SSH, a docker context): then only the CLI knows where the engine is.
    public static func localSocket(environment: [String: String], home: String) -> String? {
        if let host = environment["DOCKER_HOST"], !host.isEmpty {
            return host.hasPrefix("unix://") ? String(host.dropFirst("unix://".count)) : nil
        }
        if let context = environment["DOCKER_CONTEXT"], !context.isEmpty, context != "default" { return nil }
        let configDirectory = environment["DOCKER_CONFIG"] ?? home + "/.docker"
        if let data = FileManager.default.contents(atPath: configDirectory + "/config.json"),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let context = object["currentContext"] as? String, !context.isEmpty, context != "default"
        {
            return nil
        }
        return "/var/run/docker.sock"
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: Data
    }

    /// One HTTP/1.0 GET (so the body is plain and ends at close). nil when the socket does not answer.
    public func get(_ path: String, timeoutSeconds: Int = 10) -> Response? {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: pathBytes)
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: docker\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let written = request[sent...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written > 0 else { return nil }
            sent += written
        }
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count == 0 { break }
            guard count > 0 else { return nil }
            received.append(contentsOf: buffer[0..<count])
            if received.count > 64 * 1_048_576 { return nil }
        }
        return Self.parse(received)
    }

    static func parse(_ data: Data) -> Response? {
        let separator = Data("\r\n\r\n".utf8)
        guard let headerEnd = data.range(of: separator),
            let head = String(data: data[..<headerEnd.lowerBound], encoding: .utf8),
            let statusLine = head.split(separator: "\r\n").first
        else { return nil }
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else { return nil }
        return Response(status: status, body: Data(data[headerEnd.upperBound...]))
    }

    /// Whether the engine answers at all.
    public func ping() -> Bool { get("/_ping", timeoutSeconds: 3)?.status == 200 }

    /// The image's labels; nil when the engine says the image does not exist. Throws when the engine fails.
    public func imageLabels(_ image: String) throws -> [String: String]? {
        guard let response = get("/images/\(Self.escape(image, keeping: ":/@"))/json") else {
            throw PaddockError.engineUnavailable(engine: "docker", detail: "no answer on \(socketPath)")
        }
        if response.status == 404 { return nil }
        guard response.status == 200,
            let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]
        else {
            throw PaddockError.engineCommandFailed(
                command: "GET /images/\(image)/json", status: Int32(response.status),
                stderr: String(decoding: response.body, as: UTF8.self))
        }
        let config = object["Config"] as? [String: Any]
        return config?["Labels"] as? [String: String] ?? [:]
    }

    /// Containers carrying `label`, running or not.
    public func containers(label: String, all: Bool) throws -> [ContainerSummary] {
        let filters = "{\"label\":[\"\(label)\"]}"
        guard let response = get("/containers/json?all=\(all ? "true" : "false")&filters=\(Self.escape(filters))"),
            response.status == 200,
            let array = try? JSONSerialization.jsonObject(with: response.body) as? [[String: Any]]
        else {
            throw PaddockError.engineUnavailable(
                engine: "docker", detail: "the container list did not come back from \(socketPath)")
        }
        return array.map { object in
            let names = object["Names"] as? [String] ?? []
            return ContainerSummary(
                name: String((names.first ?? "").drop(while: { $0 == "/" })), id: object["Id"] as? String ?? "",
                state: object["State"] as? String ?? "", status: object["Status"] as? String ?? "",
                labels: object["Labels"] as? [String: String] ?? [:])
        }
    }

    /// Percent-encodes everything but unreserved characters, so a reference or filter cannot change the path.
    static func escape(_ text: String, keeping extra: String = "") -> String {
        let unreserved = CharacterSet(
            charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~" + extra)
        return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}
