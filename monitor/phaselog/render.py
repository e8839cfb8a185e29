"""The phase log in Markdown, rendered from Jinja2 templates (`templates/`, installed as `monitor.templates`).

Every entry is a pure function of one stored `Checkpoint`: no clock, no environment. `report --rebuild` therefore
reproduces what successive appends wrote, byte for byte: `render_phase_log` = header + every entry.
Outside text is escaped by the `md` filter (see `monitor.phaselog.markdown`); dict keys are always sorted, because a
checkpoint read back from PostgreSQL (JSONB) does not keep the key order it was stored with. Evidence is read by
attribute from each check's model (`monitor.domain.evidence`).
"""

from __future__ import annotations

import importlib.resources
from collections import Counter
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.domain.aggregate import ENTRY_REQUESTS
from monitor.domain.checkpoint import Checkpoint, CheckResult, GateDecision
from monitor.domain.evidence import (
    EVIDENCE_MODELS,
    CohortEvidence,
    DataQualityEvidence,
    DeterminismEvidence,
    ErrorRateEvidence,
    LatencyEvidence,
    Rate,
    RouteLatency,
)
from monitor.domain.status import Status
from monitor.phaselog import markdown as fmt

if TYPE_CHECKING:
    import jinja2

_FALLBACK_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
_FILTERS = {
    "md": fmt.md,
    "code": fmt.code,
    "code_block": fmt.code_block,
    "pct": fmt.pct,
    "signed_pct": fmt.signed_pct,
    "pp": fmt.pp,
    "percent": fmt.percent,
    "interval": fmt.interval,
    "pvalue": fmt.pvalue,
    "count": fmt.count,
    "num": fmt.num,
    "ms": fmt.ms,
    "hours": fmt.hours,
    "duration": fmt.duration,
    "flag": fmt.flag,
    "when": fmt.when,
    "text": fmt.text,
    "when_ms": fmt.when_ms,
    "share": fmt.share,
    "ratio": fmt.ratio,
    "ratio_interval": fmt.ratio_interval,
    "evalue": fmt.evalue,
}
_NOT_AUTOMATED = (Status.SKIP, Status.NODATA, Status.ERROR)


def _template_source(name: str) -> str | None:
    """The template's text from the installed package `monitor.templates`, else from the source tree; None when
    there is no such template (Jinja2 then raises TemplateNotFound)."""
    try:
        resource = importlib.resources.files("monitor.templates").joinpath(name)
        if resource.is_file():
            return resource.read_text(encoding="utf-8")
    except ModuleNotFoundError:
        pass
    path = _FALLBACK_TEMPLATES / name
    return path.read_text(encoding="utf-8") if path.is_file() else None


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment (built once). jinja2 is imported here, when the first entry is rendered: the commands
    that render nothing (`history`, `gate`, `db init`) do not pay for it."""
    import jinja2  # noqa: PLC0415 - lazy, see the docstring

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(_FILTERS)
    return env


def _render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


# -- view of one checkpoint ------------------------------------------------------------------------------------
def _check_view(name: str, check: CheckResult | None) -> dict[str, Any]:
    """A check as the template sees it: `ev` is its evidence model (empty when the check was not run); `measured` is
    False when there is no evidence to show."""
    if check is None:
        return {
            "status": None,
            "summary": "not recorded in this checkpoint",
            "ev": EVIDENCE_MODELS[name](),
            "measured": False,
        }
    return {"status": check.status, "summary": check.summary, "ev": check.evidence, "measured": check.evidence.measured}


def _sorted_names(names: Any) -> list[str]:
    """Route group names sorted, with the catch-all `other` last."""
    return sorted((str(n) for n in names), key=lambda n: (n == "other", n))


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _route_rows(checkpoint: Checkpoint, error_rate: ErrorRateEvidence) -> list[dict[str, Any]]:
    """Per route group: the status breakdown (stored metrics) and the 5xx evidence (error_rate, `judged` when the
    check has the route), by name."""
    measured = _as_dict(checkpoint.metrics.get("routes"))
    judged = error_rate.routes or {}
    rows = []
    for name in _sorted_names(set(measured) | set(judged)):
        status = _as_dict(_as_dict(measured.get(name)).get("status"))
        rows.append({"name": name, "status": status, "er": judged.get(name, Rate()), "judged": name in judged})
    return rows


def _manual_review(checks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Checks a person has to judge by hand: not run, or run without a verdict (SKIP, NODATA, ERROR)."""
    return [
        {"name": name, **view}
        for name, view in checks.items()
        if view["status"] is None or view["status"] in _NOT_AUTOMATED
    ]


def _entry_context(checkpoint: Checkpoint) -> dict[str, Any]:
    checks = {name: _check_view(name, checkpoint.check(name)) for name in EVIDENCE_MODELS}
    error_rate: ErrorRateEvidence = checks[ErrorRateEvidence.check]["ev"]
    latency: LatencyEvidence = checks[LatencyEvidence.check]["ev"]
    quality: DataQualityEvidence = checks[DataQualityEvidence.check]["ev"]
    determinism: DeterminismEvidence = checks[DeterminismEvidence.check]["ev"]
    return {
        "cp": checkpoint,
        "live": checkpoint.live_config,
        "checks": checks,
        "routes": _route_rows(checkpoint, error_rate),
        "latency_routes": _latency_routes(latency),
        "aws_calls": _sorted_items(quality.aws_calls),
        "queries": _queries(quality.queries),
        "segments": determinism.segments,
        "alerts": checkpoint.alerts,
        "manual": _manual_review(checks),
        "engine": checkpoint.metrics.get("engine") or None,
        "entry_requests": ENTRY_REQUESTS,
    }


def _latency_routes(evidence: LatencyEvidence) -> list[tuple[str, RouteLatency]]:
    routes = evidence.routes or {}
    return [(name, routes[name]) for name in _sorted_names(routes)]


def _sorted_items(value: Any) -> list[tuple[str, Any]]:
    return sorted(((str(k), v) for k, v in _as_dict(value).items()), key=lambda kv: kv[0])


def _queries(value: Any) -> list[dict[str, Any]]:
    """Insights queries as (description, query text): dicts give their fields, strings are the query itself."""
    result = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            query = item.get("query", item.get("queryString", ""))
            details = {k: v for k, v in item.items() if k not in ("query", "queryString")}
            result.append({"details": details, "query": str(query or "")})
        else:
            result.append({"details": {}, "query": str(item)})
    return result


# -- public API -------------------------------------------------------------------------------------------------
def render_header(feature: str, phase: str, created_at: datetime | None) -> str:
    """The header of a new phase log. `created_at` is the first entry's checkpoint time (so a rebuild matches)."""
    return _render("phase_header.md.j2", feature=feature, phase=phase, created_at=created_at)


def render_entry(checkpoint: Checkpoint) -> str:
    """One checkpoint's entry, starting with a blank line and `## Checkpoint: <label> (<time>)`; a quiet run of a
    sub-hourly cadence (`entry` brief, `monitor.phaselog.cadence`) gets one line instead."""
    template = "checkpoint_brief.md.j2" if checkpoint.entry == "brief" else "checkpoint.md.j2"
    return _render(template, **_entry_context(checkpoint))


def render_phase_log(feature: str, phase: str, checkpoints: list[Checkpoint]) -> str:
    """The whole phase log, oldest entry first: exactly what appending each entry to a new log produces."""
    first = checkpoints[0].created_at if checkpoints else None
    return render_header(feature, phase, first) + "".join(render_entry(cp) for cp in checkpoints)


def _summary_row(checkpoint: Checkpoint, index: int) -> dict[str, Any]:
    error_rate = checkpoint.evidence(ErrorRateEvidence) or ErrorRateEvidence()
    cohort = checkpoint.evidence(CohortEvidence) or CohortEvidence()
    return {
        "cp": checkpoint,
        "category": fmt.mermaid_category(checkpoint.label, index),
        "requests": error_rate.requests,
        "rate": error_rate.rate,
        "on_rate": cohort.on.rate,
        "evidence": cohort.e_value,
        "log_evidence": cohort.log_e_value,
        "limit": error_rate.limit,
    }


def _chart_value(value: Any) -> str:
    """A share as a percentage with 2 decimals for the chart; n/a is plotted as 0."""
    number = fmt.as_number(value)
    return f"{(number or 0.0) * 100:.2f}"


def render_summary(feature: str, phase: str, checkpoints: list[Checkpoint], gate: GateDecision | None) -> str:
    """A phase summary: checkpoint table, status counts and a Mermaid chart of the 5xx rate (global and ON cohort)."""
    rows = [_summary_row(cp, i) for i, cp in enumerate(checkpoints, start=1)]
    counts = Counter(str(cp.status) for cp in checkpoints)
    limit = next((r["limit"] for r in reversed(rows) if fmt.as_number(r["limit"]) is not None), None)
    series = {
        "global": [_chart_value(r["rate"]) for r in rows],
        "on": [_chart_value(r["on_rate"]) for r in rows],
        "limit": [_chart_value(limit)] * len(rows) if limit is not None else [],
    }
    peak = max([float(v) for v in (*series["global"], *series["on"], *series["limit"])] + [0.1])
    return _render(
        "summary.md.j2",
        feature=feature,
        phase=phase,
        rows=rows,
        counts=[(str(s), counts[str(s)]) for s in Status if counts[str(s)]],
        series=series,
        y_max=f"{peak * 1.25:.2f}",
        limit=limit,
        gate=gate,
    )
