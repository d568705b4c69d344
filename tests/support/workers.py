"""Which gunicorn worker serves a connection (Linux /proc), and a client whose requests all
go over one kept-alive connection, so the test knows the worker answering them.

A gunicorn master's workers are its children; a connection belongs to the worker holding
its server-side socket: /proc/net/tcp maps (server port, client port) to a socket inode,
/proc/<pid>/fd shows who holds it.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from pathlib import Path
from typing import Any


def children(pid: int) -> list[int]:
    """Live (non-zombie) child processes of ``pid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            out.append(int(stat.parent.name))
    return sorted(out)


def wait_for_workers(master: int, count: int, exclude: set[int] = frozenset(),
                     timeout: float = 20) -> list[int]:
    """Polls until the master has ``count`` workers, none of them in ``exclude``."""
    deadline = time.monotonic() + timeout
    while True:
        workers = children(master)
        if len(workers) == count and not set(workers) & set(exclude):
            return workers
        assert time.monotonic() < deadline, f"workers of {master}: {workers}"
        time.sleep(0.05)


def _socket_inode(server_port: int, client_port: int) -> int | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if int(local.rsplit(":", 1)[1], 16) == server_port and \
                    int(remote.rsplit(":", 1)[1], 16) == client_port and inode:
                return inode
    return None


def connection_owner(pids: list[int], server_port: int, client_port: int,
                     timeout: float = 5) -> int:
    """The pid (of ``pids``) holding the server side of the loopback connection from
    ``client_port`` to ``server_port``; polled, since a worker accepts asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        inode = _socket_inode(server_port, client_port)
        if inode is not None:
            target = f"socket:[{inode}]"
            for pid in pids:
                try:
                    fds = os.listdir(f"/proc/{pid}/fd")
                except OSError:
                    continue
                for fd in fds:
                    try:
                        if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                            return pid
                    except OSError:
                        continue
        assert time.monotonic() < deadline, \
            f"no worker of {pids} holds the connection from port {client_port}"
        time.sleep(0.02)


class PinnedClient:
    """API requests over one HTTP/1.1 keep-alive connection (never silently reopened: a
    closed connection raises), so every answer comes from the same worker."""

    def __init__(self, port: int, token: str, timeout: float = 15) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.auto_open = 0  # a dropped connection is an error, not a new worker
        self.conn.connect()
        self.headers = {"Authorization": f"Bearer {token}",
                        "Content-Type": "application/json"}

    @property
    def local_port(self) -> int:
        return self.conn.sock.getsockname()[1]

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, dict, Any]:
        data = None if body is None else json.dumps(body)
        self.conn.request(method, "/v1/chats" + path, body=data, headers=self.headers)
        response = self.conn.getresponse()
        raw = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, json.loads(raw) if raw else None

    def close(self) -> None:
        self.conn.close()
