import Foundation
import Testing

/// paddock's messages carry names the agent chose, so every write to the terminal goes through one place
/// (`Console` in PaddockSession, which escapes with `SafeText`). A new `print` elsewhere would bypass it.
@Suite("Output goes through Console")
struct OutputDisciplineTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    @Test func noModuleWritesToTheTerminalButConsole() throws {
        let shipped = [
            "PaddockCommands", "PaddockSession", "PaddockCore", "PaddockEngine", "PaddockGateway", "PaddockWorkspace",
            "paddock",
        ]
        let writes = try Regex(
            #"(^|[^A-Za-z0-9_.])(print|debugPrint|dump)\(|FileHandle\.standard(Output|Error)|fputs\(|\bputs\("#)
        var offenders: [String] = []
        var scanned = 0
        for module in shipped {
            let folder = Self.sources.appendingPathComponent(module)
            let files = FileManager.default.enumerator(atPath: folder.path)?.compactMap { $0 as? String } ?? []
            for file in files
            where file.hasSuffix(".swift") && !(module == "PaddockSession" && file.hasSuffix("Console.swift")) {
                let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
                scanned += 1
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                where !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") && line.contains(writes) {
                    offenders.append("\(module)/\(file):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(scanned > 50, "the sources were not found at \(Self.sources.path)")
        #expect(offenders.isEmpty, "write through Console instead:\n\(offenders.joined(separator: "\n"))")
    }
}
