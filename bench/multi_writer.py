"""Writers on one ordered log, and what the durable 202 costs an HTTP post.

(a) Multi-writer: W = 1, 2, 4 writer processes (standing in for W workers or hosts) each
    call ``chat.realtime.processor.store_batch`` in a loop on one PostgreSQL database,
    with batches of the size the processor forms under load, for the same wall time. Every
    batch takes its places from the one ``message_seq`` counter row, which stays locked
    until its commit, so the writers queue on that row. Reported: commits/s, messages/s,
    and the p50/p99 lock wait: the duration of each ``UPDATE counters ... RETURNING``
    statement (timed by SQLAlchemy cursor events in the writer; with one writer it is the
    bare statement cost, above that it includes waiting for the other writers' commits),
    plus the p99 of a whole batch transaction.

(b) Ingest over HTTP: 16 concurrent posters (kept-alive connections of bench/rawpost.py;
    one requests thread each with --client requests) post to
    `general` on a real gunicorn+gevent server (one worker) for a fixed time. Reported:
    POST p50/p99 and ingest msgs/s, where ingest counts from the first post until the
    last accepted message is in the database (a 202 that is not yet stored has not been
    ingested). ``--before-commit REV`` also runs (b) on another revision -- by default the
    last commit before the durable 202 -- checked out into a temporary git worktree that
    is removed afterwards, with its own migrations, for a before/after table. With
    --noop, each round also runs the same posters against a Flask route that does
    nothing (bench/noop_app.py) on the same gunicorn + gevent settings: the floor any
    route of this stack pays.

    .venv/bin/python bench/multi_writer.py [--writers 1,2,4] [--seconds 8] [--batch 8]
        [--posters 16] [--post-seconds 15] [--before-commit fd8b30d] [--rounds 2]
        [--noop] [--client raw|requests] [--skip-writers] [--skip-ingest]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import benchlib  # also puts the repo root on sys.path

BEFORE_DURABLE = "fd8b30d"  # parent of b6152a9, "durable 202 by group commit"


# -- (a) writers on the counter row ------------------------------------------------------------

def _writer(url, users, room, batch, start_at, seconds, index, out, release):
    """One writer process: store batches until the deadline; send timings back."""
    from sqlalchemy import create_engine, event

    from chat.models import isoformat, utcnow
    from chat.realtime.batch_store import store_batch

    engine = create_engine(url, pool_size=1, max_overflow=0)
    lock_waits = []
    started = {}

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE COUNTERS"):
            started[id(cursor)] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        t = started.pop(id(cursor), None)
        if t is not None:
            lock_waits.append(time.perf_counter() - t)

    with engine.connect() as conn:  # open the connection before the clock starts
        conn.exec_driver_sql("SELECT 1")
    text = "lorem ipsum dolor sit amet " * 3
    txn_times = []
    messages = 0
    while time.time() < start_at:
        time.sleep(0.001)
    began = time.time()
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        now = utcnow()
        rows = []
        for _ in range(batch):
            rows.append({"id": str(uuid.uuid4()), "user": users[n % len(users)], "room": room,
                         "message": f"w{index} {n} {text}", "created_at": isoformat(now),
                         "created_at_dt": now, "accepted_at": time.time()})
            n += 1
        t0 = time.perf_counter()
        stored = store_batch(engine, rows)
        txn_times.append(time.perf_counter() - t0)
        messages += len(stored.new)
    out.put({"commits": len(txn_times), "messages": messages, "lock_waits": lock_waits,
             "txn": txn_times, "began": began, "ended": time.time()})
    release.wait(60)  # keep the backend until the parent has read its CPU time
    engine.dispose()


def run_writers(url, counts, seconds, batch):
    from processor_throughput import in_child, setup_fixtures

    users, room = in_child(setup_fixtures, url, 20)  # through the app's own code
    dbname = url.rsplit("/", 1)[1]
    ctx = mp.get_context("spawn")
    results = []
    for w in counts:
        out, release = ctx.Queue(), ctx.Event()
        start_at = time.time() + 6.0  # every child imported and connected by then
        procs = [ctx.Process(target=_writer,
                             args=(url, users, room, batch, start_at, seconds, i, out, release))
                 for i in range(w)]
        for p in procs:
            p.start()
        while time.time() < start_at:
            time.sleep(0.01)
        meter = benchlib.CPUMeter({f"writer {i}": p.pid for i, p in enumerate(procs)},
                                  dbname).start()
        parts = [out.get(timeout=seconds + 60) for _ in procs]
        meter.stop()
        release.set()
        for p in procs:
            p.join(30)
        waits = sorted(x for p in parts for x in p["lock_waits"])
        txns = sorted(x for p in parts for x in p["txn"])
        commits = sum(p["commits"] for p in parts)
        messages = sum(p["messages"] for p in parts)
        # Rates over the span from the first writer's start to the last one's end; the
        # overlap (all W writing at once) shows whether a late start diluted them.
        span = max(p["ended"] for p in parts) - min(p["began"] for p in parts)
        overlap = min(p["ended"] for p in parts) - max(p["began"] for p in parts)
        r = {"writers": w, "commits": commits, "messages": messages, "span": span,
             "overlap": overlap / span,
             "commits_s": commits / span, "msgs_s": messages / span,
             "wait_p50": benchlib.percentile(waits, 50) * 1e3,
             "wait_p99": benchlib.percentile(waits, 99) * 1e3,
             "txn_p50": benchlib.percentile(txns, 50) * 1e3,
             "txn_p99": benchlib.percentile(txns, 99) * 1e3,
             "pg_cores": meter.result["cpu"].get("postgres backends", 0.0) / meter.result["wall"],
             "writer_cores": sum(v for k, v in meter.result["cpu"].items()
                                 if k.startswith("writer")) / meter.result["wall"],
             "other": meter.result["other"] / meter.result["wall"]}
        results.append(r)
        print(f"W={w}: {r['commits_s']:,.0f} commits/s, {r['msgs_s']:,.0f} msgs/s, lock wait "
              f"p50 {r['wait_p50']:.2f} ms p99 {r['wait_p99']:.2f} ms; "
              f"{meter.describe()}", flush=True)
    return results


# -- (b) ingest over HTTP ------------------------------------------------------------------------

def _stored_count(url):
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM messages")
            return cur.fetchone()[0]
    finally:
        conn.close()


def run_ingest(label, source_dir, posters, seconds, client):
    """(b) on the source tree ``source_dir``: its own scratch database and migrations."""
    from tests.support.server import (
        create_postgres_database,
        drop_postgres_database,
        migrate,
    )

    url = create_postgres_database("chat_bench_ingest")
    try:
        migrate({"DATABASE_URL": url, "PASSWORD_HASH_METHOD": benchlib.CHEAP_HASH},
                cwd=source_dir)
        # The older gunicorn.conf.py does not create a given metrics directory itself.
        env = {"CHAT_RATE_LIMIT": "100000/second", "WEB_CONCURRENCY": "1",
               "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="chat-bench-metrics-")}
        with benchlib.running_server(url, env, cwd=source_dir) as server:
            accounts = benchlib.create_accounts(server.api, posters, f"ing{label[:3]}_")
            room = benchlib.general_room_id(server.api, accounts[0][1])
            base = _stored_count(url)
            worker = benchlib.worker_pid(server.pid)
            run = _post_for(f"{server.api}/rooms/{room}/messages", server.api + "/rooms",
                            [token for _, token in accounts], seconds, worker,
                            url.rsplit("/", 1)[1], client)
            accepted = run.statuses.get(202, 0)
            while _stored_count(url) - base < accepted:  # "before": still being stored
                if time.perf_counter() - run.started > seconds + 120:
                    raise RuntimeError("accepted messages never all stored")
                time.sleep(0.01)
            ingested_in = time.perf_counter() - run.started
            run.meter.stop()
    finally:
        drop_postgres_database(url)
    return _ingest_row(label, run, accepted, ingested_in)


class _PostRun:
    """What `_post_for` measured."""

    def __init__(self):
        self.latencies, self.statuses = [], {}
        self.started = self.posted_for = None
        self.meter = None


def _post_for(target, warm_url, tokens, seconds, worker, dbname, client):
    """One connection per token posts to `target` one message after another for
    `seconds` (`client` "raw": bench/rawpost.py; "requests": one requests thread each); the
    meter (worker CPU) is still running when this returns."""
    if client == "raw":
        return _raw_post_for(target, tokens, seconds, worker, dbname)
    import requests

    run, lock = _PostRun(), threading.Lock()
    barrier = threading.Barrier(len(tokens) + 1)
    stop_at = [0.0]

    def post(token):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        session.get(warm_url, timeout=30)  # open the connection
        mine = []
        barrier.wait()
        i = 0
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            r = session.post(target, json={"message": f"ingest {i}"}, timeout=30)
            mine.append(time.perf_counter() - t0)
            with lock:
                run.statuses[r.status_code] = run.statuses.get(r.status_code, 0) + 1
            i += 1
        with lock:
            run.latencies.extend(mine)
        session.close()

    threads = [threading.Thread(target=post, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    run.meter = benchlib.CPUMeter({"server worker": worker, "posters (this process)": "self"},
                                  dbname)
    stop_at[0] = time.perf_counter() + seconds
    run.meter.start()
    run.started = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    run.posted_for = time.perf_counter() - run.started
    run.latencies.sort()
    return run


def _raw_post_for(target, tokens, seconds, worker, dbname):
    import rawpost

    run = _PostRun()

    def start():
        run.meter = benchlib.CPUMeter({"server worker": worker,
                                       "posters (this process)": "self"}, dbname).start()
        run.started = time.perf_counter()

    run.latencies, run.statuses, run.posted_for = rawpost.closed_loop(
        target, tokens, seconds, on_start=start)
    return run


def run_noop(posters, seconds, client):
    """The same posters against the no-op route (benchlib.noop_server)."""
    with benchlib.noop_server() as (port, worker):
        base = f"http://127.0.0.1:{port}"
        run = _post_for(base + "/noop", base + "/noop", ["x"] * posters, seconds, worker,
                        None, client)
        run.meter.stop()
    return _ingest_row("no-op Flask route", run, run.statuses.get(202, 0), run.posted_for)


def _ingest_row(label, run, accepted, ingested_in):
    latencies, meter, posted_for = run.latencies, run.meter, run.posted_for
    return {"label": label, "posts": len(latencies), "accepted": accepted,
            "statuses": run.statuses, "post_rate": len(latencies) / posted_for,
            "ingest": accepted / ingested_in, "drain": ingested_in - posted_for,
            "p50": benchlib.percentile(latencies, 50) * 1e3,
            "p99": benchlib.percentile(latencies, 99) * 1e3,
            "cpu": meter.describe(),
            "worker_cores": meter.result["cpu"]["server worker"] / meter.result["wall"],
            "client_cores": meter.result["cpu"]["posters (this process)"] / meter.result["wall"],
            # CPU per post changes much less with background load than wall-clock rates.
            "worker_ms": 1e3 * meter.result["cpu"]["server worker"] / max(1, len(latencies)),
            # (not in the table: the pool replaces overflow connections, whose CPU is lost)
            "pg_cores": meter.result["cpu"].get("postgres backends", 0) / meter.result["wall"],
            "other": meter.result["other"] / meter.result["wall"]}


@contextlib.contextmanager
def temporary_worktree(rev):
    """``git worktree add`` of ``rev`` under /tmp, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="chat-before-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(path), rev],
                   cwd=benchlib.REPO_ROOT, check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)],
                       cwd=benchlib.REPO_ROOT, check=False, capture_output=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", default="1,2,4")
    parser.add_argument("--seconds", type=float, default=8.0, help="per writer count")
    parser.add_argument("--batch", type=int, default=8,
                        help="messages per batch (16 durable posters on one to four "
                             "workers make batches of about 4-16)")
    parser.add_argument("--posters", type=int, default=16)
    parser.add_argument("--post-seconds", type=float, default=15.0)
    parser.add_argument("--before-commit", default=BEFORE_DURABLE,
                        help="revision for the 'before' ingest run ('' to skip)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="ingest runs of each server, alternating before/after")
    parser.add_argument("--noop", action="store_true",
                        help="also run the posters against a no-op Flask route each round")
    parser.add_argument("--client", choices=("raw", "requests"), default="raw",
                        help="(b)'s posters: bench/rawpost.py (asyncio, lean) or one "
                             "requests thread each, for comparison")
    parser.add_argument("--skip-writers", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args()
    benchlib.exit_on_sigterm()
    benchlib.raise_nofile()
    benchlib.print_machine()
    print(f"load average at start: {benchlib.load_average()}")

    writers = []
    if not args.skip_writers:
        with benchlib.scratch_database("chat_bench_writers") as url:
            url = url.replace("postgresql://", "postgresql+psycopg2://", 1)
            writers = run_writers(url, [int(w) for w in args.writers.split(",")],
                                  args.seconds, args.batch)
    ingest = []
    if not args.skip_ingest:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=benchlib.REPO_ROOT,
                              capture_output=True, text=True).stdout.strip()
        with contextlib.ExitStack() as stack:
            trees = []
            if args.before_commit:
                tree = stack.enter_context(temporary_worktree(args.before_commit))
                trees.append((f"before ({args.before_commit})", tree))
            trees.append((f"after ({head})", benchlib.REPO_ROOT))
            for round_ in range(1, args.rounds + 1):
                if args.noop:
                    ingest.append(run_noop(args.posters, args.post_seconds, args.client))
                    ingest[-1]["label"] += f" #{round_}"
                for label, tree in trees:  # alternating: background load hits both
                    ingest.append(run_ingest(f"{label} #{round_}", tree, args.posters,
                                             args.post_seconds, args.client))
                    print(f"{ingest[-1]['label']}: p50 {ingest[-1]['p50']:.1f} ms, "
                          f"{ingest[-1]['ingest']:,.0f} msgs/s; {ingest[-1]['cpu']}",
                          flush=True)

    if writers:
        print()
        print(f"(a) writers on one counter row: store_batch of {args.batch} messages, "
              f"{args.seconds:g} s each")
        print(benchlib.table(
            ["writers", "commits", "all writing", "commits/s", "msgs/s", "lock wait p50 ms",
             "lock wait p99 ms", "txn p50 ms", "txn p99 ms", "writers' cores", "PG cores",
             "other load"],
            [[r["writers"], r["commits"], f"{100 * r['overlap']:.0f}%",
              f"{r['commits_s']:,.0f}", f"{r['msgs_s']:,.0f}",
              f"{r['wait_p50']:.2f}", f"{r['wait_p99']:.2f}", f"{r['txn_p50']:.2f}",
              f"{r['txn_p99']:.2f}", f"{r['writer_cores']:.2f}", f"{r['pg_cores']:.2f}",
              f"{r['other']:.2f}"]
             for r in writers]))
    if ingest:
        print()
        print(f"(b) ingest: {args.posters} concurrent posters, {args.post_seconds:g} s, "
              "one gevent worker")
        print(benchlib.table(
            ["server", "posts", "202", "POST p50 ms", "POST p99 ms", "posts/s",
             "ingest msgs/s", "drain after last post s", "worker CPU ms/post", "worker cores",
             "client cores", "other load", "statuses"],
            [[r["label"], r["posts"], r["accepted"], f"{r['p50']:.1f}", f"{r['p99']:.1f}",
              f"{r['post_rate']:,.0f}", f"{r['ingest']:,.0f}", f"{r['drain']:.2f}",
              f"{r['worker_ms']:.2f}", f"{r['worker_cores']:.2f}", f"{r['client_cores']:.2f}",
              f"{r['other']:.2f}",
              r["statuses"]] for r in ingest]))
    print(f"machine: {os.cpu_count()} cores; load average at end {benchlib.load_average()}")


if __name__ == "__main__":
    main()
