import Foundation
import PaddockCore
import Testing

@Suite("Escaping what came from the sandbox")
struct SafeTextTests {
    /// `quoted`: git's quote_c_style, with printable UTF-8 kept.
    @Test(arguments: [
        ("plain/path.txt", "plain/path.txt"),
        ("with space", "with space"),
        ("café/日本/🐴", "café/日本/🐴"),
        ("tab\there", #""tab\there""#),
        ("line\nbreak", #""line\nbreak""#),
        ("cr\rlf", #""cr\rlf""#),
        ("bell\u{07}", #""bell\a""#),
        ("\u{08}\u{0B}\u{0C}", #""\b\v\f""#),
        ("nul\u{0}", #""nul\000""#),
        ("title\u{1B}]0;pwned\u{07}", #""title\033]0;pwned\a""#),
        ("clear\u{1B}[2J", #""clear\033[2J""#),
        ("clip\u{1B}]52;c;ZXZpbA==\u{1B}\\", #""clip\033]52;c;ZXZpbA==\033\\""#),
        ("del\u{7F}", #""del\177""#),
        ("csi\u{9B}31m", #""csi\302\23331m""#),
        ("osc\u{9D}0;x\u{9C}", #""osc\302\2350;x\302\234""#),
        ("bidi\u{202E}txt.exe", #""bidi\342\200\256txt.exe""#),
        ("isolate\u{2066}x\u{2069}", #""isolate\342\201\246x\342\201\251""#),
        ("sep\u{2028}", #""sep\342\200\250""#),
        (#"quote" and back\slash"#, #""quote\" and back\\slash""#),
    ])
    func quotedEscapesLikeGit(input: String, expected: String) {
        #expect(SafeText.quoted(input) == expected)
    }

    /// File names need not be UTF-8: invalid sequences are escaped byte by byte, valid ones kept.
    @Test(
        arguments: [
            ([0x61, 0xFF, 0x62], #""a\377b""#),
            ([0xC3, 0x28], #""\303(""#),  // truncated two-byte sequence
            ([0xC0, 0xAF], #""\300\257""#),  // overlong "/"
            ([0xED, 0xA0, 0x80], #""\355\240\200""#),  // a surrogate
            ([0xF4, 0x90, 0x80, 0x80], #""\364\220\200\200""#),  // beyond U+10FFFF
            ([0x80], #""\200""#),  // a stray continuation byte
            ([0xE6, 0x97, 0xA5], "日"),
        ] as [([UInt8], String)])
    func invalidUTF8IsEscapedByteByByte(bytes: [UInt8], expected: String) {
        #expect(SafeText.quoted(bytes: bytes) == expected)
    }

    @Test func aLineKeepsNothingThatBreaksIt() {
        #expect(SafeText.line("a\nb\tc\u{1B}[2J \"q\"") == #"a\nb\tc\033[2J "q""#)
    }

    @Test func textKeepsItsLayoutButNotTheTerminalsControls() {
        let diff = "+ env = [\"X\"]\n+ # \u{1B}]0;pwned\u{07}\r\n\t- old \u{202E}"
        #expect(SafeText.text(diff) == "+ env = [\"X\"]\n+ # \\033]0;pwned\\a\\r\n\t- old \\342\\200\\256")
    }

    /// The network log's JSON strings: the same bytes found, escaped as JSON, and read back as they were.
    @Test func jsonStringsEscapeTheSameBytesAndDecodeBack() throws {
        let value = "a\"b\\c\nd\u{1B}]0;x\u{07}\u{7F}\u{9B}\u{202E}é"
        var out: [UInt8] = []
        SafeText.appendJSONString(value, to: &out)
        let text = String(decoding: out, as: UTF8.self)
        #expect(text == #""a\"b\\c\nd\u001b]0;x\u0007\u007f\u009b\u202eé""#)
        #expect(try JSONDecoder().decode(String.self, from: Data(out)) == value)
    }

    @Test func encodedJSONGetsTheControlsJSONEncoderLeavesRaw() throws {
        let encoded = String(decoding: try JSONEncoder().encode(["k": "x\u{9B}y\u{202E}z\u{1B}"]), as: UTF8.self)
        let safe = SafeText.json(encoded)
        #expect(!safe.unicodeScalars.contains { $0.value == 0x9B || $0.value == 0x202E || $0.value == 0x1B })
        #expect(
            try JSONDecoder().decode([String: String].self, from: Data(safe.utf8)) == ["k": "x\u{9B}y\u{202E}z\u{1B}"])
    }

    /// The log line the gateway writes uses the same escape.
    @Test func connectionRecordsUseIt() throws {
        let record = ConnectionRecord(
            time: "t", protocol: "socks5", host: "a\u{1B}]0;pwned\u{07}\u{9D}", port: nil, decision: .invalid,
            rule: "invalid")
        let line = record.jsonLine()
        #expect(line.contains(#""host":"a\u001b]0;pwned\u0007\u009d""#))
        #expect(try JSONDecoder().decode(ConnectionRecord.self, from: Data(line.utf8)) == record)
    }
}
