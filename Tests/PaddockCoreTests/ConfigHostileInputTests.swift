import PaddockCore
import Testing

/// `paddock.toml` is written by the agent as often as by the user, and `paddock trust` parses it before the user has
/// seen it: no content may crash paddock. Found by the config fuzz target (Tests/Fuzz).
@Suite("Configuration parsing of hostile files")
struct ConfigHostileInputTests {
    /// Where and why parsing `text` failed; nil (and an issue) when it did not fail with `invalidConfig`.
    static func refusal(_ text: String) -> (line: Int?, message: String)? {
        let error = #expect(throws: PaddockError.self) { try ConfigParser.parse(text, file: "paddock.toml") }
        guard case .invalidConfig(let file, let line, _, let message) = error, file == "paddock.toml" else {
            Issue.record("not an invalidConfig error for paddock.toml: \(String(describing: error))")
            return nil
        }
        return (line, message)
    }

    /// toml++ 3.4.0 (inside TOMLKit 0.6.0) enters its key parser on whatever follows a table header's `[` and asserts
    /// that it is a key: an abort in paddock, undefined behaviour where assertions are compiled out.
    @Test(
        "a table header that does not start with a key is refused",
        arguments: [
            "[ =]\n", "[ \u{FFFD}network ]\n  allow = [\"a.test\"]\n", "[\u{06}line )= true\n", "[[[1]]]\n",
            "[[=\n", "[\n", "agent = \"shell\"\n \t[ \t+a]\n", "[\r\n", "[[ .]]\n", "\u{FEFF}[ =]\n",
        ])
    func tableHeaderWithoutAKey(_ text: String) throws {
        let refusal = Self.refusal(text)
        #expect(refusal?.line != nil)
        #expect(refusal?.message.contains("table header") == true, "\(String(describing: refusal))")
    }

    /// In an array toml++ reads a value after `[` or `,` and asserts that it does not start with a terminator: `}`,
    /// or a line separator that it does not skip as a line break.
    @Test(
        "arrays toml++ 3.4 cannot read are refused",
        arguments: [
            "a = [}\n", "env = [ }\n", "env = [\"A\",}\n", "env = [\n  # note\n}\n", "env = [\u{2028}]\n",
            "env = [\u{85}]\n",
            "env = [\"A\",\u{2029}]\n", "env = [\"#\", [ # c\n}]\n", "env = [\"\"\"\n\"\"\", }\n",
        ])
    func arrayValueStartingWithATerminator(_ text: String) throws {
        #expect(Self.refusal(text)?.line != nil)
    }

    /// toml++ takes a value with digits, dashes, a `T` and colons for a date-time and parses its time asserting that
    /// it starts with a digit. paddock has no use for dates: any bare value but a number, true or false is refused.
    @Test(
        "values other than strings, numbers and booleans are refused",
        arguments: [
            "agent = 1979-05-27Tx7:32:00Z\n", "[image]\nbase = 1979-05-27T\u{FFFD}7:32:00Z\n", "env = [1979-05-27]\n",
            "agent = 07:32:00\n", "agent = claude\n", "[resources]\ncpus = 1.\n", "[resources]\npids = 1__0\n",
            "mounts = [{ path = x }]\n", "env = [1,,2]\n", "agent = True\n",
        ])
    func otherBareValues(_ text: String) throws {
        #expect(Self.refusal(text)?.line != nil)
    }

    @Test(
        "numbers and booleans in every TOML spelling still parse",
        arguments: [
            "[resources]\ncpus = 1.5\npids = 1_000\nmemory = 0x4000_0000\n",
            "[resources]\ncpus = 2e0\nmemory = 0o7777\n",
            "[resources]\ncpus = +1.5E+0\nmemory = 0b1010\n",
            "mounts = [{ path = \"/x\", rw = true }, {path=\"/y\",rw=false}]\n",
            "[network]\noffline = false # for now\n", "env = [\n  \"A\", # one\n  \"B\",\n]\n",
        ])
    func numbersAndBooleans(_ text: String) throws {
        _ = try ConfigParser.parse(text, file: "paddock.toml")
    }

    @Test(
        "brackets and braces inside strings and comments still parse",
        arguments: [
            "env = [] # [}\n", "[image]\npackages = [\"[}\", '[}', \"\"\"\n[ =\n,}\"\"\"]\n",
            "[image]\npackages = [\n  # [ }\n  \"git\",\n]\n", "[image]\nbase = \"a\\\"[}\"\n",
            "mounts = [{ path = \"/x\" }, { path = \"/y\" }]\n", "[image]\nbase = '''x''''\n[network]\n",
            "[image]\nbase = \"\"\"a\\\n  b\"\"\"\n[network]\n",
        ])
    func bracketsInsideStrings(_ text: String) throws {
        _ = try ConfigParser.parse(text, file: "paddock.toml")
    }

    /// TOMLKit hands toml++ a C string: whatever follows a NUL is never parsed, yet it is in the file the user was
    /// shown and trusted, and `paddock allow` rewriting the line with the NUL would bring it to life.
    @Test func aNULByteIsRefusedNotATruncation() throws {
        let text = "[network]\nallow = [\"a.test\"]\0\ndeny = [\"b.test\"]\n"
        #expect(Self.refusal(text)?.line == 2)
        #expect(throws: PaddockError.self) {
            try ConfigListEditor.adding(["c.test"], to: "allow", inTable: "network", in: text, file: "paddock.toml")
        }
    }

    /// Sizes and counts that overflow or are not finite are errors, not a trap converting them to an integer.
    @Test(
        "out-of-range resources are refused",
        arguments: [
            "[resources]\nmemory = \"1e300g\"\n", "[resources]\nmemory = \"18446744073709551615g\"\n",
            "[resources]\nmemory = \"18e9g\"\n", "[resources]\ncpus = inf\n", "[resources]\ncpus = 1e309\n",
        ])
    func outOfRangeResources(_ text: String) throws {
        #expect(Self.refusal(text)?.line == 2)
    }

    @Test func largeButRepresentableMemoryStillParses() throws {
        let config = try ConfigParser.parse("[resources]\nmemory = \"15e9g\"\n", file: "paddock.toml")
        #expect(config.resources.memory == UInt64(15e9 * 1_073_741_824))
    }

    @Test(
        "table headers with bare or quoted keys still parse",
        arguments: [
            "[network]\n", "[ network ]\n", "[\"network\"]\n", "[ 'network' ]\n", "[network.hosts]\n",
            "[[mounts]]\npath = \"/x\"\n",
            "[[ mounts ]]\npath = \"/x\"\n", "[image]\npackages = [\n  \"git\",\n]\n",
        ])
    func ordinaryTableHeaders(_ text: String) throws {
        _ = try ConfigParser.parse(text, file: "paddock.toml")
    }
}
