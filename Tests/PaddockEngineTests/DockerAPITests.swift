import Foundation
import PaddockCore
import Testing

@testable import PaddockEngine

@Suite("The Docker Engine API fast path")
struct DockerAPITests {
    @Test func localSocketOnlyWhenTheCLIWouldUseIt() {
        let home = NSTemporaryDirectory() + "paddock-docker-config-\(UUID().uuidString)"
        #expect(DockerAPI.localSocket(environment: [:], home: home) == "/var/run/docker.sock")
        #expect(
            DockerAPI.localSocket(environment: ["DOCKER_HOST": "unix:///run/user/1/docker.sock"], home: home)
                == "/run/user/1/docker.sock")
        #expect(DockerAPI.localSocket(environment: ["DOCKER_HOST": "tcp://10.0.0.1:2376"], home: home) == nil)
        #expect(DockerAPI.localSocket(environment: ["DOCKER_HOST": "ssh://box"], home: home) == nil)
        #expect(DockerAPI.localSocket(environment: ["DOCKER_CONTEXT": "colima"], home: home) == nil)
    }

    @Test func aDockerContextInTheCLIConfigMeansTheCLI() throws {
        let home = NSTemporaryDirectory() + "paddock-docker-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home + "/.docker", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        try #"{"currentContext":"desktop-linux"}"#.write(
            toFile: home + "/.docker/config.json", atomically: true, encoding: .utf8)
        #expect(DockerAPI.localSocket(environment: [:], home: home) == nil)
        try #"{"currentContext":"default"}"#.write(
            toFile: home + "/.docker/config.json", atomically: true, encoding: .utf8)
        #expect(DockerAPI.localSocket(environment: [:], home: home) == "/var/run/docker.sock")
    }

    @Test func parsesAnHTTP10Answer() throws {
        let response = try #require(
            DockerAPI.parse(
                Data(
                    "HTTP/1.0 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"message\":\"No such image\"}"
                        .utf8)))
        #expect(response.status == 404)
        #expect(String(decoding: response.body, as: UTF8.self) == "{\"message\":\"No such image\"}")
        #expect(DockerAPI.parse(Data("garbage".utf8)) == nil)
    }

    @Test func referencesCannotChangeThePath() {
        #expect(DockerAPI.escape("paddock-shell:abc", keeping: ":/@") == "paddock-shell:abc")
        #expect(
            DockerAPI.escape("x/../../containers/json?all=1", keeping: ":/@") == "x/../../containers/json%3Fall%3D1")
        #expect(DockerAPI.escape("{\"label\":[\"a\"]}") == "%7B%22label%22%3A%5B%22a%22%5D%7D")
    }

    @Test func noSocketMeansNoAnswer() {
        let api = DockerAPI(socketPath: "/nonexistent/docker.sock")
        #expect(!api.ping())
        #expect(throws: PaddockError.self) { try api.imageLabels("x:y") }
    }
}
