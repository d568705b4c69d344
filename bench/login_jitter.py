"""Login jitter: how much sign-ins with the real password hash (scrypt, ~80 ms of CPU each)
delay everything else one gunicorn+gevent worker does, measured as the lateness of the
keepalive comments of many idle streams.

A real server (one worker) on a scratch PostgreSQL database with the default
PASSWORD_HASH_METHOD (scrypt) and CHAT_KEEPALIVE_SECONDS=1. It opens --streams idle
streams (spread over --users accounts), then:

1. idle: --seconds of nothing but keepalives;
2. logins: --seconds while sign-ins arrive at --rate per second (open loop: on schedule,
   whatever the answers), each on a new connection.

For every stream, each gap between two keepalives minus the 1 s period is one "lateness"
sample: a worker whose event loop is blocked (hashing on the loop) sends them late. Printed
per phase: lateness p50 / p99 / max, the share of gaps over 100 ms, and the sign-ins'
latency and completion.

    .venv/bin/python bench/login_jitter.py [--streams 1000] [--users 10] [--rate 20]
        [--seconds 15] [--tree DIR]

--tree runs another source tree (e.g. an export of an older commit:
`git archive COMMIT | tar -x -C DIR`) to compare before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import benchlib
from benchlib import CPUMeter, SSEGroup, table

KEEPALIVE = 1.0


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def lateness(group, start, end):
    """Keepalive gaps (minus the period) of every stream, for gaps ending in [start, end)."""
    out = []
    for conn in group.conns:
        times = conn.keepalive_times
        for a, b in zip(times, times[1:]):
            if start <= b < end and a >= start - 2 * KEEPALIVE:
                out.append(max(0.0, b - a - KEEPALIVE))
    return out


def drive_logins(api, name, rate, seconds):
    """Sign-ins on schedule (rate/s) for `seconds`; returns (latencies, failures, late)."""
    import requests

    latencies, failures = [], []
    lock = threading.Lock()

    def one():
        t0 = time.monotonic()
        try:
            r = requests.post(f"{api}/sessions", json={"name": name,
                                                        "password": benchlib.PASSWORD},
                              headers={"Connection": "close"}, timeout=60)
            ok = r.status_code == 201
        except Exception as exc:  # noqa: BLE001 - counted, reported
            ok, r = False, exc
        with lock:
            (latencies if ok else failures).append(time.monotonic() - t0)

    total = int(rate * seconds)
    with ThreadPoolExecutor(max_workers=min(200, total)) as pool:
        t0 = time.monotonic()
        for i in range(total):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one)
    return latencies, failures


async def run(server, accounts, login_name, streams, rate, seconds):
    loop = asyncio.get_running_loop()
    group = SSEGroup("127.0.0.1", server.port)
    todo = [accounts[i % len(accounts)] for i in range(streams)]
    t0 = time.monotonic()
    errors = await group.open(todo, concurrency=20, timeout=120)
    print(f"opened {len(group.conns)} streams in {time.monotonic() - t0:.1f}s "
          f"({len(errors)} errors)", flush=True)
    await group.quiet(1.0)
    await asyncio.sleep(2 * KEEPALIVE)
    worker = benchlib.worker_pid(server.pid)
    rows = []

    start = time.monotonic()
    meter = CPUMeter({"worker": worker}).start()
    await asyncio.sleep(seconds)
    meter.stop()
    idle = lateness(group, start, time.monotonic())
    rows.append(["idle", *summary(idle), "-", "-", "-", meter_cpu(meter)])

    start = time.monotonic()
    meter = CPUMeter({"worker": worker}).start()
    latencies, failures = await loop.run_in_executor(
        None, drive_logins, server.api, login_name, rate, seconds)
    meter.stop()
    busy = lateness(group, start, time.monotonic())
    done = len(latencies)
    rows.append([f"{rate:g} sign-ins/s", *summary(busy),
                 f"{done}/{done + len(failures)}",
                 f"{1000 * percentile(latencies, 0.5):.0f}",
                 f"{1000 * percentile(latencies, 0.99):.0f}", meter_cpu(meter)])
    alive = sum(1 for c in group.conns if not c.closed)
    group.close()
    print(f"streams still open at the end: {alive}/{len(group.conns)}")
    return rows


def summary(samples):
    if not samples:
        return ["-"] * 5
    over = sum(1 for s in samples if s > 0.1) / len(samples)
    return [str(len(samples)), f"{1000 * statistics.median(samples):.1f}",
            f"{1000 * percentile(samples, 0.99):.0f}", f"{1000 * max(samples):.0f}",
            f"{100 * over:.1f}%"]


def meter_cpu(meter):
    r = meter.result
    return f"{100 * r['cpu']['worker'] / r['wall']:.0f}%"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--tree", type=Path, default=None,
                        help="source tree to run (default: this repository)")
    args = parser.parse_args()
    benchlib.exit_on_sigterm()
    benchlib.raise_nofile()
    benchlib.print_machine()
    env = {"PASSWORD_HASH_METHOD": "scrypt", "CHAT_KEEPALIVE_SECONDS": str(KEEPALIVE),
           "CHAT_MAX_STREAMS_PER_USER": str(args.streams), "WEB_CONCURRENCY": "1"}
    with benchlib.scratch_database("chat_bench_login") as url, \
            benchlib.running_server(url, env, cwd=args.tree) as server:
        print(f"server: {args.tree or 'this tree'}, scrypt, {args.streams} streams, "
              f"{args.rate:g} sign-ins/s for {args.seconds:g}s", flush=True)
        accounts = benchlib.create_accounts(server.api, args.users + 1, "jit", threads=4)
        login_name = f"jit{args.users}"
        rows = asyncio.run(run(server, accounts[:args.users], login_name, args.streams,
                               args.rate, args.seconds))
    print(table(["phase", "gaps", "late p50 ms", "p99 ms", "max ms", "gaps >100 ms",
                 "sign-ins ok", "sign-in p50 ms", "p99 ms", "worker CPU"], rows))


if __name__ == "__main__":
    main()
