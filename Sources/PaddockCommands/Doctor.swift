import ArgumentParser
import Foundation
import PaddockCore
import PaddockSession

extension Paddock {
    struct Doctor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "doctor",
            abstract: "Check the engine, image, configuration, trust and disk; say how to fix each problem.",
            discussion: "Exits 1 when a check fails.")

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Print JSON instead of a list.")
        var json = false

        @Option(
            name: .long,
            help: "Check this engine (docker, podman, bwrap or container) instead of the one paddock would choose.")
        var engine: String?

        struct Check: Codable, Equatable {
            enum Status: String, Codable { case ok, warning, failed }
            var name: String
            var status: Status
            var detail: String
            var fix: String?
        }

        func run() async throws {
            let context = try await AppContext.live(global, engine: engine)
            var checks: [Check] = []

            var engineReachable = false
            do {
                let info = try await context.engine.info()
                engineReachable = true
                let why = context.engineChoice.map { " — \($0.reason)" } ?? ""
                checks.append(
                    Check(
                        name: "engine", status: .ok,
                        detail:
                            "\(info.flavor) \(info.serverVersion) via `\(context.engine.name)` (\(info.operatingSystem))\(why)"
                    ))
                if let refusal = context.engine.startRefusal {
                    checks.append(
                        Check(
                            name: "engine runtime", status: .failed, detail: refusal.description,
                            fix: "One of the fixes named above, then `paddock doctor` again."))
                }
                let flavor = await context.engine.engineFlavor()
                if let transport = try? context.engine.capabilities.transport(
                    forced: nil, flavor: flavor, engine: context.engine.name)
                {
                    checks.append(Check(name: "gateway", status: .ok, detail: flavor.gatewayDetail(transport)))
                }
                for limitation in context.engine.limitations {
                    checks.append(Check(name: "engine limits", status: .warning, detail: limitation))
                }
            } catch {
                let detail =
                    context.engineChoice.map { "\(context.engine.name) (\($0.reason)) is not reachable: \(error)" }
                    ?? "no sandbox engine is available: \(error)"
                checks.append(
                    Check(
                        name: "engine", status: .failed, detail: detail,
                        fix:
                            "Start Docker (`sudo systemctl start docker`, or Docker Desktop, Colima, OrbStack), install Podman, or on Linux `sudo apt-get install bubblewrap`; `--engine` or `engine = ...` picks one."
                    ))
            }

            let project = context.projectRoot
            var config: PaddockConfig?
            do {
                if try ConfigLoader.layer(at: context.paths.globalConfigFile) != nil {
                    checks.append(Check(name: "global config", status: .ok, detail: context.paths.globalConfigFile))
                } else {
                    checks.append(
                        Check(name: "global config", status: .ok, detail: "none (\(context.paths.globalConfigFile))"))
                }
                let projectFile = context.configLoader.projectFile(forProject: project)
                if let layer = try ConfigLoader.layer(at: projectFile) {
                    switch try context.configLoader.trust.status(file: projectFile, content: layer.text) {
                    case .trusted:
                        checks.append(Check(name: "project config", status: .ok, detail: "\(projectFile), trusted"))
                    case .neverTrusted, .changed:
                        checks.append(
                            Check(
                                name: "project config", status: .warning,
                                detail: "\(projectFile) is not trusted in its current form",
                                fix: "Review it, then run `paddock trust`."))
                    }
                } else {
                    checks.append(Check(name: "project config", status: .ok, detail: "none (\(projectFile))"))
                }
                config = try context.configLoader.load(projectRoot: project, flags: PaddockConfig()).effective
            } catch let error as PaddockError {
                if case .untrustedProjectConfig = error {
                    // The untrusted project file says nothing; the global file alone decides the image.
                    config = (try? ConfigLoader.layer(at: context.paths.globalConfigFile))??.config ?? PaddockConfig()
                } else {
                    checks.append(
                        Check(
                            name: "config", status: .failed, detail: error.description, fix: "Fix the file named above."
                        ))
                }
            }

            if engineReachable, !context.engine.needsImage {
                checks.append(
                    Check(
                        name: "image", status: .ok,
                        detail: "none needed: \(context.engine.name) runs this machine's own programs, read-only"))
            } else if engineReachable, let config {
                do {
                    let profile = try AgentProfile.named(config.agent ?? AgentProfile.claude.name)
                    let recipe = try ImageBuilder(context: context).recipe(for: config, profile: profile)
                    let label = try await context.engine.imageLabel(recipe.tag, label: ImageRecipe.contextLabel)
                    if label == recipe.contextHash {
                        checks.append(Check(name: "image", status: .ok, detail: "\(recipe.tag) is built and current"))
                    } else {
                        checks.append(
                            Check(
                                name: "image", status: .warning, detail: "\(recipe.tag) is not built yet",
                                fix: "`paddock image build`, or just `paddock run`, which builds it."))
                    }
                } catch {
                    checks.append(
                        Check(
                            name: "image", status: .failed, detail: "\(error)",
                            fix: "Fix the configuration named above."))
                }
            }

            let stateDirectory = context.paths.stateDirectory
            let probe = FileManager.default.fileExists(atPath: stateDirectory) ? stateDirectory : context.paths.home
            if let attributes = try? FileManager.default.attributesOfFileSystem(forPath: probe),
                let free = (attributes[.systemFreeSize] as? NSNumber)?.uint64Value
            {
                let gib = Double(free) / 1_073_741_824
                let detail = String(format: "%.1f GiB free at %@", gib, probe)
                checks.append(
                    gib < 2
                        ? Check(
                            name: "disk", status: .warning, detail: detail,
                            fix: "Free some space; images and clones need a few GiB.")
                        : Check(name: "disk", status: .ok, detail: detail))
            }

            if json {
                Console.json(OutputRenderer.json(checks))
            } else {
                for check in checks {
                    let mark = check.status == .ok ? "ok  " : (check.status == .warning ? "warn" : "FAIL")
                    Console.out("\(mark)  \(check.name): \(check.detail)")
                    if let fix = check.fix { Console.out("      fix: \(fix)") }
                }
            }
            if checks.contains(where: { $0.status == .failed }) { throw ExitCode(1) }
        }
    }
}
