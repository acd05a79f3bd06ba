/// toml++ 3.4.0, the parser inside TOMLKit 0.6.0, asserts things about its input that a hostile file can break:
/// paddock aborts (or, where assertions are compiled out, the parser runs on with undefined behaviour). `paddock
/// trust` parses a project file the agent wrote before the user has seen it, so such a file must never reach it.
/// Each rule refuses one shape the config fuzz target (Tests/Fuzz) found, and a NUL byte (TOMLKit hands toml++ a C
/// string, so the rest would be unseen by the parser, not by the user); strings and comments are skipped the way
/// TOML reads them, and where this reading and toml++'s could differ the rules refuse rather than pass.
enum TOMLKitGuard {
    struct Refusal: Equatable {
        var line: Int
        var column: Int
        var message: String
    }

    private enum Context {
        case code
        case comment
        case basicString
        case literalString
        case multilineBasicString
        case multilineLiteralString

        var quote: UInt8? {
            switch self {
            case .basicString, .multilineBasicString: return UInt8(ascii: "\"")
            case .literalString, .multilineLiteralString: return UInt8(ascii: "'")
            case .code, .comment: return nil
            }
        }
    }

    /// The first shape toml++ cannot take, or nil.
    static func check(_ text: String) -> Refusal? {
        var bytes = Array(text.utf8)[...]
        // toml++ skips a byte order mark.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        var context = Context.code
        var line = 1
        var lineStart = bytes.startIndex
        var atLineStart = true
        // The last byte outside strings and comments that is not a blank or a line break.
        var lastSignificant: UInt8?
        var index = bytes.startIndex
        func refusal(_ message: String, at position: Int) -> Refusal {
            Refusal(line: line, column: position - lineStart + 1, message: message)
        }
        func next(_ count: Int) -> ArraySlice<UInt8> {
            bytes[index..<min(index + count, bytes.endIndex)]
        }
        while index < bytes.endIndex {
            let byte = bytes[index]
            // TOMLKit passes the text as a C string: toml++ would never see what follows, the user would.
            if byte == 0 {
                return refusal("the file contains a NUL byte, which TOML does not allow; remove it", at: index)
            }
            // toml++ takes U+0085, U+2028 and U+2029 for line breaks in some places and not in others.
            if next(3).elementsEqual([0xE2, 0x80, 0xA8]) || next(3).elementsEqual([0xE2, 0x80, 0xA9])
                || next(2).elementsEqual([0xC2, 0x85])
            {
                return refusal("the file contains a Unicode line separator (U+0085, U+2028 or U+2029); use a plain line break", at: index)
            }
            if byte == UInt8(ascii: "\n") {
                line += 1
                lineStart = index + 1
                index += 1
                switch context {
                case .comment, .basicString, .literalString:
                    // A single-line string cannot go on (toml++ stops there); read on as TOML.
                    context = .code
                    atLineStart = true
                case .code:
                    atLineStart = true
                case .multilineBasicString, .multilineLiteralString:
                    break
                }
                continue
            }
            let isEscape = byte == UInt8(ascii: "\\")
            switch context {
            case .comment:
                index += 1
            case .basicString where isEscape, .multilineBasicString where isEscape:
                index += escapeLength(bytes[index...])
            case .basicString, .literalString:
                if byte == context.quote { context = .code }
                index += 1
            case .multilineBasicString, .multilineLiteralString:
                if next(3).count == 3, next(3).allSatisfy({ $0 == context.quote }) {
                    index += 3
                    // Up to two more quotes belong to the string.
                    while index < bytes.endIndex, bytes[index] == context.quote { index += 1 }
                    context = .code
                } else {
                    index += 1
                }
            case .code:
                if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
                    index += 1
                    continue
                }
                if atLineStart, byte == UInt8(ascii: "["), let refused = checkTableHeader(bytes[index...]) {
                    return refusal(refused.message, at: index + refused.offset)
                }
                atLineStart = false
                switch byte {
                case UInt8(ascii: "#"):
                    context = .comment
                case UInt8(ascii: "\""):
                    context = next(3).elementsEqual(Array("\"\"\"".utf8)) ? .multilineBasicString : .basicString
                    index += context == .basicString ? 0 : 2
                case UInt8(ascii: "'"):
                    context = next(3).elementsEqual(Array("'''".utf8)) ? .multilineLiteralString : .literalString
                    index += context == .literalString ? 0 : 2
                case UInt8(ascii: "}") where lastSignificant == UInt8(ascii: "[") || lastSignificant == UInt8(ascii: ","):
                    // toml++ starts reading a value there and asserts that it is not a terminator.
                    return refusal("a `}` cannot follow `[` or `,` here; remove it", at: index)
                default:
                    break
                }
                if context != .comment { lastSignificant = byte }
                index += 1
            }
        }
        return nil
    }

    /// A backslash and the byte it escapes, unless that is a line break, which is counted as one.
    private static func escapeLength(_ rest: ArraySlice<UInt8>) -> Int {
        rest.dropFirst().first == UInt8(ascii: "\n") ? 1 : 2
    }

    /// toml++ reads a table header's key without checking that one starts after the `[` (or `[[`) and its blanks.
    private static func checkTableHeader(_ line: ArraySlice<UInt8>) -> (offset: Int, message: String)? {
        let isBlank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        var rest = line.dropFirst().drop(while: isBlank)
        if rest.first == UInt8(ascii: "[") { rest = rest.dropFirst().drop(while: isBlank) }
        // A key's first character, or the `]` toml++ checks itself; anything else, the end of the line included, not.
        switch rest.first ?? UInt8(ascii: "\n") {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "\""),
            UInt8(ascii: "'"), UInt8(ascii: "]"):
            return nil
        default:
            return (rest.startIndex - line.startIndex, "this table header does not start with a name; write it as [name] or [\"name\"]")
        }
    }
}
