/// One line of a session's network log: a tunnel, a plain HTTP request, or a refused attempt.
public struct ConnectionRecord: Codable, Equatable, Sendable {
    public enum Decision: String, Codable, Sendable {
        case allow
        case deny
        /// The request could not be read (bad syntax, bad port, forbidden characters): nothing was decided.
        case invalid
    }

    /// RFC 3339 UTC with milliseconds.
    public var time: String
    /// `connect` (HTTP CONNECT), `http` (a forwarded plain HTTP request) or `socks5`.
    public var `protocol`: String
    /// Canonical host, or for an invalid request what the client sent (truncated).
    public var host: String
    public var port: Int?
    public var decision: Decision
    /// The rule that decided (`github.com (preset github)`), or `default`, `offline`, `restricted-address`.
    public var rule: String
    /// Why, in words, for denials and invalid requests.
    public var reason: String?
    /// The address actually connected to (or refused after resolution).
    public var resolved: String?
    /// Client → origin.
    public var bytesUp: UInt64
    /// Origin → client.
    public var bytesDown: UInt64
    public var durationMs: Double
    /// What went wrong after an allow: resolution failure, connect timeout, refused, …
    public var error: String?

    public init(
        time: String, protocol: String, host: String, port: Int?, decision: Decision, rule: String,
        reason: String? = nil, resolved: String? = nil, bytesUp: UInt64 = 0, bytesDown: UInt64 = 0,
        durationMs: Double = 0, error: String? = nil
    ) {
        self.time = time
        self.protocol = `protocol`
        self.host = host
        self.port = port
        self.decision = decision
        self.rule = rule
        self.reason = reason
        self.resolved = resolved
        self.bytesUp = bytesUp
        self.bytesDown = bytesDown
        self.durationMs = durationMs
        self.error = error
    }

    /// The record as one line of JSON (no trailing newline), keys in a fixed order. Hand-written so the gateway
    /// needs no encoder on its hot path; `JSONDecoder` reads it back (tested).
    public func jsonLine() -> String {
        var out = "{"
        func key(_ name: String) {
            if out.count > 1 { out += "," }
            out += "\"\(name)\":"
        }
        func string(_ name: String, _ value: String?) {
            key(name)
            if let value { Self.appendJSONString(value, to: &out) } else { out += "null" }
        }
        string("time", time)
        string("protocol", self.protocol)
        string("host", host)
        key("port")
        out += port.map(String.init) ?? "null"
        string("decision", decision.rawValue)
        string("rule", rule)
        string("reason", reason)
        string("resolved", resolved)
        key("bytesUp")
        out += String(bytesUp)
        key("bytesDown")
        out += String(bytesDown)
        key("durationMs")
        out += Self.formatMilliseconds(durationMs)
        string("error", error)
        out += "}"
        return out
    }

    static func appendJSONString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    static func formatMilliseconds(_ value: Double) -> String {
        guard value.isFinite, value >= 0 else { return "0" }
        let micros = UInt64((value * 1000).rounded())
        let fraction = String(micros % 1000)
        return "\(micros / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    /// RFC 3339 UTC with milliseconds for a wall-clock time given as nanoseconds since 1970.
    public static func timestamp(epochNanoseconds: Int64) -> String {
        let millis = epochNanoseconds / 1_000_000
        var days = millis / 86_400_000
        var remainder = millis % 86_400_000
        if remainder < 0 {
            remainder += 86_400_000
            days -= 1
        }
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let hours = remainder / 3_600_000
        let minutes = remainder / 60_000 % 60
        let seconds = remainder / 1000 % 60
        let ms = remainder % 1000
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hours, 2)):\(pad(minutes, 2)):"
            + "\(pad(seconds, 2)).\(pad(ms, 3))Z"
    }
}

/// Counts for the one line printed at session end, and for `paddock net log`.
public struct ConnectionSummary: Equatable, Sendable {
    public struct HostCount: Equatable, Sendable {
        public let host: String
        public let count: Int

        public init(host: String, count: Int) {
            self.host = host
            self.count = count
        }
    }

    public private(set) var allowed = 0
    public private(set) var denied = 0
    public private(set) var invalid = 0
    public private(set) var bytesUp: UInt64 = 0
    public private(set) var bytesDown: UInt64 = 0
    private var deniedHosts: [String: Int] = [:]
    /// A hostile agent can probe millions of names; past this many distinct hosts the rest are counted together.
    static let maxDistinctHosts = 10_000
    static let otherHosts = "(other hosts)"

    public init() {}

    public init(_ records: some Sequence<ConnectionRecord>) {
        for record in records { add(record) }
    }

    public mutating func add(_ record: ConnectionRecord) {
        bytesUp &+= record.bytesUp
        bytesDown &+= record.bytesDown
        switch record.decision {
        case .allow:
            allowed += 1
        case .invalid:
            invalid += 1
        case .deny:
            denied += 1
            let key = record.port.map { NetworkRule.defaultPorts.contains($0) ? record.host : "\(record.host):\($0)" }
                ?? record.host
            if deniedHosts[key] != nil || deniedHosts.count < Self.maxDistinctHosts {
                deniedHosts[key, default: 0] += 1
            } else {
                deniedHosts[Self.otherHosts, default: 0] += 1
            }
        }
    }

    /// Most-denied hosts first; ties by name so the output is stable.
    public func topDenied(_ limit: Int = 5) -> [HostCount] {
        deniedHosts.map { HostCount(host: $0.key, count: $0.value) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.host < $1.host }
            .prefix(limit).map { $0 }
    }

    /// `network: 12 allowed, 3 denied (top denied: example.com ×2, evil.test ×1)`.
    public var line: String {
        var text = "network: \(allowed) allowed, \(denied) denied"
        if invalid > 0 { text += ", \(invalid) invalid" }
        let top = topDenied()
        if !top.isEmpty {
            text += " (top denied: " + top.map { "\($0.host) ×\($0.count)" }.joined(separator: ", ") + ")"
        }
        return text
    }
}
