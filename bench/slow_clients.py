"""Slow clients: can connections that send their headers or their body a byte at a time
stop one gunicorn+gevent worker from serving everyone else?

A real server (one worker) on a scratch PostgreSQL database. An attacker process holds
`--headers` connections that send a request line and then one header byte per second,
and `--bodies` connections that send complete headers announcing a 1 KiB body and then
one body byte per second; whenever the server closes one, the attacker opens another at
once, so the pressure never lets up. Meanwhile a normal client signs in and asks
`/healthcheck` every 0.2 s. The script reports the normal client's latencies, the
worker's RSS before, during and after the attack, and how the server ended the slow
connections (408 answers, plain closes).

    .venv/bin/python bench/slow_clients.py [--headers 4000] [--bodies 4000] [--seconds 30]
        [--attacks 1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time

import benchlib
from benchlib import percentile, table

HEADER_START = b"GET /v1/chats/healthcheck HTTP/1.1\r\nHost: bench\r\nX-Slow: "
BODY_START = (b"POST /v1/chats/sessions HTTP/1.1\r\nHost: bench\r\n"
              b"Content-Type: application/json\r\nContent-Length: 1024\r\n\r\n{")


async def _slow_connection(port, start, stats, stop):
    """One slow client, reopened whenever the server ends it."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            stats["connect_failed"] += 1
            await asyncio.sleep(0.5)
            continue
        stats["opened"] += 1
        try:
            writer.write(start)
            while not stop.is_set():
                await writer.drain()
                try:
                    answer = await asyncio.wait_for(reader.read(64), 1.0)
                except asyncio.TimeoutError:
                    writer.write(b"a")  # one more byte, then wait again
                    continue
                stats["answered_408" if answer.startswith(b"HTTP/1.1 408") else
                      "closed" if not answer else "answered_other"] += 1
                break
        except (ConnectionError, OSError):
            stats["closed"] += 1
        finally:
            writer.close()


def attacker(port, headers, bodies, seconds, result):
    benchlib.raise_nofile()

    async def main():
        stop = asyncio.Event()
        stats = {"opened": 0, "connect_failed": 0, "answered_408": 0, "closed": 0,
                 "answered_other": 0}
        tasks = [asyncio.create_task(_slow_connection(port, HEADER_START, stats, stop))
                 for _ in range(headers)]
        tasks += [asyncio.create_task(_slow_connection(port, BODY_START, stats, stop))
                  for _ in range(bodies)]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        result.update(stats)

    asyncio.run(main())


def normal_client(api, name, seconds):
    import requests

    latencies = {"healthcheck": [], "sign-in": []}
    failures = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for what, call in (
                ("healthcheck", lambda: requests.get(f"{api}/healthcheck", timeout=20)),
                ("sign-in", lambda: requests.post(f"{api}/sessions", timeout=20, json={
                    "name": name, "password": benchlib.PASSWORD}))):
            started = time.perf_counter()
            try:
                ok = call().status_code in (200, 201)
            except requests.RequestException:
                ok = False
            if ok:
                latencies[what].append(time.perf_counter() - started)
            else:
                failures += 1
        time.sleep(0.2)
    return latencies, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--headers", type=int, default=4000)
    parser.add_argument("--bodies", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--attacks", type=int, default=1,
                        help="attacks one after the other on the same worker")
    args = parser.parse_args()
    benchlib.exit_on_sigterm()
    benchlib.raise_nofile()
    benchlib.print_machine()
    env = {"GUNICORN_WORKER_CONNECTIONS": str(args.headers + args.bodies + 1000)}
    with benchlib.scratch_database("chat_slow") as url, \
            benchlib.running_server(url, env) as server:
        api = server.api
        worker = benchlib.worker_pid(server.pid)
        benchlib.create_accounts(api, 1, "slow")
        account = "slow0"
        time.sleep(1)
        baseline = benchlib.rss_kib(worker)
        quiet, _ = normal_client(api, account, 3)
        manager = multiprocessing.Manager()
        during, failures, rss = [], 0, []
        for _ in range(args.attacks):
            result = manager.dict()
            attack = multiprocessing.Process(target=attacker, args=(
                server.port, args.headers, args.bodies, args.seconds, result))
            attack.start()
            time.sleep(min(5, args.seconds / 3))  # let the slow connections pile up
            latencies, failed = normal_client(api, account, args.seconds - 8)
            during.append(latencies)
            failures += failed
            peak = benchlib.rss_kib(worker)
            attack.join()
            time.sleep(3)
            after = benchlib.rss_kib(worker)
            time.sleep(12)  # the worker hands freed heap back every 10 s
            rss.append((peak, after, benchlib.rss_kib(worker)))
            stats = dict(result)

    def row(name, values):
        values = sorted(values)
        return [name, len(values), f"{percentile(values, 50) * 1000:.1f}",
                f"{percentile(values, 99) * 1000:.1f}", f"{values[-1] * 1000:.1f}"]

    print(f"\n{args.headers} slow-header + {args.bodies} slow-body connections, "
          f"{args.seconds:.0f} s, one worker")
    rows = [row("healthcheck, quiet", quiet["healthcheck"])]
    for n, latencies in enumerate(during, start=1):
        rows.append(row(f"healthcheck, attack {n}", latencies["healthcheck"]))
    rows.append(row("sign-in, quiet", quiet["sign-in"]))
    for n, latencies in enumerate(during, start=1):
        rows.append(row(f"sign-in, attack {n}", latencies["sign-in"]))
    print(table(["normal client", "requests", "p50 ms", "p99 ms", "max ms"], rows))
    print(f"normal requests that failed under attack: {failures}")
    print(f"slow connections (last attack): {stats}")
    print(f"worker RSS MiB: baseline {baseline / 1024:.1f}")
    for n, (peak, after, settled) in enumerate(rss, start=1):
        print(f"  attack {n}: under attack {peak / 1024:.1f}, 3 s after {after / 1024:.1f}, "
              f"15 s after {settled / 1024:.1f}")


if __name__ == "__main__":
    main()
