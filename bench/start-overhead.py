#!/usr/bin/env python3
"""Start overhead: `paddock run --agent shell -- true` against the bare engine on the same warm image.

Alternates the two commands, takes the median of each, and prints the ratio (goal: paddock <= 1.15x).
Usage: bench/start-overhead.py [--runs N] [--paddock PATH] [--engine docker|podman] [--git]
  --engine podman  rootless Podman, as the test user when run as root (scripts/test.sh makes it), against a bare
                   `podman run` with the same runtime and keep-id
  --git            the project is a git repository, as users run paddock (mount mode then pins git's files)
Needs a reachable engine and the local base image (scripts/test.sh makes both); builds paddock in
release mode unless --paddock is given.
"""
import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.environ.get("PADDOCK_TEST_BASE_IMAGE", "paddock-test/bookworm:latest")


def crun_refuses_this_host():
    """crun refuses hybrid hosts whose cgroup2 tree holds a controller; paddock then runs Podman with runc."""
    try:
        with open("/sys/fs/cgroup/unified/cgroup.controllers") as controllers:
            return controllers.read().strip() != ""
    except OSError:
        return False


def timed(argv, env, cwd, prefix=()):
    start = time.perf_counter()
    result = subprocess.run([*prefix, *argv], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.decode()}")
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--paddock")
    parser.add_argument("--engine", choices=["docker", "podman"], default="docker")
    parser.add_argument("--git", action="store_true")
    args = parser.parse_args()
    if args.runs < 7:
        sys.exit("use at least 7 runs")

    paddock = args.paddock
    if not paddock:
        # Built as the README tells users to install it: release, with the Swift runtime linked in.
        subprocess.run(["swift", "build", "-c", "release", "--product", "paddock", "--static-swift-stdlib",
                        "--scratch-path", os.path.join(ROOT, ".build-release-static")], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        paddock = os.path.join(ROOT, ".build-release-static", "release", "paddock")

    # Rootless Podman as the unprivileged test user when run as root (paddock's own tests do the same).
    prefix, user = [], None
    if args.engine == "podman" and os.getuid() == 0:
        user = pwd.getpwnam(os.environ.get("PADDOCK_TEST_USER", "paddock-tester"))
        prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--"]
    work = tempfile.mkdtemp(prefix="paddock-bench-")
    os.chmod(work, 0o755)
    name = None
    env = None
    try:
        home = os.path.join(work, "home")
        # A unique project name, so cleanup removes this run's home volume and nobody else's.
        name = "bench-" + os.path.basename(work).rsplit("-", 1)[-1].lower()
        project = os.path.join(work, name)
        os.makedirs(os.path.join(home, ".config", "paddock"))
        os.makedirs(project)
        with open(os.path.join(home, ".config", "paddock", "config.toml"), "w") as config:
            config.write(f'engine = "{args.engine}"\n[image]\nbase = "{BASE}"\n')
        if user:
            # Rootless Podman keeps images under the user's real home; this run's HOME is its own.
            os.makedirs(os.path.join(home, ".config", "containers"))
            with open(os.path.join(home, ".config", "containers", "storage.conf"), "w") as storage:
                storage.write(f'[storage]\ndriver = "overlay"\ngraphroot = "{user.pw_dir}/.local/share/containers/storage"\n'
                              f'runroot = "/tmp/containers-user-{user.pw_uid}/containers"\n')
            shutil.copy(paddock, os.path.join(work, "paddock"))
            paddock = os.path.join(work, "paddock")
            subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", work], check=True)
        env = {"HOME": home, "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        if args.git:
            for git in (["git", "init", "-q", "-b", "main", "."],
                        ["git", "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-q", "--allow-empty", "-m", "init"]):
                subprocess.run([*prefix, *git], env=env, cwd=project, check=True)

        # Warm up: builds the image once, and warms the engine's caches for both commands.
        timed([paddock, "run", "--agent", "shell", "--", "true"], env, project, prefix)
        image = subprocess.run([*prefix, paddock, "image", "build", "--agent", "shell"], env=env, cwd=project,
                               capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        uid, gid = (user.pw_uid, user.pw_gid) if user else (os.getuid(), os.getgid())
        if uid == 0:
            uid, gid = 1000, 1000  # paddock's sandbox user when the host user is root
        hardening = ["--rm", "--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                     "--user", f"{uid}:{gid}"]
        if args.engine == "docker":
            bare = ["docker", "run", *hardening, image, "true"]
        else:
            runtime = ["--runtime", shutil.which("runc", path="/usr/local/sbin:/usr/sbin:/sbin:" + os.environ["PATH"])] \
                if crun_refuses_this_host() else []
            bare = ["podman", *runtime, "run", *hardening, "--userns=keep-id", image, "true"]
        ours = [paddock, "run", "--agent", "shell", "--", "true"]
        timed(bare, env, project, prefix)

        paddock_times, bare_times = [], []
        for _ in range(args.runs):
            paddock_times.append(timed(ours, env, project, prefix))
            bare_times.append(timed(bare, env, project, prefix))

        p, b = statistics.median(paddock_times), statistics.median(bare_times)
        engine = args.engine
        print(f"engine, project:      {engine}, {'git repository' if args.git else 'plain folder'}")
        print(f"runs each:            {args.runs} (alternated)")
        print(f"paddock run (median): {p * 1000:.0f} ms   [min {min(paddock_times) * 1000:.0f}, max {max(paddock_times) * 1000:.0f}]")
        print(f"{engine} run (median):  {b * 1000:.0f} ms   [min {min(bare_times) * 1000:.0f}, max {max(bare_times) * 1000:.0f}]")
        print(f"ratio paddock/{engine}: {p / b:.3f}  (goal <= 1.15)")
    finally:
        if name and env:
            volumes = subprocess.run([*prefix, args.engine, "volume", "ls", "-q", "--filter", f"name=paddock-home-{name}-"],
                                     capture_output=True, text=True, env=env).stdout.split()
            if volumes:
                subprocess.run([*prefix, args.engine, "volume", "rm", "--force", *volumes], stdout=subprocess.DEVNULL,
                               env=env)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
