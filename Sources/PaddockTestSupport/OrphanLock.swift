/// `paddock clean` removes every orphaned sandbox on an engine, not only the calling test's. Tests that make an
/// orphan (a SIGKILLed launcher) or call `clean` take this lock, so one test never cleans up another's evidence
/// while the suites run in parallel.
public actor OrphanLock {
    public static let shared = OrphanLock()
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !held {
            held = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            held = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}

public func withOrphanLock<T>(_ body: () async throws -> T) async throws -> T {
    await OrphanLock.shared.acquire()
    do {
        let result = try await body()
        await OrphanLock.shared.release()
        return result
    } catch {
        await OrphanLock.shared.release()
        throw error
    }
}
