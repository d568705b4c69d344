"""The in-process typing throttle (chat/ratelimit.py, `_OncePer`): one announcement per
key per window, asking is free, and the dict does not grow without bound."""

from chat.ratelimit import _OncePer


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_one_hit_per_window_per_key_and_asking_counts_nothing():
    clock = Clock()
    once = _OncePer(3, clock)
    assert once.allowed("a") and once.allowed("a")  # asking twice takes nothing
    assert once.hit("a")
    assert not once.allowed("a") and not once.hit("a")
    assert once.hit("b")  # keys are independent
    clock.now += 2.999
    assert not once.hit("a")
    clock.now += 0.001  # a refused hit does not restart the window
    assert once.allowed("a") and once.hit("a")


def test_expired_keys_are_swept_so_memory_stays_bounded():
    clock = Clock()
    once = _OncePer(3, clock)
    for round_ in range(10):
        clock.now += 3
        for key in range(1000):
            assert once.hit(f"{round_}:{key}")
    # Ten thousand keys were hit, but only about the last window's (and one sweep's
    # worth of slack) are kept, and the sweep kept what is still inside the window.
    assert len(once._last) <= 2048
    assert not once.hit("9:0") and not once.hit("9:999")


def test_a_room_gets_at_most_its_rate_of_announcements_and_a_refused_call_costs_nothing():
    from chat.ratelimit import Limits

    limits = Limits({"REDIS_URL": None, "CHAT_RATE_LIMIT": "20/second",
                     "CHAT_LOGIN_RATE_LIMIT": "10/minute",
                     "CHAT_SIGNUP_RATE_LIMIT": "20/minute"})
    crowd = [limits.typing_announced(f"user{n}", "room") for n in range(15)]
    assert crowd == [True] * 10 + [False] * 5  # TYPING_ROOM_RATE is 10/second
    assert limits.typing_announced("user0", "elsewhere")  # other rooms are not affected
    # The refused typists were not counted as announced: their window is still open.
    assert limits.typing.allowed("user14:room")
    assert not limits.typing.allowed("user0:room")
