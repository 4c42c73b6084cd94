"""The copy gate's lease table: cap per region, one copy per disk, renewals, expiry."""

from hypothesis import given, settings
from hypothesis import strategies as st

from diskdr.copy_slots import LeaseRequest, acquire, empty_table, gate_key, release


def request(holder: str, disk: str = "d", limit: int = 2, ttl: float = 100.0) -> LeaseRequest:
    return LeaseRequest(holder=holder, disk=disk, limit=limit, ttl_seconds=ttl)


def test_grants_up_to_the_limit_then_refuses():
    table = empty_table()
    table, first = acquire(table, request("a", "d1"), now=0)
    table, second = acquire(table, request("b", "d2"), now=0)
    table, third = acquire(table, request("c", "d3"), now=0)
    assert (first, second, third) == (True, True, False)
    assert sorted(table["leases"]) == ["a", "b"]


def test_one_copy_per_disk_at_a_time():
    table, granted = acquire(empty_table(), request("a", "disk-1", limit=10), now=0)
    table, second = acquire(table, request("b", "disk-1", limit=10), now=0)
    assert granted and not second


def test_release_frees_a_slot_and_is_idempotent():
    table, _ = acquire(empty_table(), request("a", "d1", limit=1), now=0)
    table, refused = acquire(table, request("b", "d2", limit=1), now=1)
    assert not refused
    table = release(release(table, "a", now=2), "a", now=2)
    table, granted = acquire(table, request("b", "d2", limit=1), now=3)
    assert granted


def test_reacquiring_renews_instead_of_refusing():
    table, _ = acquire(empty_table(), request("a", "d1", limit=1, ttl=10), now=0)
    table, again = acquire(table, request("a", "d1", limit=1, ttl=10), now=5)
    assert again
    assert table["leases"]["a"]["expires"] == 15


def test_expired_leases_free_their_slots():
    table, _ = acquire(empty_table(), request("a", "d1", limit=1, ttl=10), now=0)
    table, granted = acquire(table, request("b", "d1", limit=1, ttl=10), now=11)
    assert granted and list(table["leases"]) == ["b"]


def test_limit_is_capped_at_azures_100():
    assert LeaseRequest.from_dict(
        {"holder": "h", "disk": "D", "limit": 500, "ttlSeconds": 1}
    ) == LeaseRequest("h", "d", 100, 1.0)


def test_gate_key_is_case_insensitive():
    assert gate_key("ABC", "WestUS2") == gate_key("abc", "westus2")


@settings(max_examples=500)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["acquire", "release"]),
            st.integers(0, 15),  # holder
            st.integers(0, 6),  # disk
            st.floats(0, 5),  # time step
        ),
        max_size=80,
    ),
    st.integers(1, 5),
)
def test_never_more_than_limit_nor_two_leases_on_one_disk(operations, limit):
    table, now = empty_table(), 0.0
    for op, holder, disk, step in operations:
        now += step
        if op == "acquire":
            table, _ = acquire(table, request(f"h{holder}", f"d{disk}", limit, ttl=7), now)
        else:
            table = release(table, f"h{holder}", now)
        live = [lease for lease in table["leases"].values() if lease["expires"] > now]
        assert len(live) <= limit
        disks = [lease["disk"] for lease in live]
        assert len(disks) == len(set(disks))
