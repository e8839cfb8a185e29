"""The Logs Insights queries hold where the documentation is silent (insights/queries.py module doc): one `parse` per
alternative and no group that can miss a match, letters-and-digits group names, at most 10,000 characters, the
100,000-row limit — and the test service (tests/fake_insights.py) answers as pessimistically as the documentation
allows: an unmatched group is "" rather than null, a long query or an odd group name is refused."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError
from fake_insights import FakeInsightsClient, discovered_fields, parse_query, run_query
from helpers_events import FEATURE, LOG_GROUP, passenger_hash
from helpers_insights import END, START, assert_same, insights_stats, scan_stats

from monitor.domain import LogWindow
from monitor.errors import ConfigError
from monitor.sources.insights import InsightsLogSource
from monitor.sources.insights.queries import MAX_QUERY_CHARS, QueryBuilder, QuerySpec

NAMED_GROUP = re.compile(r"\(\?<([^=!][^>]*)>")
ROUTE_SETS = [
    pytest.param([], id="no-route-groups"),
    pytest.param([("feature_flag", "/api/feature-flags"), ("matching", "/api/matching")], id="default"),
    pytest.param([(f"group{i}", f"/api/v2/service-{i}/resource.{i}") for i in range(12)], id="twelve-long-prefixes"),
]


def every_query(builder: QueryBuilder) -> list[str]:
    texts = []
    for measure in QueryBuilder.MEASURES:
        for prefix in ("", "abc"):
            texts.append(builder.text(QuerySpec(measure, START, END, segment=3, prefix=prefix)))
    return texts


def parse_regexes(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^(?:\| )?parse \S+ /((?:[^/\\]|\\.)*)/$", text, re.MULTILINE)]


def outside_group(regex: str, name: str) -> str:
    """`regex` without the named group `name` (its balanced parentheses)."""
    start = regex.index(f"(?<{name}>")
    depth, i = 0, start
    while True:
        if regex[i] == "\\":
            i += 2
            continue
        depth += {"(": 1, ")": -1}.get(regex[i], 0)
        i += 1
        if depth == 0:
            return regex[:start] + regex[i:]


@pytest.mark.parametrize("routes", ROUTE_SETS)
def test_every_query_fits_names_groups_alphanumerically_and_has_one_group_per_parse(
    routes: list[tuple[str, str]],
) -> None:
    builder = QueryBuilder("f" * 100, routes)  # the longest feature key the CLI accepts
    for text in every_query(builder):
        assert len(text) <= MAX_QUERY_CHARS
        parse_query(text)  # the test service reads it back
        names = NAMED_GROUP.findall(text)
        assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name) for name in names), names
        for regex in parse_regexes(text):
            (name,) = NAMED_GROUP.findall(regex)  # exactly one group a parse
            # …that takes part in every match: no alternation outside it
            assert "|" not in re.sub(r"\[(?:[^\]\\]|\\.)*\]", "", outside_group(regex, name)), regex
        assert text.count("bm_duration >= 0") == text.count("not isempty(bm_duration) and bm_duration >= 0")


def test_the_duration_comparison_is_guarded_by_a_presence_test() -> None:
    text = QueryBuilder(FEATURE, []).text(QuerySpec("requests_by_status", START, END))
    assert "not isempty(bm_duration) and bm_duration >= 0" in text


def test_a_query_over_the_length_limit_is_refused_before_any_query_runs() -> None:
    routes = [(f"g{i}", f"/api/a-rather-long-path-prefix/number-{i}/of-many") for i in range(200)]
    with pytest.raises(ConfigError, match=r"above the 10000 StartQuery accepts: shorten BETA_MONITOR_ROUTE_GROUPS"):
        QueryBuilder(FEATURE, routes).text(QuerySpec("requests_by_route", START, END))
    fake = FakeInsightsClient([])
    window = LogWindow(feature=FEATURE, start_ms=START, end_ms=END, route_groups=routes)
    with pytest.raises(ConfigError, match="characters"):
        InsightsLogSource(LOG_GROUP, client=fake, sleep=lambda _s: None).read(window)
    assert fake.calls == []


# -- the test service where the documentation is silent ----------------------------------------------------------
def rows_of(query: str, message: str) -> list[dict[str, str]]:
    results, _ = run_query([discovered_fields(START, message, 0)], query, START // 1000, END // 1000, 10)
    return [{f["field"]: f["value"] for f in row} for row in results]


def test_the_fake_gives_an_unmatched_group_as_empty_and_a_failed_parse_no_field() -> None:
    query = "parse @message /^(?<a>x)$|^(?<b>y)$/ | display a, b"
    assert rows_of(query, "y") == [{"a": "", "b": "y", "@ptr": "ptr-0"}]
    assert rows_of(query, "z") == [{"@ptr": "ptr-0"}]


def test_coalesce_over_an_alternation_would_misread_a_bare_value_there() -> None:
    """Why the queries have one parse per alternative: the old form returned "" for `status=200`."""
    old = r'parse @message /status=(?:"(?<q>[^"]*)"|(?<u>\S*))/ | fields coalesce(q, u) as s | display s'
    assert rows_of(old, "status=200")[0]["s"] == ""
    events = [
        (START + 1000 + i, f"type=http_request method=GET path=/api/matching status={status} duration_ms=3")
        for i, status in enumerate((200, 503, 404))
    ]
    events.append(
        (
            START + 9000,
            f"type=feature_flag_decision feature_key={FEATURE} decision=OFF passenger_hash={passenger_hash(3)}",
        )
    )
    read = insights_stats(FakeInsightsClient(events))
    assert_same(scan_stats(events), read)
    assert read.aggregate.status.s5xx == 1 and read.aggregate.decisions.total == 1


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param(
            {"queryString": "fields @message" + " " * MAX_QUERY_CHARS}, "InvalidParameterException", id="long"
        ),
        pytest.param({"limit": 100_001}, "InvalidParameterException", id="limit"),
        pytest.param({"queryString": "parse @message /(?<bm_x>a)/"}, "MalformedQueryException", id="group-name"),
    ],
)
def test_the_fake_refuses_what_the_service_refuses(change: dict[str, object], code: str) -> None:
    request = {"logGroupName": LOG_GROUP, "startTime": 0, "endTime": 1, "queryString": "fields @message"}
    with pytest.raises(ClientError) as caught:
        FakeInsightsClient([]).start_query(**{**request, "limit": 100_000, **change})
    assert caught.value.response["Error"]["Code"] == code
