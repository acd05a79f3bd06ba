import Foundation
import PaddockCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The rebase, am and cherry-pick state the session may have left, in the top-level git directory and in
/// every submodule's.
extension NestedRepositoryScan {
    /// An interactive rebase the agent left in progress runs its todo list's `exec` lines on `git rebase
    /// --continue`; the read-only mounts cannot cover this state, which git writes in ordinary use. A rebase, am or
    /// cherry-pick state that the session created or changed is renamed, so `--continue` has nothing to run; the
    /// user's own work stays where it is (HEAD, index and files are untouched). The same holds in every
    /// submodule's git directory under `.git/modules`, which stays writable so the submodule works.
    mutating func checkOperationsInProgress() {
        guard topLevelGitPinned, case .success(let git) = RawDirectory.openForScan(AT_FDCWD, topGit) else { return }
        checkOperationsInProgress(git, topGit)
        git.close()
    }

    mutating func checkOperationsInProgress(_ gitDirectory: OpenedDirectory, _ path: RawPath) {
        let descriptor = gitDirectory.descriptor
        for name in ["rebase-merge", "rebase-apply", "sequencer"] {
            let statePath = path.appending(RawPath(name))
            guard let status = try? RawDirectory.status(descriptor, RawPath(name)).get() else { continue }
            var findings = Findings()
            if status.kind == .directory {
                switch RawDirectory.openForScan(descriptor, RawPath(name)) {
                case .success(let state):
                    collect(state.descriptor, statePath, components: [name], mode: .everything, into: &findings)
                    state.close()
                case .failure(let error): findings.unreadable.append("\(relative(statePath)) (\(error))")
                }
            }
            guard isNew(status) || !findings.isEmpty else { continue }
            let shown = relative(statePath)
            switch rename(descriptor, RawPath(name)) {
            case .success(let renamed):
                report.warnings.append(
                    "The session left a rebase, am or cherry-pick in progress (\(shown)); paddock moved its state "
                        + "to \(relative(path.appending(renamed))) so `--continue` cannot run the agent's `exec` lines "
                        + "on your machine. Read it there; `git rebase --abort` is not needed.")
            case .failure(let error):
                report.failures.append(
                    "\(shown) (\(error)): a rebase, am or cherry-pick the session left in progress. Do not "
                        + "`--continue` it before reading its todo list; `--abort` is safe.")
            }
        }
        // Submodules' git directories: `modules/<name>`, a name possibly holding slashes, each with its own modules.
        checkModules(descriptor, path.appending(RawPath("modules")), name: RawPath("modules"))
    }

    mutating func checkModules(_ parent: Int32, _ path: RawPath, name: RawPath) {
        guard case .success(let directory) = RawDirectory.openForScan(parent, name) else { return }
        defer { directory.close() }
        guard case .success(let entries) = RawDirectory.entries(directory.descriptor) else { return }
        for entry in entries
        where (try? RawDirectory.status(directory.descriptor, entry.name).get())?.kind == .directory {
            let child = path.appending(entry.name)
            if (try? RawDirectory.status(directory.descriptor, entry.name + RawPath("/HEAD")).get()) != nil {
                guard case .success(let module) = RawDirectory.openForScan(directory.descriptor, entry.name) else {
                    continue
                }
                checkOperationsInProgress(module, child)
                module.close()
            } else {
                checkModules(directory.descriptor, child, name: entry.name)
            }
        }
    }
}
