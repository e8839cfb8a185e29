"""The per-passenger part of the aggregate: one key per passenger hash, its bucket and whether it had a 5xx."""

from __future__ import annotations

import json

import pytest

from monitor.domain import Bucketer, LogWindow, PassengerStates, WindowAggregate, passenger_key
from monitor.domain.aggregate import ENTRY_REQUESTS, bucket_of, errors_of, pack_state, requests_of
from monitor.domain.contract import ingest

BUCKETER = Bucketer()
A, B, C = (BUCKETER.hash_id(f"pax-{i}") for i in range(3))


def window(**kw: object) -> LogWindow:
    return LogWindow(feature="f", start_ms=0, end_ms=10**13, bucketer=BUCKETER, **kw)  # type: ignore[arg-type]


def request(status: object, passenger: str | None = None) -> str:
    body = {"type": "http_request", "method": "GET", "path": "/a", "status": status, "duration_ms": 5}
    if passenger is not None:
        body["passenger_hash"] = passenger
    return json.dumps(body)


@pytest.mark.parametrize(
    ("digest", "key"),
    [
        pytest.param("0" * 64, 0, id="zero"),
        pytest.param("7fffffffffffffff" + "f" * 48, 2**63 - 1, id="largest-positive"),
        pytest.param("8000000000000000" + "0" * 48, -(2**63), id="wraps-to-negative"),
        pytest.param("f" * 32, -1, id="md5-length"),
        pytest.param("abc", 0xABC, id="short-hex"),
    ],
)
def test_passenger_key_is_a_signed_64_bit_prefix(digest: str, key: int) -> None:
    assert passenger_key(digest) == key
    assert -(2**63) <= passenger_key(digest) < 2**63  # fits PostgreSQL's bigint


def test_states_pack_bucket_requests_and_5xx_and_summarise() -> None:
    part = PassengerStates()
    part.add(1, 42)
    part.add(1, 42, 3, 1)
    part.add(1, 42)  # a later success does not clear the failure
    part.add(2, 7)
    assert part.states == {1: pack_state(42, 5, 1), 2: pack_state(7, 1, 0)}
    assert (bucket_of(part.states[1]), requests_of(part.states[1]), errors_of(part.states[1])) == (42, 5, 1)
    assert part.failing() == {1}
    assert part.to_dict() == {"seen": 2, "with_5xx": 1}  # a summary, never the keys
    assert errors_of(pack_state(99, 10**9, 5_000)) == 1023 and requests_of(pack_state(99, 10**9, 5_000)) == 10**9


def test_a_passenger_enters_with_a_5xx_or_enough_requests() -> None:
    part = PassengerStates()
    part.add(1, 3, ENTRY_REQUESTS - 1)
    part.add(2, 3, ENTRY_REQUESTS)
    part.add(3, 3, 1, 1)
    assert part.entering() == {2, 3} and part.failing() == {3}


def test_merge_adds_the_counts() -> None:
    first, later = PassengerStates(), PassengerStates()
    first.add(1, 3, 1, 1)
    first.add(2, 4)
    later.add(2, 4, 1, 1)
    later.add(3, 99)
    later.add(1, 3, 2)
    first.merge(later)
    assert first.states == {1: pack_state(3, 3, 1), 2: pack_state(4, 2, 1), 3: pack_state(99, 1, 0)}
    assert first != later and later.states[1] == pack_state(3, 2, 0)


def test_requests_fill_it_anonymous_and_malformed_do_not() -> None:
    stats = window(allowlist_hashes=frozenset({C})).aggregate()
    for message in (
        request(200, A),
        request(503, A),
        request(200, B.upper()),  # the contract lower-cases the hash: one passenger
        request(200, B),
        request(500, C),  # allowlisted: still a passenger, cohort decided at check time
        request(500),  # anonymous: no passenger
        request(500, "not-hex"),  # malformed
        request("500", A),  # malformed: status not an integer
        json.dumps({"type": "feature_flag_decision", "feature_key": "f", "decision": "OFF", "passenger_hash": B}),
    ):
        ingest(stats, 1, message)
    states = stats.passengers.states
    assert states == {
        passenger_key(A): pack_state(BUCKETER.bucket_of_hash(A), 2, 1),
        passenger_key(B): pack_state(BUCKETER.bucket_of_hash(B), 2, 0),
        passenger_key(C): pack_state(BUCKETER.bucket_of_hash(C), 1, 1),
    }
    assert stats.cohorts.allowlisted_requests == 1 and stats.cohorts.anonymous_5xx == 1
    assert stats.counts.malformed == 2
    assert stats.to_dict()["passengers"] == {"seen": 3, "with_5xx": 2}


def test_several_requests_at_once_count_like_one_at_a_time() -> None:
    one, many = window().aggregate(), window().aggregate()
    for _ in range(3):
        one.add_cohort_request(A, False)
    one.add_cohort_request(A, True)
    many.add_cohort_request(A, False, 3)
    many.add_cohort_request(A, True, 1)
    assert one.passengers == many.passengers and one.cohorts == many.cohorts


def test_aggregates_read_in_pieces_merge_to_one_read() -> None:
    messages = [request(500 if i % 7 == 0 else 200, (A, B, C)[i % 3]) for i in range(30)]
    whole, first, second = (window().aggregate() for _ in range(3))
    for i, message in enumerate(messages):
        ingest(whole, i, message)
        ingest(first if i < 13 else second, i, message)
    first.merge(second)
    assert first.passengers == whole.passengers and isinstance(first, WindowAggregate)
