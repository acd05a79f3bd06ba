/// An IPv4 or IPv6 address as a value: parsed without the C library, so every numeric spelling a resolver or
/// browser would accept (`2852039166`, `0xA9FEA9FE`, `127.1`, `0177.0.0.1`) is recognised as the address it is.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    /// The 128 bits as two big-endian halves: `high` holds the first eight bytes.
    case v6(high: UInt64, low: UInt64)

    /// The 4 or 16 bytes in network order.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let value):
            return (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
        case .v6(let high, let low):
            return (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
        }
    }

    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4:
            self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            let high = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = bytes.dropFirst(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self = .v6(high: high, low: low)
        default:
            return nil
        }
    }

    public var isV4: Bool {
        if case .v4 = self { return true }
        return false
    }

    /// Dotted quad for IPv4; RFC 5952 form for IPv6 (lower case, longest zero run compressed).
    public var description: String {
        switch self {
        case .v4(let value):
            return (0..<4).map { String((value >> (24 - 8 * UInt32($0))) & 0xFF) }.joined(separator: ".")
        case .v6(let high, let low):
            let groups =
                (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64($0))) }
                + (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64($0))) }
            // Longest run of at least two zero groups, first one on ties.
            var bestStart = -1
            var bestLength = 1
            var index = 0
            while index < 8 {
                guard groups[index] == 0 else {
                    index += 1
                    continue
                }
                var end = index
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - index > bestLength {
                    bestStart = index
                    bestLength = end - index
                }
                index = end
            }
            let hex = groups.map { String($0, radix: 16) }
            guard bestStart >= 0 else { return hex.joined(separator: ":") }
            let head = hex[0..<bestStart].joined(separator: ":")
            let tail = hex[(bestStart + bestLength)...].joined(separator: ":")
            return head + "::" + tail
        }
    }

    /// The text as an address, or nil. IPv6 without brackets; IPv4 in any numeric form (see `parseIPv4`).
    public init?(_ text: String) {
        if text.contains(":") {
            guard let address = IPAddress.parseIPv6(text) else { return nil }
            self = address
        } else {
            guard case .address(let address) = IPAddress.parseIPv4(text) else { return nil }
            self = address
        }
    }

    /// The outcome of reading a host as IPv4: not numeric at all (a name), a numeric form that is broken, or an address.
    public enum IPv4ParseResult: Equatable, Sendable {
        case notNumeric
        case invalid
        case address(IPAddress)
    }

    /// Reads IPv4 the way inet_aton(3) and the WHATWG URL standard do: one to four parts separated by dots, each
    /// decimal, `0x` hexadecimal or `0`-prefixed octal, the last part filling the remaining bytes. A host whose last
    /// label is numeric is an IPv4 attempt, so `example.123` is `.invalid` rather than a name.
    public static func parseIPv4(_ text: String) -> IPv4ParseResult {
        var parts = text.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count > 1, parts.last?.isEmpty == true { parts.removeLast() }
        guard let last = parts.last, looksNumeric(last) else { return .notNumeric }
        guard parts.count <= 4 else { return .invalid }
        var numbers: [UInt64] = []
        for part in parts {
            guard let number = parseIPv4Part(part) else { return .invalid }
            numbers.append(number)
        }
        for number in numbers.dropLast() where number > 255 { return .invalid }
        let lastLimit: UInt64 = 1 << (8 * UInt64(5 - numbers.count))
        guard let lastNumber = numbers.last, lastNumber < lastLimit else { return .invalid }
        var value = lastNumber
        for (index, number) in numbers.dropLast().enumerated() {
            value |= number << (8 * UInt64(3 - index))
        }
        return .address(.v4(UInt32(value)))
    }

    /// Whether a label is numeric in the WHATWG sense: all decimal digits, or `0x` followed by hex digits.
    private static func looksNumeric(_ label: Substring) -> Bool {
        guard !label.isEmpty else { return false }
        if label.allSatisfy({ $0.isASCII && $0.isNumber }) { return true }
        let lower = label.lowercased()
        guard lower.hasPrefix("0x") else { return false }
        return lower.dropFirst(2).allSatisfy { $0.isASCII && $0.isHexDigit }
    }

    private static func parseIPv4Part(_ part: Substring) -> UInt64? {
        guard !part.isEmpty, part.count <= 34 else { return nil }
        var digits = part
        var radix = 10
        if digits.count >= 2, digits.first == "0", let x = digits.dropFirst().first, x == "x" || x == "X" {
            digits = digits.dropFirst(2)
            radix = 16
            if digits.isEmpty { return 0 }
        } else if digits.count >= 2, digits.first == "0" {
            digits = digits.dropFirst()
            radix = 8
        }
        // UInt64 parsing rejects signs only for "+"; refuse anything that is not a plain digit.
        guard digits.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
        guard let value = UInt64(digits, radix: radix), value <= UInt64(UInt32.max) else { return nil }
        return value
    }

    /// RFC 4291 text form: hex groups, one `::`, an optional dotted-quad tail. No zone identifiers.
    public static func parseIPv6(_ text: String) -> IPAddress? {
        guard text.count >= 2, text.count <= 45,
            text.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == ":" || $0 == ".") })
        else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        let halves = text.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else { return nil }
        func groups(_ part: Substring, allowTrailingIPv4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if piece.contains(".") {
                    // Only the last piece of the whole address may be dotted, and only strict dotted decimal.
                    guard allowTrailingIPv4, index == pieces.count - 1 else { return nil }
                    let octets = piece.split(separator: ".", omittingEmptySubsequences: false)
                    guard octets.count == 4 else { return nil }
                    var bytes: [UInt16] = []
                    for octet in octets {
                        guard !octet.isEmpty, octet.count <= 3, octet.allSatisfy(\.isNumber),
                            octet.count == 1 || octet.first != "0",
                            let value = UInt16(octet), value <= 255
                        else { return nil }
                        bytes.append(value)
                    }
                    result.append(bytes[0] << 8 | bytes[1])
                    result.append(bytes[2] << 8 | bytes[3])
                } else {
                    guard !piece.isEmpty, piece.count <= 4, let value = UInt16(piece, radix: 16) else { return nil }
                    result.append(value)
                }
            }
            return result
        }
        if halves.count == 2 {
            guard let first = groups(halves[0], allowTrailingIPv4: false),
                let second = groups(halves[1], allowTrailingIPv4: true),
                first.count + second.count <= 7
            else { return nil }
            head = first
            tail = second
        } else {
            guard let all = groups(halves[0], allowTrailingIPv4: true), all.count == 8 else { return nil }
            head = all
        }
        let all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        let high = all[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let low = all[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return .v6(high: high, low: low)
    }

    /// For `::ffff:a.b.c.d` the IPv4 address it stands for.
    public var ipv4Mapped: IPAddress? {
        guard case .v6(let high, let low) = self, high == 0, low >> 32 == 0xFFFF else { return nil }
        return .v4(UInt32(truncatingIfNeeded: low))
    }
}

extension String {
    /// Splits at `::`; more than one occurrence yields three or more parts so the caller can refuse it.
    fileprivate func components(separatedByDoubleColon _: Void) -> [Substring] {
        var parts: [Substring] = []
        var start = startIndex
        var index = startIndex
        while index < endIndex {
            let next = self.index(after: index)
            if self[index] == ":", next < endIndex, self[next] == ":" {
                parts.append(self[start..<index])
                start = self.index(after: next)
                index = start
                // ":::" would leave a stray colon that the group parser rejects.
                continue
            }
            index = next
        }
        parts.append(self[start..<endIndex])
        return parts
    }
}
