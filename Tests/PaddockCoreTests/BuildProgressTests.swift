import PaddockCore
import Testing

@Suite("Build progress lines")
struct BuildProgressTests {
    @Test(arguments: [
        "Step 3/7 : RUN apt-get update",  // Docker's classic builder
        "#5 [2/4] RUN apt-get update",  // BuildKit
        "#7 [builder 3/5] COPY . /src",  // BuildKit, a named stage
        "STEP 3/7: RUN apt-get update",  // Podman (Buildah)
    ])
    func aStepOfEachBuilderIsShown(_ line: String) {
        #expect(BuildProgress.step(in: line) == line)
    }

    @Test(arguments: [
        "Get:1 http://deb.example/debian bookworm InRelease [151 kB]",
        "#2 [internal] load metadata for docker.io/library/debian:bookworm-slim",
        "#5 0.412 Reading package lists...",
        "Step right up: 3/4 of the way",
        "STEP 3/: RUN true",
        "Stepping 1/2 : nothing",
        " ---> Running in 5d1c2b3a",
        "COMMIT paddock-shell:abc",
        "",
    ])
    func everythingElseStaysInTheLog(_ line: String) {
        #expect(BuildProgress.step(in: line) == nil)
    }
}
