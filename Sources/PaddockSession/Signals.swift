import Dispatch
import Foundation

/// Where a session learns that the user wants it to stop. The live source is the process's own signals; tests
/// deliver one at the stage they choose.
public protocol SignalSource: Sendable {
    /// Calls `handler` for each SIGINT, SIGTERM or SIGHUP until the returned trap is cancelled.
    func trap(_ handler: @escaping @Sendable (Int32) -> Void) -> any SignalTrapping
}

public protocol SignalTrapping: Sendable {
    func cancel()
}

public struct ProcessSignals: SignalSource {
    public init() {}
    public func trap(_ handler: @escaping @Sendable (Int32) -> Void) -> any SignalTrapping {
        SignalTrap(handler: handler)
    }
}

/// Turns SIGINT, SIGTERM and SIGHUP into a callback while a session runs, then restores default handling.
public final class SignalTrap: SignalTrapping, @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []
    private let signals: [Int32]
    private let queue = DispatchQueue(label: "paddock.signals")

    public init(signals: [Int32] = [SIGINT, SIGTERM, SIGHUP], handler: @escaping @Sendable (Int32) -> Void) {
        self.signals = signals
        for number in signals {
            // The dispatch source sees the signal only once its default action is off.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            sources.append(source)
        }
    }

    public func cancel() {
        queue.sync {
            for source in sources { source.cancel() }
            sources.removeAll()
        }
        for number in signals { signal(number, SIG_DFL) }
    }
}
