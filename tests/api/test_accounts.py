"""API.md "Authentication" and "Users": sign-up, sessions (token + cookie, logout,
expiry, cross-site refusal), the User object, lookups, a user's rooms, account deletion."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone
from http.cookies import SimpleCookie

import pytest
import requests

from tests.api.core_support import (
    assert_room,
    assert_user,
    parse_time,
    sql,
    unique_room_name,
    wait_stored,
)
from tests.support.checks import assert_error
from tests.support.server import ChatClient, unique_name

PASSWORD = "password123"


def _set_cookie(response):
    """The session cookie's attributes from Set-Cookie: (name, value, {attr: value})."""
    header = response.headers.get("Set-Cookie")
    assert header, response.headers
    cookie = SimpleCookie()
    cookie.load(header)
    assert len(cookie) == 1, header
    (name, morsel), = cookie.items()
    lowered = header.lower()
    flags = {
        "httponly": "httponly" in lowered,
        "secure": "; secure" in lowered,
        "samesite": morsel["samesite"],
        "path": morsel["path"],
        "expires": morsel["expires"],
        "max-age": morsel["max-age"],
    }
    return name, morsel.value, flags


def _cookie_client(live_server, name):
    """A client authenticated by the session cookie only (no Authorization header)."""
    client = ChatClient(live_server.api)
    client.login(name, PASSWORD, keep_cookie=True)
    client.session.headers.pop("Authorization")
    assert client.session.cookies, "login set no cookie"
    return client


# -- sign-up -------------------------------------------------------------------------------

def test_signup_returns_the_user_who_is_then_in_general(anon, api):
    """POST /users → 201 User {id, name, api_user, created_at}; api_user defaults to null;
    every new user joins `general`."""
    name = unique_name("Mixed.Case-")
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    response = anon.post("/users", json={"name": name, "password": PASSWORD})
    assert response.status_code == 201, response.text
    user = response.json()
    assert_user(user, name=name, api_user=None)
    assert before <= parse_time(user["created_at"]) <= datetime.now(timezone.utc) + \
        timedelta(seconds=5)
    me = ChatClient(anon.api)
    try:
        me.login(name, PASSWORD)
        assert me.user == user
        general = me.general_room()
        assert_room(general, name="general", kind="public")
        assert general["id"] in {r["id"] for r in me.get(f"/users/{user['id']}/rooms").json()}
        members = me.get(f"/rooms/{general['id']}/users").json()
        assert user["id"] in {m["id"] for m in members}
    finally:
        me.close()


def test_signup_keeps_api_user(anon, api):
    """`api_user` is an optional UUID kept on the account (null when omitted or null)."""
    outside = str(uuid.uuid4())
    name = unique_name()
    user = anon.post("/users", json={"name": name, "password": PASSWORD,
                                     "api_user": outside}).json()
    assert_user(user, name=name, api_user=outside)
    viewer = api()
    assert viewer.get(f"/users/{user['id']}").json()["api_user"] == outside
    explicit_null = anon.post("/users", json={"name": unique_name(), "password": PASSWORD,
                                              "api_user": None})
    assert explicit_null.status_code == 201 and explicit_null.json()["api_user"] is None


def test_signup_name_rules(anon):
    """Names are 1–32 chars of [A-Za-z0-9_.-] (else 400 invalid_name) and unique
    case-insensitively (409 name_taken)."""
    for bad in ("", "a" * 33, "with space", "slash/name", "ünïcode", "bang!", "tab\t",
                "new\nline", "émile", "at@sign", " lead", "trail "):
        assert_error(anon.post("/users", json={"name": bad, "password": PASSWORD}),
                     400, "invalid_name")
    suffix = uuid.uuid4().hex[:8]
    for good in ("a" + suffix, ("Z" + suffix * 4)[:32], f"A.b-c_9{suffix}"):
        response = anon.post("/users", json={"name": good, "password": PASSWORD})
        assert response.status_code == 201, (good, response.text)
        assert response.json()["name"] == good
    one_char = anon.post("/users", json={"name": "q", "password": PASSWORD})  # fresh db
    assert one_char.status_code == 201, one_char.text
    name = unique_name("Taken")
    assert anon.post("/users", json={"name": name, "password": PASSWORD}).status_code == 201
    for duplicate in (name, name.upper(), name.lower()):
        assert_error(anon.post("/users", json={"name": duplicate, "password": "other-pass1"}),
                     409, "name_taken")
    # The system users are taken too.
    for system in ("ghost", "GHOST", "chatterly-bot"):
        assert_error(anon.post("/users", json={"name": system, "password": PASSWORD}),
                     409, "name_taken")


def test_signup_password_rules(anon):
    """Passwords are 8–128 characters, else 400 invalid_password; both ends work."""
    for bad in ("", "short", "7-chars", "x" * 129):
        assert_error(anon.post("/users", json={"name": unique_name(), "password": bad}),
                     400, "invalid_password")
    for good in ("8-chars!", "y" * 128):
        name = unique_name()
        assert anon.post("/users", json={"name": name, "password": good}).status_code == 201
        login = anon.post("/sessions", json={"name": name, "password": good})
        assert login.status_code == 201, login.text


def test_passwords_and_tokens_are_stored_only_hashed(anon, database_url):
    """The password is kept only as a salted hash; tokens are random (≥128 bits) and
    stored hashed."""
    names = [unique_name(), unique_name()]
    secret = "same-Secret-123"
    tokens = []
    for name in names:
        anon.post("/users", json={"name": name, "password": secret})
        tokens.append(anon.post("/sessions", json={"name": name, "password": secret})
                      .json()["token"])
    rows = sql(database_url, "SELECT password_hash FROM users WHERE name IN (:a, :b)",
               a=names[0], b=names[1])
    hashes = [row[0] for row in rows]
    assert len(hashes) == 2 and hashes[0] != hashes[1]  # salted
    assert all(secret not in h for h in hashes)
    assert tokens[0] != tokens[1] and all(len(t) >= 22 for t in tokens)  # ≥ 128 bits
    dump = " ".join(str(cell) for row in sql(database_url, "SELECT * FROM sessions")
                    for cell in row)
    assert all(token not in dump for token in tokens)


# -- users ---------------------------------------------------------------------------------

def test_me_get_and_lookup_by_name(api):
    """GET /users/me, GET /users/{id} (404 unknown), GET /users?name= (0 or 1 item; no
    name: 400)."""
    me, other = api(), api()
    mine = me.get("/users/me")
    assert mine.status_code == 200 and mine.json() == me.user
    assert_user(mine.json())
    theirs = me.get(f"/users/{other.id}")
    assert theirs.status_code == 200 and theirs.json() == other.user
    assert_error(me.get(f"/users/{uuid.uuid4()}"), 404, "not_found")
    found = me.get("/users", params={"name": other.user["name"]})
    assert found.status_code == 200 and found.json() == [other.user]
    assert me.get("/users", params={"name": unique_name()}).json() == []
    assert_error(me.get("/users"), 400, "validation_error")


def test_a_users_rooms_with_unread_counts(api):
    """GET /users/{id}/rooms: the caller's rooms (not other public rooms), each with
    unread_count (others' messages after the read marker) and last_read; others: 403."""
    me, other = api(), api()
    mine = me.create_room()
    elsewhere = other.create_room()  # public, but I am not in it
    other.join(mine["id"])
    posted = [other.post_message(mine["id"], f"from other {i}") for i in range(3)]
    posted.append(me.post_message(mine["id"], "from me"))
    wait_stored(me, mine["id"], [m["id"] for m in posted])

    response = me.get(f"/users/{me.id}/rooms")
    assert response.status_code == 200
    rooms = {r["id"]: r for r in response.json()}
    assert elsewhere["id"] not in rooms
    assert {me.general_room()["id"], mine["id"]} == set(rooms)
    for room in rooms.values():
        assert set(room) == {"id", "name", "kind", "owner", "created_at", "unread_count",
                             "mention_count", "last_read"}, room
    assert rooms[mine["id"]]["unread_count"] == 3  # my own message does not count
    assert rooms[mine["id"]]["last_read"] is None
    assert {k: rooms[mine["id"]][k] for k in ("id", "name", "kind", "owner", "created_at")} \
        == mine
    assert me.put(f"/rooms/{mine['id']}/read", json={"message": posted[1]["id"]}) \
        .status_code == 204
    after = {r["id"]: r for r in me.get(f"/users/{me.id}/rooms").json()}[mine["id"]]
    assert after["unread_count"] == 1 and after["last_read"] == posted[1]["id"]
    assert_error(me.get(f"/users/{other.id}/rooms"), 403, "forbidden")
    assert_error(me.get(f"/users/{uuid.uuid4()}/rooms"), 403, "forbidden")


def test_deleting_your_account(api, live_server):
    """DELETE /users/{id} by yourself: 204; messages move to `ghost`, memberships (a room
    left empty is deactivated), sessions and streams end; the account is gone."""
    leaving, stays = api(), api()
    shared = stays.create_room()
    leaving.join(shared["id"])
    solo = leaving.create_room()
    message = leaving.post_message(shared["id"], "I was here")
    wait_stored(stays, shared["id"], [message["id"]])
    name = leaving.user["name"]
    stream = leaving.subscribe()
    stream.wait_ready()
    try:
        assert_error(stays.delete(f"/users/{leaving.id}"), 403, "forbidden")
        response = leaving.delete(f"/users/{leaving.id}")
        assert response.status_code == 204 and not response.content
        assert stream.wait_closed(5), "the deleted user's stream stayed open"
    finally:
        stream.close()
    assert_error(leaving.get("/users/me"), 401, "unauthenticated")
    assert_error(stays.get(f"/users/{leaving.id}"), 404, "not_found")
    assert stays.get("/users", params={"name": name}).json() == []
    assert_error(leaving.post("/sessions", json={"name": name, "password": PASSWORD}),
                 401, "invalid_credentials")
    ghost = stays.get("/users", params={"name": "ghost"}).json()
    assert len(ghost) == 1
    history = stays.history(shared["id"])
    assert [(m["id"], m["user"], m["message"]) for m in history] == \
        [(message["id"], ghost[0]["id"], "I was here")]
    members = {m["id"] for m in stays.get(f"/rooms/{shared['id']}/users").json()}
    assert members == {stays.id}
    general_members = stays.get(f"/rooms/{stays.general_room()['id']}/users").json()
    assert leaving.id not in {m["id"] for m in general_members}
    assert_error(stays.get(f"/rooms/{solo['id']}"), 404, "not_found")  # left empty
    assert solo["id"] not in {r["id"] for r in stays.rooms()}


# -- sessions ------------------------------------------------------------------------------

def test_login_answers_token_expiry_user_and_an_httponly_lax_cookie(anon, api):
    """POST /sessions → 201 {token, expires_at, user} (30 days by default) and a session
    cookie that is HttpOnly and SameSite=Lax (not Secure over plain http)."""
    name = unique_name()
    user = anon.post("/users", json={"name": name, "password": PASSWORD}).json()
    response = requests.post(anon.api + "/sessions", json={"name": name, "password": PASSWORD},
                             timeout=10)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"token", "expires_at", "user"}
    assert body["user"] == user
    expires = parse_time(body["expires_at"])
    expected = datetime.now(timezone.utc) + timedelta(days=30)
    assert abs((expires - expected).total_seconds()) < 600
    _, value, flags = _set_cookie(response)
    assert value
    assert flags["httponly"] and flags["samesite"].lower() == "lax" and not flags["secure"]
    # The answer carries the token: no cache (browser, proxy) may keep it.
    assert response.headers.get("Cache-Control") == "no-store", response.headers
    again = anon.post("/sessions", json={"name": name, "password": PASSWORD}).json()
    assert again["token"] != body["token"]


def test_cookie_is_secure_when_served_over_https(anon):
    """Behind a TLS-terminating proxy (X-Forwarded-Proto: https) the cookie is Secure."""
    name = unique_name()
    anon.post("/users", json={"name": name, "password": PASSWORD})
    response = anon.post("/sessions", json={"name": name, "password": PASSWORD},
                         headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 201
    _, _, flags = _set_cookie(response)
    assert flags["secure"] and flags["httponly"] and flags["samesite"].lower() == "lax"


def test_wrong_password_and_unknown_user_get_the_same_401(anon, api):
    """Wrong name or wrong password: the identical 401 invalid_credentials; system users
    cannot sign in."""
    me = api()
    answers = [
        anon.post("/sessions", json={"name": me.user["name"], "password": "wrong-password"}),
        anon.post("/sessions", json={"name": unique_name(), "password": "wrong-password"}),
        anon.post("/sessions", json={"name": unique_name(), "password": PASSWORD}),
        anon.post("/sessions", json={"name": "not a valid name!", "password": PASSWORD}),
        anon.post("/sessions", json={"name": me.user["name"], "password": ""}),
        anon.post("/sessions", json={"name": "ghost", "password": PASSWORD}),
        anon.post("/sessions", json={"name": "chatterly-bot", "password": PASSWORD}),
    ]
    for answer in answers:
        assert_error(answer, 401, "invalid_credentials")
        assert "Set-Cookie" not in answer.headers
    assert len({(a.status_code, a.text) for a in answers}) == 1


def test_cookie_authentication_works(live_server, api):
    """The session cookie alone authenticates (reads and, without a foreign Origin,
    writes)."""
    me = api()
    cookie = _cookie_client(live_server, me.user["name"])
    try:
        assert cookie.get("/users/me").json() == me.user
        made = cookie.post("/rooms", json={"name": unique_room_name()})
        assert made.status_code == 201 and made.json()["owner"] == me.id
    finally:
        cookie.close()


def test_logout_ends_token_cookie_and_streams_at_once(live_server, api):
    """DELETE /sessions/current → 204: that token and its cookie stop working at once and
    its streams close; the user's other sessions stay valid."""
    me = api()
    name = me.user["name"]
    first = ChatClient(live_server.api)
    first.login(name, PASSWORD, keep_cookie=True)
    cookie_only = requests.Session()
    cookie_only.cookies.update(first.session.cookies)
    stream = first.subscribe()
    stream.wait_ready()
    try:
        assert cookie_only.get(live_server.api + "/users/me", timeout=10).status_code == 200
        response = first.delete("/sessions/current")
        assert response.status_code == 204
        _, value, flags = _set_cookie(response)  # the cookie is cleared
        assert not value or flags["max-age"] == "0" or "1970" in flags["expires"]
        assert_error(requests.get(live_server.api + "/users/me", timeout=10,
                                  headers={"Authorization": f"Bearer {first.token}"}),
                     401, "unauthenticated")
        assert_error(cookie_only.get(live_server.api + "/users/me", timeout=10),
                     401, "unauthenticated")
        assert_error(first.delete("/sessions/current"), 401, "unauthenticated")
        assert stream.wait_closed(5), "the stream opened with the token stayed open"
        assert me.get("/users/me").status_code == 200  # another session of the same user
    finally:
        stream.close()
        first.close()
        cookie_only.close()
    # Logging out by cookie works too, and clears the cookie in the client.
    by_cookie = _cookie_client(live_server, name)
    try:
        assert by_cookie.delete("/sessions/current").status_code == 204
        assert_error(by_cookie.get("/users/me"), 401, "unauthenticated")
    finally:
        by_cookie.close()


def test_bad_or_expired_tokens_are_401(api, anon, database_url):
    """A garbage, malformed or expired token: 401 unauthenticated."""
    me = api()
    for header in ("Bearer garbage", "Bearer " + "A" * 43, "Bearer ", "Bearer",
                   f"Basic {me.token}", me.token, f"Bearer {me.token}x"):
        response = anon.get("/users/me", headers={"Authorization": header})
        assert_error(response, 401, "unauthenticated")
    assert me.get("/users/me").status_code == 200
    token_hash = hashlib.sha256(me.token.encode()).hexdigest()
    # Expire this session in the database: the same token is refused from then on.
    sql(database_url, "UPDATE sessions SET expires_at = :past WHERE token_hash = :h",
        past=datetime.now(timezone.utc) - timedelta(minutes=1), h=token_hash)
    assert_error(me.get("/users/me"), 401, "unauthenticated")
    assert_error(me.post("/rooms", json={"name": unique_room_name()}), 401, "unauthenticated")


def test_session_lifetime_is_configurable(server_factory, database_url):
    """CHAT_SESSION_DAYS sets the session lifetime."""
    if not database_url.startswith("sqlite"):
        pytest.skip("configuration only, the same for every database: run once (SQLite)")
    server = server_factory({"CHAT_SESSION_DAYS": "2"})
    client = ChatClient(server.api)
    try:
        name = unique_name()
        client.signup(name)
        body = client.login(name)
        expected = datetime.now(timezone.utc) + timedelta(days=2)
        assert abs((parse_time(body["expires_at"]) - expected).total_seconds()) < 600
    finally:
        client.close()
        server.kill()  # nothing left to check: skip the graceful stop's wait


@pytest.mark.parametrize("origin", ["https://evil.example", "http://evil.example",
                                    "null", "http://127.0.0.1:1", "http://localhost"])
def test_cookie_writes_from_another_origin_are_refused(live_server, api, origin):
    """A state-changing request authenticated by cookie with a foreign Origin: 403
    forbidden, and nothing changes; GETs are not affected."""
    me = api()
    room = me.create_room()
    cookie = _cookie_client(live_server, me.user["name"])
    try:
        foreign = {"Origin": origin}
        name = unique_room_name()
        assert_error(cookie.post("/rooms", json={"name": name}, headers=foreign),
                     403, "forbidden")
        assert_error(cookie.post(f"/rooms/{room['id']}/messages", json={"message": "x"},
                                 headers=foreign), 403, "forbidden")
        assert_error(cookie.delete(f"/rooms/{room['id']}", headers=foreign), 403, "forbidden")
        assert_error(cookie.delete("/sessions/current", headers=foreign), 403, "forbidden")
        assert cookie.get("/users/me", headers=foreign).status_code == 200
        assert name not in {r["name"] for r in me.rooms()}
        assert me.get(f"/rooms/{room['id']}").status_code == 200
        assert cookie.get("/users/me").status_code == 200  # the session survived
    finally:
        cookie.close()


def test_cookie_writes_from_the_same_host_under_another_scheme_are_refused(live_server, api):
    """An origin is scheme + host + port: the same host and port over https (or, behind a
    TLS proxy, over plain http) is another site."""
    me = api()
    cookie = _cookie_client(live_server, me.user["name"])
    host = live_server.url.split("://", 1)[1]
    try:
        assert_error(cookie.post("/rooms", json={"name": unique_room_name()},
                                 headers={"Origin": f"https://{host}"}), 403, "forbidden")
        assert_error(cookie.post("/rooms", json={"name": unique_room_name()},
                                 headers={"Origin": f"http://{host}",
                                          "X-Forwarded-Proto": "https"}), 403, "forbidden")
        behind_tls = cookie.post("/rooms", json={"name": unique_room_name()},
                                 headers={"Origin": f"https://{host}",
                                          "X-Forwarded-Proto": "https"})
        assert behind_tls.status_code == 201, behind_tls.text
        upper = cookie.post("/rooms", json={"name": unique_room_name()},
                            headers={"Origin": f"HTTP://{host.upper()}"})
        assert upper.status_code == 201, upper.text
    finally:
        cookie.close()


def test_cookie_writes_same_origin_or_without_origin_and_bearer_writes_pass(live_server, api):
    """Cookie + same-origin Origin or no Origin: allowed; bearer + foreign Origin:
    allowed (bearer auth is not affected by the cross-site rule)."""
    me = api()
    cookie = _cookie_client(live_server, me.user["name"])
    try:
        same = cookie.post("/rooms", json={"name": unique_room_name()},
                           headers={"Origin": live_server.url})
        assert same.status_code == 201, same.text
        none = cookie.post("/rooms", json={"name": unique_room_name()})
        assert none.status_code == 201, none.text
        bearer = me.post("/rooms", json={"name": unique_room_name()},
                         headers={"Origin": "https://evil.example"})
        assert bearer.status_code == 201, bearer.text
    finally:
        cookie.close()
