"""Fan-out: a real gunicorn+gevent server (one worker; (a) also on --workers N sharing
Redis) on PostgreSQL, many SSE subscribers in one room (`general`, which every account
joins at signup).

(a) latency: S subscribers (default 100) while one poster sends R msg/s (default 100) for
    D seconds (default 20; bench/rawpost.py, or requests threads with --client
    requests). Latency = from just before the POST is sent to the moment a
    subscriber's reader parses the event, over every subscriber x message pair.
(b) throughput: B subscribers (default 1,000); a burst of M messages (default 200) posted
    by P concurrent posters as fast as the server accepts them; deliveries/s = events
    received by all subscribers / time from the first POST to the last event received.
    With --profile, `py-spy record --nonblocking` is attached to the worker during the
    burst (during (a) with --skip-b), and the top functions are printed (run it
    separately from the clean numbers).

Subscribers live in separate processes (asyncio, raw sockets, a minimal parser that only
splits events and reads the message id; see benchlib.SSEConn); the CPU each side used is
printed so the reader can judge whether the client was a bottleneck.

    .venv/bin/python bench/fanout.py [--subscribers-a 100] [--rate 100] [--duration 20]
        [--client raw|requests] [--post-connections 32] [--subscribers-b 1000] [--burst 200] [--posters 4]
        [--client-procs 2] [--connect-concurrency 20] [--profile /tmp/fanout-profile]
        [--profile-seconds 15] [--profile-format raw|flamegraph|speedscope] [--skip-a] [--skip-b]
        [--workers 1] [--server-dir DIR] [--keep-db]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import benchlib
import rawpost
from benchlib import CPUMeter, Subscribers, percentile, table

SERVER_ENV = {
    "CHAT_RATE_LIMIT": "100000/second",  # the poster must not hit the per-user limit
}


def warm_up(api, token, room, sessions):
    """One POST per session before measuring: opens the keep-alive connections. Waits
    until the server has stored them, so they do not show up in a measured run."""
    for s in sessions:
        s.headers["Authorization"] = f"Bearer {token}"
        r = s.post(f"{api}/rooms/{room}/messages", json={"message": "warm-up"}, timeout=10)
        if r.status_code != 202:
            raise RuntimeError(f"POST answered {r.status_code}: {r.text[:200]}")
    time.sleep(1.0)


def paced_post(api, sessions, room, rate, duration):
    """Open loop: POST number i is due at t0 + i/rate whatever the earlier answers did
    (a pool of keep-alive connections sends it), so a slow answer cannot lower the rate
    or hide latency. Returns ({id: send time}, POST round trips, seconds, late sends)."""
    from concurrent.futures import ThreadPoolExecutor

    n = int(rate * duration)
    sent, rtts, late = {}, [], [0]
    free = __import__("queue").SimpleQueue()
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
            r = s.post(url, json={"message": f"latency probe {i}", "id": mid}, timeout=10)
            rtts.append(time.monotonic() - t)
            if r.status_code != 202:
                raise RuntimeError(f"POST answered {r.status_code}: {r.text[:200]}")
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
    return sent, rtts, elapsed, late[0]


def burst_sessions(api, token, room, posters):
    import requests

    sessions = [requests.Session() for _ in range(posters)]
    warm_up(api, token, room, sessions)
    return sessions


def burst_post(api, sessions, room, count):
    """``count`` messages from one thread per session (keep-alive connections) as fast as
    the server answers; returns (first send time, last answer time, 503 retries)."""
    posters = len(sessions)
    per = [count // posters + (1 if i < count % posters else 0) for i in range(posters)]
    start = threading.Barrier(posters + 1)
    first, last, retries = [], [], [0]

    def worker(k):
        s = sessions[k]
        url = f"{api}/rooms/{room}/messages"
        if True:
            start.wait()
            first.append(time.monotonic())
            for i in range(per[k]):
                while True:
                    r = s.post(url, json={"message": f"burst {k}-{i} lorem ipsum dolor"},
                               timeout=30)
                    if r.status_code == 202:
                        break
                    if r.status_code == 503:
                        retries[0] += 1
                        time.sleep(0.05)
                        continue
                    raise RuntimeError(f"POST answered {r.status_code}: {r.text[:200]}")
            last.append(time.monotonic())

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(posters)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join()
    return min(first), max(last), retries[0]


def part_a(server, workers, poster, subs, args):
    print(f"\n(a) latency: {len(subs)} subscribers, {args.rate} msg/s for {args.duration} s",
          flush=True)
    room = benchlib.general_room_id(server.api, poster[1])
    group = Subscribers("127.0.0.1", server.port, subs, procs=1,
                        concurrency=args.connect_concurrency)
    try:
        opened = group.wait_opened()
        if opened["errors"]:
            raise RuntimeError(f"streams failed to open: {opened['errors']}")
        print(f"    {opened['streams']} streams ready in {opened['open_seconds']:.1f} s",
              flush=True)
        n = int(args.rate * args.duration)
        # Profiled only when (b) is skipped: --profile then records (a).
        profile = _profile_path(args) if args.skip_b else None
        labels = {(f"server worker {i + 1}" if len(workers) > 1 else "server worker"): pid
                  for i, pid in enumerate(workers)}
        started = {}

        def start():
            group.go(n, record=True, timeout=args.duration + 60)
            started["spy"] = start_spy(workers[0], profile, args) if profile else None
            started["meter"] = CPUMeter({**labels, "subscriber proc": group.pids[0],
                                         "poster (main proc)": "self"}, args.dbname).start()

        if args.client == "raw":
            sent, rtts, post_elapsed, late = rawpost.paced(
                f"{server.api}/rooms/{room}/messages", poster[1], args.rate, args.duration,
                args.post_connections, on_start=start)
        else:
            sessions = burst_sessions(server.api, poster[1], room, args.post_connections)
            start()
            sent, rtts, post_elapsed, late = paced_post(server.api, sessions, room,
                                                        args.rate, args.duration)
            for s in sessions:
                s.close()
        meter, spy = started["meter"], started["spy"]
        res = group.results(timeout=args.duration + 90)
        meter.stop()
        stop_spy(spy)
    finally:
        group.close()
    lat, missing, unknown = [], 0, 0
    for log in res["logs"]:
        seen = set()
        for mid, t in log:
            key = mid.decode()
            ts = sent.get(key)
            if ts is None:
                unknown += 1
                continue
            seen.add(key)
            lat.append(t - ts)
        missing += len(sent) - len(seen)
    lat.sort()
    rtts.sort()

    def ms(v):
        return f"{v * 1000:.1f}"

    rows = [["POST→event (all pairs)", len(lat), ms(percentile(lat, 50)), ms(percentile(lat, 90)),
             ms(percentile(lat, 99)), ms(lat[-1]) if lat else "-"],
            ["POST round trip (202)", len(rtts), ms(percentile(rtts, 50)),
             ms(percentile(rtts, 90)), ms(percentile(rtts, 99)), ms(rtts[-1])]]
    out = {
        "table": table(["latency", "samples", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows),
        "summary": (f"{len(sent)} messages at {len(sent) / post_elapsed:.1f} msg/s achieved "
                    f"({late} sent >5 ms late), "
                    f"{len(subs)} subscribers, {len(lat)} deliveries, missing pairs "
                    f"{missing}, unexpected {unknown}, streams closed {res['closed']}"),
        "cpu": meter.describe() + (
            f"; worker CPU per delivery "
            f"{1e6 * sum(meter.result['cpu'][label] for label in labels) / max(1, len(lat)):.0f} µs "
            f"(POST handling included)"),
    }
    print(out["summary"])
    print(out["table"])
    print(out["cpu"], flush=True)
    _print_profile(profile, args)
    return out


def start_spy(worker, path, args):
    """py-spy recording the worker into `path` (for --profile-seconds at most)."""
    spy_bin = Path(sys.executable).with_name("py-spy")
    spy = subprocess.Popen([str(spy_bin), "record", "--pid", str(worker),
                            "--format", args.profile_format,
                            "-o", path, "--rate", "100", "--nonblocking",
                            "--duration", str(args.profile_seconds)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let py-spy attach before the load starts
    if spy.poll() is not None:
        raise RuntimeError(f"py-spy failed: {spy.stderr.read().decode()[-500:]}")
    return spy


def stop_spy(spy):
    if spy is not None and spy.poll() is None:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()


def _profile_path(args):
    ext = {"raw": ".txt", "flamegraph": ".svg", "speedscope": ".json"}
    return args.profile + ext[args.profile_format] if args.profile else None


def _print_profile(path, args):
    if path and args.profile_format == "raw":
        benchlib.print_profile_summary(path, top=20)
    elif path:
        print(f"profile written to {path}")


def run_burst(server, worker, poster, room, group, n_subs, args, profile=None):
    sessions = burst_sessions(server.api, poster[1], room, args.posters)
    group.go(args.burst, record=False, timeout=150)
    pids = {"server worker": worker}
    pids.update({f"subscriber proc {i}": pid for i, pid in enumerate(group.pids)})
    pids["posters (main proc)"] = "self"
    spy = start_spy(worker, profile, args) if profile else None
    meter = CPUMeter(pids, args.dbname).start()
    t_first, t_posted, retries = burst_post(server.api, sessions, room, args.burst)
    res = group.results(timeout=170)
    meter.stop()
    for s in sessions:
        s.close()
    stop_spy(spy)
    expected = args.burst * n_subs
    elapsed = (res["last_msg"] or time.monotonic()) - t_first
    return {
        "expected": expected, "delivered": res["msgs"], "complete": res["complete"],
        "post_seconds": t_posted - t_first, "seconds": elapsed,
        "rate": res["msgs"] / elapsed, "retries": retries, "closed": res["closed"],
        "cpu": meter.describe(), "client_cpu": res["cpu"], "meter": meter.result,
        "worker_us": 1e6 * meter.result["cpu"]["server worker"] / max(1, res["msgs"]),
    }


def part_b(server, worker, poster, subs, args):
    print(f"\n(b) throughput: {len(subs)} subscribers, burst of {args.burst} messages from "
          f"{args.posters} posters", flush=True)
    room = benchlib.general_room_id(server.api, poster[1])
    group = Subscribers("127.0.0.1", server.port, subs, procs=args.client_procs,
                        concurrency=max(1, args.connect_concurrency // args.client_procs))
    results = {}
    try:
        connect = CPUMeter({"server worker": worker}, args.dbname).start()
        opened = group.wait_opened()
        connect.stop()
        if opened["errors"]:
            raise RuntimeError(f"streams failed to open: {opened['errors']}")
        results["connect"] = (
            f"{opened['streams']} streams ready in {opened['open_seconds']:.1f} s; the "
            f"connect storm (presence `online` to everyone sharing `general`) settled after "
            f"{opened['settle_seconds']:.1f} s with {opened['named_events']:,} named events "
            f"({opened['bytes'] / 1e6:.1f} MB) received; {connect.describe()}")
        print("    " + results["connect"], flush=True)
        raw = _profile_path(args)
        results["burst"] = r = run_burst(server, worker, poster, room, group, len(subs), args,
                                         profile=raw)
        print("    burst: " + _burst_line(r), flush=True)
    finally:
        group.close()
    label = "burst, py-spy attached" if args.profile else "burst"
    results["table"] = table(
        ["run", "subscribers", "messages", "delivered", "POSTs accepted/s",
         "first POST→last event s", "deliveries/s", "worker CPU µs/delivery",
         "streams closed"],
        [[label, len(subs), args.burst, f"{r['delivered']:,}/{r['expected']:,}",
          f"{args.burst / r['post_seconds']:,.1f}", f"{r['seconds']:.2f}", f"{r['rate']:,.0f}",
          f"{r['worker_us']:.0f}", r["closed"]]])
    print(results["table"])
    print(r["cpu"])
    _print_profile(raw, args)
    return results


def _burst_line(r):
    return (f"{r['delivered']:,}/{r['expected']:,} events in {r['seconds']:.2f} s = "
            f"{r['rate']:,.0f} deliveries/s (posting took {r['post_seconds']:.2f} s, "
            f"{r['retries']} 503 retries, {r['closed']} streams closed)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers-a", type=int, default=100)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--client", choices=("raw", "requests"), default="raw",
                        help="(a)'s poster: bench/rawpost.py (asyncio, lean) or the older "
                             "requests threads, for comparison")
    parser.add_argument("--post-connections", type=int, default=32,
                        help="keep-alive connections of the open-loop poster in (a)")
    parser.add_argument("--subscribers-b", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--posters", type=int, default=4)
    parser.add_argument("--client-procs", type=int, default=2,
                        help="subscriber processes in (b)")
    parser.add_argument("--connect-concurrency", type=int, default=20,
                        help="subscribe requests in flight while connecting (all processes)")
    parser.add_argument("--profile", metavar="PATH_PREFIX",
                        help="attach py-spy to the worker during the (b) burst; output "
                             "to PATH_PREFIX.txt|.svg|.json (see --profile-format); raw "
                             "stacks are summarised (top functions)")
    parser.add_argument("--profile-seconds", type=int, default=15,
                        help="py-spy sampling time (it stops earlier if the burst ends)")
    parser.add_argument("--profile-format", default="raw",
                        choices=("raw", "flamegraph", "speedscope"),
                        help="py-spy output: raw collapsed stacks (summarised here), an SVG "
                             "flame graph, or speedscope JSON")
    parser.add_argument("--skip-a", action="store_true")
    parser.add_argument("--skip-b", action="store_true")
    parser.add_argument("--server-dir", help="run the server from this source tree instead "
                        "(gunicorn.conf.py, wsgi.py, chat/), e.g. a patched copy")
    parser.add_argument("--workers", type=int, default=1,
                        help="gunicorn workers for (a); more than one share Redis "
                             "(REDIS_URL, 127.0.0.1:6379), as in production")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    env = dict(SERVER_ENV)
    if args.workers > 1:
        if not args.skip_b:
            parser.error("--workers is for (a) only: add --skip-b")
        env.update(WEB_CONCURRENCY=str(args.workers), REDIS_URL="redis://127.0.0.1:6379/0")
    benchlib.exit_on_sigterm()

    limits = benchlib.raise_nofile()
    benchlib.print_machine()
    print(f"RLIMIT_NOFILE {limits[0]} (inherited by the server)")
    n_subs = max(0 if args.skip_a else args.subscribers_a,
                 0 if args.skip_b else args.subscribers_b)
    t_start = time.monotonic()
    with benchlib.scratch_database("chat_bench_fanout", keep=args.keep_db) as url, \
            benchlib.running_server(url, env, args.server_dir) as server:
        workers = benchlib.worker_pids(server.pid, args.workers)
        worker = workers[0]
        args.dbname = url.rsplit("/", 1)[1]
        t = time.monotonic()
        accounts = benchlib.create_accounts(server.api, n_subs + 1, "fan")
        print(f"{n_subs + 1} accounts created over the API in {time.monotonic() - t:.1f} s",
              flush=True)
        poster, subs = accounts[0], accounts[1:]
        if not args.skip_a:
            part_a(server, workers, poster, subs[:args.subscribers_a], args)
            time.sleep(1)
        if not args.skip_b:
            part_b(server, worker, poster, subs[:args.subscribers_b], args)
    print(f"\ntotal wall time {time.monotonic() - t_start:.0f} s")


if __name__ == "__main__":
    main()
