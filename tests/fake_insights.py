"""A small CloudWatch Logs Insights for tests: it runs our query TEXT over raw events (`fake_insights_lang`).

moto runs no Insights query (no filter, stats or parse), so the insights engine is tested against this fake logs
client: `start_query` / `get_query_results` / `stop_query` answering with the shapes CloudWatch returns (every value
a string, `statistics`, statuses, pages). It deliberately does NOT use monitor.domain.contract: the equality tests
compare its answers with the scan engine's. Modelled Insights behaviour besides the language (`fake_insights_lang`):
- a JSON object message gets its keys discovered (nested keys flattened with dots, booleans as "true"/"false",
  null as absent); any other message gets none;
- `parse`: an event the regex does not match keeps flowing without the extracted fields (null, as documented); when
  it matches, a named group that took no part in the match is "" — where the documentation is silent, the answer
  that breaks a query relying on null (`coalesce` over the groups of an alternation);
- StartQuery's startTime/endTime are whole seconds, both inclusive; `queryString` at most 10,000 characters and
  `limit` at most 100,000 (InvalidParameterException); a query it cannot read is MalformedQueryException;
- GetQueryResults returns at most 10,000 rows a call, the rest through `nextToken`.
"""

from __future__ import annotations

import json
import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fake_insights_lang import InsightsSyntaxError, as_number, as_text, compile_expr, parse_query

__all__ = ["FakeInsightsClient", "parse_query", "proxy_intercept", "run_query"]

Event = tuple[int, str]
MAX_QUERY_CHARS = 10_000  # StartQuery queryString
MAX_LIMIT = 100_000  # StartQuery limit
MAX_PAGE = 10_000  # rows one GetQueryResults call returns


def discovered_fields(ts: int, message: str, index: int) -> dict[str, Any]:
    """The fields Insights gives an event before any command: @-fields, plus JSON keys of a JSON object message."""
    row: dict[str, Any] = {"@timestamp": ts, "@message": message, "@ptr": f"ptr-{index}", "@logStream": "fake"}
    try:
        data = json.loads(message)
    except ValueError:
        return row
    if isinstance(data, dict):
        _flatten(data, "", row)
    return row


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    items: Iterable[tuple[Any, Any]] = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        name = f"{prefix}{key}"
        if isinstance(item, dict | list):
            _flatten(item, name + ".", out)
        elif isinstance(item, bool):
            out.setdefault(name, "true" if item else "false")
        elif item is not None:
            out.setdefault(name, item)


def run_query(  # noqa: C901 - an interpreter dispatches on the query language
    rows: Sequence[dict[str, Any]],
    query: str,
    start_s: int,
    end_s: int,
    limit: int,
    cache: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> tuple[list[list[dict[str, str]]], dict[str, float]]:
    """Evaluate `query` over events (discovered-field rows) in [start_s, end_s] seconds → (results, statistics)."""
    stamps = [r["@timestamp"] for r in rows]  # rows are in timestamp order
    lo, hi = bisect_left(stamps, start_s * 1000), bisect_left(stamps, (end_s + 1) * 1000)
    selected = [dict(r) for r in rows[lo:hi]]
    statistics = {
        "recordsScanned": float(len(selected)),
        "bytesScanned": float(sum(len(r["@message"].encode()) for r in selected)),
    }
    shown: list[str] = []
    out: list[dict[str, Any]] | None = None
    for command in parse_query(query):
        verb = command[0]
        if verb == "fields":
            compiled = [(compile_expr(expr), alias) for expr, alias in command[1]]
            for row in selected:
                row.update({alias: fn(row) for fn, alias in compiled})
            shown += [alias for _, alias in command[1]]
        elif verb == "filter":
            keep = compile_expr(command[1])
            selected = [row for row in selected if keep(row) is True]
        elif verb == "parse":
            for row in selected:
                row.update(_parse(command[2], row.get(command[1]), cache if cache is not None else {}))
        elif verb == "stats":
            statistics["recordsMatched"] = float(len(selected))
            out = _stats(selected, command[1], command[2])
        elif verb == "sort":
            key = command[1]
            selected.sort(key=lambda r: (r.get(key) is None, r.get(key) or 0), reverse=command[2] == "desc")
        elif verb == "limit":
            selected = selected[: int(command[1])]
        elif verb == "display":
            shown = list(command[1])
    if out is None:
        statistics["recordsMatched"] = float(len(selected))
        out = [{**{name: row.get(name) for name in shown}, "@ptr": row["@ptr"]} for row in selected]
    statistics["resultCount"] = float(len(out))
    results = [[{"field": k, "value": as_text(v)} for k, v in row.items() if v is not None] for row in out[:limit]]
    return results, statistics


def _parse(pattern: re.Pattern[str], value: Any, cache: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    names = list(pattern.groupindex)
    if value is None:
        return dict.fromkeys(names)
    text = as_text(value)
    key = (pattern.pattern, text)
    if key not in cache:
        m = pattern.search(text)
        cache[key] = {n: ((m.group(n) or "") if m else None) for n in names}
    return cache[key]


def _stats(rows: list[dict[str, Any]], aggs: list[tuple[tuple, str]], by: list[str]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple((type(row.get(b)).__name__, row.get(b)) for b in by)
        groups.setdefault(key, []).append(row)
    if not by and not groups:
        groups[()] = []
    out = []
    for key, members in groups.items():
        result: dict[str, Any] = {b: value for b, (_, value) in zip(by, key, strict=True)}
        for expr, alias in aggs:
            fn = expr[1]
            if fn == "count":
                result[alias] = len(members)
            else:
                arg = compile_expr(expr[2][0])
                values = [v for v in (as_number(arg(m)) for m in members) if v is not None]
                result[alias] = (min if fn == "min" else max)(values) if values else None
        out.append(result)
    return out


# -- the fake logs client -----------------------------------------------------------------------------------
def _client_error(code: str, message: str, operation: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class FakeInsightsClient:
    """start_query / get_query_results / stop_query over `events`, answering as CloudWatch Logs does.

    `statuses(query_string)` gives the statuses successive GetQueryResults calls report (the last one sticks;
    default Scheduled → Running → Complete); while Running, part of the rows is returned (the engine must wait).
    `rows_hook(query_string, results)` may rewrite a Complete result (to force truncation); `page_size` pages it.
    """

    def __init__(
        self,
        events: Iterable[Event],
        *,
        log_groups: Sequence[str] = ("/ecs/kaviar-backend",),
        statuses: Callable[[str], Sequence[str]] | None = None,
        rows_hook: Callable[[str, list[list[dict[str, str]]]], list[list[dict[str, str]]]] | None = None,
        page_size: int = MAX_PAGE,
        stop_error: bool = False,
    ) -> None:
        ordered = sorted(events, key=lambda e: e[0])  # stable: events of one millisecond keep their order
        self.rows = [discovered_fields(ts, msg, i) for i, (ts, msg) in enumerate(ordered)]
        self.log_groups = set(log_groups)
        self.statuses = statuses or (lambda _q: ("Scheduled", "Running", "Complete"))
        self.rows_hook = rows_hook
        self.page_size = min(page_size, MAX_PAGE)
        self.stop_error = stop_error
        self.queries: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.stopped: list[str] = []
        self._cache: dict[tuple[str, str], dict[str, Any]] = {}

    def start_query(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("StartQuery", kwargs))
        if kwargs.get("logGroupName") not in self.log_groups:
            raise _client_error("ResourceNotFoundException", "The specified log group does not exist.", "StartQuery")
        start_s, end_s, limit = int(kwargs["startTime"]), int(kwargs["endTime"]), int(kwargs.get("limit", 10_000))
        assert start_s <= end_s, kwargs
        if len(kwargs["queryString"]) > MAX_QUERY_CHARS or not 1 <= limit <= MAX_LIMIT:
            raise _client_error("InvalidParameterException", "queryString or limit out of range", "StartQuery")
        try:
            results, statistics = run_query(self.rows, kwargs["queryString"], start_s, end_s, limit, self._cache)
        except InsightsSyntaxError as exc:
            raise _client_error("MalformedQueryException", str(exc), "StartQuery") from None
        if self.rows_hook is not None:
            results = self.rows_hook(kwargs["queryString"], results)
        query_id = f"q-{len(self.queries)}"
        self.queries[query_id] = {
            "query": kwargs["queryString"],
            "results": results,
            "statistics": statistics,
            "statuses": list(self.statuses(kwargs["queryString"])),
            "polls": 0,
        }
        return {"queryId": query_id}

    def get_query_results(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("GetQueryResults", kwargs))
        query = self.queries[kwargs["queryId"]]
        if "nextToken" in kwargs:
            offset = int(kwargs["nextToken"].rsplit(":", 1)[1])
            return self._page(kwargs["queryId"], query, "Complete", offset)
        statuses = query["statuses"]
        status = statuses[min(query["polls"], len(statuses) - 1)]
        query["polls"] += 1
        if status == "Complete":
            return self._page(kwargs["queryId"], query, status, 0)
        partial = query["results"][: len(query["results"]) // 2] if status == "Running" else []
        return {
            "status": status,
            "results": partial,
            "statistics": {"recordsMatched": 0.0, "recordsScanned": 0.0, "bytesScanned": 0.0},
        }

    def _page(self, query_id: str, query: dict[str, Any], status: str, offset: int) -> dict[str, Any]:
        results = query["results"]
        response: dict[str, Any] = {
            "status": status,
            "results": results[offset : offset + self.page_size],
            "statistics": dict(query["statistics"]),
        }
        if offset + self.page_size < len(results):
            response["nextToken"] = f"{query_id}:{offset + self.page_size}"
        return response

    def stop_query(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("StopQuery", kwargs))
        if self.stop_error:
            raise _client_error("InvalidParameterException", "query is not running", "StopQuery")
        self.stopped.append(kwargs["queryId"])
        return {"success": True}

    def call_count(self, api: str) -> int:
        return sum(1 for name, _ in self.calls if name == api)


def proxy_intercept(fake: FakeInsightsClient) -> Callable[[str, dict[str, Any]], dict[str, Any] | None]:
    """For `fault_proxy(intercept=…)`: StartQuery / GetQueryResults / StopQuery answered by `fake` (one at a time),
    everything else forwarded to moto."""
    lock = threading.Lock()
    handlers = {"StartQuery": fake.start_query, "GetQueryResults": fake.get_query_results, "StopQuery": fake.stop_query}

    def intercept(operation: str, body: dict[str, Any]) -> dict[str, Any] | None:
        handler = handlers.get(operation)
        if handler is None:
            return None
        with lock:
            return handler(**body)

    return intercept
