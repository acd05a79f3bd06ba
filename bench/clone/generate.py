#!/usr/bin/env python3
"""Generates a benchmark repository through `git fast-import`.

Every repository gets the same working tree (about 1 MB of source-like files). `--history-mb N` adds N MB of
incompressible random blobs in commits of 100 MB that a last commit deletes again: history grows, the checkout
does not, so the benchmark measures what history costs a session start.
"""
import argparse
import os
import random
import subprocess
import sys

CHUNK = 1 << 20


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--history-mb", type=int, default=0)
    args = parser.parse_args()

    subprocess.run(["git", "init", "-q", "-b", "main", args.path], check=True)
    importer = subprocess.Popen(
        ["git", "-C", args.path, "-c", "pack.compression=1", "fast-import", "--quiet"], stdin=subprocess.PIPE
    )
    out = importer.stdin
    rng = random.Random(4)  # the same source files every time
    mark = 0
    when = 1_700_000_000

    def blob(size: int, text: bool) -> int:
        nonlocal mark
        mark += 1
        out.write(b"blob\nmark :%d\ndata %d\n" % (mark, size))
        left = size
        while left:
            n = min(left, CHUNK)
            out.write(bytes(rng.choice(b"abcdefghij klmnop\n") for _ in range(n)) if text else os.urandom(n))
            left -= n
        out.write(b"\n")
        return mark

    # Commits to the same ref follow each other: fast-import continues from the branch's current tip.
    def commit(message: str, changes: list) -> None:
        nonlocal mark, when
        mark += 1
        when += 60
        msg = message.encode()
        out.write(b"commit refs/heads/main\nmark :%d\n" % mark)
        out.write(b"committer Bench <bench@example.invalid> %d +0000\ndata %d\n%s\n" % (when, len(msg), msg))
        for change in changes:
            out.write(change.encode() + b"\n")
        out.write(b"\n")

    sources = [f"M 100644 :{blob(5_000, True)} src/file{i:03}.txt" for i in range(200)]
    commit("source", sources)
    for n in range(args.history_mb // 100):
        commit(f"history {n}", [f"M 100644 :{blob(100 * CHUNK, False)} blobs/blob{n}.bin"])
    if args.history_mb >= 100:
        commit("drop the blobs", ["D blobs"])
    out.close()
    if importer.wait() != 0:
        return 1
    subprocess.run(["git", "-C", args.path, "checkout", "-q", "-f", "main"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
