"""API.md "Operations" (1.1): `GET /metrics` counts the whole server — every gunicorn worker
summed, never one worker's share — plus request latency by route, batch sizes, last commit
time, database pool use and bus lag. Workers > 1 need a broker, so these servers use the
Redis at 127.0.0.1:6379 (skipped without it, except under CI=true)."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
import redis
import requests

from tests.api.core_support import wait_for
from tests.support.server import ChatClient

REDIS_URL = "redis://127.0.0.1:6379/0"
SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? "
                    r"(?P<value>\S+)$")


@pytest.fixture(scope="module", autouse=True)
def _redis():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")


def scrape(server) -> dict[str, list[tuple[str, float]]]:
    """{metric sample name: [(labels, value), ...]} from one fresh connection."""
    response = requests.get(server.api + "/metrics", timeout=10,
                            headers={"Connection": "close"})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    samples: dict[str, list[tuple[str, float]]] = {}
    for line in response.text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            samples.setdefault(match["name"], []).append(
                (match["labels"] or "", float(match["value"])))
    return samples


def total(samples, name) -> float:
    return sum(value for _, value in samples.get(name, []))


def workers_of(master_pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid and fields[0] not in ("Z", "X"):
            out.append(int(stat.parent.name))
    return sorted(out)


@pytest.fixture
def two_workers(server_factory, tmp_path):
    metrics_dir = tmp_path / "metrics"
    server = server_factory({"REDIS_URL": REDIS_URL, "WEB_CONCURRENCY": "2",
                             "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    wait_for(lambda: len(workers_of(server.pid)) == 2, what="two workers")
    return server, metrics_dir


def test_scrapes_sum_every_worker_and_never_go_backwards(two_workers):
    """Each request is counted exactly once whichever worker answers it (a scrape shows
    the server's total, not the answering worker's), and 20 scrapes, each on a new
    connection, never see the total go backwards."""
    server, metrics_dir = two_workers
    before = total(scrape(server), "chat_http_requests_total")
    requests_made = 40
    for _ in range(requests_made):
        assert requests.get(server.api + "/healthcheck", timeout=10,
                            headers={"Connection": "close"}).status_code == 200
    # Every scrape is counted too, once it has been answered.
    seen = [total(scrape(server), "chat_http_requests_total") for _ in range(20)]
    assert seen[0] == before + 1 + requests_made, (before, seen[0])
    assert seen == sorted(seen), seen
    assert seen[-1] == seen[0] + 19, seen
    # Both workers write their values into the one directory that is summed.
    pids = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("counter_*.db")}
    assert set(workers_of(server.pid)) <= pids, (pids, workers_of(server.pid))


def test_a_worker_restart_keeps_totals_and_drops_its_live_gauges(two_workers):
    """A worker that exits leaves its counted requests in the totals; its live gauges
    (open streams) leave the sum once the master has reaped it."""
    server, metrics_dir = two_workers
    client = ChatClient(server.api).register()
    stream = client.subscribe()
    stream.wait_ready()
    try:
        samples = scrape(server)
        assert total(samples, "chat_open_streams") == 1
        counted = total(samples, "chat_http_requests_total")
        old = workers_of(server.pid)
        for pid in old:  # one of them holds the stream; stop both, one after the other
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: pid not in workers_of(server.pid)
                     and len(workers_of(server.pid)) == 2, timeout=40, what="a new worker")
        assert stream.wait_closed(10)
        wait_for(lambda: requests.get(server.api + "/healthcheck", timeout=5).ok,
                 what="healthy again")
        after = scrape(server)
        assert total(after, "chat_http_requests_total") >= counted + 1
        assert total(after, "chat_open_streams") == 0
        for pid in old:
            assert not list(metrics_dir.glob(f"gauge_livesum_{pid}.db")), pid
    finally:
        stream.close()
        client.close()


def test_latency_by_route_pool_use_and_the_processor_metrics_are_exposed(two_workers):
    """Request latency is labelled with the route template (not the raw path, so not one
    series per id) and the method; pool use, batch sizes, last commit and bus lag are
    declared."""
    server, _ = two_workers
    client = ChatClient(server.api).register()
    try:
        room = client.create_room()
        client.get(f"/rooms/{room['id']}")
        requests.get(server.api + "/no/such/thing", timeout=10)
        samples = scrape(server)
    finally:
        client.close()
    counts = {labels: value for labels, value in
              samples["chat_http_request_duration_seconds_count"]}
    route = 'method="GET",route="/v1/chats/rooms/<uid:room_id>"'
    assert any(set(labels.split(",")) == set(route.split(",")) for labels in counts), counts
    assert not any(room["id"] in labels for labels in counts), counts
    assert any('route="unmatched"' in labels for labels in counts), counts
    assert any('route="/v1/chats/sessions"' in labels and 'method="POST"' in labels
               for labels in counts), counts
    assert total(samples, "chat_db_pool_in_use") >= 0
    response = requests.get(server.api + "/metrics", timeout=10).text
    for name in ("chat_store_batch_size", "chat_last_commit_timestamp_seconds",
                 "chat_db_pool_in_use", "chat_bus_lag_seconds", "chat_queue_depth",
                 "chat_open_streams"):
        assert f"# TYPE {name} " in response, name
