"""Resume storm: 1,000 streams reconnecting at once, each 100 messages behind.

Goal (issue): all caught up in <= 5 s, no gap, no duplicate, no 500; connect and replay
queue for the database instead of failing, and never hold a connection longer than a
query.

A real server (one gunicorn+gevent worker) on a scratch PostgreSQL database. U users
(default 100) with K streams each (default 10, the per-user maximum), all in `general`:

1. every stream is opened (20 at a time) and sees `ready`; one message is posted and each
   stream's last message id is recorded (the id EventSource would send back);
2. every stream is closed; the script waits until the server counts no open stream;
3. 100 messages are posted (each answered 202 once committed);
4. all streams reconnect at the same instant with `Last-Event-ID` (subscriber processes,
   asyncio, benchlib.SSEConn). A non-200 answer is counted by status; 503/429 are retried
   after their Retry-After (as a client that honours it would), anything else after 1 s;
   a stream that ends early is resumed from the last id it received, like EventSource.
5. measured: status codes of every attempt, time from the reconnect instant until each
   stream holds all 100 missed messages (p50/p99/max = "all caught up"), and for each
   stream that the ids received are exactly the 100 posted, once each, in order. The
   worker's database pool use (`db_pool_in_use` in /metrics) is sampled meanwhile, and the
   server log is searched for errors.

    .venv/bin/python bench/resume_storm.py [--users 100] [--streams-per-user 10]
        [--missed 100] [--client-procs 2] [--timeout 60] [--server-dir DIR] [--keep-db]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import threading
import time
import uuid

import benchlib
from benchlib import CPUMeter, SSEConn, SSEGroup, percentile, table

SERVER_ENV = {"CHAT_RATE_LIMIT": "100000/second"}


def _request(port, user_id, token, last_id=None):
    req = benchlib.subscribe_request(port, user_id, token)
    if last_id:
        req = req[:-2] + f"Last-Event-ID: {last_id}\r\n\r\n".encode()
    return req


def _retry_after(head):
    for line in head.split(b"\r\n"):
        if line[:12].lower() == b"retry-after:":
            try:
                return float(line[12:].strip())
            except ValueError:
                return 1.0
    return None


def storm_process(pipe, host, port, accounts, missed, timeout):
    """Child: <- ("open",) -> ("opened", n, errors); <- ("last",) -> ("last", ids) once
    every stream got a message; <- ("close",) -> ("closed",); <- ("reconnect", ids) ->
    ("result", per-stream dicts)."""
    benchlib.raise_nofile()

    async def main():
        loop = asyncio.get_running_loop()
        group = SSEGroup(host, port)
        recv = lambda: loop.run_in_executor(None, pipe.recv)  # noqa: E731
        assert (await recv()) == ("open",)
        errors = await group.open(accounts, concurrency=10)
        for c in group.conns:
            c.log = []
        pipe.send(("opened", len(group.conns), [repr(e) for e in errors[:3]]))
        assert (await recv()) == ("last",)
        while not all(c.log for c in group.conns):
            await asyncio.sleep(0.05)
        pipe.send(("last", [c.log[-1][0].decode() for c in group.conns]))
        assert (await recv()) == ("close",)
        group.close()
        await asyncio.sleep(0.5)
        pipe.send(("closed",))
        cmd = await recv()
        assert cmd[0] == "reconnect"
        last_ids = cmd[1]
        t0 = time.monotonic()
        deadline = t0 + timeout
        storm = SSEGroup(host, port)

        async def one(i, user_id, token, last_id):
            st = {"statuses": [], "ids": [], "attempts": 0, "ready": None, "done": None,
                  "early_close": 0, "connect_errors": 0, "retry_after": []}
            while time.monotonic() < deadline:
                st["attempts"] += 1
                resume_from = st["ids"][-1] if st["ids"] else last_id
                conn = SSEConn(_request(port, user_id, token, resume_from), storm)
                conn.log = []
                try:
                    await loop.create_connection(lambda: conn, host, port)
                except OSError:
                    st["connect_errors"] += 1
                    await asyncio.sleep(1.0)
                    continue
                try:
                    await asyncio.wait_for(asyncio.shield(conn.ready),
                                           max(0.1, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    st["statuses"].append("no answer")
                    conn.transport.close()
                    break
                except Exception:
                    if conn.status is None:
                        st["statuses"].append("closed before answer")
                        await asyncio.sleep(1.0)
                        continue
                    st["statuses"].append(conn.status)
                    ra = _retry_after(conn.head)
                    if conn.status in (429, 503) and ra is not None:
                        st["retry_after"].append(ra)
                        await asyncio.sleep(ra)
                    else:
                        await asyncio.sleep(1.0)
                    continue
                st["statuses"].append(conn.status)
                if st["ready"] is None:
                    st["ready"] = conn.ready.result() - t0
                # Wait until this stream has everything, or ends.
                while not conn.closed and len(st["ids"]) + len(conn.log) < missed \
                        and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                prior = st["ids"]
                st["ids"] = prior + [m.decode() for m, _ in conn.log]
                if len(st["ids"]) >= missed:
                    st["done"] = conn.log[missed - len(prior) - 1][1] - t0
                    # linger: anything more (a duplicate, a stray) would show up here
                    await asyncio.sleep(1.0)
                    st["ids"] = prior + [m.decode() for m, _ in conn.log]
                    return st
                st["early_close"] += 1
            return st

        results = await asyncio.gather(*(one(i, u, t, last_ids[i])
                                         for i, (u, t) in enumerate(accounts)))
        storm.close()
        pipe.send(("result", results))

    asyncio.run(main())


class StormClients:
    def __init__(self, host, port, accounts, procs, missed, timeout):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.shares = [list(range(i, len(accounts), procs)) for i in range(procs)]
        self.procs = []
        for share in self.shares:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=storm_process, daemon=True,
                            args=(child, host, port, [accounts[i] for i in share], missed,
                                  timeout))
            p.start()
            self.procs.append((p, parent))

    @property
    def pids(self):
        return [p.pid for p, _ in self.procs]

    def ask(self, cmd, timeout=300, args=None):
        for k, (_, pipe) in enumerate(self.procs):
            pipe.send(cmd if args is None else cmd + (args[k],))
        out = []
        for _, pipe in self.procs:
            if not pipe.poll(timeout):
                raise TimeoutError(f"clients did not answer {cmd[0]!r}")
            out.append(pipe.recv())
        return out

    def close(self):
        for p, _ in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()


def metric(api, name):
    import requests

    try:
        text = requests.get(api + "/metrics", timeout=5).text
    except Exception:
        return None
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else None


def sample_pool(api, stop, samples):
    while not stop.is_set():
        v = metric(api, "chat_db_pool_in_use")
        if v is None:
            v = metric(api, "db_pool_in_use")
        samples.append((time.monotonic(), v))
        stop.wait(0.25)


def post_messages(api, token, room, n):
    import requests

    ids = []
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token}"
        for i in range(n):
            mid = str(uuid.uuid4())
            r = s.post(f"{api}/rooms/{room}/messages",
                       json={"message": f"missed {i}", "id": mid}, timeout=30)
            if r.status_code != 202:
                raise RuntimeError(f"POST answered {r.status_code}: {r.text[:200]}")
            ids.append(mid)
    return ids


def run(server, worker, accounts, args):
    streams = [a for a in accounts for _ in range(args.streams_per_user)]
    poster = accounts[0]
    room = benchlib.general_room_id(server.api, poster[1])
    clients = StormClients("127.0.0.1", server.port, streams, args.client_procs,
                           args.missed, args.timeout)
    try:
        t = time.monotonic()
        opened = clients.ask(("open",))
        n_open = sum(o[1] for o in opened)
        errs = [e for o in opened for e in o[2]]
        print(f"{n_open} streams open in {time.monotonic() - t:.1f} s"
              + (f"; errors: {errs}" if errs else ""), flush=True)
        if n_open != len(streams):
            raise RuntimeError("not every stream opened")
        anchor = post_messages(server.api, poster[1], room, 1)[0]
        lasts = clients.ask(("last",), timeout=60)
        last_ids = [ids for _, ids in lasts]
        assert all(i == anchor for ids in last_ids for i in ids)
        clients.ask(("close",))
        t = time.monotonic()
        while (metric(server.api, "chat_open_streams") or 0) > 0:
            if time.monotonic() - t > 30:
                raise RuntimeError("server still counts open streams 30 s after closing")
            time.sleep(0.2)
        print(f"all closed; server counts 0 open streams after "
              f"{time.monotonic() - t:.1f} s", flush=True)
        posted = post_messages(server.api, poster[1], room, args.missed)
        print(f"{len(posted)} messages posted while every stream was away", flush=True)
        time.sleep(1.0)
        with open(server.log_path, "rb") as f:
            f.seek(0, 2)
            log_offset = f.tell()
        samples, stop = [], threading.Event()
        sampler = threading.Thread(target=sample_pool, args=(server.api, stop, samples),
                                   daemon=True)
        pids = {"server worker": worker}
        pids.update({f"client proc {i}": p for i, p in enumerate(clients.pids)})
        spy = None
        if args.profile:
            import subprocess
            import sys
            from pathlib import Path

            spy = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                 str(worker), "--format", "raw", "-o", args.profile, "--rate", "100",
                 "--nonblocking", "--duration", str(int(args.profile_seconds))],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        meter = CPUMeter(pids, args.dbname).start()
        sampler.start()
        t0 = time.monotonic()
        results = [r for _, r in clients.ask(("reconnect",), timeout=args.timeout + 60,
                                             args=last_ids)]
        meter.stop()
        stop.set()
        sampler.join(5)
        if spy is not None:
            spy.wait(args.profile_seconds + 60)
            benchlib.print_profile_summary(args.profile, top=25)
    finally:
        clients.close()
    per_stream = [None] * len(streams)
    for share, res in zip(clients.shares, results):
        for i, st in zip(share, res):
            per_stream[i] = st
    with open(server.log_path, "rb") as f:
        f.seek(log_offset)
        log_text = f.read().decode(errors="replace")
    return analyse(per_stream, posted, samples, t0, meter, log_text, args)


def analyse(per_stream, posted, samples, t0, meter, log_text, args):
    statuses = collections.Counter()
    for st in per_stream:
        for s in st["statuses"]:
            statuses[s] += 1
    non200 = {k: v for k, v in statuses.items() if k != 200}
    done = sorted(st["done"] for st in per_stream if st["done"] is not None)
    ready = sorted(st["ready"] for st in per_stream if st["ready"] is not None)
    exact = sum(1 for st in per_stream if st["ids"] == posted)
    gaps = dups = disorder = 0
    for st in per_stream:
        ids = st["ids"]
        if set(posted) - set(ids):
            gaps += 1
        if len(ids) != len(set(ids)):
            dups += 1
        order = [posted.index(i) for i in ids if i in set(posted)]
        if order != sorted(order):
            disorder += 1
    pool = [v for _, v in samples if v is not None]
    errors = collections.Counter()
    for line in log_text.splitlines():
        if "unhandled error" in line:
            errors["unhandled error (500)"] += 1
        if "QueuePool limit" in line:
            errors["QueuePool limit ... reached"] += 1
        if "database unavailable" in line:
            errors["database unavailable (503)"] += 1
    caught = len(done)
    out = {
        "streams": len(per_stream), "caught": caught,
        "all_s": done[-1] if caught == len(per_stream) else None,
        "p50": percentile(done, 50), "p99": percentile(done, 99),
        "max": done[-1] if done else None,
        "ready_p50": percentile(ready, 50), "ready_max": ready[-1] if ready else None,
        "statuses": dict(statuses), "non200": non200, "exact": exact, "gaps": gaps,
        "dups": dups, "disorder": disorder,
        "attempts": sum(st["attempts"] for st in per_stream),
        "early_close": sum(st["early_close"] for st in per_stream),
        "connect_errors": sum(st["connect_errors"] for st in per_stream),
        "pool_max": max(pool) if pool else None, "pool_samples": len(pool),
        "log_errors": dict(errors), "cpu": meter.describe(),
        "worker_pct": 100 * meter.result["cpu"]["server worker"] / meter.result["wall"],
        "other_pct": 100 * meter.result["other"] / meter.result["wall"],
    }
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--streams-per-user", type=int, default=10)
    parser.add_argument("--missed", type=int, default=100)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60,
                        help="seconds the clients keep trying after the reconnect instant")
    parser.add_argument("--runs", type=int, default=1,
                        help="storms on the same server (each: open, close, post, resume)")
    parser.add_argument("--profile", metavar="PATH",
                        help="py-spy record (raw stacks) the worker during the storm")
    parser.add_argument("--profile-seconds", type=float, default=20)
    parser.add_argument("--server-dir")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    benchlib.exit_on_sigterm()
    benchlib.raise_nofile()
    benchlib.print_machine()
    rows = []
    with benchlib.scratch_database("chat_bench_resume", keep=args.keep_db) as url, \
            benchlib.running_server(url, SERVER_ENV, args.server_dir) as server:
        worker = benchlib.worker_pid(server.pid)
        args.dbname = url.rsplit("/", 1)[1]
        t = time.monotonic()
        accounts = benchlib.create_accounts(server.api, args.users, "res")
        print(f"{len(accounts)} accounts created in {time.monotonic() - t:.1f} s", flush=True)
        for k in range(args.runs):
            print(f"\nstorm {k + 1}: {args.users * args.streams_per_user} streams "
                  f"({args.users} users x {args.streams_per_user}), {args.missed} missed",
                  flush=True)
            o = run(server, worker, accounts, args)
            print({k: v for k, v in o.items() if k != "cpu"})
            print(o["cpu"], flush=True)

            def s(v):
                return "-" if v is None else f"{v:.2f}"
            rows.append([k + 1, o["streams"], f"{o['caught']}/{o['streams']}",
                         s(o["all_s"]), s(o["p50"]), s(o["p99"]), s(o["ready_p50"]),
                         s(o["ready_max"]),
                         ", ".join(f"{k}: {v}" for k, v in sorted(
                             o["non200"].items(), key=str)) or "none",
                         o["attempts"], f"{o['exact']}/{o['streams']}",
                         f"{o['gaps']}/{o['dups']}/{o['disorder']}",
                         o["pool_max"], ", ".join(f"{k}: {v}" for k, v in
                                                  o["log_errors"].items()) or "none",
                         f"{o['worker_pct']:.0f}%", f"{o['other_pct']:.0f}%"])
            time.sleep(2)
    print()
    print(table(["storm", "streams", "caught up", "all caught up s", "p50 s", "p99 s",
                 "ready p50 s", "ready max s", "non-200 answers", "attempts",
                 "exactly the 100 in order", "gap/dup/disorder streams", "pool in use max",
                 "server log errors", "worker CPU", "other load"], rows))


if __name__ == "__main__":
    main()
