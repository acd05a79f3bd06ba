import Foundation
import TOMLKit

/// Turns the text of a config file into a `PaddockConfig`, rejecting unknown keys and wrong types with the
/// file, line and column, so a typo never silently widens or narrows a sandbox.
public enum ConfigParser {
    public static func parse(_ text: String, file: String) throws -> PaddockConfig {
        if let refusal = TOMLKitGuard.check(text) {
            throw PaddockError.invalidConfig(
                file: file, line: refusal.line, column: refusal.column, message: refusal.message)
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw PaddockError.invalidConfig(
                file: file, line: error.source.begin.line, column: error.source.begin.column,
                message: error.description)
        }
        var reader = Reader(text: text, file: file)
        return try reader.config(from: table)
    }

    private struct Reader {
        let text: String
        let file: String

        mutating func config(from table: TOMLTable) throws -> PaddockConfig {
            var config = PaddockConfig()
            try allowOnly(
                ["agent", "engine", "gateway_transport", "isolate", "image", "resources", "mounts", "env", "network"],
                in: table, path: "")
            config.agent = try string(table, "agent", path: "")
            config.engine = try string(table, "engine", path: "")
            config.gatewayTransport = try string(table, "gateway_transport", path: "")
            if let transport = config.gatewayTransport, GatewayTransport(rawValue: transport) == nil {
                throw error(
                    at: "gateway_transport",
                    "`gateway_transport` must be \"folder\", \"socket-file\" or \"relay\", not \"\(transport)\"")
            }
            config.isolate = try string(table, "isolate", path: "")
            if let isolate = config.isolate, !["mount", "clone"].contains(isolate) {
                throw error(at: "isolate", "`isolate` must be \"mount\" or \"clone\", not \"\(isolate)\"")
            }
            if let image = try subtable(table, "image", path: "") {
                try allowOnly(["base", "packages", "agent_binary", "agent_archive"], in: image, path: "image")
                config.image.base = try string(image, "base", path: "image")
                config.image.packages = try strings(image, "packages", path: "image") ?? []
                config.image.agentBinary = try string(image, "agent_binary", path: "image")
                config.image.agentArchive = try string(image, "agent_archive", path: "image")
                if config.image.agentBinary != nil, config.image.agentArchive != nil {
                    throw error(
                        at: "agent_archive",
                        "`image.agent_binary` and `image.agent_archive` are two ways to install the agent: keep one")
                }
                if let archive = config.image.agentArchive, AgentArtifact.archiveSuffix(of: archive) == nil {
                    throw error(
                        at: "agent_archive",
                        "`image.agent_archive` must be a tar archive (.tar, .tar.gz, .tgz, .tar.xz, .tar.bz2), not \"\(archive)\""
                    )
                }
            }
            if let resources = try subtable(table, "resources", path: "") {
                try allowOnly(["cpus", "memory", "pids"], in: resources, path: "resources")
                config.resources = try self.resources(resources)
            }
            config.mounts = try mounts(table)
            config.env = try strings(table, "env", path: "") ?? []
            for name in config.env where !EnvironmentName.isValid(name) {
                throw error(at: "env", "`env` lists \"\(name)\", which is not a valid environment variable name")
            }
            if let network = try subtable(table, "network", path: "") {
                config.network = try self.network(network)
            }
            return config
        }

        func resources(_ table: TOMLTable) throws -> ResourceConfig {
            var result = ResourceConfig()
            if let value = table["cpus"] {
                guard let cpus = value.double ?? value.int.map(Double.init), cpus > 0, cpus.isFinite else {
                    throw error(at: "cpus", "`resources.cpus` must be a positive number, for example 2 or 1.5")
                }
                result.cpus = cpus
            }
            if let value = table["memory"] {
                let parsed: UInt64?
                if let text = value.string {
                    parsed = ByteSize.parse(text)
                } else if let bytes = value.int, bytes > 0 {
                    parsed = UInt64(bytes)
                } else {
                    parsed = nil
                }
                guard let parsed else {
                    throw error(
                        at: "memory", "`resources.memory` must be a size such as \"4g\", \"512m\" or a byte count")
                }
                result.memory = parsed
            }
            if let value = table["pids"] {
                guard let pids = value.int, pids > 0 else {
                    throw error(at: "pids", "`resources.pids` must be a positive whole number")
                }
                result.pids = pids
            }
            return result
        }

        func mounts(_ table: TOMLTable) throws -> [MountConfig] {
            guard let value = table["mounts"] else { return [] }
            guard let array = value.array else {
                throw error(
                    at: "mounts", "`mounts` must be a list, for example mounts = [\"~/datasets\"] or [[mounts]] tables")
            }
            var result: [MountConfig] = []
            for item in array {
                if let path = item.string {
                    result.append(MountConfig(path: path))
                } else if let entry = item.table {
                    try allowOnly(["path", "target", "rw"], in: entry, path: "mounts")
                    guard let path = try string(entry, "path", path: "mounts") else {
                        throw error(at: "mounts", "each entry of `mounts` needs a `path`")
                    }
                    let target = try string(entry, "target", path: "mounts")
                    if let target, !target.hasPrefix("/") {
                        throw error(
                            at: "target", "mount target \"\(target)\" must be an absolute path inside the sandbox")
                    }
                    let readWrite = try bool(entry, "rw", path: "mounts") ?? false
                    result.append(MountConfig(path: path, target: target, readWrite: readWrite))
                } else {
                    throw error(at: "mounts", "each entry of `mounts` must be a path or a table with `path`")
                }
            }
            return result
        }

        func network(_ table: TOMLTable) throws -> NetworkConfig {
            try allowOnly(
                ["presets", "allow", "deny", "hosts", "offline", "credentials", "requests"], in: table, path: "network")
            var result = NetworkConfig()
            result.presets = try strings(table, "presets", path: "network") ?? []
            result.allow = try strings(table, "allow", path: "network") ?? []
            result.deny = try strings(table, "deny", path: "network") ?? []
            result.offline = try bool(table, "offline", path: "network")
            if let hosts = try subtable(table, "hosts", path: "network") {
                for key in hosts.keys {
                    guard let address = hosts[key]?.string else {
                        throw error(
                            at: key, "`network.hosts.\"\(key)\"` must be an address string such as \"127.0.0.1\"")
                    }
                    result.hosts[key] = address
                }
            }
            result.credentials = try entries(table, "credentials") { entry in
                try allowOnly(
                    ["host", "port", "header", "scheme", "env", "file", "paths"], in: entry, path: "network.credentials"
                )
                guard let host = try string(entry, "host", path: "network.credentials"),
                    let header = try string(entry, "header", path: "network.credentials"),
                    let variable = try string(entry, "env", path: "network.credentials")
                else {
                    throw error(at: "credentials", "each [[network.credentials]] needs `host`, `header` and `env`")
                }
                return try CredentialRule.parse(
                    host: host, port: try int(entry, "port", path: "network.credentials"), header: header,
                    scheme: try string(entry, "scheme", path: "network.credentials"), variable: variable,
                    file: try string(entry, "file", path: "network.credentials"),
                    paths: try strings(entry, "paths", path: "network.credentials") ?? [])
            }
            result.requests = try entries(table, "requests") { entry in
                try allowOnly(["host", "port", "allow", "deny"], in: entry, path: "network.requests")
                guard let host = try string(entry, "host", path: "network.requests") else {
                    throw error(at: "requests", "each [[network.requests]] needs `host`")
                }
                return try RequestRule.parse(
                    host: host, port: try int(entry, "port", path: "network.requests"),
                    allow: try strings(entry, "allow", path: "network.requests") ?? [],
                    deny: try strings(entry, "deny", path: "network.requests") ?? [])
            }
            return result
        }

        /// An array of tables (`[[network.KEY]]`), each read by `read`; a rule's own complaint gets the key's place.
        func entries<T>(_ table: TOMLTable, _ key: String, _ read: (TOMLTable) throws -> T) throws -> [T] {
            guard let value = table[key] else { return [] }
            guard let array = value.array else {
                throw typeError(key, "network", "a list of tables ([[network.\(key)]])")
            }
            var result: [T] = []
            for item in array {
                guard let entry = item.table else {
                    throw typeError(key, "network", "a list of tables ([[network.\(key)]])")
                }
                do {
                    result.append(try read(entry))
                } catch let refusal as CredentialRuleError {
                    throw error(at: key, "[[network.\(key)]]: \(refusal)")
                }
            }
            return result
        }

        func int(_ table: TOMLTable, _ key: String, path: String) throws -> Int? {
            guard let value = table[key] else { return nil }
            guard let number = value.int else { throw typeError(key, path, "a whole number") }
            return number
        }

        // MARK: typed accessors with located errors

        func allowOnly(_ keys: Set<String>, in table: TOMLTable, path: String) throws {
            for key in table.keys where !keys.contains(key) {
                let place = path.isEmpty ? key : "\(path).\(key)"
                throw error(
                    at: key,
                    "unknown key `\(place)`; known keys here: \(keys.sorted().joined(separator: ", "))")
            }
        }

        func string(_ table: TOMLTable, _ key: String, path: String) throws -> String? {
            guard let value = table[key] else { return nil }
            guard let string = value.string else { throw typeError(key, path, "a string") }
            return string
        }

        func bool(_ table: TOMLTable, _ key: String, path: String) throws -> Bool? {
            guard let value = table[key] else { return nil }
            guard let bool = value.bool else { throw typeError(key, path, "true or false") }
            return bool
        }

        func strings(_ table: TOMLTable, _ key: String, path: String) throws -> [String]? {
            guard let value = table[key] else { return nil }
            guard let array = value.array else { throw typeError(key, path, "a list of strings") }
            var result: [String] = []
            for item in array {
                guard let string = item.string else { throw typeError(key, path, "a list of strings") }
                result.append(string)
            }
            return result
        }

        func subtable(_ table: TOMLTable, _ key: String, path: String) throws -> TOMLTable? {
            guard let value = table[key] else { return nil }
            guard let subtable = value.table else { throw typeError(key, path, "a table") }
            return subtable
        }

        func typeError(_ key: String, _ path: String, _ expected: String) -> PaddockError {
            let place = path.isEmpty ? key : "\(path).\(key)"
            return error(at: key, "`\(place)` must be \(expected)")
        }

        /// TOMLKit gives positions only for syntax errors; for value errors, point at the first line that sets the key.
        func error(at key: String, _ message: String) -> PaddockError {
            let location = Self.locate(key: key, in: text)
            return .invalidConfig(file: file, line: location?.line, column: location?.column, message: message)
        }

        static func locate(key: String, in text: String) -> (line: Int, column: Int)? {
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
                let candidates = [key, "\"\(key)\"", "[\(key)]", "[[\(key)]]"]
                for candidate in candidates where trimmed.hasPrefix(candidate) {
                    let rest = trimmed.dropFirst(candidate.count).drop(while: { $0 == " " || $0 == "\t" })
                    if rest.first == "=" || candidate.hasPrefix("[") {
                        return (index + 1, line.count - trimmed.count + 1)
                    }
                }
            }
            return nil
        }
    }
}

/// Sizes as users write them: "512m", "4g", "1.5G", "1024" (bytes).
public enum ByteSize {
    public static func parse(_ text: String) -> UInt64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [
            ("kib", 1024), ("mib", 1_048_576), ("gib", 1_073_741_824), ("kb", 1024), ("mb", 1_048_576),
            ("gb", 1_073_741_824),
            ("k", 1024), ("m", 1_048_576), ("g", 1_073_741_824), ("b", 1),
        ]
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            // Converting a Double that is not finite or beyond UInt64.max to an integer traps.
            guard let number = Double(trimmed.dropLast(suffix.count)), number > 0, number * factor < 0x1p64 else {
                return nil
            }
            return UInt64(number * factor)
        }
        guard let bytes = UInt64(trimmed), bytes > 0 else { return nil }
        return bytes
    }
}

public enum EnvironmentName {
    /// POSIX-portable names only: letters, digits and underscore, not starting with a digit.
    public static func isValid(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !CharacterSet.decimalDigits.contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") }
    }
}
