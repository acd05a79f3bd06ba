import Foundation
import PaddockCore
import Testing

@testable import PaddockSession

/// Every error says what to do next, and exits with the code the README's table gives it.
@Suite("Errors name the next step and the documented exit code")
struct ErrorGuidanceTests {
    @Test func aBadNetworkRuleIsAConfigurationError() throws {
        var network = NetworkConfig()
        network.allow = ["host.example:99999"]
        let error = #expect(throws: PaddockError.self) {
            try NetworkPolicySource.policy(for: network, profile: .shell, home: "/nonexistent")
        }
        #expect(error?.exitCode == 78, "README: 78 is a malformed configuration")
        #expect(error?.description.contains("Fix the file") == true, "\(String(describing: error))")
    }

    @Test func engineAndFileErrorsSayWhatToDo() {
        let engine = PaddockError.engineCommandFailed(command: "docker run x", status: 125, stderr: "boom")
        #expect(engine.description.contains("paddock doctor"))
        #expect(engine.description.contains("--debug"))
        let file = PaddockError.fileSystem(path: "/state/sessions", message: "cannot record the session")
        #expect(file.description.contains("then try again"))
        #expect(file.exitCode == 74)
        let git = PaddockError.git(command: "git fetch", message: "no such ref")
        #expect(git.description.contains("Run it yourself"))
    }
}
