import Foundation

/// A session id that sorts by start time and is short enough to type: `20261121-0521-k3f9`.
public struct SessionID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    /// Accepts only the shape paddock makes, so an id can never smuggle a path or a flag into argv.
    public init?(_ rawValue: String) {
        guard Self.isWellFormed(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    public static func make(at date: Date, random: inout some RandomNumberGenerator) -> SessionID {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        let stamp = String(
            format: "%04d%02d%02d-%02d%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0,
            parts.minute ?? 0)
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        let suffix = String((0..<4).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &random)] })
        return SessionID(unchecked: "\(stamp)-\(suffix)")
    }

    public static func make(at date: Date = Date()) -> SessionID {
        var generator = SystemRandomNumberGenerator()
        return make(at: date, random: &generator)
    }

    private init(unchecked: String) { rawValue = unchecked }

    static func isWellFormed(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 8, parts[1].count == 4, parts[2].count == 4 else { return false }
        let digits = parts[0].allSatisfy(\.isASCIIDigit) && parts[1].allSatisfy(\.isASCIIDigit)
        return digits && parts[2].allSatisfy { $0.isASCIIDigit || ("a"..."z").contains($0) }
    }

    public static func < (lhs: SessionID, rhs: SessionID) -> Bool { lhs.rawValue < rhs.rawValue }
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
