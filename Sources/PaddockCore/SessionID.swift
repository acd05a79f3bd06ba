import Foundation

/// A session id that sorts by start time and is short enough to type: `20261121-052133-41k3` is 21 Nov 2026,
/// 05:21:33.41 UTC, then two random characters. Ids made in the same minute (several sessions started by a script)
/// still sort in the order they started, to the hundredth of a second; only ids of the same hundredth fall back to
/// the random part. Records written before this shape (`20261121-0521-k3f9`, to the minute) are still accepted and
/// sort before every newer id of their minute.
public struct SessionID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    /// Accepts only the shapes paddock makes, so an id can never smuggle a path or a flag into argv.
    public init?(_ rawValue: String) {
        guard Self.isWellFormed(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    public static func make(at date: Date, random: inout some RandomNumberGenerator) -> SessionID {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        // One count of hundredths, and the seconds taken from it, so the two parts can never disagree.
        let centiseconds = Int64((date.timeIntervalSince1970 * 100).rounded(.down))
        let (wholeSeconds, hundredths) = centiseconds.quotientAndRemainder(dividingBy: 100)
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(wholeSeconds)))
        let stamp = String(
            format: "%04d%02d%02d-%02d%02d%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
            parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0, Int(hundredths))
        let suffix = String((0..<2).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &random)] })
        return SessionID(unchecked: stamp + suffix)
    }

    public static func make(at date: Date = Date()) -> SessionID {
        var generator = SystemRandomNumberGenerator()
        return make(at: date, random: &generator)
    }

    private init(unchecked: String) { rawValue = unchecked }

    private static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")

    static func isWellFormed(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 8, parts[0].allSatisfy(\.isASCIIDigit) else { return false }
        let isLowerAlphanumeric: (Character) -> Bool = { $0.isASCIIDigit || ("a"..."z").contains($0) }
        switch (parts[1].count, parts[2].count) {
        case (6, 4):  // HHMMSS, then hundredths and two random characters
            return parts[1].allSatisfy(\.isASCIIDigit) && parts[2].prefix(2).allSatisfy(\.isASCIIDigit)
                && parts[2].dropFirst(2).allSatisfy(isLowerAlphanumeric)
        case (4, 4):  // the older HHMM and four random characters
            return parts[1].allSatisfy(\.isASCIIDigit) && parts[2].allSatisfy(isLowerAlphanumeric)
        default:
            return false
        }
    }

    /// The start time as fixed-width digits (`YYYYMMDDHHMMSSCC`), then the random part: ordering by it is ordering
    /// by start. An older id counts as the very start of its minute: `!` sorts before every random character.
    var sortKey: String {
        let parts = rawValue.split(separator: "-").map(String.init)
        if parts[1].count == 4 { return parts[0] + parts[1] + "0000!" + parts[2] }
        return parts[0] + parts[1] + parts[2]
    }

    public static func < (lhs: SessionID, rhs: SessionID) -> Bool {
        (lhs.sortKey, lhs.rawValue) < (rhs.sortKey, rhs.rawValue)
    }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = SessionID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad session id"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

/// Names derived from the project, safe for the engine's naming rules.
public enum ProjectNaming {
    /// `my-app` from `/home/u/code/My App`: lower-case letters, digits, `-`, `_`, `.`; at most 32 characters.
    public static func slug(forProject path: String) -> String {
        let base = (path as NSString).lastPathComponent.lowercased()
        var slug = ""
        for scalar in base.unicodeScalars {
            if scalar.isASCII, CharacterSet.alphanumerics.contains(scalar) || "_.-".unicodeScalars.contains(scalar) {
                slug.unicodeScalars.append(scalar)
            } else if !slug.hasSuffix("-") {
                slug += "-"
            }
        }
        slug = String(slug.trimmingCharacters(in: CharacterSet(charactersIn: "-._")).prefix(32))
        return slug.isEmpty ? "project" : slug
    }

    public static func containerName(project: String, session: SessionID) -> String {
        "paddock-\(slug(forProject: project))-\(session.rawValue)"
    }

    /// One home per project and host user, so logins survive every session of that project.
    public static func homeVolume(project: String, uid: UInt32) -> String {
        let digest = Hashing.sha256Hex("\(project)\u{0}\(uid)")
        return "paddock-home-\(slug(forProject: project))-\(digest.prefix(12))"
    }
}
