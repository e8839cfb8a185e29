"""The Logs Insights query texts of the insights engine: the log-line contract (`monitor.domain.contract`),
server-side.

Every query starts with the same prelude: an exact millisecond filter on @timestamp (StartQuery only takes whole,
inclusive seconds), then three regex `parse`s per logfmt key, then `coalesce(quoted value, bare value, JSON field)`
into `bm_*` fields. JSON messages use the fields Insights discovers; logfmt ones the `parse` regexes, which never
match a message starting with `{` and take the key's last occurrence at the start of a whitespace-separated token.

Robust where the documentation is silent (AWS documents only that an event a `parse` does not match keeps flowing
without the extracted fields):
- one `parse` per alternative, each with exactly one named group that takes part in every match: the first takes
  the rest of the message after the key's last `key=`, the second the quoted value at its start, the third the bare
  token. No group sits in an alternation, so a group that did not take part in a match — which the service may
  report as "" rather than null — never occurs (`coalesce` over such groups would pick that "");
- group names are letters and digits only (`bmqdurationms`, `bmroute`): the service's regex flavour is not
  documented, and the strictest common rule (Java's) accepts nothing else;
- every query is at most `MAX_QUERY_CHARS` (10,000, StartQuery's limit), checked before any query runs;
- every comparison on a field that can be missing sits behind a presence test (`bm_duration >= 0` included).

How the contract is mirrored (what `monitor.domain.contract` decides, and how these queries decide the same):
- JSON type checks (status an integer, duration a number, method/path/feature_key/passenger_hash strings) are
  regex guards on the raw @message, e.g. `"status"\\s*:\\s*[1-5][0-9][0-9]\\s*[,}]`: Insights has no typeof;
- logfmt numbers must be plain: status exactly three digits 100..599, duration_ms `[0-9]+(.[0-9]+)?(e±N)?`;
- `passenger_hash` is lower-cased (`tolower`), hex-checked, and absent / empty / JSON null means anonymous.
Not mirrored (the scan engine reads these differently; rare in a real backend's output):
- logfmt numbers in exotic forms Python accepts (`+200`, `0200`, `2_00`, `-0`, `.5`, `inf`, padded quoted
  values): Insights counts them malformed;
- a JSON guard only asks that SOME `"key":` in the raw text has the right type, so a nested object repeating a
  contract key can vouch for a wrongly typed top-level value; JSON escapes inside a contract key or a hash fail it;
- `key=value` text inside a quoted logfmt value, escapes inside quoted logfmt values, and keys glued to a previous
  value (`a="x"status=5`) are tokenised differently;
- leading non-ASCII whitespace before a JSON `{`, and a duration's latency bin when log() differs in the last bit.
Every filter stays two-valued even under SQL-style null logic: each comparison on a field that can be missing is
ANDed with a presence test, so `not (valid)` selects exactly the malformed claims.

Language used (AWS docs: `parse` on any named field, events that do not match keep flowing without the extracted
fields): regexes use only classes, `\\s`/`\\S`, greedy and optional groups, alternation and named groups — no
lookarounds. Insights' newer `parse ... logfmt` mode is not used: its quoting and repeated-key rules are not
specified, while these regexes make the semantics explicit and testable (`tests/fake_insights_lang.py` runs them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from monitor.domain.aggregate import LatencySketch
from monitor.errors import ConfigError

REQUEST_KEYS = ("type", "method", "path", "status", "duration_ms", "passenger_hash")
DECISION_KEYS = ("type", "feature_key", "decision", "passenger_hash")
ALL_KEYS = ("type", "method", "path", "status", "duration_ms", "passenger_hash", "feature_key", "decision")
FIELD = {
    "type": "bm_type",
    "method": "bm_method",
    "path": "bm_path",
    "status": "bm_status",
    "duration_ms": "bm_duration",
    "passenger_hash": "bm_hash",
    "feature_key": "bm_feature",
    "decision": "bm_decision",
}
ROUTE = "bmroute"  # the route group a request's path falls in (a named group: letters and digits only)
MAX_QUERY_CHARS = 10_000  # StartQuery's queryString limit
HASH_SPLIT = "hash"
TIME_SPLIT = "time"
NO_SPLIT = "none"
SAMPLE_LIMIT = 5

_J = r"@message like /^\s*\{/"
_NJ = r"@message not like /^\s*\{/"
_HEX_STRING = r'@message like /"passenger_hash"\s*:\s*"[0-9a-fA-F]+"/'
_HASHED = (
    "not isempty(bm_hash) and ((" + _J + " and " + _HEX_STRING + ") or (" + _NJ + " and bm_hash like /^[0-9a-fA-F]+$/))"
)
_ANONYMOUS = (
    "isempty(bm_hash) or ("
    + _J
    + r' and @message like /"passenger_hash"\s*:\s*null\s*[,}]/'
    + " and "
    + _HEX_STRING.replace(" like ", " not like ")
    + ")"
)
_REQUEST_CORE = " and ".join(
    (
        'bm_type = "http_request"',
        "not isempty(bm_method)",
        "not isempty(bm_path)",
        "(("
        + " and ".join(
            (
                _J,
                r'@message like /"method"\s*:\s*"/',
                r'@message like /"path"\s*:\s*"/',
                r'@message like /"status"\s*:\s*[1-5][0-9][0-9]\s*[,}]/',
                r'@message like /"duration_ms"\s*:\s*-?[0-9]/',
                "not isempty(bm_duration)",
                "bm_duration >= 0",
            )
        )
        + ") or ("
        + " and ".join(
            (
                _NJ,
                "not isempty(bm_status)",
                "bm_status like /^[1-5][0-9][0-9]$/",
                "not isempty(bm_duration)",
                r"bm_duration like /^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/",
            )
        )
        + "))",
    )
)
VALID_REQUEST = f"{_REQUEST_CORE} and (({_HASHED}) or {_ANONYMOUS})"
_DECISION_CORE = " and ".join(
    (
        'bm_type = "feature_flag_decision"',
        "not isempty(bm_feature)",
        "not isempty(bm_decision)",
        'bm_decision in ["OFF", "ALLOWLIST", "ROLLOUT"]',
        "((" + _J + r' and @message like /"feature_key"\s*:\s*"/) or ' + _NJ + ")",
    )
)
VALID_DECISION = f"{_DECISION_CORE} and {_HASHED}"
CLAIMED = 'bm_type in ["http_request", "feature_flag_decision"]'


@dataclass(frozen=True)
class QuerySpec:
    """One query to run: a measure over [start_ms, end_ms), optionally one decision segment and one hash prefix."""

    measure: str
    start_ms: int
    end_ms: int
    segment: int | None = None
    prefix: str = ""

    @property
    def name(self) -> str:
        name = self.measure
        if self.segment is not None:
            name += f"[segment {self.segment}]"
        if self.prefix:
            name += f"[hash {self.prefix}*]"
        return name


def group(kind: str, key: str) -> str:
    """The named group (and field) `kind` of a logfmt key: letters and digits only, e.g. bmqdurationms."""
    return "bm" + kind + key.replace("_", "")


def logfmt_parse(key: str) -> list[str]:
    """The three `parse`s of one logfmt key (see the module doc): the rest of the message after the key's last
    occurrence at a token start (never in a `{` message), then its quoted value, then its bare token."""
    rest, quoted, bare = group("r", key), group("q", key), group("u", key)
    return [
        r"parse @message /^\s*(?:[^\s{]\S*\s+(?:\S+\s+)*)?" + key + "=(?<" + rest + r">[\s\S]*)/",
        f"parse {rest} " + r'/^"(?<' + quoted + r'>(?:[^"\\]|\\.)*)"/',
        f"parse {rest} " + r"/^(?<" + bare + r">\S*)/",
    ]


def regex_escape(text: str) -> str:
    """Escape text for an Insights `/regex/` literal: every ASCII punctuation character gets a backslash."""
    return "".join("\\" + c if c.isascii() and not c.isalnum() and c != "_" else c for c in text)


def string_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class QueryBuilder:
    """Builds the query text of a `QuerySpec` for one feature and one set of route groups."""

    MEASURES: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        # measure: (how a truncated result is split, contract keys its prelude parses)
        "events": (TIME_SPLIT, ()),
        "claims": (TIME_SPLIT, ("type",)),
        "requests_by_status": (TIME_SPLIT, REQUEST_KEYS),
        "requests_by_route": (TIME_SPLIT, REQUEST_KEYS),
        "latency_bins": (TIME_SPLIT, REQUEST_KEYS),
        "latency_bins_by_route": (TIME_SPLIT, REQUEST_KEYS),
        "cohort_requests": (HASH_SPLIT, REQUEST_KEYS),
        "anonymous_requests": (TIME_SPLIT, REQUEST_KEYS),
        "decisions": (HASH_SPLIT, DECISION_KEYS),
        "other_feature_decisions": (TIME_SPLIT, DECISION_KEYS),
        "malformed_samples": (NO_SPLIT, ALL_KEYS),
    }

    def __init__(
        self, feature: str, route_groups: Sequence[tuple[str, str]], also_features: Sequence[str] = ()
    ) -> None:
        self.feature = feature
        # a read shared by several flags (`LogWindow.also_features`): one decisions query for all of them
        self.features = (feature, *(f for f in also_features if f != feature))
        self.prefix_routes: dict[str, str] = {}
        for name, prefix in route_groups:
            self.prefix_routes.setdefault(prefix, name)
        # measure -> the commands after the prelude (one entry per MEASURES key)
        self._tails: dict[str, Callable[[QuerySpec], list[str]]] = {
            "events": lambda _: ["stats count(*) as events, min(bm_ts) as first_ms, max(bm_ts) as last_ms"],
            "claims": lambda _: [f"filter {CLAIMED}", "stats count(*) as n by bm_type"],
            "requests_by_status": lambda _: [f"filter {VALID_REQUEST}", "stats count(*) as n by bm_status"],
            "requests_by_route": lambda _: [
                f"filter {VALID_REQUEST}",
                *self._route(),
                f"stats count(*) as n by {ROUTE}, bm_status",
            ],
            "latency_bins": lambda _: [*self._bins(), "stats count(*) as n by bm_bin"],
            "latency_bins_by_route": lambda _: [
                *self._bins(),
                *self._route(),
                f"stats count(*) as n by {ROUTE}, bm_bin",
            ],
            "cohort_requests": self._cohort_requests,
            "anonymous_requests": lambda _: [
                f"filter {_REQUEST_CORE} and ({_ANONYMOUS})",
                "fields floor(bm_status / 500) as bm_err",
                "stats count(*) as n by bm_err",
            ],
            "decisions": self._decisions,
            "other_feature_decisions": lambda _: [
                f"filter {VALID_DECISION} and {self._not_watched()}",
                "stats count(*) as n",
            ],
            "malformed_samples": lambda _: [
                f"filter {CLAIMED}",
                f"filter not (({VALID_REQUEST}) or ({VALID_DECISION}))",
                "sort bm_ts asc",
                f"limit {SAMPLE_LIMIT}",
                "display @message",
            ],
        }

    def split_kind(self, measure: str) -> str:
        return self.MEASURES[measure][0]

    def text(self, spec: QuerySpec) -> str:
        keys = self.MEASURES[spec.measure][1]
        commands = [
            "fields toMillis(@timestamp) as bm_ts",
            f"filter bm_ts >= {spec.start_ms} and bm_ts < {spec.end_ms}",
        ]
        if keys:
            commands += [command for key in keys for command in logfmt_parse(key)]
            commands.append(
                "fields " + ", ".join(f"coalesce({group('q', k)}, {group('u', k)}, {k}) as {FIELD[k]}" for k in keys)
            )
        commands += self._tails[spec.measure](spec)
        text = "\n| ".join(commands)
        if len(text) > MAX_QUERY_CHARS:
            raise ConfigError(
                f"the Logs Insights query {spec.name} is {len(text)} characters, above the {MAX_QUERY_CHARS} "
                "StartQuery accepts: shorten BETA_MONITOR_ROUTE_GROUPS (fewer or shorter prefixes)"
                + (", or watch fewer flags at once (--feature)" if len(self.features) > 1 else "")
            )
        return text

    def check_lengths(self, spec_of: Callable[[str], QuerySpec]) -> None:
        """Raise ConfigError before any query runs when one measure's text is too long (route groups, feature)."""
        for measure in self.MEASURES:
            self.text(spec_of(measure))

    # -- pieces several tails share ----------------------------------------------------------------------------
    def _route(self) -> list[str]:
        alternatives = "|".join(regex_escape(prefix) for prefix in self.prefix_routes)
        return [f"parse bm_path /^(?<{ROUTE}>{alternatives})/", f"filter ispresent({ROUTE})"]

    @staticmethod
    def _bins() -> list[str]:
        return [
            f"filter {VALID_REQUEST} and bm_duration > {LatencySketch.MIN_VALUE!r}",
            f"fields ceil(log(bm_duration) / {LatencySketch.LOG_GAMMA!r}) as bm_bin",
        ]

    @staticmethod
    def _prefix(spec: QuerySpec) -> list[str]:
        return [f"filter bm_h like /^{spec.prefix}/"] if spec.prefix else []

    # -- the per-passenger tails: split by hash prefix when truncated ------------------------------------------
    def _cohort_requests(self, spec: QuerySpec) -> list[str]:
        return [
            f"filter {_REQUEST_CORE} and {_HASHED}",
            "fields tolower(bm_hash) as bm_h, floor(bm_status / 500) as bm_err",
            *self._prefix(spec),
            "stats count(*) as n by bm_h, bm_err",
        ]

    def _decisions(self, spec: QuerySpec) -> list[str]:
        if len(self.features) > 1:  # one query for every watched feature, grouped by feature
            return [
                f"filter {VALID_DECISION} and bm_feature in {self._watched()}",
                "fields tolower(bm_hash) as bm_h",
                *self._prefix(spec),
                "stats count(*) as n by bm_feature, bm_h, bm_decision",
            ]
        return [
            f"filter {VALID_DECISION} and bm_feature = {string_literal(self.feature)}",
            "fields tolower(bm_hash) as bm_h",
            *self._prefix(spec),
            "stats count(*) as n by bm_h, bm_decision",
        ]

    def _watched(self) -> str:
        return "[" + ", ".join(string_literal(f) for f in self.features) + "]"

    def _not_watched(self) -> str:
        """Decisions of features this read does not keep (for one feature, as `bm_feature != "f"`)."""
        if len(self.features) > 1:
            return f"not (bm_feature in {self._watched()})"
        return f"bm_feature != {string_literal(self.feature)}"
