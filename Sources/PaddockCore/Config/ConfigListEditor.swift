import Foundation

/// Adds entries to a list in a table of a TOML file by editing its text, so the user's comments and layout stay.
/// The result is parsed again and checked before anyone writes it.
public enum ConfigListEditor {
    /// `text` with `values` appended to `table.key` (created when missing). Values already present are skipped.
    public static func adding(_ values: [String], to key: String, inTable table: String, in text: String, file: String)
        throws -> String
    {
        let before = try ConfigParser.parse(text, file: file)
        let current = list(key, of: before.network)
        let missing = values.filter { !current.contains($0) }
        guard !missing.isEmpty else { return text }
        let wanted = current + missing
        let rendered = "\(key) = [" + wanted.map(\.doubleQuoted).joined(separator: ", ") + "]"

        var lines = text.isEmpty ? [] : text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        if let header = lines.firstIndex(where: { isHeader($0, table) }) {
            let end =
                lines[(header + 1)...].firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("[") })
                ?? lines.count
            if let start = lines[(header + 1)..<end].firstIndex(where: { assigns($0, key) }) {
                let last = closingLine(lines, from: start, limit: end)
                lines.replaceSubrange(start...last, with: [rendered])
            } else {
                lines.insert(rendered, at: header + 1)
            }
        } else {
            if let last = lines.last, !last.isEmpty { lines.append("") }
            lines += ["[\(table)]", rendered]
        }
        let edited = lines.joined(separator: "\n") + "\n"
        let after = try ConfigParser.parse(edited, file: file)
        guard list(key, of: after.network) == wanted else {
            throw PaddockError.invalidArgument(
                "\(file) is laid out in a way paddock cannot edit safely; add \(missing.joined(separator: ", ")) to `\(table).\(key)` by hand."
            )
        }
        return edited
    }

    static func list(_ key: String, of network: NetworkConfig) -> [String] {
        key == "deny" ? network.deny : network.allow
    }

    static func isHeader(_ line: String, _ table: String) -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("["), !trimmed.hasPrefix("[["), let close = trimmed.firstIndex(of: "]") else {
            return false
        }
        return trimmed[trimmed.index(after: trimmed.startIndex)..<close].trimmingCharacters(in: .whitespaces) == table
    }

    static func assigns(_ line: String, _ key: String) -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix(key) else { return false }
        return trimmed.dropFirst(key.count).trimmingCharacters(in: .whitespaces).hasPrefix("=")
    }

    /// The line where the array that starts on `start` closes (brackets counted outside strings and comments).
    static func closingLine(_ lines: [String], from start: Int, limit: Int) -> Int {
        var depth = 0
        var inString = false
        for index in start..<limit {
            var escaped = false
            for character in lines[index] {
                if inString {
                    if escaped {
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        inString = false
                    }
                    continue
                }
                if character == "#" { break }
                if character == "\"" { inString = true }
                if character == "[" { depth += 1 }
                if character == "]" {
                    depth -= 1
                    if depth == 0 { return index }
                }
            }
        }
        return start
    }
}

extension String {
    /// In double quotes, with backslashes and quotes escaped: a TOML basic string, and a Dockerfile ENV value.
    var doubleQuoted: String {
        "\"" + replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
