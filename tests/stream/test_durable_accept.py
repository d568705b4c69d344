"""A 202 is durable (API.md 1.1): SIGKILL of the whole instance right after the last 202
of a concurrent burst loses none of the answered messages."""

from __future__ import annotations

import signal
import os
from concurrent.futures import ThreadPoolExecutor

from tests.support.server import ChatClient


def test_sigkill_right_after_a_burst_keeps_every_202(server_factory):
    server = server_factory({"CHAT_RATE_LIMIT": "10000/second"})
    clients = [ChatClient(server.api).register() for _ in range(4)]
    room = clients[0].create_room()
    for client in clients[1:]:
        client.join(room["id"])

    def burst(client):
        answered = []
        for i in range(50):
            response = client.post(f"/rooms/{room['id']}/messages",
                                   json={"message": f"{client.id} {i}"})
            if response.status_code == 202:
                answered.append(response.json()["id"])
        return answered

    with ThreadPoolExecutor(len(clients)) as pool:
        answered = [mid for ids in pool.map(burst, clients) for mid in ids]
    os.killpg(server.pid, signal.SIGKILL)  # master and workers, no graceful drain
    server.kill()
    server.start()
    reader = ChatClient(server.api)
    reader.login(clients[0].user["name"])
    stored = {m["id"] for m in reader.history(room["id"], limit=200)}
    assert len(answered) == 200
    assert set(answered) <= stored
