"""Message search latency on PostgreSQL with a million messages.

A scratch database (migrated and seeded like the tests') is filled with --messages
messages in --rooms rooms from --users authors, written with COPY: 3 to 20 words each from
a synthetic vocabulary with a Zipf distribution (the commonest word is in about half the
messages, most words are rare), plus one word that only rooms the searcher is not in use
(common globally, absent for them: the case where filtering by room after matching
costs most). A searcher is a member of --member-rooms of the rooms. Then p50/p95 of each
kind of query, through chat/search.py's `search_messages` in-process and through HTTP
(`GET /v1/chats/search/messages`) against a real server; "matched" is how many messages of
the searcher's rooms match in all (a page is 20 of them); "CPU" is the mean CPU time per
search of this process and its PostgreSQL backend, which a busy shared machine inflates
far less than wall-clock time. --explain prints EXPLAIN ANALYZE of each query.

    .venv/bin/python bench/search.py [--messages 1000000] [--rooms 200] [--users 1000]
        [--member-rooms 50] [--runs 40] [--explain] [--no-http] [--keep-db] [--db URL]

--db reuses a database that an earlier --keep-db run filled (nothing is written to it).
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import datetime, timedelta, timezone

import benchlib  # also puts the repo root on sys.path

SEARCHER = "searcher"
LOCAL_WORD = "zorblax"  # used only in rooms the searcher is not in


def vocabulary(n, rng):
    """n distinct pronounceable words, 2 to 4 syllables."""
    onsets = "b c d f g h j k l m n p r s t v w z br ch cl dr fl gr pl sh st tr".split()
    vowels = "a e i o u ai ea ou".split()
    words, seen = [], set()
    while len(words) < n:
        word = "".join(rng.choice(onsets) + rng.choice(vowels)
                       for _ in range(rng.choice((1, 2, 2, 3))))
        if word not in seen and word != LOCAL_WORD:
            seen.add(word)
            words.append(word)
    return words


def fill(url, args):
    """Rooms, users, the searcher's memberships and the messages; returns the searcher's
    room ids and the vocabulary (commonest first)."""
    import psycopg2

    from chat import accounts, create_app
    from chat.extensions import db

    rng = random.Random(1)
    words = vocabulary(args.vocabulary, rng)
    cum, total = [], 0.0
    for rank in range(1, len(words) + 1):
        total += 1.0 / rank  # Zipf, s = 1
        cum.append(total)

    app = create_app({"SQLALCHEMY_DATABASE_URI": url,
                      "PASSWORD_HASH_METHOD": benchlib.CHEAP_HASH})
    with app.app_context():
        searcher = accounts.create_user(SEARCHER, benchlib.PASSWORD).id
        db.session.remove()
        db.engine.dispose()

    conn = psycopg2.connect(benchlib.psycopg_url(url))
    cur = conn.cursor()
    rooms = [uuid.uuid4() for _ in range(args.rooms)]
    mine = rng.sample(rooms, args.member_rooms)
    others = [r for r in rooms if r not in set(mine)]
    users = [uuid.uuid4() for _ in range(args.users)]
    now = datetime.now(timezone.utc)
    benchlib.copy_rows(cur, "rooms(id, name, name_key, kind, owner_id, active, created_at)",
                       [(r, f"bench-{i}", f"bench-{i}",
                         "private" if i % 4 == 3 else "public", r"\N", "t", now)
                        for i, r in enumerate(rooms)])
    benchlib.copy_rows(cur, "users(id, name, is_admin, created_at)",
                       [(u, f"author{i}", "f", now) for i, u in enumerate(users)])
    benchlib.copy_rows(cur, "memberships(room_id, user_id, joined_at)",
                       [(r, searcher, now) for r in mine])

    cur.execute("SELECT value FROM counters WHERE name = 'message_seq'")
    first_seq = cur.fetchone()[0] + 1
    # The GIN index is built once after the load: much faster than row by row.
    cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_messages_search'")
    gin_index = cur.fetchone()[0]
    cur.execute("DROP INDEX ix_messages_search")
    t0 = time.monotonic()
    start = now - timedelta(seconds=args.messages)
    chunk = 100_000
    ordinals = dict.fromkeys(rooms, 0)  # each room's messages numbered 1, 2, ... (0006)
    for base in range(0, args.messages, chunk):
        rows = []
        for i in range(base, min(base + chunk, args.messages)):
            room = rng.choice(rooms)
            ordinals[room] += 1
            text = rng.choices(words, cum_weights=cum, k=rng.randint(3, 20))
            if room in others and rng.random() < 0.05:
                text[rng.randrange(len(text))] = LOCAL_WORD
            if rng.random() < 0.3:
                text[0] = text[0].capitalize()
            rows.append((uuid.uuid4(), first_seq + i, room, ordinals[room], rng.choice(users),
                         " ".join(text) + rng.choice(("", "", ".", "!", "?")),
                         start + timedelta(seconds=i)))
        benchlib.copy_rows(cur, "messages(id, seq, room_id, room_ordinal, user_id, message, "
                                "created_at)", rows)
        print(f"  {base + len(rows):,} messages ({time.monotonic() - t0:.0f}s)", flush=True)
    cur.execute("UPDATE counters SET value = %s WHERE name = 'message_seq'",
                (first_seq + args.messages,))
    conn.commit()
    cur.execute("SET maintenance_work_mem = '1GB'")
    cur.execute(gin_index)
    conn.commit()
    conn.autocommit = True
    cur.execute("VACUUM ANALYZE messages")
    print(f"filled in {time.monotonic() - t0:.0f}s", flush=True)
    conn.close()
    return words


def queries(words):
    """(label, q) from the vocabulary, commonest word first."""
    common = words[0]
    return [
        ("1 word, commonest (~60% of messages)", common),
        ("1 word, rank 10", words[9]),
        ("1 word, rank 100", words[99]),
        ("1 word, rank 2000 (rare)", words[1999]),
        ("1 word, absent from the searcher's rooms", LOCAL_WORD),
        ("1 word, no match at all", "qqqxqqq"),
        ("2 words, both common", f"{words[1]} {common}"),
        ("2 words, common + rare", f"{common} {words[1999]}"),
        ("2 words, rare + common", f"{words[1999]} {common}"),
        ("2 words, rare + 1-letter prefix", f"{words[1999]} {common[:1]}"),
        ("2 words, rank 100 + rank 10", f"{words[99]} {words[9]}"),
        ("prefix, 3 letters", common[:3]),
        ("prefix, 1 letter", common[:1]),
        ("prefix of a rare word", words[1999][:-1]),
    ]


def measure_inprocess(url, cases, runs, explain):
    from sqlalchemy import func, select, text

    from chat import create_app, search
    from chat.extensions import db
    from chat.models import Membership, User

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    results = {}
    with app.app_context():
        searcher = db.session.scalar(select(User.id).where(User.name == SEARCHER))
        room_ids = db.session.scalars(select(Membership.room_id)
                                      .where(Membership.user_id == searcher)).all()
        for label, q in cases:
            words = search.query_words(q)
            lexemes, _ = search._lexemes(db.session, words, True)
            matched = db.session.scalar(
                select(func.count()).select_from(search._readable(room_ids)
                                                 .where(search._MATCHES).subquery()),
                {"query": " & ".join(search._term(*lexeme) for lexeme in lexemes)})
            times = []
            backend = db.session.scalar(text("SELECT pg_backend_pid()"))
            for i in range(runs + 3):
                if i == 3:  # warm-up runs are not counted
                    cpu0 = time.process_time() + benchlib.cpu_seconds(backend)
                t0 = time.perf_counter()
                rows = search.search_messages(db.session, words, True, room_ids, 20)
                if i >= 3:
                    times.append(time.perf_counter() - t0)
                db.session.rollback()
            # CPU (this process + its PostgreSQL backend) barely grows with the load of a
            # shared machine, unlike wall-clock time: an idle machine's latency, roughly.
            cpu = (time.process_time() + benchlib.cpu_seconds(backend) - cpu0) / runs
            assert len(rows) == min(20, matched), (label, len(rows), matched)
            results[label] = (sorted(times), matched, cpu)
            if explain:
                print(f"--- {label}: q={q!r}")
                with db.engine.connect() as conn:
                    for line in _explain(conn, words, room_ids):
                        print("   ", line if len(line) < 300 else line[:300] + "...")
    return results


def _explain(conn, words, room_ids):
    """EXPLAIN ANALYZE of every statement search_messages runs."""
    from chat import search

    return benchlib.explain_analyze(
        conn, lambda session: search.search_messages(session, words, True, room_ids, 20))


def measure_http(url, cases, runs):
    import requests

    results = {}
    with benchlib.running_server(url, {}) as server:
        with requests.Session() as s:
            token = s.post(f"{server.api}/sessions", json={
                "name": SEARCHER, "password": benchlib.PASSWORD}, timeout=30).json()["token"]
            s.headers["Authorization"] = f"Bearer {token}"
            for label, q in cases:
                times = []
                for i in range(runs + 3):
                    t0 = time.perf_counter()
                    r = s.get(f"{server.api}/search/messages", params={"q": q}, timeout=30)
                    if i >= 3:
                        times.append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text[:300]
                results[label] = sorted(times)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--member-rooms", type=int, default=50)
    parser.add_argument("--vocabulary", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--db", help="reuse this database, filled by an earlier --keep-db run")
    args = parser.parse_args()
    benchlib.exit_on_sigterm()
    benchlib.print_machine()

    def run(url, words):
        cases = queries(words)
        inproc = measure_inprocess(url, cases, args.runs, args.explain)
        http = {} if args.no_http else measure_http(url, cases, args.runs)
        ms = lambda values, p: f"{1000 * benchlib.percentile(values, p):.1f}"  # noqa: E731
        rows = []
        for label, q in cases:
            times, matched, cpu = inproc[label]
            row = [label, repr(q), f"{matched:,}", ms(times, 50), ms(times, 95),
                   f"{1000 * cpu:.1f}"]
            if http:
                row += [ms(http[label], 50), ms(http[label], 95)]
            rows.append(row)
        headers = ["query", "q", "matched", "p50 ms", "p95 ms", "CPU ms (mean)"]
        if http:
            headers += ["HTTP p50 ms", "HTTP p95 ms"]
        print(f"\n{args.runs} runs each, page of 20, searcher in {args.member_rooms} rooms:")
        print(benchlib.table(headers, rows))

    if args.db:
        run(args.db, vocabulary(args.vocabulary, random.Random(1)))  # as fill() made it
        return
    with benchlib.scratch_database("chat_bench_search", keep=args.keep_db) as url:
        run(url, fill(url, args))


if __name__ == "__main__":
    main()
