#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The fuzz targets, each a function that must return normally for every input. A trap, a failed precondition or
/// an `invariant` that does not hold is the finding; libFuzzer saves the input that caused it.
enum FuzzTarget: String, CaseIterable {
    case gateway
    case target
    case config
    case refs

    func run(_ bytes: [UInt8]) {
        switch self {
        case .gateway: GatewayFuzz.run(bytes)
        case .target: TargetFuzz.run(bytes)
        case .config: ConfigFuzz.run(bytes)
        case .refs: RefsFuzz.run(bytes)
        }
    }

    /// Chosen once, by PADDOCK_FUZZ_TARGET, before the first input.
    nonisolated(unsafe) static var selected: FuzzTarget?
}

func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Reports a broken property and aborts, so libFuzzer keeps the input.
func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    guard !condition() else { return }
    printError("paddock-fuzz: invariant broken: \(message())")
    abort()
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>
) -> CInt {
    let name = getenv("PADDOCK_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        printError(
            "paddock-fuzz: set PADDOCK_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))"
        )
        exit(2)
    }
    FuzzTarget.selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzTarget.selected?.run(bytes)
    return 0
}
