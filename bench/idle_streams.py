"""Idle streams: how many open SSE streams one gunicorn+gevent worker holds, and its
resident memory per stream.

A real server (one worker) on a scratch PostgreSQL database, CHAT_KEEPALIVE_SECONDS=5 and
CHAT_MAX_STREAMS_PER_USER raised so a few accounts (default 10) can hold every stream.
Streams are opened in steps (default 1,000, 2,000, 5,000 open in total); after each step
the worker's VmRSS (/proc/<worker>/status; the worker is the gunicorn master's child) is
read once the connect traffic has settled. At the last step it then checks, over 2.5
keepalive periods, that every stream still receives `: keepalive` comments, measures the
worker's CPU while idle, and posts one message to time its delivery to every stream.

    .venv/bin/python bench/idle_streams.py [--steps 1000,2000,5000] [--users 10]
        [--keepalive 5] [--concurrency 20] [--open-budget 120] [--server-dir DIR]
        [--keep-db]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

import benchlib
from benchlib import CPUMeter, SSEGroup, table


def metric(api, name):
    import requests

    for line in requests.get(api + "/metrics", timeout=10).text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return None


async def run(server, worker, accounts, steps, keepalive, dbname, concurrency, budget):
    import requests

    loop = asyncio.get_running_loop()
    group = SSEGroup("127.0.0.1", server.port)
    rows = []

    # Warm-up: the first streams pay for lazy imports and pool connections, not per stream.
    warm = SSEGroup("127.0.0.1", server.port)
    await warm.open(accounts[:10])
    warm.close()
    await asyncio.sleep(2)
    base = benchlib.rss_kib(worker)
    rows.append([0, f"{base / 1024:.1f}", "-", "-", "-", "-"])
    print(f"worker {worker}: baseline RSS {base / 1024:.1f} MiB", flush=True)

    opened = 0
    prev_rss = base
    deadline = time.monotonic() + budget
    for target in steps:
        todo = [accounts[i % len(accounts)] for i in range(opened, target)]
        t0 = time.monotonic()
        errors = await group.open(todo, concurrency=concurrency, timeout=120,
                                  deadline=deadline)
        took = time.monotonic() - t0
        skipped = sum(1 for e in errors if isinstance(e, TimeoutError)
                      and "budget" in str(e))
        failed = len(errors) - skipped
        if failed:
            print(f"  {failed} streams failed to open, e.g. "
                  f"{next(e for e in errors if 'budget' not in str(e))!r}")
        todo = todo[:len(todo) - len(errors)]
        opened = len(group.conns)
        await group.quiet(1.0)
        await asyncio.sleep(1.0)
        rss = benchlib.rss_kib(worker)
        server_open = await loop.run_in_executor(None, metric, server.api, "chat_open_streams")
        per_stream = (rss - base) / max(1, opened)
        step_per = (rss - prev_rss) / max(1, len(todo))
        prev_rss = rss
        rows.append([opened, f"{rss / 1024:.1f}", f"{(rss - base) / 1024:.1f}",
                     f"{per_stream:.1f}", f"{step_per:.1f}",
                     f"{len(todo) / took:,.0f}/s"])
        print(f"  {opened} open (server says {server_open:.0f}), RSS {rss / 1024:.1f} MiB, "
              f"{per_stream:.1f} KiB/stream overall; opened at {len(todo) / took:,.0f}/s",
              flush=True)
        if skipped:
            print(f"  opening budget ({budget:.0f} s) used up: stopped at {opened} streams "
                  f"instead of {target}")
            break

    # Keepalives at the largest step, and the worker's idle CPU meanwhile.
    for c in group.conns:
        c.keepalives = 0
        c.keepalive_times = []
    window = 2.5 * keepalive
    meter = CPUMeter({"server worker": worker, "client (this proc)": "self"}, dbname).start()
    await asyncio.sleep(window)
    meter.stop()
    live = [c for c in group.conns if not c.closed]
    counts = sorted(c.keepalives for c in live)
    gaps = []
    for c in live:
        ts = c.keepalive_times
        gaps += [b - a for a, b in itertools.pairwise(ts)]
    gaps.sort()
    keep = {
        "window": window, "streams": len(group.conns), "live": len(live),
        "with_2": sum(1 for k in counts if k >= 2), "with_0": sum(1 for k in counts if k == 0),
        "min": counts[0] if counts else 0, "max": counts[-1] if counts else 0,
        "gap_p50": benchlib.percentile(gaps, 50), "gap_max": gaps[-1] if gaps else float("nan"),
        "cpu": meter.describe(), "worker_cpu": meter.result["cpu"]["server worker"] / window,
    }

    # One message to every idle stream.
    _, token = accounts[0]
    room = benchlib.general_room_id(server.api, token)
    group.expect(1, record=False)
    t0 = time.monotonic()
    r = await loop.run_in_executor(None, lambda: requests.post(
        f"{server.api}/rooms/{room}/messages", json={"message": "wake up"},
        headers={"Authorization": f"Bearer {token}"}, timeout=10))
    assert r.status_code == 202, r.text
    done = await group.wait_done(60)
    keep["delivery"] = (group.last_msg - t0, group.msgs, done)

    group.close()
    await asyncio.sleep(3)
    keep["rss_after_close"] = benchlib.rss_kib(worker)
    return rows, keep


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="1000,2000,5000",
                        help="total open streams after each step")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--keepalive", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=20,
                        help="subscribe requests in flight while opening (the server's "
                             "database pool is 10 + 20 overflow)")
    parser.add_argument("--open-budget", type=float, default=120,
                        help="seconds allowed for opening streams in all; the run stops "
                             "at the step it reached (keeps the benchmark bounded)")
    parser.add_argument("--server-dir", help="run the server from this source tree instead "
                        "(gunicorn.conf.py, wsgi.py, chat/), e.g. a patched copy")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    benchlib.exit_on_sigterm()
    steps = [int(s) for s in args.steps.split(",")]

    limits = benchlib.raise_nofile()
    benchlib.print_machine()
    print(f"RLIMIT_NOFILE {limits[0]} (this client and, inherited, the server)")
    if limits[0] < max(steps) + 200:
        raise SystemExit(f"RLIMIT_NOFILE {limits[0]} is too low for {max(steps)} streams")
    per_user = -(-max(steps) // args.users) + 20
    env = {"CHAT_KEEPALIVE_SECONDS": str(args.keepalive),
           "CHAT_MAX_STREAMS_PER_USER": str(per_user),
           "GUNICORN_WORKER_CONNECTIONS": str(max(10000, max(steps) + 1000))}
    t_start = time.monotonic()
    with benchlib.scratch_database("chat_bench_idle", keep=args.keep_db) as url, \
            benchlib.running_server(url, env, args.server_dir) as server:
        worker = benchlib.worker_pid(server.pid)
        accounts = benchlib.create_accounts(server.api, args.users, "idle")
        print(f"server env: {env}")
        rows, keep = asyncio.run(run(server, worker, accounts, steps, args.keepalive,
                                     url.rsplit("/", 1)[1], args.concurrency,
                                     args.open_budget))

    print()
    print(f"Idle streams on one worker ({args.users} accounts, keepalive {args.keepalive:g} s)")
    print(table(["open streams", "worker RSS MiB", "Δ RSS MiB", "KiB/stream (vs 0)",
                 "KiB/stream (this step)", "open rate"], rows))
    print()
    print(f"keepalives over {keep['window']:.1f} s with {keep['streams']} streams open: "
          f"{keep['live']} still open, {keep['with_2']} got ≥2 keepalives, {keep['with_0']} "
          f"got none (per stream min {keep['min']}, max {keep['max']}); gap between "
          f"keepalives p50 {keep['gap_p50']:.2f} s, max {keep['gap_max']:.2f} s")
    print(keep["cpu"])
    took, got, done = keep["delivery"]
    print(f"one message to all idle streams: {got}/{keep['streams']} received, last after "
          f"{took * 1000:.0f} ms{'' if done else ' (INCOMPLETE)'}")
    print(f"worker RSS 3 s after closing every stream: {keep['rss_after_close'] / 1024:.1f} MiB")
    print(f"total wall time {time.monotonic() - t_start:.0f} s")


if __name__ == "__main__":
    main()
