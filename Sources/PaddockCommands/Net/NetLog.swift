import ArgumentParser
import Foundation
import PaddockCore
import PaddockSession

extension Paddock.NetCommand {
    struct NetLog: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "log", abstract: "Every connection of a session: time, host, port, decision, rule, bytes.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The session (default: the latest one of this project).")
        var session: String?

        @Flag(name: .long, help: "Keep printing new connections until the session ends.")
        var follow = false

        @Flag(name: .long, help: "Print the JSON lines as recorded.")
        var json = false

        @Flag(name: .long, help: "Only denied connections.")
        var denied = false

        func run() async throws {
            let context = AppContext.live(global)
            let id = try chooseSession(context)
            let path = context.paths.sessionDirectory(id) + "/net.jsonl"
            var offset = 0
            while true {
                offset = try printNew(from: path, offset: offset)
                guard follow, !ended(id, context) else { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            _ = try printNew(from: path, offset: offset)
        }

        func chooseSession(_ context: AppContext) throws -> SessionID {
            if let session {
                guard let id = SessionID(session) else {
                    throw PaddockError.invalidArgument("\(session) is not a session id.")
                }
                return id
            }
            let project = context.projectRoot
            guard let latest = SessionRecord.latest(paths: context.paths, where: { $0.project == project }) else {
                throw PaddockError.notFound("No session of \(project) yet. Name one: `paddock net log SESSION`.")
            }
            return latest.id
        }

        func ended(_ id: SessionID, _ context: AppContext) -> Bool {
            SessionRecord.load(id, paths: context.paths)?.endedAt != nil
        }

        /// Prints complete lines after `offset`; returns the new offset.
        func printNew(from path: String, offset: Int) throws -> Int {
            guard let data = FileManager.default.contents(atPath: path), data.count > offset else { return offset }
            let fresh = data[offset...]
            guard let lastNewline = fresh.lastIndex(of: UInt8(ascii: "\n")) else { return offset }
            let decoder = JSONDecoder()
            for line in fresh[..<lastNewline].split(separator: UInt8(ascii: "\n")) {
                guard let record = try? decoder.decode(ConnectionRecord.self, from: Data(line)) else { continue }
                if denied, record.decision == .allow { continue }
                if json {
                    Console.json(String(decoding: line, as: UTF8.self))
                } else {
                    // For a request the gateway could not read, `host` is what the agent sent.
                    let host = SafeText.quoted(record.host)
                    let target = record.port.map { "\(host):\($0)" } ?? host
                    let bytes = "↑\(record.bytesUp) ↓\(record.bytesDown)"
                    var fields = [
                        record.time, record.protocol, target, record.decision.rawValue, SafeText.quoted(record.rule),
                    ]
                    if let method = record.method {
                        // A request read on an intercepted connection: what was asked and answered.
                        fields.append(SafeText.quoted(method + " " + (record.path ?? "")))
                        fields.append(record.status.map(String.init) ?? "-")
                        if record.credential == true { fields.append("+credential") }
                        if let error = record.error { fields.append(SafeText.quoted(error)) }
                    }
                    Console.out(
                        (fields + [bytes, String(format: "%.0fms", record.durationMs)]).joined(separator: "  "))
                }
            }
            return lastNewline + 1
        }
    }
}
