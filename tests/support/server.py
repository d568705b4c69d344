"""Run the real server (gunicorn + gevent) as a subprocess and talk to it over HTTP.

Helpers: ``free_port``, PostgreSQL scratch databases, ``migrate`` (``flask db upgrade`` +
``flask seed``), ``ServerProcess`` and the ``ChatClient`` API helper.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

import requests

from tests.support.sse import SSEClient

REPO_ROOT = Path(__file__).resolve().parents[2]
# The maintenance database used to create/drop scratch ones; override for other setups.
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL",
                                    "postgresql://postgres@127.0.0.1:5432/postgres")
API_PREFIX = "/v1/chats"

Env = Mapping[str, "str | None"]  # a None value removes the variable from the environment


def free_port() -> int:
    """A TCP port that was free a moment ago (the OS picks it; tiny race is acceptable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_name(prefix: str = "u") -> str:
    """A unique user/room name: 1–32 chars of [A-Za-z0-9_.-]."""
    return f"{prefix[:23]}_{uuid.uuid4().hex[:8]}"


def merged_env(env: Env | None = None) -> dict[str, str]:
    out = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = str(value)
    return out


# -- PostgreSQL scratch databases -----------------------------------------------------------

def _admin_connection():
    import psycopg2  # imported lazily: unit tests of the SSE parser need no driver

    conn = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=5)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return conn


def postgres_available() -> bool:
    try:
        _admin_connection().close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not usable here"
        return False


def create_postgres_database(prefix: str = "chat_test", template: str | None = None) -> str:
    """Create a fresh, uniquely named database (a copy of the database named by the URL
    ``template``, if given) and return its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = _admin_connection()
    try:
        with conn.cursor() as cur:
            if template is None:
                cur.execute(f'CREATE DATABASE "{name}"')
            else:
                source = urlsplit(template).path.lstrip("/")
                cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    finally:
        conn.close()
    parts = urlsplit(POSTGRES_ADMIN_URL)
    return urlunsplit(parts._replace(path="/" + name))


def drop_postgres_database(url: str) -> None:
    """Drop the database named by ``url``, first ending every session still using it."""
    name = urlsplit(url).path.lstrip("/")
    assert name and name != urlsplit(POSTGRES_ADMIN_URL).path.lstrip("/"), url
    conn = _admin_connection()
    try:
        with conn.cursor() as cur:
            for attempt in range(10):
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                try:
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    return
                except Exception as exc:  # a pool reconnected between the two statements
                    if "being accessed by other users" not in str(exc) or attempt == 9:
                        raise
                    time.sleep(0.1)
    finally:
        conn.close()


# -- CLI -------------------------------------------------------------------------------------

def flask_cli(*args: str, env: Env | None = None, timeout: float = 120,
              cwd: str | Path = REPO_ROOT) -> str:
    """Run ``flask --app wsgi ARGS`` in the repo root; return its output, raise on failure."""
    cmd = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=merged_env(env), capture_output=True,
                          text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} exited {proc.returncode}:\n{output}")
    return output


def migrate(env: Env, cwd: str | Path = REPO_ROOT) -> str:
    """``flask db upgrade`` then ``flask seed`` against ``env['DATABASE_URL']``."""
    return flask_cli("db", "upgrade", env=env, cwd=cwd) + flask_cli("seed", env=env, cwd=cwd)


# -- the server process ----------------------------------------------------------------------

# Strong references: a server a test forgot (and dropped) must still be killed at exit.
_live_servers: set[ServerProcess] = set()


@atexit.register
def _kill_forgotten_servers() -> None:
    for server in list(_live_servers):
        server.kill()


def process_group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is in group ``pgid``.

    Orphaned workers are reparented to PID 1, which may take a while to reap them; a zombie
    holds no sockets any more, so it does not count.
    """
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not os.path.isdir("/proc"):
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process vanished meanwhile
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


class ServerProcess:
    """gunicorn (``-c gunicorn.conf.py wsgi:app``) on a free port, logging to a file.

    The process gets its own session (process group), so ``kill()`` also takes down the
    workers, which would otherwise outlive a SIGKILLed master.
    """

    def __init__(self, database_url: str | None, env: Env | None = None,
                 port: int | None = None, log_dir: str | Path | None = None,
                 cwd: str | Path = REPO_ROOT) -> None:
        self.cwd = Path(cwd)  # where gunicorn.conf.py and wsgi.py are (tests use a fake)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = self.url + API_PREFIX
        self.env: dict[str, str | None] = {"PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        if database_url is not None:
            self.env["DATABASE_URL"] = database_url
        self.env.update(env or {})
        self.log_path = Path(log_dir or tempfile.mkdtemp(prefix="chat-server-")) / "server.log"
        # The workers' metric files beside the log (gunicorn.conf.py would otherwise make a
        # temporary directory that a SIGKILLed server leaves behind).
        self.env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(self.log_path.with_name("metrics")))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> ServerProcess:
        """Start (or restart, same port) and wait until the healthcheck answers 200."""
        assert not self.running, "already running"
        # gunicorn >= 25 opens a control socket at one fixed per-user path by default;
        # give each test server its own so concurrent servers do not fight over it.
        cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
               "--control-socket", str(self.log_path.with_name("gunicorn.ctl")), "wsgi:app"]
        with open(self.log_path, "ab") as log:  # append: restarts keep earlier output
            self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=merged_env(self.env),
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        _live_servers.add(self)
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} while "
                                   f"starting:\n{self.log_text()}")
            try:
                if requests.get(self.api + "/healthcheck", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"server not healthy within {timeout}s:\n{self.log_text()}")
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM the master (graceful shutdown) and wait; return its exit code."""
        assert self.proc is not None, "never started"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise TimeoutError(f"server ignored SIGTERM for {timeout}s:\n{self.log_text()}")
        self._reap_group()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the master and its workers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        self._reap_group()

    def _reap_group(self, timeout: float = 5) -> None:
        # Workers left behind by a master that died (or exited before them) still share
        # our process group, whose id is the master's pid. Wait (bounded) until they are
        # gone: until then they hold the listening socket and the database connections.
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.monotonic() + timeout
        while process_group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        _live_servers.discard(self)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def client(self) -> ChatClient:
        return ChatClient(self.api)

    def __enter__(self) -> ServerProcess:
        return self if self.running else self.start()

    def __exit__(self, *exc: object) -> None:
        if self.running:
            self.terminate()


# -- API client ------------------------------------------------------------------------------

class APIError(AssertionError):
    """An unexpected status from a convenience call (carries the response)."""

    def __init__(self, response: requests.Response, expected: int) -> None:
        req = response.request
        super().__init__(f"{req.method} {req.url} → {response.status_code} "
                         f"(expected {expected}): {response.text[:500]}")
        self.response = response


def expect(response: requests.Response, status: int) -> requests.Response:
    if response.status_code != status:
        raise APIError(response, status)
    return response


class ChatClient:
    """One API user over a ``requests.Session``; paths are relative to ``/v1/chats``.

    Convenience calls check the documented success status (``APIError`` otherwise) and
    return the decoded body; use ``get/post/put/delete`` to test error answers.
    """

    def __init__(self, api: str | ServerProcess, timeout: float = 10) -> None:
        self.api: str = api.api if isinstance(api, ServerProcess) else api.rstrip("/")
        self.session = requests.Session()
        self.timeout = timeout
        self.user: dict[str, Any] | None = None
        self.token: str | None = None

    # raw requests
    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", self.timeout)
        return self.session.request(method, self.api + path, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    # accounts
    @property
    def id(self) -> str:
        assert self.user is not None, "not logged in"
        return self.user["id"]

    @property
    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def signup(self, name: str, password: str = "password123") -> dict[str, Any]:
        return expect(self.post("/users", json={"name": name, "password": password}), 201).json()

    def login(self, name: str, password: str = "password123", *,
              keep_cookie: bool = False) -> dict[str, Any]:
        """Sign in and authenticate this client by bearer token from now on.

        The session cookie is dropped unless ``keep_cookie``, so removing the header
        really makes the client anonymous.
        """
        body = expect(self.post("/sessions", json={"name": name, "password": password}),
                      201).json()
        if not keep_cookie:
            self.session.cookies.clear()
        self.token, self.user = body["token"], body["user"]
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        return body

    def register(self, name: str | None = None, password: str = "password123") -> ChatClient:
        """Sign up and log in (a unique name by default); returns self for chaining."""
        name = name or unique_name()
        self.signup(name, password)
        self.login(name, password)
        return self

    def logout(self) -> None:
        expect(self.delete("/sessions/current"), 204)
        self.session.headers.pop("Authorization", None)
        self.token = None

    # rooms and messages
    def create_room(self, name: str | None = None, kind: str = "public") -> dict[str, Any]:
        name = name or unique_name("room")
        return expect(self.post("/rooms", json={"name": name, "kind": kind}), 201).json()

    def join(self, room_id: str) -> requests.Response:
        return expect(self.post(f"/rooms/{room_id}/users", json={"chat_user": self.id}), 204)

    def leave(self, room_id: str) -> requests.Response:
        return expect(self.delete(f"/rooms/{room_id}/users/{self.id}"), 204)

    def post_message(self, room_id: str, text: str, id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"message": text}
        if id is not None:
            body["id"] = id
        return expect(self.post(f"/rooms/{room_id}/messages", json=body), 202).json()

    def history(self, room_id: str, **params: Any) -> list[dict[str, Any]]:
        return expect(self.get(f"/rooms/{room_id}/messages", params=params), 200).json()

    def rooms(self) -> list[dict[str, Any]]:
        return expect(self.get("/rooms"), 200).json()

    def general_room(self) -> dict[str, Any]:
        return next(r for r in self.rooms() if r["name"] == "general")

    # the event stream
    def subscribe(self, last_event_id: str | None = None, *, user_id: str | None = None,
                  headers: Mapping[str, str] | None = None, **kw: Any) -> SSEClient:
        """Open ``/users/{me}/subscribe`` with this client's token (not waiting for ready)."""
        hdrs = {**self.auth_header, **(headers or {})}
        if last_event_id is not None:
            hdrs["Last-Event-ID"] = last_event_id
        return SSEClient(f"{self.api}/users/{user_id or self.id}/subscribe", hdrs, **kw)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
