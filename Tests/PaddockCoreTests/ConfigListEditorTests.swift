import PaddockCore
import Testing

@Suite("Editing allow and deny lists in place")
struct ConfigListEditorTests {
    @Test func appendsToAnExistingListKeepingComments() throws {
        let text = """
            # my project
            agent = "claude"

            [network]
            # hosts we need
            allow = ["a.example"]  # first one
            deny = ["gist.github.com"]

            [resources]
            pids = 100
            """
        let edited = try ConfigListEditor.adding(
            ["b.example", "a.example"], to: "allow", inTable: "network", in: text, file: "p.toml")
        #expect(edited.contains("# my project"))
        #expect(edited.contains("# hosts we need"))
        #expect(edited.contains("allow = [\"a.example\", \"b.example\"]"))
        let parsed = try ConfigParser.parse(edited, file: "p.toml")
        #expect(parsed.network.allow == ["a.example", "b.example"])
        #expect(parsed.network.deny == ["gist.github.com"])
        #expect(parsed.resources.pids == 100)
    }

    @Test func replacesAMultiLineList() throws {
        let text = "[network]\nallow = [\n  \"a.example\",\n  \"b.example\", # ]\n]\n"
        let edited = try ConfigListEditor.adding(
            ["c.example"], to: "allow", inTable: "network", in: text, file: "p.toml")
        #expect(
            try ConfigParser.parse(edited, file: "p.toml").network.allow == ["a.example", "b.example", "c.example"])
    }

    @Test func addsTheKeyOrTheTableWhenMissing() throws {
        let noKey = try ConfigListEditor.adding(
            ["x.example"], to: "deny", inTable: "network", in: "[network]\nallow = []\n", file: "p.toml")
        #expect(try ConfigParser.parse(noKey, file: "p.toml").network.deny == ["x.example"])
        let noTable = try ConfigListEditor.adding(
            ["x.example"], to: "allow", inTable: "network", in: "agent = \"shell\"\n", file: "p.toml")
        #expect(noTable == "agent = \"shell\"\n\n[network]\nallow = [\"x.example\"]\n")
        let empty = try ConfigListEditor.adding(["x.example"], to: "allow", inTable: "network", in: "", file: "p.toml")
        #expect(empty == "[network]\nallow = [\"x.example\"]\n")
    }

    @Test func alreadyPresentChangesNothing() throws {
        let text = "[network]\nallow = [\"a.example\"]\n"
        #expect(
            try ConfigListEditor.adding(["a.example"], to: "allow", inTable: "network", in: text, file: "p.toml")
                == text)
    }

    @Test func refusesWhatItCannotEditSafely() throws {
        #expect(throws: PaddockError.self) {
            try ConfigListEditor.adding(
                ["a.example"], to: "allow", inTable: "network", in: "network = { allow = [] }\n", file: "p.toml")
        }
    }
}
