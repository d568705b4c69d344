"""Room list (with unread and mention counts) and history pages on PostgreSQL with a
million messages.

A scratch database (`flask db upgrade` and `flask seed`, like the tests') gets one reader
who is a member of --rooms rooms (--direct of them direct rooms with one peer each) and
--messages messages written with COPY: --elsewhere of them (20 %) in --other-rooms rooms
the reader is not in, the rest over the reader's rooms with a Zipf distribution of room
sizes (a few rooms of 100,000 messages, many of a few thousand). 2 % of the messages in
the reader's rooms are the reader's own, 1 % are deleted, about --mentions mention the
reader (and 2 % mention someone else), 2 % have reactions. The reader's read markers sit
at varied places: 35 % of the rooms fully read, 25 % with up to 50 unread, 20 % with
hundreds, 15 % with thousands, 5 % never read (no marker).

Then p50/p95/p99 of
- the room list, `chat/rooms.py: rooms_with_unread` (GET /v1/chats/users/{id}/rooms),
- history pages of 50 in the biggest room, `chat/messages.py: history_page`
  (GET /v1/chats/rooms/{id}/messages): the newest page, one page back (`before` the
  oldest of the newest page), `before` a message 5 % into the room (deep), `after` a
  message half-way through it,
in-process (a direct service call; "CPU" is the mean CPU time per call of this process
and its PostgreSQL backend, which a busy shared machine inflates far less than wall-clock
time) and over HTTP against a real gunicorn+gevent server (one worker; "worker CPU" and
"pg CPU" are the mean CPU time per request of the worker and of the database's backends).
The room list is checked against an independent GROUP BY count first, and a digest of
every answer is printed, so that runs before and after a change can be compared.

    .venv/bin/python bench/room_list.py [--messages 1000000] [--rooms 200] [--runs 200]
        [--explain] [--profile] [--no-http] [--keep-db] [--db URL]

--db reuses a database that an earlier --keep-db run filled (nothing is written to it).
"""

from __future__ import annotations

import argparse
import bisect
import collections
import hashlib
import json
import os
import random
import time
import types
import uuid
from datetime import datetime, timedelta, timezone

import benchlib  # also puts the repo root on sys.path

READER = "reader"
PAGE = 50
WORDS = ("hello there lunch meeting deploy review ticket thanks sure tomorrow coffee build "
         "broken fixed ship release merge branch test flaky database index query slow "
         "fast great idea plan later today weekend").split()
EMOJI = ("👍", "🎉", "❤️", "😂", "👀")


def fill(url, args):
    """Users, rooms, memberships, messages, mentions, reactions and read markers."""
    import psycopg2

    from chat import accounts, create_app
    from chat.extensions import db
    from chat.rooms import direct_key

    rng = random.Random(7)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url,
                      "PASSWORD_HASH_METHOD": benchlib.CHEAP_HASH})
    with app.app_context():
        reader = accounts.create_user(READER, benchlib.PASSWORD).id
        db.session.remove()
        db.engine.dispose()

    conn = psycopg2.connect(benchlib.psycopg_url(url))
    cur = conn.cursor()
    now = datetime.now(timezone.utc)
    authors = [uuid.uuid4() for _ in range(args.users)]
    mine = [uuid.uuid4() for _ in range(args.rooms)]
    elsewhere = [uuid.uuid4() for _ in range(args.other_rooms)]
    elsewhere_set = set(elsewhere)
    peer = {room: authors[i] for i, room in enumerate(mine[:args.direct])}
    benchlib.copy_rows(cur, "users(id, name, is_admin, created_at)",
                       [(u, f"author{i}", "f", now) for i, u in enumerate(authors)])
    room_rows = []
    for i, room in enumerate(mine + elsewhere):
        if room in peer:
            name = f"{READER}, author{i}"
            room_rows.append((room, name, name.casefold(), "direct", r"\N",
                              direct_key(reader, peer[room]), now))
        else:
            name = f"bench-{i:03d}"
            room_rows.append((room, name, name, "private" if i % 3 == 2 else "public",
                              authors[i % len(authors)], r"\N", now))
    benchlib.copy_rows(cur, "rooms(id, name, name_key, kind, owner_id, direct_key, "
                            "created_at)", room_rows)
    members = {(room, reader) for room in mine} | {(room, p) for room, p in peer.items()}
    group = [r for r in mine + elsewhere if r not in peer]
    for author in authors:  # everybody else is in a few rooms too
        members |= {(room, author) for room in rng.sample(group, 10)}
    benchlib.copy_rows(cur, "memberships(room_id, user_id, joined_at)",
                       [(room, user, now) for room, user in members])

    # Room sizes: Zipf over the reader's rooms (in random order), uniform elsewhere.
    weights = [1 / (rank + 1) ** args.skew for rank in range(len(mine))]
    rng.shuffle(weights)
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)
    share_elsewhere = args.elsewhere if elsewhere else 0.0
    p_mention = args.mentions / max(1, args.messages * (1 - share_elsewhere) * 0.98)

    cur.execute("SELECT value FROM counters WHERE name = 'message_seq'")
    first_seq = cur.fetchone()[0] + 1
    reaction_seq = first_seq + args.messages
    # The search index is built once after the load: much faster than row by row.
    cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_messages_search'")
    gin_index = cur.fetchone()[0]
    cur.execute("DROP INDEX ix_messages_search")
    t0 = time.monotonic()
    start = now - timedelta(seconds=args.messages)
    chunk = 100_000
    mentions_of_reader = 0
    # Each room's messages are numbered 1, 2, ... in seq order (migration 0006); the
    # rooms are all new.
    ordinals = collections.defaultdict(int)
    for base in range(0, args.messages, chunk):
        messages, mentions, reactions = [], [], []
        for i in range(base, min(base + chunk, args.messages)):
            seq, message_id = first_seq + i, uuid.uuid4()
            if rng.random() < share_elsewhere:
                room, author = rng.choice(elsewhere), rng.choice(authors)
            else:
                room = mine[bisect.bisect_left(cum, rng.random() * total)]
                if room in peer:
                    author = reader if rng.random() < 0.4 else peer[room]
                else:
                    author = reader if rng.random() < 0.02 else rng.choice(authors)
            created = start + timedelta(seconds=i)
            ordinals[room] += 1
            if rng.random() < 0.01:
                messages.append((message_id, seq, room, ordinals[room], author, "", created,
                                 created))
                continue  # a deleted message: no text, mentions or reactions
            text = " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))
            position = 0
            if author != reader and room not in elsewhere_set and rng.random() < p_mention:
                text = f"@{READER} {text}"
                mentions.append((message_id, reader, room, seq, position))
                mentions_of_reader += 1
                position += 1
            if rng.random() < 0.02:
                other = rng.choice(authors)
                if other != author:
                    text += f" @author{authors.index(other)}"
                    mentions.append((message_id, other, room, seq, position))
            if rng.random() < 0.02:
                for user in {rng.choice(authors) for _ in range(rng.randint(1, 3))}:
                    reactions.append((message_id, rng.choice(EMOJI), user, reaction_seq))
                    reaction_seq += 1
            messages.append((message_id, seq, room, ordinals[room], author, text, created,
                             r"\N"))
        benchlib.copy_rows(cur, "messages(id, seq, room_id, room_ordinal, user_id, message, "
                                "created_at, deleted_at)", messages)
        benchlib.copy_rows(cur, "mentions(message_id, user_id, room_id, seq, position)",
                           mentions)
        benchlib.copy_rows(cur, "reactions(message_id, emoji, user_id, seq)",
                           list({(r[0], r[1], r[2]): r for r in reactions}.values()))
        print(f"  {base + len(messages):,} messages ({time.monotonic() - t0:.0f}s)",
              flush=True)
    cur.execute("UPDATE counters SET value = %s WHERE name = 'message_seq'", (reaction_seq,))

    # Read markers: fully read, a few, hundreds, thousands unread, or never read.
    for room in mine:
        r = rng.random()
        if r < 0.95:
            back = (0 if r < 0.35 else rng.randint(1, 50) if r < 0.60
                    else rng.randint(100, 999) if r < 0.80 else rng.randint(1000, 10_000))
            cur.execute("UPDATE memberships SET (last_read_id, last_read_seq) = ("
                        " SELECT id, seq FROM messages WHERE room_id = %(room)s"
                        " ORDER BY seq DESC OFFSET LEAST(%(back)s, (SELECT count(*) - 1"
                        " FROM messages WHERE room_id = %(room)s)) LIMIT 1)"
                        " WHERE room_id = %(room)s AND user_id = %(reader)s",
                        {"room": room, "back": back, "reader": reader})
    conn.commit()
    cur.execute("SET maintenance_work_mem = '512MB'")
    cur.execute(gin_index)
    conn.commit()
    conn.autocommit = True
    cur.execute("VACUUM ANALYZE")
    print(f"filled in {time.monotonic() - t0:.0f}s ({mentions_of_reader:,} mentions of the "
          f"reader)", flush=True)
    conn.close()


# -- what is measured -----------------------------------------------------------------------

def setting(url):
    """The reader, the biggest room and the cursors of the history cases."""
    import psycopg2

    conn = psycopg2.connect(benchlib.psycopg_url(url))
    cur = conn.cursor()
    cur.execute("SELECT id FROM users WHERE name = %s", (READER,))
    reader = cur.fetchone()[0]
    cur.execute("SELECT m.room_id, count(*) FROM messages m JOIN memberships s"
                " ON s.room_id = m.room_id AND s.user_id = %s JOIN rooms r ON r.id = m.room_id"
                " WHERE r.kind <> 'direct' GROUP BY m.room_id ORDER BY 2 DESC LIMIT 1",
                (reader,))
    room, size = cur.fetchone()

    def nth(n, live=True):  # the n-th message of the room, oldest first
        cur.execute("SELECT id FROM messages WHERE room_id = %s"
                    + (" AND deleted_at IS NULL" if live else "")
                    + " ORDER BY seq OFFSET %s LIMIT 1", (room, n))
        return str(cur.fetchone()[0])

    cur.execute("SELECT count(*) FROM messages WHERE room_id = %s AND deleted_at IS NULL",
                (room,))
    live = cur.fetchone()[0]
    cases = [("newest page", None, None),
             ("one page back (before)", nth(live - PAGE), None),
             ("before, 5 % into the room", nth(size // 20, live=False), None),
             ("after, half-way through", None, nth(size // 2, live=False))]
    cur.execute("SELECT count(*), count(*) FILTER (WHERE last_read_seq IS NULL)"
                " FROM memberships WHERE user_id = %s", (reader,))
    rooms, never_read = cur.fetchone()
    conn.close()
    return {"reader": reader, "room": room, "size": size, "cases": cases,
            "rooms": rooms, "never_read": never_read}


def reference_counts(url, reader):
    """room id -> (unread, mentions), counted the plain way (a GROUP BY over all
    messages), to check the service's answer with."""
    import psycopg2

    conn = psycopg2.connect(benchlib.psycopg_url(url))
    cur = conn.cursor()
    cur.execute("""
        SELECT s.room_id,
               (SELECT count(*) FROM messages m WHERE m.room_id = s.room_id
                  AND m.user_id <> s.user_id AND m.deleted_at IS NULL
                  AND (s.last_read_seq IS NULL OR m.seq > s.last_read_seq)),
               (SELECT count(*) FROM mentions n JOIN messages m ON m.id = n.message_id
                 WHERE n.user_id = s.user_id AND n.room_id = s.room_id
                   AND m.user_id <> s.user_id
                   AND (s.last_read_seq IS NULL OR n.seq > s.last_read_seq))
          FROM memberships s JOIN rooms r ON r.id = s.room_id
         WHERE s.user_id = %s AND r.active""", (reader,))
    out = {str(room): (unread, mentioned) for room, unread, mentioned in cur.fetchall()}
    conn.close()
    return out


def digest(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


def measure_inprocess(url, where, runs, list_runs, explain, profile):
    from chat import create_app, messages, rooms
    from chat.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    reader, room = where["reader"], types.SimpleNamespace(id=where["room"])
    calls = [("room list", lambda: rooms.rooms_with_unread(reader))]
    calls += [(f"history: {label}",
               lambda b=before, a=after: messages.history_page(room, PAGE, b, a))
              for label, before, after in where["cases"]]
    results, digests = {}, {}
    with app.app_context():
        listed = rooms.rooms_with_unread(reader)
        expected = reference_counts(url, reader)
        got = {item["id"]: (item["unread_count"], item["mention_count"]) for item in listed}
        assert got == expected, "room list counts differ from the GROUP BY reference"
        unread = sum(u for u, _ in got.values())
        mentioned = sum(m for _, m in got.values())
        print(f"room list: {len(listed)} rooms, {unread:,} unread, {mentioned:,} unread "
              f"mentions in all ({where['never_read']} rooms never read); counts match "
              f"the reference", flush=True)
        db.session.rollback()
        dbname = url.rsplit("/", 1)[1]
        for label, call in calls:
            n = list_runs if label == "room list" else runs
            times = []
            for i in range(n + 5):
                if i == 5:  # warm-up calls are not counted
                    meter = benchlib.CPUMeter({"self": "self"}, dbname=dbname).start()
                t0 = time.perf_counter()
                answer = call()
                if i >= 5:
                    times.append(time.perf_counter() - t0)
                db.session.rollback()
            cpu = sum(meter.stop()["cpu"].values()) / n  # this process + its backend
            results[label] = (sorted(times), cpu)
            digests[label] = digest(answer)
            if label.startswith("history"):
                assert len(answer) == PAGE, (label, len(answer))
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
            for _ in range(min(50, list_runs)):
                rooms.rooms_with_unread(reader)
                db.session.rollback()
            profiler.stop()
            print(f"--- pyinstrument, {min(50, list_runs)} room lists in-process")
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        if explain:
            with db.engine.connect() as conn:
                for label, call in calls:
                    print(f"--- EXPLAIN ANALYZE: {label}")
                    for line in benchlib.explain_analyze(conn, lambda session: _in(session,
                                                                                      call)):
                        print("   ", line if len(line) < 300 else line[:300] + "...")
                    conn.rollback()
    return results, digests


def _in(session, call):
    """Runs ``call`` with ``session`` standing in for db.session."""
    from chat.extensions import db

    saved = db.session
    db.session = session
    try:
        return call()
    finally:
        db.session = saved


def measure_http(url, where, runs, list_runs):
    import requests

    reader, room = where["reader"], where["room"]
    paths = [("room list", f"/users/{reader}/rooms", {})]
    paths += [(f"history: {label}", f"/rooms/{room}/messages",
               {"limit": PAGE, **({"before": b} if b else {}), **({"after": a} if a else {})})
              for label, b, a in where["cases"]]
    dbname = url.rsplit("/", 1)[1]
    results, digests = {}, {}
    with benchlib.running_server(url, {}) as server:
        worker = benchlib.worker_pid(server.proc.pid)
        with requests.Session() as s:
            token = s.post(f"{server.api}/sessions", json={
                "name": READER, "password": benchlib.PASSWORD}, timeout=30).json()["token"]
            s.headers["Authorization"] = f"Bearer {token}"
            for label, path, params in paths:
                n = list_runs if label == "room list" else runs
                for _ in range(5):  # warm-up: connections, caches
                    s.get(server.api + path, params=params, timeout=30)
                meter = benchlib.CPUMeter({"worker": worker}, dbname=dbname).start()
                times = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    r = s.get(server.api + path, params=params, timeout=30)
                    times.append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text[:300]
                cpu = meter.stop()["cpu"]
                results[label] = (sorted(times), cpu["worker"] / n,
                                  cpu["postgres backends"] / n)
                digests[label] = digest(r.json())
    return results, digests


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=200, help="the reader's rooms")
    parser.add_argument("--direct", type=int, default=20, help="of them direct rooms")
    parser.add_argument("--other-rooms", type=int, default=50)
    parser.add_argument("--elsewhere", type=float, default=0.2,
                        help="share of the messages in rooms the reader is not in")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--mentions", type=int, default=3000)
    parser.add_argument("--skew", type=float, default=1.0, help="Zipf exponent of room sizes")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--list-runs", type=int,
                        help="runs of the room list (default: --runs; it can take seconds)")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--profile", action="store_true", help="pyinstrument, in-process")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--db", help="reuse this database, filled by an earlier --keep-db run")
    args = parser.parse_args()
    benchlib.exit_on_sigterm()
    benchlib.print_machine()

    def run(url):
        where = setting(url)
        print(f"reader in {where['rooms']} rooms; history in the biggest room "
              f"({where['size']:,} messages); load average {benchlib.load_average()}",
              flush=True)
        list_runs = args.list_runs or args.runs
        inproc, digests = measure_inprocess(url, where, args.runs, list_runs, args.explain,
                                            args.profile)
        print(f"in-process done, load average {benchlib.load_average()}", flush=True)
        http, http_digests = ({}, {}) if args.no_http else measure_http(url, where, args.runs,
                                                                        list_runs)
        ms = lambda values, p: f"{1000 * benchlib.percentile(values, p):.1f}"  # noqa: E731
        rows = []
        for label, (times, cpu) in inproc.items():
            row = [label, ms(times, 50), ms(times, 95), ms(times, 99), f"{1000 * cpu:.2f}"]
            if http:
                h, worker, pg = http[label]
                row += [ms(h, 50), ms(h, 95), ms(h, 99), f"{1000 * worker:.2f}",
                        f"{1000 * pg:.2f}"]
            rows.append(row + [digests[label]])
        headers = ["case", "p50 ms", "p95 ms", "p99 ms", "CPU ms"]
        if http:
            headers += ["HTTP p50", "HTTP p95", "HTTP p99", "worker CPU ms", "pg CPU ms"]
        print(f"\n{args.runs} runs each ({list_runs} of the room list), load average "
              f"{benchlib.load_average()} at the end:")
        print(benchlib.table(headers + ["answer digest"], rows))
        if http:
            print("HTTP answer digests: " + ", ".join(f"{k}: {v}"
                                                      for k, v in http_digests.items()))

    if args.db:
        run(args.db)
        return
    with benchlib.scratch_database(f"bench_rooms_{os.getpid()}", keep=args.keep_db) as url:
        fill(url, args)
        run(url)


if __name__ == "__main__":
    main()
