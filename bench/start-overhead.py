#!/usr/bin/env python3
"""Start overhead: `paddock run --agent shell -- true` against the bare engine on the same warm image.

Alternates the two commands, takes the median of each, and prints the ratio (goal: paddock <= 1.15x).
Usage: bench/start-overhead.py [--runs N] [--paddock PATH]
Needs a reachable Docker engine and the local base image (scripts/test.sh makes both); builds paddock in
release mode unless --paddock is given.
"""
import argparse
import os
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
    result = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.decode()}")
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--paddock")
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

    work = tempfile.mkdtemp(prefix="paddock-bench-")
    name = None
    try:
        home = os.path.join(work, "home")
        # A unique project name, so cleanup removes this run's home volume and nobody else's.
        name = "bench-" + os.path.basename(work).rsplit("-", 1)[-1].lower()
        project = os.path.join(work, name)
        os.makedirs(os.path.join(home, ".config", "paddock"))
        os.makedirs(project)
        with open(os.path.join(home, ".config", "paddock", "config.toml"), "w") as config:
            config.write(f'[image]\nbase = "{BASE}"\n')
        env = {"HOME": home, "PATH": os.environ["PATH"]}

        # Warm up: builds the image once, and warms the engine's caches for both commands.
        timed([paddock, "run", "--agent", "shell", "--", "true"], env, project)
        image = subprocess.run([paddock, "image", "build", "--agent", "shell"], env=env, cwd=project,
                               capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        uid, gid = os.getuid(), os.getgid()
        if uid == 0:
            uid, gid = 1000, 1000  # paddock's sandbox user when the host user is root
        bare = ["docker", "run", "--rm", "--network", "none", "--cap-drop", "ALL", "--security-opt",
                "no-new-privileges", "--user", f"{uid}:{gid}", image, "true"]
        ours = [paddock, "run", "--agent", "shell", "--", "true"]
        timed(bare, env, project)

        paddock_times, bare_times = [], []
        for _ in range(args.runs):
            paddock_times.append(timed(ours, env, project))
            bare_times.append(timed(bare, env, project))

        p, b = statistics.median(paddock_times), statistics.median(bare_times)
        print(f"runs each:            {args.runs} (alternated)")
        print(f"paddock run (median): {p * 1000:.0f} ms   [min {min(paddock_times) * 1000:.0f}, max {max(paddock_times) * 1000:.0f}]")
        print(f"docker run  (median): {b * 1000:.0f} ms   [min {min(bare_times) * 1000:.0f}, max {max(bare_times) * 1000:.0f}]")
        print(f"ratio paddock/docker: {p / b:.3f}  (goal <= 1.15)")
    finally:
        if name:
            volumes = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"name=paddock-home-{name}-"],
                                     capture_output=True, text=True).stdout.split()
            if volumes:
                subprocess.run(["docker", "volume", "rm", "--force", *volumes], stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
