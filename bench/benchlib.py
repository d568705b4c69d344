"""Shared pieces of the benchmark scripts in bench/ (not a benchmark itself).

- scratch PostgreSQL databases and the real server (reusing tests/support/server.py),
- process accounting from /proc (RSS, CPU time, the gunicorn worker of a master),
- account creation over the API,
- a minimal asyncio SSE subscriber (``SSEConn``): it only splits the byte stream at blank
  lines and pulls the message id out of chat-message data (``data: {"id":"<uuid>"...``);
  it does no JSON decoding and no spec-exact parsing, so thousands of connections cost
  the client little CPU. It tolerates HTTP/1.1 chunked framing without decoding it: the
  server writes every SSE event as one chunk, so a chunk header never falls inside an
  event, and the patterns it looks for never occur in chunk headers.
- ``subscriber_process``: many SSEConn in a separate process, driven over a Pipe.
- bulk loading of a scratch database (``copy_rows``: COPY from rows of Python values) and
  EXPLAIN ANALYZE of every statement a service call runs (``explain_analyze``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

PASSWORD = "bench-password-1"
CHEAP_HASH = "pbkdf2:sha256:1000"
# Benchmarks sign up and sign in many accounts from one address.
UNTHROTTLED = {"CHAT_SIGNUP_RATE_LIMIT": "100000/minute",
               "CHAT_LOGIN_RATE_LIMIT": "100000/minute"}
MSG_MARK = b'data: {"id":"'
MSG_MARK_LEN = len(MSG_MARK)


# -- environment ---------------------------------------------------------------------------

def exit_on_sigterm():
    """SIGTERM (e.g. from `timeout`) exits through the normal clean-up path: the server
    is stopped and the scratch database dropped."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def raise_nofile():
    """Soft RLIMIT_NOFILE up to the hard limit (children, e.g. the server, inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def machine_info():
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    pg = "?"
    with contextlib.suppress(Exception):
        from tests.support.server import _admin_connection

        conn = _admin_connection()
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            pg = cur.fetchone()[0]
        conn.close()
    return {"nproc": os.cpu_count(), "cpu": model, "postgresql": pg,
            "python": sys.version.split()[0]}


def print_machine():
    info = machine_info()
    print(f"machine: nproc={info['nproc']} cpu={info['cpu']!r} "
          f"PostgreSQL {info['postgresql']} Python {info['python']}")


@contextlib.contextmanager
def scratch_database(prefix="chat_bench", keep=False):
    """A fresh PostgreSQL database, migrated and seeded; yields its URL; dropped after."""
    from tests.support.server import (
        create_postgres_database,
        drop_postgres_database,
        migrate,
    )

    url = create_postgres_database(prefix)
    try:
        migrate({"DATABASE_URL": url, "PASSWORD_HASH_METHOD": CHEAP_HASH})
        yield url
    finally:
        if keep:
            print(f"(kept database {url})")
        else:
            drop_postgres_database(url)


@contextlib.contextmanager
def running_server(url, env, cwd=None):
    """A real gunicorn+gevent server (gunicorn.conf.py, one worker) on a free port; ``cwd``
    is the source tree to run (default: this repository)."""
    from tests.support.server import ServerProcess

    log_dir = tempfile.mkdtemp(prefix="chat-bench-")
    server = ServerProcess(url, env={"PASSWORD_HASH_METHOD": CHEAP_HASH, **UNTHROTTLED,
                                     **env},
                           log_dir=log_dir, cwd=cwd or REPO_ROOT)
    server.start(timeout=60)
    try:
        yield server
    except BaseException:
        print(f"server log: {server.log_path}", file=sys.stderr)
        raise
    finally:
        if server.running:
            try:
                server.terminate(timeout=40)
            except TimeoutError:
                server.kill()


@contextlib.contextmanager
def noop_server():
    """bench/noop_app.py, a Flask route that reads a JSON body and answers 202, on the
    chat server's gunicorn + gevent settings (worker class, connections, keep-alive,
    backlog; one worker): the floor any route of this stack pays. Yields (port, worker
    pid)."""
    import subprocess
    import urllib.request

    from tests.support.server import free_port

    port = free_port()
    log = open(Path(tempfile.mkdtemp(prefix="chat-bench-noop-")) / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1",
         "--worker-connections", "10000", "--keep-alive", "2", "--backlog", "4096",
         "-b", f"127.0.0.1:{port}", "noop_app:app"],
        cwd=Path(__file__).parent, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            except urllib.error.HTTPError:
                break  # answered (404): up
            except OSError:
                time.sleep(0.05)  # the server is starting: nothing to wait on but a port
        else:
            raise RuntimeError(f"the no-op server did not answer; see {log.name}")
        yield port, worker_pid(server.pid)
    finally:
        server.terminate()
        server.wait(10)
        log.close()


# -- bulk loading and plans ------------------------------------------------------------------

def psycopg_url(url):
    """The libpq form of a SQLAlchemy PostgreSQL URL."""
    return url.replace("postgresql+psycopg2://", "postgresql://")


def copy_rows(cur, target, rows):
    r"""COPY ``rows`` (tuples; ``str()`` of each value, ``r"\N"`` for NULL; no tabs,
    newlines or backslashes in the values) into ``target``, e.g. ``"users(id, name)"``."""
    import io

    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join(str(v) for v in row) + "\n")
    buf.seek(0)
    cur.copy_expert(f"COPY {target} FROM STDIN", buf)


def explain_analyze(conn, call):
    """EXPLAIN (ANALYZE, BUFFERS) of every SELECT that ``call(session)`` runs on the
    SQLAlchemy connection ``conn`` (other statements, e.g. SET LOCAL, are replayed as they
    were: they may pin the plans); returns the plan lines."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    statements = []

    def capture(conn_, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", capture)
    try:
        with Session(bind=conn) as session:
            call(session)
    finally:
        event.remove(conn, "before_cursor_execute", capture)
    out = []
    raw = conn.connection.dbapi_connection.cursor()
    for statement, parameters in statements:
        if statement.lstrip().upper().startswith("SELECT"):
            raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            out += [r[0] for r in raw.fetchall()]
        else:
            raw.execute(statement, parameters)
            out.append(statement)
    return out


# -- /proc accounting ------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    text = Path(f"/proc/{pid}/stat").read_text()
    return text.rpartition(")")[2].split()  # fields from "state" (field 3) on


def children(pid):
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                out.append(int(stat.parent.name))
    return sorted(out)


def worker_pid(master_pid, timeout=10):
    """The (single) gunicorn worker: the child of the master process."""
    deadline = time.monotonic() + timeout
    while True:
        kids = children(master_pid)
        if kids:
            return kids[0]
        if time.monotonic() > deadline:
            raise RuntimeError(f"no worker process under gunicorn master {master_pid}")
        time.sleep(0.1)


def worker_pids(master_pid, count, timeout=20):
    """The gunicorn master's `count` workers, once all of them are up."""
    deadline = time.monotonic() + timeout
    while True:
        kids = children(master_pid)
        if len(kids) >= count:
            return kids[:count]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(kids)} of {count} workers under master {master_pid}")
        time.sleep(0.1)


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid):
    """user+system CPU seconds of one process (all its threads)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_backends(dbname):
    """pids of the PostgreSQL backends connected to database ``dbname``."""
    from tests.support.server import _admin_connection

    conn = _admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (dbname,))
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def machine_busy():
    """(busy jiffies, total jiffies) of all CPUs from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def load_average():
    return Path("/proc/loadavg").read_text().split()[0]


class CPUMeter:
    """CPU used by named processes between start() and stop(), in % of one core; with
    ``dbname``, also the PostgreSQL backends of that database. Whatever else kept the
    machine busy meanwhile (other users of a shared machine) is reported as "other"."""

    def __init__(self, pids, dbname=None):
        self.pids = dict(pids)  # label -> pid, or "self" for this process
        self.dbname = dbname

    def start(self):
        self.t0 = time.monotonic()
        self.c0 = {k: self._cpu(p) for k, p in self.pids.items()}
        self.pg0 = {}
        if self.dbname:
            self.pg0 = {pid: self._cpu(pid) for pid in postgres_backends(self.dbname)}
        self.m0 = machine_busy()
        return self

    def stop(self):
        wall = time.monotonic() - self.t0
        out = {k: self._cpu(p) - self.c0[k] for k, p in self.pids.items()}
        if self.dbname:
            # Backends that ended meanwhile are not counted (their CPU is gone with them).
            out["postgres backends"] = sum(
                max(0.0, self._cpu(pid) - self.pg0.get(pid, 0.0))
                for pid in postgres_backends(self.dbname))
        m1 = machine_busy()
        busy = (m1[0] - self.m0[0]) / max(1, m1[1] - self.m0[1])
        other = max(0.0, busy * (os.cpu_count() or 1) * wall - sum(out.values()))
        self.result = {"wall": wall, "cpu": out, "machine_busy": busy, "other": other,
                       "load": load_average()}
        return self.result

    @staticmethod
    def _cpu(pid):
        if pid == "self":
            r = resource.getrusage(resource.RUSAGE_SELF)
            return r.ru_utime + r.ru_stime
        try:
            return cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            return 0.0

    def describe(self):
        r = self.result
        parts = [f"{k} {v:.1f}s ({100 * v / r['wall']:.0f}%)" for k, v in r["cpu"].items()]
        return (f"CPU over {r['wall']:.1f}s wall (% of one core): " + ", ".join(parts)
                + f"; other processes on the machine {100 * r['other'] / r['wall']:.0f}%; "
                  f"machine busy {100 * r['machine_busy']:.0f}% of {os.cpu_count()} cores, "
                  f"load average {r['load']}")


# -- accounts over the API ---------------------------------------------------------------------

def create_accounts(api, n, prefix, threads=8):
    """Sign up and sign in ``n`` users; returns [(user_id, token)] in order."""
    import requests

    def make(i):
        with requests.Session() as s:
            name = f"{prefix}{i}"
            r = s.post(f"{api}/users", json={"name": name, "password": PASSWORD}, timeout=30)
            if r.status_code != 201:
                raise RuntimeError(f"signup {name}: {r.status_code} {r.text[:200]}")
            r = s.post(f"{api}/sessions", json={"name": name, "password": PASSWORD},
                       timeout=30)
            if r.status_code != 201:
                raise RuntimeError(f"login {name}: {r.status_code} {r.text[:200]}")
            body = r.json()
            return body["user"]["id"], body["token"]

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(make, range(n)))


def general_room_id(api, token):
    import requests

    rooms = requests.get(f"{api}/rooms", headers={"Authorization": f"Bearer {token}"},
                         timeout=10).json()
    return next(r["id"] for r in rooms if r["name"] == "general")


# -- the minimal SSE subscriber -----------------------------------------------------------------

def subscribe_request(port, user_id, token):
    return (f"GET /v1/chats/users/{user_id}/subscribe HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Accept: text/event-stream\r\n\r\n").encode()


class SSEConn(asyncio.Protocol):
    """One event stream. Counts chat messages (optionally logging (id, arrival time)),
    keepalive comments and named events; resolves ``ready`` at `event: ready`."""

    def __init__(self, request, group):
        self.request = request
        self.group = group
        self.transport = None
        self.buf = b""
        self.headers_done = False
        self.status = None
        self.head = b""
        self.ready = asyncio.get_running_loop().create_future()
        self.msgs = 0
        self.named = 0
        self.keepalives = 0
        self.keepalive_times = []
        self.bytes = 0
        self.log = None  # list of (id bytes, monotonic time) while recording
        self.target = None  # chat message count that completes this stream
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data):
        now = time.monotonic()
        self.bytes += len(data)
        buf = self.buf + data if self.buf else data
        if not self.headers_done:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                self.buf = buf
                return
            self.status = int(buf[9:12])
            self.head = buf[:i]  # the status line and headers (e.g. Retry-After)
            self.headers_done = True
            if self.status != 200:
                if not self.ready.done():
                    self.ready.set_exception(RuntimeError(
                        f"subscribe answered {self.status}: {buf[:300]!r}"))
                self.transport.close()
                return
            buf = buf[i + 4:]
        end = buf.rfind(b"\n\n")
        if end < 0:
            self.buf = buf
            return
        block, self.buf = buf[:end + 2], buf[end + 2:]
        if block.replace(b": keepalive\n\n", b"").strip(b"\r\n0123456789abcdefABCDEF"):
            self.group.last_rx = now  # `quiet()` waits for the end of real traffic
        n = block.count(MSG_MARK)
        if n:
            log = self.log
            if log is not None:
                pos = 0
                for _ in range(n):
                    pos = block.find(MSG_MARK, pos) + MSG_MARK_LEN
                    log.append((block[pos:pos + 36], now))
            self.msgs += n
            self.group.msgs += n
            self.group.last_msg = now
            if self.target is not None and self.msgs >= self.target:
                self.target = None
                self.group.stream_done()
        if b"event: " in block:
            self.named += block.count(b"event: ")
            if not self.ready.done() and b"event: ready" in block:
                self.ready.set_result(now)
        if b": keepalive" in block:
            k = block.count(b": keepalive")
            self.keepalives += k
            self.keepalive_times.append(now)

    def connection_lost(self, exc):
        self.closed = True
        self.group.closed += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"stream closed before ready: {exc}"))
        if self.target is not None:
            self.target = None
            self.group.stream_done()


class SSEGroup:
    """Many SSEConn of one event loop, with shared counters."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conns = []
        self.msgs = 0
        self.closed = 0
        self.last_rx = 0.0
        self.last_msg = 0.0
        self._done_left = 0
        self._all_done = None

    async def open(self, accounts, concurrency=50, timeout=60, deadline=None):
        """Open one stream per (user_id, token) and wait until each has seen `ready`.
        After ``deadline`` (time.monotonic()) no new stream is started; returns errors."""
        loop = asyncio.get_running_loop()
        sem = asyncio.Semaphore(concurrency)
        port = self.port

        async def one(user_id, token):
            async with sem:
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError("time budget used up before this stream was opened")
                conn = SSEConn(subscribe_request(port, user_id, token), self)
                await loop.create_connection(lambda: conn, self.host, self.port)
                await asyncio.wait_for(conn.ready, timeout)
                return conn

        results = await asyncio.gather(*(one(u, t) for u, t in accounts),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        self.conns += [r for r in results if not isinstance(r, BaseException)]
        return errors

    async def quiet(self, seconds=0.5, timeout=120):
        """Wait until nothing but keepalives arrived on any stream for ``seconds`` (a
        connect storm of presence events has drained)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            idle = time.monotonic() - self.last_rx
            if idle >= seconds:
                return True
            await asyncio.sleep(seconds - idle + 0.01)
        return False

    def expect(self, count, record):
        """From now on: reset counters; each stream is done after ``count`` messages."""
        self.msgs = 0
        self._done_left = 0
        self._all_done = asyncio.get_running_loop().create_future()
        for c in self.conns:
            c.msgs = 0
            c.log = [] if record else None
            if c.closed:
                continue
            c.target = count
            self._done_left += 1
        if self._done_left == 0:
            self._all_done.set_result(None)

    def stream_done(self):
        self._done_left -= 1
        if self._done_left == 0 and self._all_done is not None and not self._all_done.done():
            self._all_done.set_result(None)

    async def wait_done(self, timeout):
        try:
            await asyncio.wait_for(asyncio.shield(self._all_done), timeout)
            return True
        except TimeoutError:
            return False

    def close(self):
        for c in self.conns:
            if c.transport is not None:
                c.transport.close()


def _cpu_self():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def subscriber_process(pipe, host, port, accounts, concurrency):
    """Child process: opens one stream per account, then follows commands from the pipe.

    -> ("opened", n_ok, errors, seconds, named_events)   after every stream saw `ready` and
                                                       the stream went quiet
    <- ("go", count, record, timeout)   -> ("done", complete, msgs, first_msg, last_msg,
                                           logs|None, cpu_seconds, closed,
                                           named events received meanwhile)
    <- ("close",)
    """
    raise_nofile()

    async def main():
        loop = asyncio.get_running_loop()
        group = SSEGroup(host, port)
        t0 = time.monotonic()
        errors = await group.open(accounts, concurrency)
        opened = time.monotonic() - t0
        await group.quiet(0.5)
        settled = time.monotonic() - t0
        pipe.send(("opened", len(group.conns), [repr(e) for e in errors[:5]] + (
            [f"... {len(errors)} errors"] if len(errors) > 5 else []), opened, settled,
            sum(c.named for c in group.conns), sum(c.bytes for c in group.conns)))
        while True:
            cmd = await loop.run_in_executor(None, pipe.recv)
            if cmd[0] == "go":
                _, count, record, timeout = cmd
                group.expect(count, record)
                cpu0 = _cpu_self()
                named0 = sum(c.named for c in group.conns)
                pipe.send(("going",))
                complete = await group.wait_done(timeout)
                cpu = _cpu_self() - cpu0
                logs = [c.log for c in group.conns] if record else None
                first = min((c.log[0][1] for c in group.conns if c.log), default=None) \
                    if record else None
                pipe.send(("done", complete, group.msgs, first, group.last_msg, logs, cpu,
                           group.closed, sum(c.named for c in group.conns) - named0))
            elif cmd[0] == "close":
                group.close()
                await asyncio.sleep(0.2)
                pipe.send(("closed",))
                return

    asyncio.run(main())


class Subscribers:
    """Subscriber child processes, each holding a share of the accounts' streams."""

    def __init__(self, host, port, accounts, procs=1, concurrency=50):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.procs = []
        shares = [accounts[i::procs] for i in range(procs)]
        for share in shares:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=subscriber_process,
                            args=(child, host, port, share, concurrency), daemon=True)
            p.start()
            self.procs.append((p, parent))

    @property
    def pids(self):
        return [p.pid for p, _ in self.procs]

    def wait_opened(self, timeout=180):
        out = []
        for p, pipe in self.procs:
            if not pipe.poll(timeout):
                raise TimeoutError("subscribers did not open their streams in time")
            out.append(pipe.recv())
        return {"streams": sum(o[1] for o in out), "errors": [e for o in out for e in o[2]],
                "open_seconds": max(o[3] for o in out), "settle_seconds": max(o[4] for o in out),
                "named_events": sum(o[5] for o in out), "bytes": sum(o[6] for o in out)}

    def go(self, count, record, timeout):
        for _, pipe in self.procs:
            pipe.send(("go", count, record, timeout))
        for _, pipe in self.procs:
            assert pipe.recv() == ("going",)

    def results(self, timeout):
        out = []
        for p, pipe in self.procs:
            if not pipe.poll(timeout):
                raise TimeoutError("subscribers did not report")
            out.append(pipe.recv())
        logs = None
        if out[0][5] is not None:
            logs = [log for o in out for log in o[5]]
        firsts = [o[3] for o in out if o[3] is not None]
        lasts = [o[4] for o in out if o[4]]
        return {"complete": all(o[1] for o in out), "msgs": sum(o[2] for o in out),
                "first_msg": min(firsts) if firsts else None,
                "last_msg": max(lasts) if lasts else None, "logs": logs,
                "cpu": sum(o[6] for o in out), "closed": sum(o[7] for o in out),
                "named": sum(o[8] for o in out)}

    def close(self):
        for p, pipe in self.procs:
            with contextlib.suppress(Exception):
                pipe.send(("close",))
        for p, pipe in self.procs:
            with contextlib.suppress(Exception):
                if pipe.poll(10):
                    pipe.recv()
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)


# -- output ------------------------------------------------------------------------------------

def table(headers, rows):
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for r in cells[1:]:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |")
    return "\n".join(lines)


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


# -- py-spy profiles ---------------------------------------------------------------------------

def summarize_collapsed(path, top=15, contains=None):
    """Top functions by self and by inclusive samples of a py-spy ``--format raw`` file
    (collapsed stacks: ``frame;frame;...;leaf count`` per line); with ``contains``, only
    the stacks whose text contains that string."""
    import collections

    self_counts = collections.Counter()
    incl_counts = collections.Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if contains is not None and contains not in stack:
            continue
        n = int(count)
        total += n
        frames = [_short_frame(f) for f in stack.split(";")]
        if frames[0].startswith("process ") or frames[0].startswith("thread "):
            frames = frames[1:]
        if not frames:
            continue
        self_counts[frames[-1]] += n
        for f in set(frames):
            incl_counts[f] += n
    return total, self_counts.most_common(top), incl_counts.most_common(top)


def _short_frame(frame):
    # "function (path/to/file.py:123)" -> "function (file.py)" relative to site-packages/repo
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name


def print_profile_summary(path, top=15, contains=None):
    total, self_top, incl_top = summarize_collapsed(path, top, contains)
    print(f"py-spy samples: {total} ({path})")
    print("top self time:")
    print(table(["function", "samples", "%"],
                [[f, n, f"{100 * n / max(1, total):.1f}"] for f, n in self_top]))
    print("top inclusive time:")
    print(table(["function", "samples", "%"],
                [[f, n, f"{100 * n / max(1, total):.1f}"] for f, n in incl_top]))
