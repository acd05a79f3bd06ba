import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import PaddockCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes log records and keeps the running summary.
final class GatewayRecorder: Sendable {
    private let sink: any ConnectionLogSink
    private let summaryBox = NIOLockedValueBox(ConnectionSummary())

    init(sink: any ConnectionLogSink) {
        self.sink = sink
    }

    var summary: ConnectionSummary { summaryBox.withLockedValue { $0 } }

    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return ConnectionRecord.timestamp(epochNanoseconds: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }

    func record(_ record: ConnectionRecord) {
        summaryBox.withLockedValue { $0.add(record) }
        sink.record(record)
    }

    func record(
        _ wallClock: String, _ proto: ProxyProtocol, _ target: NetworkTarget, decision: PolicyDecision?,
        resolved: IPAddress?, started: NIODeadline, bytesUp: UInt64 = 0, bytesDown: UInt64 = 0, error: String? = nil
    ) {
        let elapsed = NIODeadline.now() - started
        record(
            ConnectionRecord(
                time: wallClock, protocol: proto.rawValue, host: target.host.description, port: target.port,
                decision: decision?.isAllowed == true ? .allow : .deny, rule: decision?.ruleDescription ?? "default",
                reason: decision?.isAllowed == true ? nil : decision?.reason, resolved: resolved?.description,
                bytesUp: bytesUp, bytesDown: bytesDown, durationMs: Double(elapsed.nanoseconds) / 1_000_000,
                error: error))
    }

    func recordInvalid(_ proto: ProxyProtocol?, request: String, reason: String) {
        record(
            ConnectionRecord(
                time: Self.now(), protocol: proto?.rawValue ?? "unknown", host: String(request.prefix(256)), port: nil,
                decision: .invalid, rule: "invalid", reason: reason))
    }
}
