"""RoomOrdinals: a writer's memory of the ordinals it gave answers only while nobody else
has taken a place in the log since its last commit (chat/realtime/order.py)."""

from chat.realtime.order import RoomOrdinals


def _rows(*pairs):
    return [{"room_id": room, "room_ordinal": ordinal} for room, ordinal in pairs]


def test_answers_for_the_next_place_only():
    ordinals = RoomOrdinals()
    assert ordinals.newest_before(1, {"a"}) is None  # nothing committed yet
    ordinals.committed(8, 10, _rows(("a", 4), ("b", 7), ("a", 5)))
    assert ordinals.newest_before(11, {"a", "b"}) == {"a": 5, "b": 7}
    # Places 11.. were taken by someone else (a message of another worker, a membership
    # change): what they stored is unknown.
    assert ordinals.newest_before(12, {"a"}) is None
    # A room this writer never numbered is unknown too.
    assert ordinals.newest_before(11, {"a", "c"}) is None


def test_a_following_commit_keeps_the_other_rooms():
    ordinals = RoomOrdinals()
    ordinals.committed(9, 10, _rows(("a", 5), ("b", 7)))
    ordinals.committed(11, 12, _rows(("a", 6), ("a", 7)))
    assert ordinals.newest_before(13, {"a", "b"}) == {"a": 7, "b": 7}


def test_a_commit_after_others_places_forgets_the_other_rooms():
    """Places 11..14 went to others (who may have stored in room b); this writer's next
    batch, 15..16, read room a's ordinal from the database, but b's is stale now."""
    ordinals = RoomOrdinals()
    ordinals.committed(9, 10, _rows(("a", 5), ("b", 7)))
    ordinals.committed(15, 16, _rows(("a", 9)))
    assert ordinals.newest_before(17, {"a"}) == {"a": 9}
    assert ordinals.newest_before(17, {"b"}) is None


def test_the_memory_is_bounded():
    ordinals = RoomOrdinals()
    ordinals.committed(1, 1, _rows(*((room, 1) for room in range(RoomOrdinals.MAX_ROOMS + 1))))
    ordinals.committed(2, 2, _rows(("x", 3)))  # over the bound: started afresh
    assert ordinals.newest == {"x": 3}
    assert ordinals.newest_before(3, {"x"}) == {"x": 3}
