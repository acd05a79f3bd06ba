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
    /// For a request the gateway read on an intercepted (`https`) connection: its method, its path without the
    /// query, the response status, and whether the gateway added a credential. Never a header value.
    public var method: String?
    public var path: String?
    public var status: Int?
    public var credential: Bool?

    public init(
        time: String, protocol: String, host: String, port: Int?, decision: Decision, rule: String,
        reason: String? = nil, resolved: String? = nil, bytesUp: UInt64 = 0, bytesDown: UInt64 = 0,
        durationMs: Double = 0, error: String? = nil, method: String? = nil, path: String? = nil,
        status: Int? = nil, credential: Bool? = nil
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
        self.method = method
        self.path = path
        self.status = status
        self.credential = credential
    }

    /// The record as one line of JSON (no trailing newline), keys in a fixed order. Hand-written into a byte buffer
    /// so the gateway needs no encoder and no string building on its hot path; `JSONDecoder` reads it back (tested).
    public func jsonLine() -> String {
        var out: [UInt8] = []
        appendJSONLine(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the JSON line (without newline) as UTF-8.
    public func appendJSONLine(to out: inout [UInt8]) {
        out.reserveCapacity(out.count + 160 + host.utf8.count + rule.utf8.count)
        out.append(UInt8(ascii: "{"))
        Self.appendField("time", time, to: &out, first: true)
        Self.appendField("protocol", self.protocol, to: &out)
        Self.appendField("host", host, to: &out)
        Self.appendKey("port", to: &out)
        if let port {
            Self.appendDecimal(UInt64(clamping: port), to: &out)
        } else {
            out.append(contentsOf: "null".utf8)
        }
        Self.appendField("decision", decision.rawValue, to: &out)
        Self.appendField("rule", rule, to: &out)
        Self.appendField("reason", reason, to: &out)
        Self.appendField("resolved", resolved, to: &out)
        Self.appendKey("bytesUp", to: &out)
        Self.appendDecimal(bytesUp, to: &out)
        Self.appendKey("bytesDown", to: &out)
        Self.appendDecimal(bytesDown, to: &out)
        Self.appendKey("durationMs", to: &out)
        Self.appendMilliseconds(durationMs, to: &out)
        Self.appendField("error", error, to: &out)
        if let method {
            Self.appendField("method", method, to: &out)
            Self.appendField("path", path, to: &out)
            Self.appendKey("status", to: &out)
            if let status {
                Self.appendDecimal(UInt64(clamping: status), to: &out)
            } else {
                out.append(contentsOf: "null".utf8)
            }
            Self.appendKey("credential", to: &out)
            out.append(contentsOf: (credential == true ? "true" : "false").utf8)
        }
        out.append(UInt8(ascii: "}"))
    }

    private static func appendKey(_ name: StaticString, to out: inout [UInt8], first: Bool = false) {
        if !first { out.append(UInt8(ascii: ",")) }
        out.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(contentsOf: "\":".utf8)
    }

    private static func appendField(_ name: StaticString, _ value: String?, to out: inout [UInt8], first: Bool = false)
    {
        appendKey(name, to: &out, first: first)
        if let value { SafeText.appendJSONString(value, to: &out) } else { out.append(contentsOf: "null".utf8) }
    }

    private static func appendDecimal(_ value: UInt64, to out: inout [UInt8], width: Int = 1) {
        var digits: [UInt8] = []
        var rest = value
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        while digits.count < width { digits.append(UInt8(ascii: "0")) }
        out.append(contentsOf: digits.reversed())
    }

    private static func appendMilliseconds(_ value: Double, to out: inout [UInt8]) {
        guard value.isFinite, value >= 0, value < 1e15 else {
            out.append(UInt8(ascii: "0"))
            return
        }
        let micros = UInt64((value * 1000).rounded())
        appendDecimal(micros / 1000, to: &out)
        out.append(UInt8(ascii: "."))
        appendDecimal(micros % 1000, to: &out, width: 3)
    }

    /// RFC 3339 UTC with milliseconds for a wall-clock time given as nanoseconds since 1970.
    public static func timestamp(epochNanoseconds: Int64) -> String {
        let millis = epochNanoseconds / 1_000_000 - (epochNanoseconds % 1_000_000 < 0 ? 1 : 0)
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
        var out: [UInt8] = []
        out.reserveCapacity(24)
        func field(_ value: Int64, _ width: Int, _ separator: Character?) {
            appendDecimal(UInt64(clamping: value), to: &out, width: width)
            if let separator, let ascii = separator.asciiValue { out.append(ascii) }
        }
        field(year, 4, "-")
        field(month, 2, "-")
        field(day, 2, "T")
        field(remainder / 3_600_000, 2, ":")
        field(remainder / 60_000 % 60, 2, ":")
        field(remainder / 1000 % 60, 2, ".")
        field(remainder % 1000, 3, "Z")
        return String(decoding: out, as: UTF8.self)
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
            let key =
                record.port.map { NetworkRule.defaultPorts.contains($0) ? record.host : "\(record.host):\($0)" }
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
