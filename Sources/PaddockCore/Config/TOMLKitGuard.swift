/// toml++ 3.4.0, the parser inside TOMLKit 0.6.0, asserts things about its input that a hostile file can break:
/// paddock aborts (or, where assertions are compiled out, the parser runs on with undefined behaviour). `paddock
/// trust` parses a project file the agent wrote before the user has seen it, so such a file must never reach it.
///
/// The config fuzz target (Tests/Fuzz) found three such places: a table header whose key does not start after its
/// `[`, an array value that starts with `}` or a line separator, and a date-time whose time does not start with a
/// digit. Rather than one rule per finding, this reads the file's structure the way TOML does (strings, comments,
/// tables, arrays, inline tables) and lets through only values paddock has a use for: strings, numbers, `true` and
/// `false`, arrays and tables. A date-time or any other bare word in a value's place is refused, so toml++'s value
/// detection only ever sees what it parses cleanly. A NUL byte is refused too: TOMLKit hands toml++ a C string, so
/// the rest of the file would be unseen by the parser, yet shown to the user.
enum TOMLKitGuard {
    struct Refusal: Equatable {
        var line: Int
        var column: Int
        var message: String
    }

    /// The first place toml++ must not be given, or nil.
    static func check(_ text: String) -> Refusal? {
        var scanner = Scanner(Array(text.utf8))
        return scanner.run()
    }

    private struct Scanner {
        enum Container {
            case array
            case inlineTable
        }

        /// What may come next where the scanner is, outside strings and comments.
        enum Expectation {
            case key
            case value
            case afterValue
        }

        let bytes: [UInt8]
        var index = 0
        var line = 1
        var lineStart = 0
        var containers: [Container] = []
        var expectation = Expectation.key

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            // toml++ skips a byte order mark.
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
                index = 3
                lineStart = 3
            }
        }

        func refusal(_ message: String, at position: Int? = nil) -> Refusal {
            Refusal(line: line, column: (position ?? index) - lineStart + 1, message: message)
        }

        mutating func run() -> Refusal? {
            if let refused = checkBytes() { return refused }
            var atLineStart = true
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                    index += 1
                    continue
                case UInt8(ascii: "\n"):
                    newLine()
                    atLineStart = true
                    if containers.isEmpty { expectation = .key }
                    continue
                case UInt8(ascii: "#"):
                    while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
                    continue
                case UInt8(ascii: "\""), UInt8(ascii: "'"):
                    skipString()
                    if expectation == .value { expectation = .afterValue }
                    atLineStart = false
                    continue
                default:
                    break
                }
                if atLineStart, containers.isEmpty, byte == UInt8(ascii: "["), let refused = checkTableHeader() {
                    return refused
                }
                atLineStart = false
                if let refused = step(byte) { return refused }
            }
            return nil
        }

        /// Bytes refused wherever they are, strings and comments included.
        func checkBytes() -> Refusal? {
            var scanner = self
            while scanner.index < bytes.count {
                let rest = bytes[scanner.index...]
                if rest.first == 0 {
                    return scanner.refusal("the file contains a NUL byte, which TOML does not allow; remove it")
                }
                // toml++ takes U+0085, U+2028 and U+2029 for line breaks in some places and not in others.
                if rest.starts(with: [0xE2, 0x80, 0xA8]) || rest.starts(with: [0xE2, 0x80, 0xA9])
                    || rest.starts(with: [0xC2, 0x85])
                {
                    return scanner.refusal(
                        "the file contains a Unicode line separator (U+0085, U+2028 or U+2029); use a plain line break")
                }
                if rest.first == UInt8(ascii: "\n") { scanner.newLine() } else { scanner.index += 1 }
            }
            return nil
        }

        /// One byte of structure outside strings, comments and blanks.
        mutating func step(_ byte: UInt8) -> Refusal? {
            switch (expectation, byte) {
            case (.key, UInt8(ascii: "=")):
                expectation = .value
            case (.key, UInt8(ascii: "}")) where containers.last == .inlineTable:
                // `{}` or a trailing comma, which toml++ reports itself.
                containers.removeLast()
                expectation = .afterValue
            case (.key, _):
                // Key names, dots, and a header's brackets: toml++ reports what is wrong in them.
                break
            case (.value, UInt8(ascii: "[")):
                containers.append(.array)
            case (.value, UInt8(ascii: "{")):
                containers.append(.inlineTable)
                expectation = .key
            case (.value, UInt8(ascii: "]")) where containers.last == .array:
                // An empty array, or a trailing comma.
                containers.removeLast()
                expectation = .afterValue
            case (.value, _):
                return bareValue()
            case (.afterValue, UInt8(ascii: ",")) where containers.last == .array:
                expectation = .value
            case (.afterValue, UInt8(ascii: ",")) where containers.last == .inlineTable:
                expectation = .key
            case (.afterValue, UInt8(ascii: "]")) where containers.last == .array,
                (.afterValue, UInt8(ascii: "}")) where containers.last == .inlineTable:
                containers.removeLast()
            case (.afterValue, _):
                return refusal("unexpected \(Self.describe(byte)) after a value; write one `key = value` per line")
            }
            index += 1
            return nil
        }

        /// A value that is not a string, an array or a table: a number, `true` or `false`, up to where toml++ stops
        /// reading one (a blank, a line break, `,`, `]`, `}` or `#`).
        mutating func bareValue() -> Refusal? {
            let start = index
            while index < bytes.count, !Self.endsBareValue(bytes[index]) { index += 1 }
            let word = bytes[start..<index]
            guard !word.isEmpty else {
                return refusal("a value is missing before \(Self.describe(bytes[index]))", at: start)
            }
            guard Self.isNumberOrBoolean(word) else {
                let shown = String(decoding: word.prefix(40), as: UTF8.self).debugDescription
                return refusal(
                    "\(shown) is not a value paddock reads: write a string in quotes, a number, true or false",
                    at: start)
            }
            expectation = .afterValue
            return nil
        }

        static func endsBareValue(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"), UInt8(ascii: ","),
                UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: "#"):
                return true
            default:
                return false
            }
        }

        /// TOML's integers (decimal, 0x, 0o, 0b), floats (with `inf` and `nan`) and booleans, nothing else.
        static func isNumberOrBoolean(_ word: ArraySlice<UInt8>) -> Bool {
            let text = String(decoding: word, as: UTF8.self)
            if ["true", "false", "inf", "+inf", "-inf", "nan", "+nan", "-nan"].contains(text) { return true }
            for (prefix, digits) in [("0x", "0123456789abcdefABCDEF"), ("0o", "01234567"), ("0b", "01")]
            where text.hasPrefix(prefix) {
                return isDigitRun(word.dropFirst(2)[...], digits: Set(digits.utf8))
            }
            var rest = word
            if rest.first == UInt8(ascii: "+") || rest.first == UInt8(ascii: "-") { rest = rest.dropFirst() }
            let decimal = Set("0123456789".utf8)
            let exponentStart = rest.firstIndex { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
            var mantissa = rest[..<(exponentStart ?? rest.endIndex)]
            if let dot = mantissa.firstIndex(of: UInt8(ascii: ".")) {
                guard isDigitRun(mantissa[(dot + 1)...], digits: decimal) else { return false }
                mantissa = mantissa[..<dot]
            }
            guard isDigitRun(mantissa, digits: decimal) else { return false }
            if let exponentStart {
                var exponent = rest[(exponentStart + 1)...]
                if exponent.first == UInt8(ascii: "+") || exponent.first == UInt8(ascii: "-") {
                    exponent = exponent.dropFirst()
                }
                return isDigitRun(exponent, digits: decimal)
            }
            return true
        }

        /// One or more digits, single underscores only between two of them.
        static func isDigitRun(_ run: ArraySlice<UInt8>, digits: Set<UInt8>) -> Bool {
            guard let first = run.first, let last = run.last, digits.contains(first), digits.contains(last) else {
                return false
            }
            var previousUnderscore = false
            for byte in run {
                if byte == UInt8(ascii: "_") {
                    if previousUnderscore { return false }
                    previousUnderscore = true
                } else if digits.contains(byte) {
                    previousUnderscore = false
                } else {
                    return false
                }
            }
            return true
        }

        /// A string of any of TOML's four kinds, from its opening quote. A single-line string ends at the line's end
        /// at the latest (toml++ stops there with an error).
        mutating func skipString() {
            let quote = bytes[index]
            let isBasic = quote == UInt8(ascii: "\"")
            let multiline = bytes[index...].starts(with: [quote, quote, quote])
            index += multiline ? 3 : 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\n") {
                    guard multiline else { return }
                    newLine()
                } else if isBasic, byte == UInt8(ascii: "\\") {
                    // The escaped byte, unless it is a line break (counted as one).
                    index += bytes[index...].dropFirst().first == UInt8(ascii: "\n") ? 1 : 2
                } else if byte == quote, !multiline {
                    index += 1
                    return
                } else if multiline, bytes[index...].starts(with: [quote, quote, quote]) {
                    index += 3
                    // Up to two more quotes belong to the string.
                    while index < bytes.count, bytes[index] == quote { index += 1 }
                    return
                } else {
                    index += 1
                }
            }
        }

        /// toml++ reads a table header's key without checking that one starts after the `[` (or `[[`) and blanks.
        func checkTableHeader() -> Refusal? {
            let isBlank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            var rest = bytes[index...].dropFirst().prefix { $0 != UInt8(ascii: "\n") }.drop(while: isBlank)
            if rest.first == UInt8(ascii: "[") { rest = rest.dropFirst().drop(while: isBlank) }
            // A key's first character, or the `]` toml++ checks itself; anything else, the end of the line included.
            switch rest.first ?? UInt8(ascii: "\n") {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "\""),
                UInt8(ascii: "'"), UInt8(ascii: "]"):
                return nil
            default:
                return refusal(
                    "this table header does not start with a name; write it as [name] or [\"name\"]",
                    at: rest.startIndex)
            }
        }

        mutating func newLine() {
            index += 1
            line += 1
            lineStart = index
        }

        static func describe(_ byte: UInt8) -> String {
            byte >= 0x21 && byte < 0x7F ? "`\(Character(UnicodeScalar(byte)))`" : "byte 0x\(String(byte, radix: 16))"
        }
    }
}
