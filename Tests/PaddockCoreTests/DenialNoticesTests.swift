import PaddockCore
import Testing

/// The issue: Claude shows only ERR_PROXY_TUNNEL for a denied host and the end line came too late. The user is told
/// once per target, at once, with the command that allows it; nothing the sandbox chose reaches the terminal raw.
@Suite("Denial notices while a session runs")
struct DenialNoticesTests {
    func record(_ host: String, _ port: Int?, _ decision: ConnectionRecord.Decision = .deny, rule: String = "default")
        -> ConnectionRecord
    {
        ConnectionRecord(
            time: "t", protocol: "connect", host: host, port: port, decision: decision, rule: rule,
            reason: "\(host) is not in the allowlist; no rule allows it")
    }

    @Test func firstDenialOfEachTargetOnlyWithItsAllowCommand() {
        var notices = DenialNotices()
        #expect(
            notices.notice(for: record("example.com", 443))
                == "paddock: blocked example.com:443 — `paddock allow example.com` allows it")
        #expect(notices.notice(for: record("example.com", 443)) == nil, "once per target")
        #expect(
            notices.notice(for: record("example.com", 22))
                == "paddock: blocked example.com:22 — `paddock allow example.com:22` allows it")
        #expect(notices.notice(for: record("api.example.com", 443, .allow)) == nil, "allowed traffic is no news")
        #expect(notices.notice(for: record("x", nil, .invalid, rule: "invalid")) == nil)
        #expect(notices.targets == ["example.com:443", "example.com:22"])
    }

    /// A host denied by a rule is not fixed by `paddock allow`: the notice says what the policy said.
    @Test func aDenyRuleGetsItsReasonNotAnAllowCommand() {
        var notices = DenialNotices()
        var denied = record("gist.github.com", 443, rule: "gist.github.com (global config)")
        denied.reason = "gist.github.com:443 is denied by `gist.github.com` in the global config"
        #expect(
            notices.notice(for: denied)
                == "paddock: blocked gist.github.com:443 — gist.github.com:443 is denied by `gist.github.com` in the global config"
        )
    }

    @Test func controlCharactersNeverReachTheTerminal() {
        var notices = DenialNotices()
        let notice = notices.notice(for: record("evil\u{1B}]2;owned\u{07}.test", 443)) ?? ""
        #expect(!notice.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
        let title = DenialNotices.title("a\u{1B}[2Jb")
        #expect(title == "\u{1B}]2;a?[2Jb\u{07}")
    }

    @Test func noticesStopAtTheLimit() {
        var notices = DenialNotices()
        let given = (0..<(DenialNotices.limit + 5)).compactMap { notices.notice(for: record("h\($0).test", 443)) }
        #expect(given.count == DenialNotices.limit)
    }
}
