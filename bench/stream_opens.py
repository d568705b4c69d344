"""Stream opens per second: how fast one gunicorn+gevent worker opens SSE streams, and
whether the server or this client is the limit.

A real server (one worker) on a scratch PostgreSQL database, with a few accounts (default
10) allowed enough streams each. For each (client processes, concurrency) pair, every
client process opens its share of `--streams` streams (each waits for `ready`), all
starting at one instant, with `--concurrency` subscribe requests in flight per process;
then every stream is closed and the worker left to settle. Reported per run: opens per
second (all streams over the slowest process's time), the CPU per open of the worker,
of the client processes and of this database's PostgreSQL backends, and the load. With
--noop each round starts with the floor: the no-op Flask route (benchlib.noop_server)
answering the same number of requests, each on a new connection, at each concurrency.

    .venv/bin/python bench/stream_opens.py [--streams 5000] [--clients 1,2]
        [--concurrency 20,100] [--users 10] [--rounds 1] [--server-dir DIR [DIR ...]] [--noop]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time

import benchlib
import rawpost
from benchlib import CPUMeter, SSEGroup, table


def _client(pipe, port, accounts, concurrency):
    """Child process: on ("open",) opens one stream per account entry, reports
    ("opened", ok, errors, seconds, cpu seconds), then closes them on ("close",)."""
    benchlib.raise_nofile()

    async def main():
        loop = asyncio.get_running_loop()
        group = SSEGroup("127.0.0.1", port)
        pipe.send(("waiting",))
        await loop.run_in_executor(None, pipe.recv)
        cpu0, t0 = benchlib._cpu_self(), time.monotonic()
        errors = await group.open(accounts, concurrency=concurrency, timeout=120)
        seconds = time.monotonic() - t0
        pipe.send(("opened", len(group.conns), [repr(e) for e in errors[:3]], seconds,
                   benchlib._cpu_self() - cpu0))
        await loop.run_in_executor(None, pipe.recv)
        group.close()
        await asyncio.sleep(0.2)
        pipe.send(("closed",))

    asyncio.run(main())


def one_run(server, worker, dbname, accounts, streams, clients, concurrency):
    ctx = mp.get_context("spawn")
    todo = [accounts[i % len(accounts)] for i in range(streams)]
    procs = []
    for share in (todo[i::clients] for i in range(clients)):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_client, args=(child, server.port, share, concurrency),
                           daemon=True)
        proc.start()
        procs.append((proc, parent))
    try:
        for _, pipe in procs:
            assert pipe.recv() == ("waiting",)
        meter = CPUMeter({"worker": worker, **{f"client {i}": p.pid
                                              for i, (p, _) in enumerate(procs)}},
                         dbname).start()
        for _, pipe in procs:
            pipe.send(("open",))
        results = [pipe.recv() for _, pipe in procs]
        meter.stop()
        opened = sum(r[1] for r in results)
        errors = [e for r in results for e in r[2]]
        seconds = max(r[3] for r in results)
        cpu = meter.result["cpu"]
        client_cpu = sum(r[4] for r in results)  # the opening itself, per process
        for _, pipe in procs:
            pipe.send(("close",))
        for _, pipe in procs:
            pipe.recv()
    finally:
        for proc, _ in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    return {"opened": opened, "errors": errors, "rate": opened / seconds,
            "worker_ms": 1000 * cpu["worker"] / max(1, opened),
            "worker_cores": cpu["worker"] / meter.result["wall"],
            "client_ms": 1000 * client_cpu / max(1, opened),
            "client_cores": client_cpu / seconds / clients,
            "pg_ms": 1000 * cpu["postgres backends"] / max(1, opened),
            "other": meter.result["other"] / meter.result["wall"],
            "load": meter.result["load"]}


def noop_run(streams, concurrency, round_):
    """The floor of an open: `streams` POSTs to the no-op route, each on a new connection
    closed after its answer, `concurrency` in flight (one asyncio client, this process).
    Returns a row of the results table."""

    async def one(port, slots):
        async with slots:
            conn = await rawpost.RawConnection.open("127.0.0.1", port, token="-")
            status, answer = await conn.post("/noop", b'{"message": "x"}')
            conn.close()
            if status != 202:
                raise RuntimeError(f"the no-op route answered {status}: {answer[:40]!r}")

    async def run_all(port):
        slots = asyncio.Semaphore(concurrency)
        await asyncio.gather(*(one(port, slots) for _ in range(streams)))

    with benchlib.noop_server() as (port, worker):
        asyncio.run(run_all(port))  # warm-up
        meter = CPUMeter({"worker": worker, "client": "self"}, None).start()
        t0 = time.monotonic()
        asyncio.run(run_all(port))
        seconds = time.monotonic() - t0
        meter.stop()
    cpu, wall = meter.result["cpu"], meter.result["wall"]
    return ["no-op route, a connection each", round_, 1, concurrency, streams,
            f"{streams / seconds:,.0f}/s", f"{1000 * cpu['worker'] / streams:.2f}",
            f"{cpu['worker'] / wall:.2f}", f"{1000 * cpu['client'] / streams:.2f}",
            f"{cpu['client'] / wall:.2f}", "-", f"{meter.result['other'] / wall:.2f}",
            meter.result["load"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=5000, help="streams opened per run")
    parser.add_argument("--clients", default="1,2", help="client processes, one run each")
    parser.add_argument("--concurrency", default="20,100",
                        help="subscribe requests in flight per client process")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every run this often, alternating the trees")
    parser.add_argument("--server-dir", nargs="+", default=[None],
                        help="source trees to run the server from, alternating (A/B)")
    parser.add_argument("--noop", action="store_true",
                        help="each round, also the no-op Flask route on a new connection "
                             "per request: the floor of an open on this stack")
    args = parser.parse_args()
    benchlib.exit_on_sigterm()
    benchlib.raise_nofile()
    benchlib.print_machine()
    env = {"CHAT_MAX_STREAMS_PER_USER": str(-(-args.streams // args.users) + 20),
           "GUNICORN_WORKER_CONNECTIONS": str(max(10000, args.streams + 1000))}
    pairs = [(int(c), int(k)) for c in args.clients.split(",")
             for k in args.concurrency.split(",")]
    rows = []
    for round_ in range(1, args.rounds + 1):
        if args.noop:
            for concurrency in sorted({k for _, k in pairs}):
                rows.append(noop_run(args.streams, concurrency, round_))
                print(" | ".join(str(c) for c in rows[-1]), flush=True)
        for tree in args.server_dir:
            with benchlib.scratch_database("chat_bench_opens") as url, \
                    benchlib.running_server(url, env, tree) as server:
                worker = benchlib.worker_pid(server.pid)
                accounts = benchlib.create_accounts(server.api, args.users, "opens")
                one_run(server, worker, url.rsplit("/", 1)[1], accounts,
                        min(200, args.streams), 1, 10)  # warm-up: pool, lazy imports
                time.sleep(2)
                for clients, concurrency in pairs:
                    r = one_run(server, worker, url.rsplit("/", 1)[1], accounts,
                                args.streams, clients, concurrency)
                    if r["errors"]:
                        print(f"  errors: {r['errors']}")
                    rows.append([tree or "this tree", round_, clients, concurrency,
                                 r["opened"], f"{r['rate']:,.0f}/s", f"{r['worker_ms']:.2f}",
                                 f"{r['worker_cores']:.2f}", f"{r['client_ms']:.2f}",
                                 f"{r['client_cores']:.2f}", f"{r['pg_ms']:.2f}",
                                 f"{r['other']:.2f}", r["load"]])
                    print(" | ".join(str(c) for c in rows[-1]), flush=True)
                    time.sleep(3)  # the closed streams' presence grace and hang-ups
    print()
    print(f"Stream opens ({args.users} accounts, {args.streams} streams per run)")
    print(table(["tree", "round", "client procs", "in flight per proc", "opened", "opens/s",
                 "worker ms/open", "worker cores", "client ms/open",
                 "client cores per proc", "pg ms/open", "other cores", "load avg"], rows))


if __name__ == "__main__":
    main()
