"""The authorization matrix of API.md: for every endpoint, the exact status each kind of
caller gets. One table drives it; a second test walks the app's URL map so an endpoint
added without a row here fails the suite.

Roles (columns of the table):
  anon      no credentials at all
  expired   a real token whose session has expired
  acct_ban  a user whose account is banned (the ban ended their sessions: their token
            no longer works; signing in answers 403 banned)
  outsider  signed in, not a member of the room
  member    a plain member of the room
  room_ban  banned from the room
  owner     the room's owner
  admin     an admin (made with the CLI) who is not a member of the room

Room endpoints have one row per room kind: `public` and `private` (a private room the
caller is not in answers 404 on every endpoint: visibility comes first). Rows whose
request changes the room (join, leave, kick, delete) get a fresh room per call, built
the same way: owner + member + a second member + a banned user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Callable

import pytest
import requests

from tests.support.checks import WAIT
from tests.support.server import ChatClient, flask_cli, unique_name

ROLES = ("anon", "expired", "acct_ban", "outsider", "member", "room_ban", "owner", "admin")
PASSWORD = "password123"


# -- requests ----------------------------------------------------------------------------

@dataclass
class Caller:
    role: str
    name: str | None = None
    id: str | None = None
    token: str | None = None


@dataclass
class Req:
    path: str
    json: Any = None
    params: dict[str, str] | None = None
    token: str | None = None
    use_token: bool = False  # True: send `token` instead of the caller's own


class World:
    """Everything the rows need, built once per module and backend."""

    def __init__(self, live_server, server_env, database_url):
        self.server = live_server
        self.http = requests.Session()
        self.http.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # no cookies
        self.clients: dict[str, ChatClient] = {}
        for role in ("owner", "member", "outsider", "room_ban", "admin", "acct_ban",
                     "expired"):
            self.clients[role] = ChatClient(live_server).register(unique_name(role))
        self.spare = ChatClient(live_server).register(unique_name("spare"))
        flask_cli("users", "make-admin", self.clients["admin"].user["name"], env=server_env)
        self.admin, self.owner = self.clients["admin"], self.clients["owner"]
        # The account-banned user keeps the token they had before the ban.
        banned = self.clients["acct_ban"]
        assert self.admin.post(f"/users/{banned.id}/ban",
                               json={"reason": "matrix"}).status_code == 201
        expire_session(database_url, self.clients["expired"].token)
        self.callers = {"anon": Caller("anon")}
        for role, client in self.clients.items():
            self.callers[role] = Caller(role, client.user["name"], client.id, client.token)
        # Shared rooms for the rows that do not change the room, each with a stored message.
        self.rooms: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, str] = {}
        with self.owner.subscribe() as stream:
            stream.wait_ready(WAIT)
            for kind in ("public", "private"):
                room = self.room(kind, second_member=False)
                message = self.owner.post_message(room["id"], f"hello {kind}")
                stream.events_until(lambda e, m=message: e.event == "message"
                                    and e.json()["id"] == m["id"], timeout=WAIT)
                self.rooms[kind], self.messages[kind] = room, message["id"]

    def fresh_user_id(self) -> str:
        """A new account's id (a victim, an invitee, a direct-room peer)."""
        with ChatClient(self.server) as client:
            return client.signup(unique_name("v"), PASSWORD)["id"]

    def room(self, kind: str, second_member: bool = True) -> dict[str, Any]:
        """A room of `kind` owned by the owner, with the member (and a second member,
        the target of kicks) in it and the room-banned user banned."""
        room = self.owner.create_room(kind=kind)
        joiners = [self.clients["member"]]
        if second_member:
            joiners.append(ChatClient(self.server).register(unique_name("target")))
            room["target"] = joiners[-1].id
        for client in joiners:
            if kind == "private":
                assert self.owner.post(f"/rooms/{room['id']}/invitations",
                                       json={"user": client.id}).status_code == 201
            assert client.post(f"/rooms/{room['id']}/users",
                               json={"chat_user": client.id}).status_code == 204
        if second_member:
            joiners[-1].close()
        assert self.owner.post(f"/rooms/{room['id']}/bans", json={
            "user": self.clients["room_ban"].id, "reason": "matrix"}).status_code == 201
        return room

    def login(self, caller: Caller) -> str:
        response = self.http.post(f"{self.server.api}/sessions",
                                  json={"name": caller.name, "password": PASSWORD})
        assert response.status_code == 201, response.text
        return response.json()["token"]

    def close(self):
        for client in [*self.clients.values(), self.spare]:
            client.close()
        self.http.close()


def expire_session(database_url: str, token: str) -> None:
    """Moves a session's expiry into the past, straight in the database."""
    from sqlalchemy import create_engine, update

    from chat.auth import token_hash
    from chat.config import database_url as sqlalchemy_url
    from chat.models import Session

    engine = create_engine(sqlalchemy_url({"DATABASE_URL": database_url}, "/nonexistent"))
    try:
        with engine.begin() as conn:
            table = Session.__table__
            changed = conn.execute(update(table).where(table.c.token_hash == token_hash(token))
                                   .values(expires_at=datetime(2000, 1, 1,
                                                               tzinfo=timezone.utc))).rowcount
    finally:
        engine.dispose()
    assert changed == 1


# -- what each row asks --------------------------------------------------------------------
# A prepare function gets (world, caller, kind) and returns the request to make. `me` is
# the caller's own id (for the anonymous caller: some real user's id).

def me(w: World, c: Caller) -> str:
    return c.id or w.spare.id


def own_credentials(w: World, c: Caller) -> Req:
    if c.name is None:  # anonymous: a plain account's credentials
        return Req("/sessions", {"name": w.spare.user["name"], "password": PASSWORD})
    return Req("/sessions", {"name": c.name, "password": PASSWORD})


def sign_out(w: World, c: Caller) -> Req:
    # A fresh session of the caller's own, so signing out does not break later rows;
    # callers who cannot sign in use what they have.
    if c.role in ("owner", "member", "outsider", "room_ban", "admin"):
        return Req("/sessions/current", token=w.login(c), use_token=True)
    return Req("/sessions/current")


def banned_account(w: World, c: Caller) -> Req:
    victim = w.fresh_user_id()
    assert w.admin.post(f"/users/{victim}/ban", json={"reason": "x"}).status_code == 201
    return Req(f"/users/{victim}/ban")


def invitation_for_outsider(w: World, c: Caller, action: str) -> Req:
    room = w.owner.create_room(kind="private")
    response = w.owner.post(f"/rooms/{room['id']}/invitations",
                            json={"user": w.clients["outsider"].id})
    assert response.status_code == 201, response.text
    return Req(f"/invitations/{response.json()['id']}/{action}")


def room_ban_to_lift(w: World, c: Caller, kind: str) -> Req:
    room, victim = w.rooms[kind], w.fresh_user_id()
    assert w.owner.post(f"/rooms/{room['id']}/bans",
                        json={"user": victim, "reason": "x"}).status_code == 201
    return Req(f"/rooms/{room['id']}/bans/{victim}")


def shared(kind: str, w: World) -> str:
    return w.rooms[kind]["id"]


def fresh(w: World, c: Caller, kind: str) -> dict[str, Any]:
    """A fresh room for a row that changes it. Callers without a working session aim at
    the shared room instead (setting up a room per refusal only costs time): were one of
    them ever let through, the change would surface in the shared room's rows too."""
    if c.role in ("anon", "expired", "acct_ban"):
        return {**w.rooms[kind], "target": w.clients["member"].id}
    return w.room(kind)


def message_path(w: World, kind: str) -> str:
    return f"/rooms/{shared(kind, w)}/messages/{w.messages[kind]}"


def members_fresh_message(w: World, c: Caller, kind: str) -> Req:
    """A new message by the plain member in the shared room (a deletion uses it up);
    callers without a working session aim at the shared message."""
    if c.role in ("anon", "expired", "acct_ban"):
        return Req(message_path(w, kind))
    message = w.clients["member"].post_message(shared(kind, w), "to be deleted")
    return Req(f"/rooms/{shared(kind, w)}/messages/{message['id']}")


THUMBS_UP = "%F0%9F%91%8D"


# -- the table -------------------------------------------------------------------------------

U = "/v1/chats"
P = Callable[[World, Caller, str], Req]


@dataclass
class Row:
    method: str
    rule: str  # exactly as in the app's URL map
    case: str  # which variant of the endpoint (room kind, whose id, ...)
    expect: tuple[int, ...]  # one status per role, in ROLES order
    prepare: P
    stream: bool = False


ROWS = [
    #   method  rule                                       case
    #   anon expired acct_ban outsider member room_ban owner admin
    Row("GET", U + "/healthcheck", "no sign-in",
        (200, 200, 200, 200, 200, 200, 200, 200), lambda w, c, k: Req("/healthcheck")),
    Row("GET", U + "/openapi.json", "no sign-in",
        (200, 200, 200, 200, 200, 200, 200, 200), lambda w, c, k: Req("/openapi.json")),
    Row("GET", U + "/metrics", "no sign-in",
        (200, 200, 200, 200, 200, 200, 200, 200), lambda w, c, k: Req("/metrics")),
    Row("POST", U + "/users", "sign up",
        (201, 201, 201, 201, 201, 201, 201, 201),
        lambda w, c, k: Req("/users", {"name": unique_name("new"), "password": PASSWORD})),
    Row("POST", U + "/sessions", "own credentials",
        (201, 201, 403, 201, 201, 201, 201, 201), lambda w, c, k: own_credentials(w, c)),
    Row("DELETE", U + "/sessions/current", "own session",
        (401, 401, 401, 204, 204, 204, 204, 204), lambda w, c, k: sign_out(w, c)),

    Row("GET", U + "/users/me", "self",
        (401, 401, 401, 200, 200, 200, 200, 200), lambda w, c, k: Req("/users/me")),
    Row("GET", U + "/users/<uid:user_id>", "another user",
        (401, 401, 401, 200, 200, 200, 200, 200),
        lambda w, c, k: Req(f"/users/{w.spare.id}")),
    Row("GET", U + "/users", "by name",
        (401, 401, 401, 200, 200, 200, 200, 200),
        lambda w, c, k: Req("/users", params={"name": w.spare.user["name"]})),
    Row("GET", U + "/users/<uid:user_id>/rooms", "own",
        (401, 401, 401, 200, 200, 200, 200, 200),
        lambda w, c, k: Req(f"/users/{me(w, c)}/rooms")),
    Row("GET", U + "/users/<uid:user_id>/rooms", "another user's",
        (401, 401, 401, 403, 403, 403, 403, 403),
        lambda w, c, k: Req(f"/users/{w.spare.id}/rooms")),
    Row("DELETE", U + "/users/<uid:user_id>", "another user",
        (401, 401, 401, 403, 403, 403, 403, 204),
        lambda w, c, k: Req(f"/users/{w.fresh_user_id()}")),
    Row("PUT", U + "/users/<uid:user_id>/direct", "with a new peer",
        (401, 401, 401, 201, 201, 201, 201, 201),
        lambda w, c, k: Req(f"/users/{w.fresh_user_id()}/direct")),
    Row("PUT", U + "/users/<uid:user_id>/direct", "with yourself",
        (401, 401, 401, 400, 400, 400, 400, 400),
        lambda w, c, k: Req(f"/users/{me(w, c)}/direct")),
    Row("GET", U + "/users/me/invitations", "own",
        (401, 401, 401, 200, 200, 200, 200, 200), lambda w, c, k: Req("/users/me/invitations")),
    Row("GET", U + "/users/<uid:user_id>/subscribe", "own stream",
        (401, 401, 401, 200, 200, 200, 200, 200),
        lambda w, c, k: Req(f"/users/{me(w, c)}/subscribe"), stream=True),
    Row("GET", U + "/users/<uid:user_id>/subscribe", "another user's stream",
        (401, 401, 401, 403, 403, 403, 403, 403),
        lambda w, c, k: Req(f"/users/{w.spare.id}/subscribe"), stream=True),
    Row("POST", U + "/users/<uid:user_id>/ban", "another account",
        (401, 401, 401, 403, 403, 403, 403, 201),
        lambda w, c, k: Req(f"/users/{w.fresh_user_id()}/ban", {"reason": "matrix"})),
    Row("DELETE", U + "/users/<uid:user_id>/ban", "a banned account",
        (401, 401, 401, 403, 403, 403, 403, 204), lambda w, c, k: banned_account(w, c)),

    Row("POST", U + "/rooms", "new room",
        (401, 401, 401, 201, 201, 201, 201, 201),
        lambda w, c, k: Req("/rooms", {"name": unique_name("room"), "kind": "private"})),
    Row("GET", U + "/rooms", "list",
        (401, 401, 401, 200, 200, 200, 200, 200), lambda w, c, k: Req("/rooms")),

    # The invitation (to a fresh private room, from the owner) is addressed to the outsider.
    Row("POST", U + "/invitations/<uid:invitation_id>/accept", "addressed to the outsider",
        (401, 401, 401, 204, 403, 403, 403, 403),
        lambda w, c, k: invitation_for_outsider(w, c, "accept")),
    Row("GET", U + "/search/messages", "every room of one's own",
        (401, 401, 401, 200, 200, 200, 200, 200),
        lambda w, c, k: Req("/search/messages", params={"q": "hello"})),
    Row("POST", U + "/invitations/<uid:invitation_id>/decline", "addressed to the outsider",
        (401, 401, 401, 204, 403, 403, 403, 403),
        lambda w, c, k: invitation_for_outsider(w, c, "decline")),
]

ROOM_ROWS = [
    # method, rule, case, {kind: statuses}, prepare(w, c, kind)
    ("GET", "/rooms/<uid:room_id>", "",
     {"public": (401, 401, 401, 200, 200, 403, 200, 200),
      "private": (401, 401, 401, 404, 200, 404, 200, 404)},
     lambda w, c, k: Req(f"/rooms/{shared(k, w)}")),
    ("DELETE", "/rooms/<uid:room_id>", "fresh room",
     {"public": (401, 401, 401, 403, 403, 403, 204, 204),
      "private": (401, 401, 401, 404, 403, 404, 204, 204)},
     lambda w, c, k: Req(f"/rooms/{fresh(w, c, k)['id']}")),
    ("GET", "/rooms/<uid:room_id>/users", "",
     {"public": (401, 401, 401, 200, 200, 403, 200, 200),
      "private": (401, 401, 401, 404, 200, 404, 200, 404)},
     lambda w, c, k: Req(f"/rooms/{shared(k, w)}/users")),
    ("POST", "/rooms/<uid:room_id>/users", "join yourself, fresh room",
     {"public": (401, 401, 401, 204, 409, 403, 409, 204),
      "private": (401, 401, 401, 404, 409, 404, 409, 404)},
     lambda w, c, k: Req(f"/rooms/{fresh(w, c, k)['id']}/users", {"chat_user": me(w, c)})),
    ("DELETE", "/rooms/<uid:room_id>/users/<uid:user_id>", "kick a member, fresh room",
     {"public": (401, 401, 401, 403, 403, 403, 204, 204),
      "private": (401, 401, 401, 404, 403, 404, 204, 204)},
     lambda w, c, k: (lambda r: Req(f"/rooms/{r['id']}/users/{r['target']}"))(fresh(w, c, k))),
    ("DELETE", "/rooms/<uid:room_id>/users/<uid:user_id>", "leave yourself, fresh room",
     {"public": (401, 401, 401, 404, 204, 403, 204, 404),
      "private": (401, 401, 401, 404, 204, 404, 204, 404)},
     lambda w, c, k: Req(f"/rooms/{fresh(w, c, k)['id']}/users/{me(w, c)}")),
    ("POST", "/rooms/<uid:room_id>/invitations", "a new user",
     {"public": (401, 401, 401, 403, 201, 403, 201, 403),
      "private": (401, 401, 401, 404, 201, 404, 201, 404)},
     lambda w, c, k: Req(f"/rooms/{shared(k, w)}/invitations", {"user": w.fresh_user_id()})),
    ("POST", "/rooms/<uid:room_id>/bans", "a new user",
     {"public": (401, 401, 401, 403, 403, 403, 201, 201),
      "private": (401, 401, 401, 404, 403, 404, 201, 201)},
     lambda w, c, k: Req(f"/rooms/{shared(k, w)}/bans",
                         {"user": w.fresh_user_id(), "reason": "matrix"})),
    ("GET", "/rooms/<uid:room_id>/bans", "",
     {"public": (401, 401, 401, 403, 403, 403, 200, 200),
      "private": (401, 401, 401, 404, 403, 404, 200, 200)},
     lambda w, c, k: Req(f"/rooms/{shared(k, w)}/bans")),
    ("DELETE", "/rooms/<uid:room_id>/bans/<uid:user_id>", "a banned user",
     {"public": (401, 401, 401, 403, 403, 403, 204, 204),
      "private": (401, 401, 401, 404, 403, 404, 204, 204)},
     lambda w, c, k: room_ban_to_lift(w, c, k)),
    ("POST", "/rooms/<uid:room_id>/messages", "",
     {"public": (401, 401, 401, 403, 202, 403, 202, 403),
      "private": (401, 401, 401, 404, 202, 404, 202, 404)},
     lambda w, c, k: Req(f"/rooms/{shared(k, w)}/messages", {"message": f"from {c.role}"})),
    ("GET", "/rooms/<uid:room_id>/messages", "",
     {"public": (401, 401, 401, 200, 200, 403, 200, 200),
      "private": (401, 401, 401, 404, 200, 404, 200, 404)},
     lambda w, c, k: Req(f"/rooms/{shared(k, w)}/messages")),
    ("GET", "/rooms/<uid:room_id>/messages/<uid:message_id>", "",
     {"public": (401, 401, 401, 200, 200, 403, 200, 200),
      "private": (401, 401, 401, 404, 200, 404, 200, 404)},
     lambda w, c, k: Req(message_path(w, k))),
    ("PATCH", "/rooms/<uid:room_id>/messages/<uid:message_id>", "the owner's message",
     {"public": (401, 401, 401, 403, 403, 403, 200, 403),
      "private": (401, 401, 401, 404, 403, 404, 200, 404)},
     lambda w, c, k: Req(message_path(w, k), {"message": f"edited by {c.role}"})),
    ("DELETE", "/rooms/<uid:room_id>/messages/<uid:message_id>", "a member's new message",
     {"public": (401, 401, 401, 403, 204, 403, 204, 204),
      "private": (401, 401, 401, 404, 204, 404, 204, 204)},
     members_fresh_message),
    ("PUT", "/rooms/<uid:room_id>/messages/<uid:message_id>/reactions/<emoji>", "",
     {"public": (401, 401, 401, 403, 204, 403, 204, 403),
      "private": (401, 401, 401, 404, 204, 404, 204, 404)},
     lambda w, c, k: Req(message_path(w, k) + f"/reactions/{THUMBS_UP}")),
    ("DELETE", "/rooms/<uid:room_id>/messages/<uid:message_id>/reactions/<emoji>", "",
     {"public": (401, 401, 401, 403, 204, 403, 204, 403),
      "private": (401, 401, 401, 404, 204, 404, 204, 404)},
     lambda w, c, k: Req(message_path(w, k) + f"/reactions/{THUMBS_UP}")),
    ("POST", "/rooms/<uid:room_id>/typing", "",
     {"public": (401, 401, 401, 403, 204, 403, 204, 403),
      "private": (401, 401, 401, 404, 204, 404, 204, 404)},
     lambda w, c, k: Req(f"/rooms/{shared(k, w)}/typing")),
    ("GET", "/search/messages", "in one room",
     {"public": (401, 401, 401, 200, 200, 403, 200, 200),
      "private": (401, 401, 401, 404, 200, 404, 200, 404)},
     lambda w, c, k: Req("/search/messages", params={"q": "hello", "room": shared(k, w)})),
    ("PUT", "/rooms/<uid:room_id>/read", "",
     {"public": (401, 401, 401, 403, 204, 403, 204, 403),
      "private": (401, 401, 401, 404, 204, 404, 204, 404)},
     lambda w, c, k: Req(f"/rooms/{shared(k, w)}/read", {"message": w.messages[k]})),
]

for _method, _rule, _case, _by_kind, _prepare in ROOM_ROWS:
    for _kind, _expect in _by_kind.items():
        ROWS.append(Row(_method, U + _rule, f"{_kind} room" + (f", {_case}" if _case else ""),
                        _expect, lambda w, c, k, p=_prepare, kind=_kind: p(w, c, kind)))

for _row in ROWS:
    assert len(_row.expect) == len(ROLES), _row


# -- the tests -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(live_server, server_env, database_url):
    w = World(live_server, server_env, database_url)
    yield w
    w.close()


def call(w: World, row: Row, caller: Caller) -> tuple[int, str]:
    req = row.prepare(w, caller, "")  # room rows carry their kind themselves
    token = req.token if req.use_token else caller.token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = w.http.request(row.method, w.server.api + req.path, json=req.json,
                              params=req.params, headers=headers, timeout=10,
                              stream=row.stream)
    try:
        status = response.status_code
        if status >= 400:  # every refusal is the JSON error shape, with a fitting code
            error = response.json()["error"]
            assert set(error) >= {"code", "message"}, response.text
            if status == 401:
                assert error["code"] == "unauthenticated", response.text
            return status, error["code"]
        if row.stream:
            assert response.headers["Content-Type"].startswith("text/event-stream")
        return status, ""
    finally:
        response.close()


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.method} {r.rule[len(U):]} [{r.case}]"
                                           for r in ROWS])
def test_endpoint_answers_each_role_as_documented(world, row):
    """Each role gets exactly the status of API.md for this endpoint (visibility first,
    then bans, then membership/ownership/admin rights); refusals are JSON errors."""
    mismatches = []
    for role, expected in zip(ROLES, row.expect):
        status, code = call(world, row, world.callers[role])
        if status != expected:
            mismatches.append(f"{role}: expected {expected}, got {status} {code}")
    assert not mismatches, f"{row.method} {row.rule} [{row.case}]: " + "; ".join(mismatches)


def test_every_route_has_a_row():
    """Every (method, rule) of the app's URL map under /v1/chats has a row in the table,
    and every row names a real route: a new endpoint needs its authorization row."""
    from chat import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules()
              if rule.rule.startswith(U) for method in rule.methods - {"HEAD", "OPTIONS"}}
    table = {(row.method, row.rule) for row in ROWS}
    assert routes - table == set(), "endpoints without a row in the authorization table"
    assert table - routes == set(), "rows naming no route of the app"


def test_room_ban_and_visibility_codes(world):
    """The codes behind the statuses: a room-banned user gets `banned`, an outsider of a
    public room `not_member` when posting, `not_found` for a private room."""
    banned = ChatClient(world.server)
    banned.login(world.clients["room_ban"].user["name"])
    outsider = world.clients["outsider"]
    public, private = world.rooms["public"]["id"], world.rooms["private"]["id"]
    try:
        assert banned.get(f"/rooms/{public}/messages").json()["error"]["code"] == "banned"
        assert banned.get(f"/rooms/{public}/bans").json()["error"]["code"] == "banned"
        response = outsider.post(f"/rooms/{public}/messages", json={"message": "hi"})
        assert response.json()["error"]["code"] == "not_member"
        assert outsider.get(f"/rooms/{private}").json()["error"]["code"] == "not_found"
        login = world.http.post(f"{world.server.api}/sessions", json={
            "name": world.clients["acct_ban"].user["name"], "password": PASSWORD})
        assert login.status_code == 403 and login.json()["error"]["code"] == "banned"
    finally:
        banned.close()


def test_garbage_and_signed_out_tokens_are_401(world):
    """A malformed token, a random one, and a signed-out one all answer 401
    unauthenticated, never 500, on an authenticated endpoint."""
    signed_out = world.login(world.callers["member"])
    assert world.http.delete(f"{world.server.api}/sessions/current",
                             headers={"Authorization": f"Bearer {signed_out}"}
                             ).status_code == 204
    for header in (f"Bearer {signed_out}", f"Bearer {uuid.uuid4().hex}", "Bearer", "Basic x",
                   "Bearer \u00e9\u00e9"):
        response = world.http.get(f"{world.server.api}/users/me",
                                  headers={"Authorization": header.encode("utf-8")})
        assert response.status_code == 401, (header, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"
