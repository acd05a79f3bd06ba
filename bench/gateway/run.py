#!/usr/bin/env python3
"""Runs the gateway benchmark: every proxy in turn on 127.0.0.1, pinned to core 0, with the origin and the load
generator on core 1. Started by bench/gateway/run.sh, which installs the baselines and builds the bench binary.
Reports numbers; it is not a test and never fails on a missed goal."""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ORIGIN_PORT = 28080
PORTS = {"paddock": 28129, "nio-minimal": 28130, "tinyproxy": 28888, "squid": 23128}
NAMES = ["direct", "paddock", "nio-minimal", "tinyproxy", "squid"]
GIB = 1 << 30
TICKS = os.sysconf("SC_CLK_TCK")


def port_is_free(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def wait_for_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def tree(pid):
    """pid and all its descendants (squid and tinyproxy may fork)."""
    result = [pid]
    for candidate in os.listdir("/proc"):
        if candidate.isdigit():
            try:
                with open(f"/proc/{candidate}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                if int(fields[1]) in result:
                    result.append(int(candidate))
            except OSError:
                pass
    return result


def rss_mib(pid):
    total = 0
    for member in tree(pid):
        try:
            with open(f"/proc/{member}/status") as status:
                match = re.search(r"VmRSS:\s+(\d+) kB", status.read())
                total += int(match.group(1)) if match else 0
        except OSError:
            pass
    return total / 1024


def cpu_seconds(pid):
    total = 0
    for member in tree(pid):
        try:
            with open(f"/proc/{member}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / TICKS


def bench(args, *command, core="1"):
    output = subprocess.run(
        ["taskset", "-c", core, args.bench, *map(str, command)], check=True, capture_output=True, text=True
    ).stdout
    return dict(pair.split("=") for pair in output.split())


def start_proxy(name, args, workdir):
    port = PORTS[name]
    if name == "paddock":
        command = [args.bench, "serve", port, os.path.join(workdir, "paddock-net.log")]
    elif name == "nio-minimal":
        command = [args.bench, "serve-minimal", port]
    elif name == "tinyproxy":
        conf = os.path.join(workdir, "tinyproxy.conf")
        with open(conf, "w") as file:
            file.write(
                f"User nobody\nGroup nogroup\nPort {port}\nListen 127.0.0.1\nTimeout 600\nMaxClients 4000\n"
                f"Allow 127.0.0.1\nLogLevel Critical\nLogFile \"{workdir}/tinyproxy.log\"\n"
                f"PidFile \"{workdir}/tinyproxy.pid\"\nDisableViaHeader Yes\n"
            )
        command = [shutil.which("tinyproxy") or "tinyproxy", "-d", "-c", conf]
    else:
        conf = os.path.join(workdir, "squid.conf")
        with open(conf, "w") as file:
            # No cache, no access log, no DNS beyond loopback (targets are IP literals anyway), no ICMP pinger.
            file.write(
                f"http_port 127.0.0.1:{port}\nacl localhost src 127.0.0.1/32\nhttp_access allow localhost\n"
                "http_access deny all\ncache deny all\ncache_mem 8 MB\naccess_log none\n"
                f"cache_log {workdir}/squid-cache.log\npid_filename {workdir}/squid.pid\ncoredump_dir {workdir}\n"
                "max_filedescriptors 16384\nworkers 1\nshutdown_lifetime 1 seconds\ndns_nameservers 127.0.0.1\n"
                "pinger_enable off\nvisible_hostname paddock-bench\nclient_persistent_connections off\n"
            )
        command = [shutil.which("squid") or "/usr/sbin/squid", "-N", "-f", conf]
    process = subprocess.Popen(
        ["taskset", "-c", "0", *map(str, command)], stdout=subprocess.DEVNULL, stderr=open(f"{workdir}/{name}.err", "w")
    )
    wait_for_port(port)
    return process


def measure(name, args, workdir):
    proxy = "direct" if name == "direct" else f"127.0.0.1:{PORTS[name]}"
    target = f"127.0.0.1:{ORIGIN_PORT}"
    result = {"name": name}
    process = None
    if name != "direct":
        process = start_proxy(name, args, workdir)
        time.sleep(1.0)
        result["rss_idle_mib"] = rss_mib(process.pid)
    try:
        bench(args, "setup", proxy, target, 200, 2)  # warm-up
        size = int(args.gib * GIB)
        # The minimal proxy has no backpressure: a bulk transfer through it would only measure its buffering.
        runs = [] if name == "nio-minimal" else None
        cpu_before = cpu_seconds(process.pid) if process else 0
        if runs is None:
            runs = [float(bench(args, "throughput", proxy, target, size)["MiBps"]) for _ in range(args.runs)]
            if process:
                result["cpu_s_per_gib"] = (cpu_seconds(process.pid) - cpu_before) / (args.runs * args.gib)
            result["throughput_mibps"] = statistics.median(runs)
            result["throughput_runs"] = runs
        cpu_before = cpu_seconds(process.pid) if process else 0
        setups = [bench(args, "setup", proxy, target, args.setups, args.threads) for _ in range(args.runs)]
        if process:
            result["cpu_us_per_connect"] = (cpu_seconds(process.pid) - cpu_before) * 1e6 / (args.runs * args.setups)
        best = sorted(setups, key=lambda run: float(run["rate"]))[len(setups) // 2]
        result["setup_rate"] = float(best["rate"])
        result["p50_us"] = float(best["p50us"])
        result["p99_us"] = float(best["p99us"])
        if process:
            holder = subprocess.Popen(
                ["taskset", "-c", "1", args.bench, "hold", proxy, target, str(args.tunnels)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
            line = holder.stdout.readline().strip()
            time.sleep(0.5)
            result["rss_tunnels_mib"] = rss_mib(process.pid)
            result["held"] = line
            holder.stdin.close()
            holder.wait(timeout=60)
    finally:
        if process:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True)
    parser.add_argument("--gib", type=float, default=float(os.environ.get("GIB", "1")))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--setups", type=int, default=int(os.environ.get("SETUPS", "6000")))
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--tunnels", type=int, default=1000)
    # nio-minimal (a bare SwiftNIO CONNECT proxy: no policy, log or timeouts) shows the floor of the library.
    parser.add_argument("--order", default="direct,paddock,nio-minimal,tinyproxy,squid")
    parser.add_argument("--shared-netns", action="store_true", help="measure in this network namespace")
    parser.add_argument("--single", help=argparse.SUPPRESS)  # internal: one proxy, inside its own namespace
    args = parser.parse_args()

    if args.single:
        isolate_loopback()
        print(json.dumps(measure_with_origin(args.single, args)))
        return
    order = args.order.split(",")
    required = ["direct", "paddock", "tinyproxy", "squid"]
    if len(set(order)) != len(order) or not set(required) <= set(order) or not set(order) <= set(NAMES):
        raise SystemExit("--order names each of direct, paddock, tinyproxy, squid once, and nio-minimal at most once")
    if args.shared_netns or os.geteuid() != 0:
        if not args.shared_netns:
            print("not root: measuring in the shared network namespace (TIME_WAIT sockets carry over)", file=sys.stderr)
        busy = [port for port in [ORIGIN_PORT, *PORTS.values()] if not port_is_free(port)]
        if busy:
            raise SystemExit(f"ports already in use on 127.0.0.1: {busy}; stop whatever listens there first")
        results = [measure_with_origin(name, args) for name in order]
    else:
        results = []
        for name in order:
            # Each proxy in a fresh network namespace of its own (see isolate_loopback).
            command = ["unshare", "--net", sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--single", name]
            finished = subprocess.run(command, capture_output=True, text=True)
            if finished.returncode != 0:
                raise SystemExit(f"measuring {name} failed:\n{finished.stderr}")
            results.append(json.loads(finished.stdout.strip().splitlines()[-1]))
    report(sorted(results, key=lambda r: NAMES.index(r["name"])), args)


def isolate_loopback():
    """Runs inside a network namespace this bench made (unshare --net): only its own loopback exists. Each
    CONNECT leaves two sockets in TIME_WAIT for a minute; in the shared namespace tens of thousands pile up,
    every later connect() searches longer for a free port, and the figures depended on what ran before. Here TIME_WAIT
    is capped and the port range wide, for every proxy alike; nothing outside the namespace changes."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for setting in ["net.ipv4.tcp_max_tw_buckets=1024", "net.ipv4.ip_local_port_range=1024 65535"]:
        subprocess.run(["sysctl", "-q", "-w", setting], check=True)


def measure_with_origin(name, args):
    workdir = tempfile.mkdtemp(prefix="paddock-gw-bench-")
    os.chmod(workdir, 0o777)  # tinyproxy and squid drop to unprivileged users and write their logs here
    origin = subprocess.Popen(
        ["taskset", "-c", "1", args.bench, "origin", str(ORIGIN_PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(ORIGIN_PORT)
        return measure(name, args, workdir)
    finally:
        origin.terminate()
        origin.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def report(results, args):
    by = {r["name"]: r for r in results}
    print(f"\nGateway benchmark, loopback, proxy on core 0, client+origin on core 1; "
          f"{args.gib:g} GiB x {args.runs} per throughput, {args.setups} CONNECTs x {args.runs} "
          f"({args.threads} client threads), {args.tunnels} held tunnels\n")
    print("| | throughput MiB/s | CONNECT/s | p50 to 200 µs | p99 to 200 µs | CPU µs/CONNECT | CPU s/GiB | RSS idle MiB | RSS 1000 tunnels MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        def cell(key, fmt="{:.0f}"):
            return fmt.format(r[key]) if key in r else "—"
        print(f"| {r['name']} | {cell('throughput_mibps')} | {cell('setup_rate')} | {cell('p50_us')} | "
              f"{cell('p99_us')} | {cell('cpu_us_per_connect')} | {cell('cpu_s_per_gib', '{:.2f}')} | {cell('rss_idle_mib', '{:.1f}')} | "
              f"{cell('rss_tunnels_mib', '{:.1f}')} |")
    paddock, direct = by["paddock"], by["direct"]
    print()
    for base in ["tinyproxy", "squid", "nio-minimal"]:
        if base not in by:
            continue
        other = by[base]
        if base == "nio-minimal":
            print(f"paddock / nio-minimal: setup rate {paddock['setup_rate'] / other['setup_rate']:.2f}x")
            continue
        print(f"paddock / {base}: throughput {paddock['throughput_mibps'] / other['throughput_mibps']:.2f}x, "
              f"setup rate {paddock['setup_rate'] / other['setup_rate']:.2f}x, "
              f"CPU per GiB {paddock['cpu_s_per_gib'] / other['cpu_s_per_gib']:.2f}x")
    print(f"paddock / direct: throughput {paddock['throughput_mibps'] / direct['throughput_mibps']:.2f}x; "
          f"added p99 to 200: {(paddock['p99_us'] - direct['p99_us']) / 1000:.3f} ms")
    goals = {
        "throughput >= 1.0x both": all(paddock["throughput_mibps"] >= by[b]["throughput_mibps"] for b in ["tinyproxy", "squid"]),
        "setup rate >= 1.0x both": all(paddock["setup_rate"] >= by[b]["setup_rate"] for b in ["tinyproxy", "squid"]),
        "added p99 < 1 ms": paddock["p99_us"] - direct["p99_us"] < 1000,
        "idle RSS < 32 MiB": paddock["rss_idle_mib"] < 32,
        "1000 tunnels RSS < 100 MiB": paddock["rss_tunnels_mib"] < 100,
    }
    for goal, met in goals.items():
        print(f"goal {goal}: {'met' if met else 'MISSED'}")
    os.makedirs("bench/out", exist_ok=True)
    with open("bench/out/gateway.json", "w") as file:
        json.dump({"results": results, "goals": goals, "args": vars(args)}, file, indent=2)


if __name__ == "__main__":
    sys.exit(main())
