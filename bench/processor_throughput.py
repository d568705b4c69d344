"""Processor throughput: stored messages/s of chat/realtime/processor.py on PostgreSQL at
several batch caps (CHAT_BATCH_SIZE).

In-process, no HTTP: for each cap a fresh process and app (`create_app`) on one scratch database, its
processor started, then N message dicts -- built exactly as chat/api/messages.py builds
them -- submitted as fast as `submit()` takes them; the clock runs from the first submit
until `wait_idle()` returns (every message stored in one transaction per batch and
published to the hub, which has no streams here). The stored rows are counted afterwards.

    .venv/bin/python bench/processor_throughput.py [--caps 1,100,1000] [--messages 20000]
        [--messages-cap1 3000] [--users 50] [--length 80] [--keep-db]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

import benchlib  # also puts the repo root on sys.path


def build_messages(n, users, room, length):
    from chat.models import isoformat, utcnow

    text = ("lorem ipsum dolor sit amet " * (length // 27 + 1))[:length]
    out = []
    for i in range(n):
        now = utcnow()
        out.append({
            "id": str(uuid.uuid4()), "user": users[i % len(users)], "room": room,
            "message": f"{i} {text}", "created_at": isoformat(now),
            "created_at_dt": now, "accepted_at": time.time(),
        })
    return out


def setup_fixtures(url, n_users):
    """A public room and ``n_users`` members, created through the app's own code."""
    from chat import accounts, create_app
    from chat.extensions import db
    from chat.models import Membership, Room

    app = create_app({"SQLALCHEMY_DATABASE_URI": url,
                      "PASSWORD_HASH_METHOD": benchlib.CHEAP_HASH})
    quiet_logs()
    with app.app_context():
        users = [accounts.create_user(f"proc_{i}", benchlib.PASSWORD) for i in range(n_users)]
        room = Room(id=uuid.uuid4(), name="bench-processor", kind="public",
                    owner_id=users[0].id)
        db.session.add(room)
        db.session.flush()
        for u in users:
            db.session.add(Membership(room_id=room.id, user_id=u.id))
        db.session.commit()
        ids = [str(u.id) for u in users], str(room.id)
        db.session.remove()
        db.engine.dispose()
    return ids


def run_cap(url, cap, n, users, room, length):
    from sqlalchemy import func, select

    from chat import create_app
    from chat.extensions import db
    from chat.models import Message
    from chat.realtime import metrics

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "CHAT_BATCH_SIZE": cap,
                      "CHAT_QUEUE_SIZE": max(n * 2, 10000)})
    quiet_logs()
    realtime = app.extensions["realtime"]
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Message))
        db.session.remove()
    realtime.start()
    processor = realtime.processor
    messages = build_messages(n, users, room, length)
    batches0 = metrics.store_batches._value.get()
    meter = benchlib.CPUMeter({"this process": "self"}, url.rsplit("/", 1)[1]).start()
    t0 = time.perf_counter()
    for m in messages:
        processor.submit(m)
    submitted = time.perf_counter() - t0
    if not processor.wait_idle(timeout=600):
        raise RuntimeError(f"cap {cap}: processor not idle after 600 s")
    elapsed = time.perf_counter() - t0
    meter.stop()
    batches = metrics.store_batches._value.get() - batches0
    realtime.shutdown(timeout=10)
    with app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(Message)) - before
        db.session.remove()
        db.engine.dispose()
    return {"cap": cap, "messages": n, "stored": stored, "batches": int(batches),
            "seconds": elapsed, "submit_seconds": submitted, "rate": n / elapsed,
            "cpu": meter.describe(),
            "proc_us": 1e6 * meter.result["cpu"]["this process"] / n,
            "pg_us": 1e6 * meter.result["cpu"]["postgres backends"] / n,
            "other": meter.result["other"] / elapsed}


def in_child(fn, *args):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def quiet_logs():
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--caps", default="1,100,1000")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--messages-cap1", type=int, default=3000,
                        help="messages for cap 1 (one transaction each)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--length", type=int, default=80, help="message text length")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    benchlib.exit_on_sigterm()
    caps = [int(c) for c in args.caps.split(",")]

    benchlib.print_machine()

    with benchlib.scratch_database("chat_bench_proc", keep=args.keep_db) as url:
        url = url.replace("postgresql://", "postgresql+psycopg2://", 1)
        # create_app() can run once per process (its blueprints are module-level), so
        # the fixtures and every cap get a fresh child process.
        users, room = in_child(setup_fixtures, url, args.users)
        results = []
        for cap in caps:
            n = args.messages_cap1 if cap == 1 else args.messages
            r = in_child(run_cap, url, cap, n, users, room, args.length)
            results.append(r)
            print(f"cap {cap}: {r['rate']:,.0f} msgs/s; {r['cpu']}", flush=True)

    print()
    print("Processor throughput (PostgreSQL, in-process, one transaction per batch)")
    print(benchlib.table(
        ["batch cap", "messages", "stored", "batches", "avg batch", "submit s", "total s",
         "msgs/s", "app CPU µs/msg", "PG CPU µs/msg", "other load (cores)"],
        [[r["cap"], r["messages"], r["stored"], r["batches"],
          f"{r['messages'] / max(1, r['batches']):.1f}", f"{r['submit_seconds']:.2f}",
          f"{r['seconds']:.2f}", f"{r['rate']:,.0f}", f"{r['proc_us']:.0f}",
          f"{r['pg_us']:.0f}", f"{r['other']:.2f}"] for r in results]))
    print("app CPU: this process (submit loop + processor thread + hub); PG CPU: the "
          "database's backends for this database; other load: everything else on the "
          f"machine meanwhile, in cores (the machine has {os.cpu_count()}).")
    bad = [r for r in results if r["stored"] != r["messages"]]
    if bad:
        raise SystemExit(f"stored count differs from submitted: {bad}")


if __name__ == "__main__":
    main()
