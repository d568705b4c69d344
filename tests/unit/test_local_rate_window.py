"""The in-process moving window (chat/ratelimit.py, `_LocalWindow`) that limits posts,
sign-ins, sign-ups and typing without Redis: `amount` hits per key per window, moving
(not fixed) windows, asking is free, and the dict does not grow without bound."""

import pytest

from chat.ratelimit import Limits, _LocalWindow


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_one_hit_per_window_per_key_and_asking_counts_nothing():
    clock = Clock()
    once = _LocalWindow(1, 3, clock)
    assert once.allowed("a") and once.allowed("a")  # asking twice takes nothing
    assert once.hit("a")
    assert not once.allowed("a") and not once.hit("a")
    assert once.hit("b")  # keys are independent
    clock.now += 2.999
    assert not once.hit("a")
    clock.now += 0.001  # a refused hit does not restart the window
    assert once.allowed("a") and once.hit("a")


def test_the_window_moves_with_each_hit_instead_of_resetting_at_fixed_times():
    clock = Clock()
    window = _LocalWindow(3, 10, clock)
    assert window.seconds_left("a") == 0
    assert window.hit("a")            # t=100
    clock.now += 4
    assert window.hit("a") and window.hit("a")  # t=104, twice
    assert not window.hit("a") and not window.allowed("a")
    assert window.seconds_left("a") == pytest.approx(6)  # until the first hit is 10 s old
    clock.now += 6
    assert window.hit("a")            # t=110: the first hit left the window, one place
    assert not window.hit("a")        # the two of t=104 are still in it
    assert window.seconds_left("a") == pytest.approx(4)
    clock.now += 4
    assert window.hit("a") and window.hit("a") and not window.hit("a")


def test_a_refused_hit_is_not_counted():
    clock = Clock()
    window = _LocalWindow(2, 1, clock)
    assert window.hit("a") and window.hit("a")
    for _ in range(100):
        assert not window.hit("a")
    clock.now += 1
    assert window.hit("a") and window.hit("a") and not window.hit("a")


def test_expired_keys_are_swept_so_memory_stays_bounded():
    clock = Clock()
    once = _LocalWindow(1, 3, clock)
    for round_ in range(10):
        clock.now += 3
        for key in range(1000):
            assert once.hit(f"{round_}:{key}")
    # Ten thousand keys were hit, but only about the last window's (and one sweep's
    # worth of slack) are kept, and the sweep kept what is still inside the window.
    assert len(once._hits) <= 2048
    assert not once.hit("9:0") and not once.hit("9:999")


def _local_limits():
    return Limits({"REDIS_URL": None, "CHAT_RATE_LIMIT": "3/minute",
                   "CHAT_LOGIN_RATE_LIMIT": "10/minute",
                   "CHAT_SIGNUP_RATE_LIMIT": "20/minute"})


def test_without_redis_every_limit_is_a_local_window_of_its_configured_rate():
    limits = _local_limits()
    windows = {name: getattr(limits, name) for name in
               ("posts", "login_names", "login_addresses", "signups", "typing",
                "typing_rooms")}
    assert all(isinstance(w, _LocalWindow) for w in windows.values())
    assert [(w.amount, w.seconds) for w in windows.values()] == [
        (3, 60), (10, 60), (10, 60), (20, 60), (1, 3), (10, 1)]


def test_the_posting_limit_answers_429_with_the_seconds_until_a_place_frees():
    from chat.errors import APIError

    limits = _local_limits()
    for _ in range(3):
        limits.hit_post("user")
    with pytest.raises(APIError) as refused:
        limits.hit_post("user")
    assert refused.value.code == 429 and refused.value.error_code == "rate_limited"
    assert 59 <= int(refused.value.extra_headers["Retry-After"]) <= 61
    limits.hit_post("someone else")  # per user


def test_a_room_gets_at_most_its_rate_of_announcements_and_a_refused_call_costs_nothing():
    limits = _local_limits()
    crowd = [limits.typing_announced(f"user{n}", "room") for n in range(15)]
    assert crowd == [True] * 10 + [False] * 5  # TYPING_ROOM_RATE is 10/second
    assert limits.typing_announced("user0", "elsewhere")  # other rooms are not affected
    # The refused typists were not counted as announced: their window is still open.
    assert limits.typing.allowed("user14:room")
    assert not limits.typing.allowed("user0:room")
