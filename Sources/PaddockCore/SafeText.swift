/// Text that came from the sandbox (paths, ref names, host names, commands, git's output, file contents), made safe
/// to reach a terminal or a log line. The one place that decides which bytes are dangerous: C0 controls, DEL, C1
/// controls, invalid UTF-8, and the Unicode controls that reorder or break what is shown (bidi overrides and
/// isolates, line and paragraph separators). A terminal obeys escape sequences (window title, clear screen, the
/// clipboard through OSC 52); a reader trusts the order of what they see.
///
/// Every shape below is the same escape: git's `quote.c` style (`\t`, `\n`, `\033`, `\302\233`) for people, and
/// `\u00XX` inside JSON strings. Printable UTF-8 (accents, CJK, emoji) passes unchanged.
public enum SafeText {
    /// A value inside a message, as git's `quote_c_style` prints a path: unchanged when nothing needs escaping,
    /// otherwise in double quotes with `"` and `\` escaped too, so its boundaries stay visible.
    public static func quoted(_ value: String) -> String {
        var value = value
        return value.withUTF8 { quoted(buffer: $0) }
    }

    /// `quoted` for raw bytes that need not be UTF-8 (a file name as the file system holds it).
    public static func quoted(bytes: some Collection<UInt8>) -> String {
        Array(bytes).withUnsafeBufferPointer { quoted(buffer: $0) }
    }

    /// One line of a log or a report: every control byte escaped, line breaks included, no quotes added.
    public static func line(_ text: String) -> String {
        render(text, Mode(style: .c, keepsLayout: false, escapesQuotes: false))
    }

    /// Text paddock lays out in lines (a diff, a multi-line message): line breaks and tabs stay, everything else
    /// that could drive a terminal is escaped.
    public static func text(_ text: String) -> String {
        render(text, Mode(style: .c, keepsLayout: true, escapesQuotes: false))
    }

    /// Appends `value` as a JSON string, quotes included.
    public static func appendJSONString(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { bytes -> Void in
            escape(bytes, Mode(style: .json, keepsLayout: false, escapesQuotes: true), into: &out)
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Encoded JSON (from `JSONEncoder`, which leaves DEL, C1 and bidi controls raw inside strings) with those
    /// escaped as `\uXXXX`; layout, quotes and backslashes are left as they are.
    public static func json(_ encoded: String) -> String {
        render(encoded, Mode(style: .json, keepsLayout: true, escapesQuotes: false))
    }

    // MARK: - The escape

    enum Style {
        /// git's quote.c: `\n` and friends, octal for every other byte.
        case c
        /// JSON string escapes: `\n` and friends, `\uXXXX` for every other code point.
        case json
    }

    struct Mode {
        var style: Style
        /// Keep `\n` and `\t` as they are.
        var keepsLayout: Bool
        /// Escape `"` and `\` (inside quotes).
        var escapesQuotes: Bool
    }

    static func render(_ text: String, _ mode: Mode) -> String {
        var text = text
        return text.withUTF8 { buffer in
            var out: [UInt8] = []
            out.reserveCapacity(buffer.count)
            escape(buffer, mode, into: &out)
            return String(decoding: out, as: UTF8.self)
        }
    }

    static func quoted(buffer: UnsafeBufferPointer<UInt8>) -> String {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        out.reserveCapacity(buffer.count + 2)
        guard escape(buffer, Mode(style: .c, keepsLayout: false, escapesQuotes: true), into: &out) else {
            return String(decoding: buffer, as: UTF8.self)
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether a valid code point must still not reach a terminal raw.
    static func isDangerous(_ scalar: UInt32) -> Bool {
        switch scalar {
        case 0x80...0x9F: return true  // C1 controls: 0x9B is CSI, 0x9D is OSC on terminals that honour them
        case 0x061C, 0x200E, 0x200F: return true  // bidi marks
        case 0x2028...0x202E: return true  // line and paragraph separators, bidi embeddings and overrides
        case 0x2066...0x2069: return true  // bidi isolates
        default: return false
        }
    }

    /// The code point at `index` and its length in bytes, or nil for an invalid sequence (overlong, surrogate,
    /// beyond U+10FFFF, truncated, or a stray continuation byte).
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (scalar: UInt32, length: Int)? {
        let lead = bytes[index]
        let length: Int
        var scalar: UInt32
        let minimum: UInt32
        switch lead {
        case 0xC2...0xDF: (length, scalar, minimum) = (2, UInt32(lead & 0x1F), 0x80)
        case 0xE0...0xEF: (length, scalar, minimum) = (3, UInt32(lead & 0x0F), 0x800)
        case 0xF0...0xF4: (length, scalar, minimum) = (4, UInt32(lead & 0x07), 0x10000)
        default: return nil
        }
        guard index + length <= bytes.count else { return nil }
        for offset in 1..<length {
            let byte = bytes[index + offset]
            guard byte & 0xC0 == 0x80 else { return nil }
            scalar = scalar << 6 | UInt32(byte & 0x3F)
        }
        guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else { return nil }
        return (scalar, length)
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Escapes `bytes` into `out`; returns whether anything needed escaping.
    @discardableResult
    static func escape(_ bytes: UnsafeBufferPointer<UInt8>, _ mode: Mode, into out: inout [UInt8]) -> Bool {
        var escaped = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case 0x20..<0x7F:
                if mode.escapesQuotes, byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    out.append(UInt8(ascii: "\\"))
                    escaped = true
                }
                out.append(byte)
                index += 1
            case 0..<0x80:
                if mode.keepsLayout, byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\t") {
                    out.append(byte)
                } else {
                    appendControl(byte, mode.style, to: &out)
                    escaped = true
                }
                index += 1
            default:
                if let (scalar, length) = decode(bytes, at: index) {
                    if isDangerous(scalar) {
                        escaped = true
                        switch mode.style {
                        case .c: for offset in 0..<length { appendOctal(bytes[index + offset], to: &out) }
                        case .json: appendUnicode(scalar, to: &out)
                        }
                    } else {
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<(index + length)]))
                    }
                    index += length
                } else {
                    escaped = true
                    switch mode.style {
                    case .c: appendOctal(byte, to: &out)
                    case .json: appendUnicode(0xFFFD, to: &out)
                    }
                    index += 1
                }
            }
        }
        return escaped
    }

    static func appendControl(_ byte: UInt8, _ style: Style, to out: inout [UInt8]) {
        let named: UInt8? =
            switch (byte, style) {
            case (0x07, .c): UInt8(ascii: "a")
            case (0x08, _): UInt8(ascii: "b")
            case (0x09, _): UInt8(ascii: "t")
            case (0x0A, _): UInt8(ascii: "n")
            case (0x0B, .c): UInt8(ascii: "v")
            case (0x0C, _): UInt8(ascii: "f")
            case (0x0D, _): UInt8(ascii: "r")
            default: nil
            }
        if let named {
            out.append(UInt8(ascii: "\\"))
            out.append(named)
        } else if style == .c {
            appendOctal(byte, to: &out)
        } else {
            appendUnicode(UInt32(byte), to: &out)
        }
    }

    static func appendOctal(_ byte: UInt8, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        out.append(UInt8(ascii: "0") + (byte >> 6))
        out.append(UInt8(ascii: "0") + ((byte >> 3) & 7))
        out.append(UInt8(ascii: "0") + (byte & 7))
    }

    static func appendUnicode(_ scalar: UInt32, to out: inout [UInt8]) {
        out.append(contentsOf: "\\u".utf8)
        for shift in stride(from: 12, through: 0, by: -4) {
            out.append(hexDigits[Int((scalar >> UInt32(shift)) & 0xF)])
        }
    }
}
