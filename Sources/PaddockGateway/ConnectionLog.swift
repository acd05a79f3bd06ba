import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PaddockCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the gateway sends one record per connection (or per plain-HTTP request). Called on event loops: it must
/// not block.
public protocol ConnectionLogSink: Sendable {
    func record(_ record: ConnectionRecord)
}

/// Keeps records in memory; for tests and for callers that want to look at them directly.
public final class MemoryConnectionLog: ConnectionLogSink {
    private let box = NIOLockedValueBox<[ConnectionRecord]>([])

    public init() {}

    public func record(_ record: ConnectionRecord) {
        box.withLockedValue { $0.append(record) }
    }

    public var records: [ConnectionRecord] { box.withLockedValue { $0 } }
}

/// Appends JSON lines to a file (the session's `net.log`). Records are queued and formatted and written by one
/// background thread, so neither the formatting nor a slow disk is an event loop's work; `close()` writes what is
/// left.
public final class FileConnectionLog: ConnectionLogSink {
    private struct State {
        var pending: [ConnectionRecord] = []
        var flushScheduled = false
        var closed = false
    }

    private let descriptor: Int32
    private let state = NIOLockedValueBox(State())
    private let pool: NIOThreadPool
    /// Beyond this many queued lines new records are dropped (and counted) rather than growing without bound.
    private let maxPending = 100_000
    private let droppedCount = NIOLockedValueBox(0)

    /// How long the writer thread waits for more lines after a write.
    private let batchInterval: Double
    /// Becomes 1 when the log closes, which ends a batching wait at once.
    private let closing = ConditionLock(value: 0)

    /// - Parameter batchMilliseconds: how long the writer waits after a write for more lines to gather.
    public init(path: String, batchMilliseconds: UInt32 = 20) throws(PaddockError) {
        batchInterval = Double(batchMilliseconds) / 1000
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw .fileSystem(path: path, message: "cannot open the network log: \(String(cString: strerror(errno)))")
        }
        descriptor = fd
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
    }

    public var dropped: Int { droppedCount.withLockedValue { $0 } }

    public func record(_ record: ConnectionRecord) {
        let schedule: Bool = state.withLockedValue { state in
            guard !state.closed else { return false }
            guard state.pending.count < maxPending else {
                droppedCount.withLockedValue { $0 += 1 }
                return false
            }
            state.pending.append(record)
            guard !state.flushScheduled else { return false }
            state.flushScheduled = true
            return true
        }
        if schedule {
            pool.submit { [self] _ in self.flush(batching: true) }
        }
    }

    /// Writes what is queued. `batching` waits a little after each write for more lines to gather, until the log
    /// is closed: `close()` must not wait, or every session with any connection would end that much later.
    private func flush(batching: Bool) {
        while true {
            let (records, closed) = state.withLockedValue { state in
                let records = state.pending
                state.pending.removeAll(keepingCapacity: true)
                if records.isEmpty { state.flushScheduled = false }
                return (records, state.closed)
            }
            if records.isEmpty { return }
            var bytes: [UInt8] = []
            for record in records {
                record.appendJSONLine(to: &bytes)
                bytes.append(UInt8(ascii: "\n"))
            }
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { raw in
                    write(descriptor, raw.baseAddress.map { $0 + offset }, raw.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    return  // The disk refused; the gateway keeps working without its log.
                }
                offset += written
            }
            bytes.removeAll()
            // Let lines gather: one write per batch instead of a thread wake-up and a write per connection.
            if batching && !closed, closing.lock(whenValue: 1, timeoutSeconds: batchInterval) {
                closing.unlock()
            }
        }
    }

    /// Writes every queued line and closes the file. Records after this are ignored.
    public func close() async {
        state.withLockedValue { $0.closed = true }
        closing.lock()
        closing.unlock(withValue: 1)
        try? await pool.runIfActive { self.flush(batching: false) }
        try? await pool.shutdownGracefully()
        #if canImport(Glibc)
            _ = Glibc.close(descriptor)
        #else
            _ = Darwin.close(descriptor)
        #endif
    }
}

/// Sends each record to several sinks.
public struct TeeConnectionLog: ConnectionLogSink {
    public let sinks: [any ConnectionLogSink]

    public init(_ sinks: [any ConnectionLogSink]) {
        self.sinks = sinks
    }

    public func record(_ record: ConnectionRecord) {
        for sink in sinks { sink.record(record) }
    }
}
