#!/usr/bin/env python3
"""Start cost of the bwrap engine: a whole `paddock run --engine bwrap --agent shell -- true` against a bare
`bwrap --unshare-all ... true` and against the Docker engine (paddock's and a bare `docker run`).

All commands alternate in every round; medians of at least 7 rounds; ratios printed. Goal: the paddock bwrap run
well under 100 ms. The project is a git repository, as a real one is (mount mode then guards its .git).
Usage: bench/bwrap-start.py [--runs N] [--paddock PATH] [--no-docker]
As root it builds (unless --paddock) and then runs everything as PADDOCK_BENCH_USER (default paddock-tester),
because paddock refuses bwrap as root. Needs bwrap, socat and git on the host; Docker and the local base image
(scripts/test.sh makes them) for the Docker rows.
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


def timed(argv, env, cwd):
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.decode()}")
    return elapsed


def bare_bwrap(project):
    """bwrap with the same kind of sandbox paddock makes, minus paddock: userland read-only, private /tmp, /proc,
    /dev, the project at /workspace, an empty environment."""
    argv = ["bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    for path in ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            argv += ["--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", project, "/workspace",
             "--chdir", "/workspace", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--", "true"]
    return argv


def release_paddock(given):
    """The binary to measure: the one given, or a fresh release build of this checkout."""
    if given:
        return given
    subprocess.run(["swift", "build", "-c", "release", "--product", "paddock"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(ROOT, ".build", "release", "paddock")


def drop_to_user(args):
    """Re-runs this script as the unprivileged bench user, with a paddock binary that user can execute."""
    user = pwd.getpwnam(os.environ.get("PADDOCK_BENCH_USER", "paddock-tester"))
    paddock = release_paddock(args.paddock)
    copy = tempfile.mkdtemp(prefix="paddock-bench-bin-")
    shutil.copy(paddock, copy)
    os.chmod(copy, 0o755)
    argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--",
            "env", "-i", f"HOME={user.pw_dir}", "PATH=/usr/local/bin:/usr/bin:/bin", f"USER={user.pw_name}",
            f"PADDOCK_TEST_BASE_IMAGE={BASE}", "/usr/bin/python3", os.path.abspath(__file__),
            "--runs", str(args.runs), "--paddock", os.path.join(copy, "paddock")]
    if args.no_docker:
        argv.append("--no-docker")
    try:
        sys.exit(subprocess.run(argv, cwd="/").returncode)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--paddock")
    parser.add_argument("--no-docker", action="store_true")
    args = parser.parse_args()
    if args.runs < 7:
        sys.exit("use at least 7 runs")
    if os.getuid() == 0:
        drop_to_user(args)
    paddock = release_paddock(args.paddock)

    work = tempfile.mkdtemp(prefix="paddock-bench-")
    name = "bench-" + os.path.basename(work).rsplit("-", 1)[-1].lower()
    try:
        home = os.path.join(work, "home")
        project = os.path.join(work, name)
        os.makedirs(os.path.join(home, ".config", "paddock"))
        os.makedirs(project)
        with open(os.path.join(home, ".config", "paddock", "config.toml"), "w") as config:
            config.write(f'[image]\nbase = "{BASE}"\n')
        env = {"HOME": home, "PATH": os.environ["PATH"]}
        subprocess.run(["git", "init", "-q", "-b", "main", "."], cwd=project, check=True)
        subprocess.run(["git", "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-q", "--allow-empty",
                        "-m", "init"], cwd=project, check=True)

        commands = {
            "paddock run --engine bwrap": [paddock, "run", "--engine", "bwrap", "--agent", "shell", "--", "true"],
            "paddock run --engine bwrap --offline": [paddock, "run", "--engine", "bwrap", "--offline", "--agent",
                                                      "shell", "--", "true"],
            "bare bwrap --unshare-all": bare_bwrap(project),
        }
        if not args.no_docker:
            commands["paddock run --engine docker"] = [paddock, "run", "--engine", "docker", "--agent", "shell",
                                                       "--", "true"]
            # Builds the image once; the bare run uses the same warm image.
            timed(commands["paddock run --engine docker"], env, project)
            image = subprocess.run([paddock, "image", "build", "--agent", "shell"], env=env, cwd=project,
                                   capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            commands["bare docker run"] = ["docker", "run", "--rm", "--network", "none", "--cap-drop", "ALL",
                                           "--security-opt", "no-new-privileges", "--user",
                                           f"{os.getuid()}:{os.getgid()}", image, "true"]
        for argv in commands.values():
            timed(argv, env, project)  # warm caches

        times = {label: [] for label in commands}
        for _ in range(args.runs):
            for label, argv in commands.items():
                times[label].append(timed(argv, env, project))

        median = {label: statistics.median(values) for label, values in times.items()}
        print(f"runs each: {args.runs} (alternated)  kernel {os.uname().release}  {os.cpu_count()} cpus")
        for label, values in times.items():
            print(f"{label:40s} median {median[label] * 1000:7.1f} ms   "
                  f"[min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}]")
        bare = median["bare bwrap --unshare-all"]
        ours = median["paddock run --engine bwrap"]
        print(f"ratio paddock bwrap / bare bwrap:            {ours / bare:.2f}x")
        print(f"ratio paddock bwrap --offline / bare bwrap:  {median['paddock run --engine bwrap --offline'] / bare:.2f}x")
        if not args.no_docker:
            print(f"ratio paddock docker / paddock bwrap:        {median['paddock run --engine docker'] / ours:.2f}x")
            print(f"ratio bare docker run / paddock bwrap:       {median['bare docker run'] / ours:.2f}x")
        print(f"goal: paddock bwrap well under 100 ms: {'met' if ours < 0.1 else 'NOT met'} ({ours * 1000:.1f} ms)")
    finally:
        volumes = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"name=paddock-home-{name}-"],
                                 capture_output=True, text=True).stdout.split() if shutil.which("docker") else []
        if volumes:
            subprocess.run(["docker", "volume", "rm", "--force", *volumes], stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
