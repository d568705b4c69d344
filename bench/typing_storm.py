"""Typing storm: does a room of 1,000 typing people slow message delivery? (API.md 1.1:
`POST /rooms/{id}/typing` -> 204; the other members' streams get `event: typing`,
announced at most once per 3 s per user and room, never stored.)

A real server (one gunicorn+gevent worker) on a scratch PostgreSQL database. N accounts
(default 1,000) all in `general` (every account joins it at signup). S of them (default
300) hold an open stream (benchlib.SSEConn in subscriber processes). Two posters send
R msg/s (default 20, open loop, client-chosen ids) for D seconds (default 20) and every
stream's arrival times give POST->event latency over every stream x message pair.

  phase "quiet":  messages only.
  phase "typing": the same message load, and meanwhile every one of the N members calls
                  the typing endpoint about once per second (T req/s offered in total,
                  default N/s, open loop from a separate client process over C keep-alive
                  connections, default 200).

Printed per phase: message latency p50/p95/p99/max, msg/s achieved, typing requests
answered/s with their status codes and latency p50/p99 (from the time each was due, so
client-side queueing behind a slow server counts), typing events received per second by
all streams, and the CPU of the worker and of the clients.

    .venv/bin/python bench/typing_storm.py [--members 1000] [--streams 300] [--rate 20]
        [--duration 20] [--typing-rate 1000] [--typing-conns 200] [--client-procs 2]
        [--profile PREFIX] [--server-dir DIR] [--keep-db]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import benchlib
from benchlib import CPUMeter, Subscribers, percentile, table

SERVER_ENV = {"CHAT_RATE_LIMIT": "100000/second"}


# -- the typing client (separate process) ---------------------------------------------------

def typing_process(pipe, port, room, tokens, rate, duration, conns):
    """Opens ``conns`` keep-alive connections, says ("ready",), waits for ("go", t0), then
    sends typing request k at t0 + k/rate for user k % len(tokens) (open loop: a late
    answer delays only the connection it came on). -> ("done", records, cpu)"""
    import resource

    benchlib.raise_nofile()
    path = f"/v1/chats/rooms/{room}/typing"
    reqs = [(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
             f"Authorization: Bearer {t}\r\nContent-Length: 0\r\n\r\n").encode()
            for t in tokens]

    async def main():
        loop = asyncio.get_running_loop()
        streams = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port)
                                         for _ in range(conns)))
        pipe.send(("ready",))
        _, t0 = await loop.run_in_executor(None, pipe.recv)
        n = int(rate * duration)
        nxt = [0]
        records = []  # (due, sent, answered, status)

        async def worker(reader, writer):
            while True:
                k = nxt[0]
                if k >= n or time.monotonic() > t0 + duration + 0.5:
                    return  # open loop for `duration`: what is left unsent is reported
                nxt[0] = k + 1
                due = t0 + k / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent = time.monotonic()
                writer.write(reqs[k % len(reqs)])
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    records.append((due, sent, time.monotonic(), -1))
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                records.append((due, sent, time.monotonic(), status))

        r0 = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.gather(*(worker(r, w) for r, w in streams))
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        for _, w in streams:
            w.close()
        pipe.send(("done", records, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime,
                   n - len(records)))

    asyncio.run(main())


class TypingLoad:
    def __init__(self, port, room, tokens, rate, duration, conns):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=typing_process, daemon=True,
                                args=(child, port, room, tokens, rate, duration, conns))
        self.proc.start()
        if not self.pipe.poll(60):
            raise TimeoutError("typing client did not connect")
        assert self.pipe.recv() == ("ready",)

    def go(self, t0):
        self.pipe.send(("go", t0))

    def result(self, timeout):
        if not self.pipe.poll(timeout):
            raise TimeoutError("typing client did not finish")
        _, records, cpu, unsent = self.pipe.recv()
        self.proc.join(10)
        return records, cpu, unsent


# -- messages --------------------------------------------------------------------------------

def poster_sessions(api, room, posters, per_poster):
    """``per_poster`` keep-alive sessions for each poster account, warmed up."""
    import requests

    sessions = []
    for _, token in posters:
        for _ in range(per_poster):
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {token}"
            r = s.post(f"{api}/rooms/{room}/messages", json={"message": "warm-up"},
                       timeout=10)
            if r.status_code != 202:
                raise RuntimeError(f"POST answered {r.status_code}: {r.text[:200]}")
            sessions.append(s)
    time.sleep(1.0)
    return sessions


def paced_post(api, sessions, room, rate, duration, timeout=30):
    """Open loop like fanout.paced_post, but a POST that fails or times out is counted
    (in `failed`) instead of ending the run: under the storm the server may not answer."""
    import queue
    from concurrent.futures import ThreadPoolExecutor

    import requests

    n = int(rate * duration)
    sent, rtts, late, failed = {}, [], [0], []
    free = queue.SimpleQueue()
    for s in sessions:
        free.put(s)
    url = f"{api}/rooms/{room}/messages"

    def send(i, due):
        s = free.get()
        try:
            mid = str(uuid.uuid4())
            t = time.monotonic()
            if t - due > 0.005:
                late[0] += 1
            sent[mid] = t
            try:
                r = s.post(url, json={"message": f"latency probe {i}", "id": mid},
                           timeout=timeout)
            except requests.RequestException as e:
                failed.append(type(e).__name__)
                return
            rtts.append(time.monotonic() - t)
            if r.status_code != 202:
                failed.append(r.status_code)
        finally:
            free.put(s)

    with ThreadPoolExecutor(len(sessions)) as pool:
        t0 = time.monotonic() + 0.05
        futures = []
        for i in range(n):
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(send, i, due))
        for f in futures:
            f.result()
        elapsed = time.monotonic() - t0
    return sent, rtts, elapsed, late[0], failed


def run_phase(name, server, worker, room, group, posters, typers, args, profile=None):

    print(f"\nphase {name!r}: {args.rate} msg/s for {args.duration} s"
          + (f", typing {args.typing_rate:.0f} req/s offered by {len(typers)} members"
             if typers else ""), flush=True)
    sessions = poster_sessions(server.api, room, posters, args.post_connections)
    n = int(args.rate * args.duration)
    load = None
    if typers:
        load = TypingLoad(server.port, room, [t for _, t in typers], args.typing_rate,
                          args.duration, args.typing_conns)
    group.go(n, record=True, timeout=args.duration + 45)
    pids = {"server worker": worker}
    pids.update({f"subscriber proc {i}": p for i, p in enumerate(group.pids)})
    if load:
        pids["typing client"] = load.proc.pid
    pids["posters (main proc)"] = "self"
    spy = None
    if profile:
        spy_bin = Path(sys.executable).with_name("py-spy")
        spy = subprocess.Popen([str(spy_bin), "record", "--pid", str(worker), "--format",
                                "raw", "-o", profile, "--rate", "100", "--nonblocking",
                                "--duration", str(int(args.duration))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)
    meter = CPUMeter(pids, args.dbname).start()
    t0 = time.monotonic() + 0.05
    if load:
        load.go(t0)
    sent, rtts, post_elapsed, late, failed = paced_post(server.api, sessions, room,
                                                        args.rate, args.duration)
    typing_records, typing_cpu, unsent = load.result(args.duration + 120) if load \
        else ([], 0.0, 0)
    res = group.results(timeout=args.duration + 120)
    meter.stop()
    for s in sessions:
        s.close()
    if spy is not None:
        if spy.poll() is None:
            spy.send_signal(signal.SIGINT)
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()

    lat, missing, unknown, dup = [], 0, 0, 0
    for log in res["logs"]:
        seen = set()
        for mid, t in log:
            key = mid.decode()
            ts = sent.get(key)
            if ts is None:
                unknown += 1
                continue
            if key in seen:
                dup += 1
            seen.add(key)
            lat.append(t - ts)
        missing += len(sent) - len(seen)
    lat.sort()
    rtts.sort()
    wall = meter.result["wall"]
    out = {"name": name, "msgs": len(sent), "post_failed": failed, "msg_rate": len(sent) / post_elapsed,
           "late": late, "pairs": len(lat), "missing": missing, "dup": dup,
           "unknown": unknown, "lat": lat, "rtts": rtts, "closed": res["closed"],
           "typing_events": res["named"], "typing_events_rate": res["named"] / wall,
           "meter": meter.result, "cpu": meter.describe(), "typing_cpu": typing_cpu,
           "worker_pct": 100 * meter.result["cpu"]["server worker"] / wall}
    if typers:
        statuses = {}
        for _, _, _, st in typing_records:
            statuses[st] = statuses.get(st, 0) + 1
        ok = [r for r in typing_records if r[3] == 204]
        from_due = sorted(a - d for d, _, a, _ in typing_records)
        from_sent = sorted(a - s for _, s, a, _ in typing_records)
        span = (max(a for _, _, a, _ in typing_records) - t0) if typing_records else 1
        out.update(typing_unsent=unsent, typing_offered=int(args.typing_rate * args.duration),
                   typing_n=len(typing_records), typing_ok=len(ok), typing_status=statuses,
                   typing_rate=len(typing_records) / span, typing_due=from_due,
                   typing_sent=from_sent, typing_span=span)
    print(summary_line(out), flush=True)
    print(out["cpu"], flush=True)
    if profile:
        benchlib.print_profile_summary(profile, top=25)
    return out


def ms(v):
    return f"{v * 1000:.1f}"


def summary_line(o):
    lat = o["lat"]
    s = (f"  {o['msgs']} messages at {o['msg_rate']:.1f} msg/s ({o['late']} sent >5 ms late, "
         f"{len(o['post_failed'])} POSTs failed: {sorted(set(map(str, o['post_failed'])))}, "
         f"POST p50 {ms(percentile(o['rtts'], 50))} p99 {ms(percentile(o['rtts'], 99))} ms); "
         f"{o['pairs']} deliveries, missing {o['missing']}, duplicate {o['dup']}, "
         f"unexpected {o['unknown']}, streams closed {o['closed']}; POST→event p50 "
         f"{ms(percentile(lat, 50))} p95 {ms(percentile(lat, 95))} p99 "
         f"{ms(percentile(lat, 99))} max {ms(lat[-1]) if lat else '-'} ms; typing events "
         f"received {o['typing_events']:,} ({o['typing_events_rate']:,.0f}/s)")
    if "typing_n" in o:
        s += (f"\n  typing: {o['typing_offered']} due, {o['typing_unsent']} never sent "
              f"(every connection still waiting), "
              f"{o['typing_n']} requests answered in {o['typing_span']:.1f} s "
              f"({o['typing_rate']:.0f}/s), client CPU {o['typing_cpu']:.1f} s, statuses {o['typing_status']}, latency from due "
              f"p50 {ms(percentile(o['typing_due'], 50))} p99 "
              f"{ms(percentile(o['typing_due'], 99))} ms, from send p50 "
              f"{ms(percentile(o['typing_sent'], 50))} p99 "
              f"{ms(percentile(o['typing_sent'], 99))} ms")
    return s


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--posters", type=int, default=2)
    parser.add_argument("--post-connections", type=int, default=4,
                        help="keep-alive connections per poster (open-loop posting)")
    parser.add_argument("--typing-rate", type=float, default=None,
                        help="typing requests/s offered in total (default: one per member "
                             "per second)")
    parser.add_argument("--typing-conns", type=int, default=200)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--connect-concurrency", type=int, default=20)
    parser.add_argument("--phases", default="quiet,typing")
    parser.add_argument("--profile", metavar="PREFIX",
                        help="py-spy record (raw) the worker in each phase to PREFIX-<phase>.txt")
    parser.add_argument("--server-dir")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if args.typing_rate is None:
        args.typing_rate = float(args.members)
    benchlib.exit_on_sigterm()
    benchlib.raise_nofile()
    benchlib.print_machine()
    t_start = time.monotonic()
    results = []
    with benchlib.scratch_database("chat_bench_typing", keep=args.keep_db) as url, \
            benchlib.running_server(url, SERVER_ENV, args.server_dir) as server:
        worker = benchlib.worker_pid(server.pid)
        args.dbname = url.rsplit("/", 1)[1]
        t = time.monotonic()
        accounts = benchlib.create_accounts(server.api, args.members, "typ")
        print(f"{len(accounts)} accounts (all members of `general`) created in "
              f"{time.monotonic() - t:.1f} s", flush=True)
        room = benchlib.general_room_id(server.api, accounts[0][1])
        posters = accounts[:args.posters]
        watchers = accounts[args.posters:args.posters + args.streams]
        group = Subscribers("127.0.0.1", server.port, watchers, procs=args.client_procs,
                            concurrency=max(1, args.connect_concurrency // args.client_procs))
        try:
            opened = group.wait_opened()
            if opened["errors"]:
                raise RuntimeError(f"streams failed to open: {opened['errors']}")
            print(f"{opened['streams']} streams open in {opened['open_seconds']:.1f} s",
                  flush=True)
            for phase in args.phases.split(","):
                prof = f"{args.profile}-{phase}.txt" if args.profile else None
                results.append(run_phase(phase, server, worker, room, group, posters,
                                         accounts if phase == "typing" else [], args, prof))
                time.sleep(4)  # typing throttle windows (3 s) run out between phases
        finally:
            group.close()
    rows = []
    for o in results:
        lat = o["lat"]
        typing = "typing_n" in o
        rows.append([o["name"], f"{o['msg_rate']:.1f}", len(o["post_failed"]),
                     f"{o['pairs']:,}", o["missing"],
                     ms(percentile(lat, 50)), ms(percentile(lat, 95)), ms(percentile(lat, 99)),
                     ms(lat[-1]) if lat else "-",
                     f"{o['typing_rate']:.0f}" if typing else "-",
                     o["typing_unsent"] if typing else "-",
                     ",".join(f"{k}:{v}" for k, v in sorted(o["typing_status"].items()))
                     if typing else "-",
                     f"{ms(percentile(o['typing_due'], 50))} / "
                     f"{ms(percentile(o['typing_due'], 99))}" if typing else "-",
                     f"{o['typing_events_rate']:,.0f}", f"{o['worker_pct']:.0f}%",
                     f"{100 * o['meter']['other'] / o['meter']['wall']:.0f}%"])
    print()
    print(table(["phase", "msg/s", "POSTs failed", "deliveries", "missing", "p50 ms",
                 "p95 ms", "p99 ms", "max ms", "typing req/s answered", "typing never sent",
                 "typing statuses",
                 "typing p50 / p99 ms", "typing events/s received", "worker CPU",
                 "other load"], rows))
    print(f"\nstreams {len(watchers)}, members {args.members}, total wall time "
          f"{time.monotonic() - t_start:.0f} s")


if __name__ == "__main__":
    main()
