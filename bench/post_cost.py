"""What a post costs in CPU, without HTTP or load-generator noise: figures that stay put on
a shared machine, for A/B comparisons of source trees.

(a) store: `store_batch` (chat/realtime/batch_store.py, or the processor's on trees
    before it) called in a loop on a scratch PostgreSQL database with batches of
    --batch messages (with --mentions each names one member): process CPU and wall time
    per batch.
(b) post: POST /rooms/{id}/messages through the app's WSGI callable (Flask's test
    client) one after another, 16 users taking turns, with the real processor thread:
    process CPU (request + a batch of one) and wall time per post.

Each run is a fresh process on a fresh database, run from the source tree it measures
(`--tree A B` alternates them `--rounds` times; default this tree).

    .venv/bin/python bench/post_cost.py [--part store,post] [--batch 1,8] [--mentions]
        [--batches 1500] [--posts 2000] [--rounds 2] [--tree DIR [DIR ...]]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import benchlib  # also puts the repo root on sys.path

HERE = Path(__file__).resolve().parent


def _store_run(url, batch_size, batches, mentions):
    from processor_throughput import in_child, setup_fixtures
    from sqlalchemy import create_engine

    from chat.config import normalize_database_url
    from chat.models import isoformat, utcnow

    try:
        from chat.realtime.batch_store import store_batch

        def store(engine, batch):
            return store_batch(engine, batch)
    except ImportError:  # a tree before batch_store.py: the processor's, with its memory
        from chat.realtime.order import RoomOrdinals
        from chat.realtime.processor import store_batch as old_store_batch

        ordinals = RoomOrdinals()

        def store(engine, batch):
            return old_store_batch(engine, batch, ordinals)

    users, room = in_child(setup_fixtures, url, 20)
    engine = create_engine(normalize_database_url(url), pool_size=1, max_overflow=0)

    def batch(n):
        now = utcnow()
        return [{"id": str(uuid.uuid4()), "user": users[i % len(users)], "room": room,
                 "message": f"{n} {i} lorem ipsum dolor", "created_at": isoformat(now),
                 "created_at_dt": now, "accepted_at": time.time(), "reply_to": None,
                 "mentions": [users[0]] if mentions else []} for i in range(batch_size)]

    warm = [batch(n) for n in range(100)]
    measured = [batch(n) for n in range(batches)]
    for b in warm:
        store(engine, b)
    cpu, wall = time.process_time(), time.perf_counter()
    for b in measured:
        store(engine, b)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    engine.dispose()
    return {"cpu_ms": 1e3 * cpu / batches, "wall_ms": 1e3 * wall / batches}


def _post_run(url, posts):
    import logging

    os.environ.update(DATABASE_URL=url, CHAT_RATE_LIMIT="100000/second",
                      PASSWORD_HASH_METHOD=benchlib.CHEAP_HASH)
    from chat import create_app

    app = create_app()
    logging.disable(logging.INFO)
    client = app.test_client()
    headers = []
    for i in range(16):
        account = {"name": f"cost{i}", "password": benchlib.PASSWORD}
        client.post("/v1/chats/users", json=account)
        token = client.post("/v1/chats/sessions", json=account).get_json()["token"]
        headers.append({"Authorization": f"Bearer {token}"})
    rooms = client.get("/v1/chats/rooms", headers=headers[0]).get_json()
    path = f"/v1/chats/rooms/{next(r['id'] for r in rooms if r['name'] == 'general')}/messages"

    def post(i):
        answer = client.post(path, json={"message": f"hello there {i}"}, headers=headers[i % 16])
        if answer.status_code != 202:
            raise RuntimeError(f"post {i}: {answer.status_code} {answer.get_data()[:200]}")

    for i in range(200):
        post(i)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(posts):
        post(i)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    app.extensions["realtime"].shutdown(timeout=10)
    return {"cpu_ms": 1e3 * cpu / posts, "wall_ms": 1e3 * wall / posts}


def child(args):
    """One measurement in this process, on a scratch database migrated by its tree."""
    sys.path.insert(0, os.getcwd())  # the tree's `chat`, ahead of benchlib's repo root
    from tests.support.server import create_postgres_database, drop_postgres_database, migrate

    url = create_postgres_database("chat_bench_cost")
    try:
        migrate({"DATABASE_URL": url, "PASSWORD_HASH_METHOD": benchlib.CHEAP_HASH},
                cwd=os.getcwd())
        if args.child == "store":
            result = _store_run(url, args.batch_size, args.batches, args.mentions)
        else:
            result = _post_run(url, args.posts)
    finally:
        drop_postgres_database(url)
    import chat

    result["chat"] = str(Path(chat.__file__).parent.parent)  # which tree was measured
    print("RESULT " + json.dumps(result), flush=True)


def _measure(tree, part, extra):
    env = dict(os.environ, PYTHONPATH=str(HERE))
    out = subprocess.run([sys.executable, str(HERE / "post_cost.py"), "--child", part, *extra],
                         cwd=tree, env=env, capture_output=True, text=True, timeout=900)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"{tree} {part}: {out.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", default="store,post")
    parser.add_argument("--batch", default="1,8", help="batch sizes for (a)")
    parser.add_argument("--mentions", action="store_true")
    parser.add_argument("--batches", type=int, default=1500)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tree", nargs="+", default=[str(HERE.parent)])
    parser.add_argument("--child", choices=["store", "post"], help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    benchlib.print_machine()
    rows = []
    runs = []
    for part in args.part.split(","):
        sizes = [int(b) for b in args.batch.split(",")] if part == "store" else [None]
        for size in sizes:
            extra = (["--batch-size", str(size), "--batches", str(args.batches)]
                     + (["--mentions"] if args.mentions else [])
                     if part == "store" else ["--posts", str(args.posts)])
            runs += [(part, size, extra, r, t) for r in range(args.rounds) for t in args.tree]
    for part, size, extra, round_, tree in runs:
        load = benchlib.load_average()
        result = _measure(tree, part, extra)
        if Path(result["chat"]).resolve() != Path(tree).resolve():
            raise RuntimeError(f"measured {result['chat']}, not {tree}")
        label = (f"store, batch of {size}{' with mentions' if args.mentions else ''}"
                 if part == "store" else "post (request + a batch of 1)")
        rows.append([label, tree, round_ + 1, f"{result['cpu_ms']:.3f}",
                     f"{result['wall_ms']:.3f}", load])
        print(" | ".join(map(str, rows[-1])), flush=True)
    print(benchlib.table(["what", "tree", "round", "CPU ms each", "wall ms each",
                          "load avg"], rows))


if __name__ == "__main__":
    benchlib.exit_on_sigterm()
    main()
