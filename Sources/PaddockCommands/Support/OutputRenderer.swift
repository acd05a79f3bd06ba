import Foundation
import PaddockCore

/// One renderer for listings: an aligned table for people, JSON lines for programs.
enum OutputRenderer {
    /// Every cell is quoted (`SafeText.quoted`): cells carry names the agent chose, and one line per row must stay
    /// one line.
    static func table(headers: [String], rows: [[String]]) -> String {
        let rows = rows.map { $0.map(SafeText.quoted) }
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        guard let data = try? encoder.encode(value), let text = String(data: data, encoding: .utf8) else { return "[]" }
        return text
    }
}
