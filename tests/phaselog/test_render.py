"""The phase log's Markdown: expected output, header + entries = rebuild, injection, missing checks, summary."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.domain import Checkpoint, CheckResult, ExpectedConfig, GateAction, GateDecision, Status, Window
from monitor.phaselog.markdown import code, code_block, md, mermaid_category, pct, pvalue
from monitor.phaselog.render import render_entry, render_header, render_phase_log, render_summary

EXPECTED = Path(__file__).resolve().parents[1] / "expected"
HOUR_FIELDS = (
    "on_units",
    "off_units",
    "on_failing",
    "off_failing",
    "on_seen",
    "off_seen",
    "on_seen_failing",
    "off_seen_failing",
    "on_requests",
    "on_5xx",
    "off_requests",
    "off_5xx",
)
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def _checks(rate: float = 0.0015, errors: int = 3) -> list[CheckResult]:
    """One realistic checkpoint at 5% rollout: every check measured, latency WARN on the matching routes."""
    error_rate = {
        "requests": 2000,
        "errors_5xx": errors,
        "rate": rate,
        "interval": [0.00051, 0.00441],
        "limit": 0.01,
        "min_requests": 100,
        "breakdown": {
            "requests": 2000,
            "2xx": 1902,
            "3xx": 14,
            "4xx": 81,
            "5xx": errors,
            "other": 0,
            "401": 40,
            "403": 6,
            "429": 11,
        },
        "routes": {
            "matching": {"requests": 1500, "errors_5xx": 3, "rate": 0.002, "interval": [0.00068, 0.00587]},
            "feature_flag": {"requests": 450, "errors_5xx": 0, "rate": 0.0, "interval": [0.0, 0.00845]},
            "other": {"requests": 50, "errors_5xx": 0, "rate": 0.0, "interval": [0.0, 0.07135]},
        },
        "baseline": {"label": "h01", "created_at": "2024-05-01T08:00:00+00:00", "rate": 0.001},
    }
    cohort = {  # the fifth hourly checkpoint of the phase, as the check records it
        "on": {
            "requests": 400,
            "errors_5xx": 1,
            "rate": 0.0025,
            "interval": [0.00044, 0.01401],
            "passengers": 92,
            "failing_passengers": 1,
            "units": 91,
            "first_failures": 1,
        },
        "off": {
            "requests": 1550,
            "errors_5xx": 2,
            "rate": 0.00129,
            "interval": [0.00035, 0.0047],
            "passengers": 355,
            "failing_passengers": 2,
            "units": 352,
            "first_failures": 2,
        },
        "anonymous": {"requests": 50, "errors_5xx": 0},
        "hour": dict(zip(HOUR_FIELDS, (91, 352, 1, 2, 92, 355, 1, 2, 400, 1, 1550, 2), strict=True)),
        "phase": dict(zip(HOUR_FIELDS, (443, 1725, 3, 16, 447, 1735, 3, 16, 1925, 3, 7580, 16), strict=True)),
        "ratio": 0.7308,
        "interval": [0.0, 4.7568],
        "log_e_value": -1.1604,
        "e_value": 0.3134,
        "p_value": 1.0,
        "threshold": 100.0,
        "hour_e_value": 1.0463,
        "hour_ratio": 1.9341,
        "hours": 5.0,
        "checkpoints": 5,
        "fail_since": None,
        "hours_to_decide": 57.78,
        "hours_to_decide_phase": None,
        "needed_requests": None,
        "needed_hours": None,
        "alpha": 0.01,
        "min_relative_effect": None,
        "min_cohort_requests": 100,
    }
    determinism = {
        "allowlist_size": 12,
        "allowlist_violations": 0,
        "decisions": 5400,
        "passengers": 830,
        "wrong_decision_passengers": 0,
        "conflicting_passengers": 0,
        "unverifiable_passengers": 0,
        "examples": [],
        "exposure": {
            "seen_on": 41,
            "seen": 818,
            "share": 0.0501,
            "expected": 0.05,
            "interval": [0.0269, 0.077],
            "inside": True,
            "confidence": 0.999,
        },
        "segments": [
            {
                "index": 0,
                "judged_against": "live",
                "from_ms": 1714550400000,
                "until_ms": 1714554000000,
                "passengers": 830,
                "wrong_decision_passengers": 0,
                "conflicting_passengers": 0,
                "unverifiable_passengers": 0,
                "allowlist_violations": 0,
            }
        ],
        "by_decision": {"OFF": 5047, "ALLOWLIST": 96, "ROLLOUT": 257},
    }
    drift = {
        "live": {
            "enabled": True,
            "rollout_percentage": 5,
            "allowlist_size": 12,
            "updated_at": "2024-05-01T07:54:48+00:00",
        },
        "expected": {"enabled": True, "rollout_percentage": 5, "source": "stored"},
        "mismatches": [],
        "changed_ago_s": 7512.0,
        "drift_grace_s": 600.0,
        "mirror_disagreements": [],
        "allowlist_added": 2,
        "allowlist_removed": 1,
        "allowlist_examples": ["+3fa2c1d0", "+9b07e4aa", "-51c0d2e7"],
    }
    latency = {
        "p95_ms": 131.2,
        "baseline_p95_ms": 118.0,
        "baseline_label": "h01",
        "baseline_created_at": "2024-05-01T08:00:00+00:00",
        "change": 0.1119,
        "routes": {
            "matching": {"p95_ms": 163.5, "baseline_p95_ms": 128.3, "change": 0.274, "status": "WARN"},
            "feature_flag": {"p95_ms": 22.4, "baseline_p95_ms": 21.9, "change": 0.0228, "status": "PASS"},
        },
    }
    query = 'fields status, duration_ms\n| filter type = "http_request"\n| stats count(*) by bin'
    data_quality = {
        "events": 7450,
        "malformed": 2,
        "malformed_share": 0.000268,
        "max_malformed_share": 0.01,
        "samples": [
            "http_request: status is not an integer (fields: duration_ms,method,path,status,type)",
            "feature_flag_decision: missing decision (fields: feature_key,passenger_hash,type)",
        ],
        "other": 48,
        "last_event_age_s": 42.0,
        "freshness_s": 900.0,
        "window_ends_now": True,
        "problems": [],
        "aws_calls": {"StartQuery": 4, "GetQueryResults": 9},
        "queries": [{"name": "requests", "status": "Complete", "records_matched": 7450, "query": query}],
        "load_balancer": None,
        "engine": "insights",
    }
    return [
        CheckResult(
            name="error_rate",
            status=Status.PASS,
            evidence=error_rate,
            summary=f"5xx {rate:.2%} ({errors}/2000), limit 1.00%",
        ),
        CheckResult(
            name="cohort_regression",
            status=Status.PASS,
            evidence=cohort,
            summary="ON/OFF 0.73× (anytime-valid 0–4.76×), evidence M=0.313 (FAIL at 100, p=1) over ≈5.0 h in 5 "
            "checkpoints; first failures this hour: ON 1 of 91 passengers, OFF 2 of 352",
        ),
        CheckResult(
            name="determinism",
            status=Status.PASS,
            evidence=determinism,
            summary="5400 decisions by 830 passengers match the config",
        ),
        CheckResult(
            name="config_drift",
            status=Status.PASS,
            evidence=drift,
            summary="live config matches the expected rollout=5%, enabled=true",
        ),
        CheckResult(
            name="latency", status=Status.WARN, evidence=latency, summary="matching p95 +27.40% over baseline h01"
        ),
        CheckResult(
            name="data_quality",
            status=Status.PASS,
            evidence=data_quality,
            summary="7450 events, 2 malformed (0.03%), fresh",
        ),
    ]


def make_checkpoint(
    label: str = "h03",
    *,
    at: datetime = T0,
    checks: list[CheckResult] | None = None,
    status: Status = Status.WARN,
    gate: GateDecision | None = None,
    **extra: Any,
) -> Checkpoint:
    return Checkpoint(
        id=3,
        feature="passenger_favorites_matching",
        phase="rollout-5",
        label=label,
        run_key=f"passenger_favorites_matching:rollout-5:{label}",
        status=status,
        window=Window(start=at - timedelta(hours=1), end=at),
        live_config={
            "key": "passenger_favorites_matching",
            "enabled": True,
            "rollout_percentage": 5,
            "allowlist_size": 12,
            "updated_at": "2024-05-01T07:54:48+00:00",
            "mirror": {"enabled": True, "rollout_percentage": 5},
        },
        expected=ExpectedConfig(rollout_percentage=5, enabled=True, source="stored"),
        checks=_checks() if checks is None else checks,
        metrics={
            "engine": "insights",
            "routes": {
                "matching": {"status": {"requests": 1500, "2xx": 1420, "3xx": 0, "4xx": 77, "5xx": 3}},
                "feature_flag": {"status": {"requests": 450, "2xx": 436, "3xx": 10, "4xx": 4, "5xx": 0}},
                "other": {"status": {"requests": 50, "2xx": 46, "3xx": 4, "4xx": 0, "5xx": 0}},
            },
        },
        gate=gate
        if gate is not None
        else GateDecision(
            action=GateAction.HOLD,
            reasons=["latency WARN at h03"],
            missing=["1 more PASS checkpoint"],
            command="beta-monitor checkpoint passenger_favorites_matching rollout-5 h04",
        ),
        created_at=at,
        allowlist_hashes=["f" * 64],
        **extra,
    )


# -- structure of rendered Markdown, without a Markdown library: what a renderer would see -------------------
_FENCE = re.compile(r"^ {0,3}(`{3,})")


def _unescaped(line: str, chars: str) -> list[str]:
    """Characters of `chars` in `line` not preceded by an odd number of backslashes."""
    found, backslashes = [], 0
    for ch in line:
        if ch in chars and backslashes % 2 == 0:
            found.append(ch)
        backslashes = backslashes + 1 if ch == "\\" else 0
    return found


def _without_code_spans(line: str) -> str:
    """`line` with its inline code spans removed: a run of N backticks up to the next run of exactly N."""
    out, i = [], 0
    while i < len(line):
        run = re.match(r"`+", line[i:])
        if run is None or (len(line[:i]) - len(line[:i].rstrip("\\"))) % 2 == 1:
            out.append(line[i])
            i += 1
            continue
        n = len(run.group())
        close = re.compile(rf"(?<!`)`{{{n}}}(?!`)").search(line, i + n)
        if close is None:
            out.append(run.group())
            i += n
        else:
            i = close.end()
    return "".join(out)


def structure(text: str) -> list[str]:
    """Per line outside code blocks: heading level, table row with its cell count, list item or text.

    Also fails when raw HTML or a link could start anywhere outside code (unescaped `<`, `[` or `](`).
    """
    kinds: list[str] = []
    fence = ""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if fence:
            if match and len(match.group(1)) >= len(fence) and not line.strip().strip("`"):
                fence = ""
                kinds.append("fence-end")
            continue
        if match:
            fence = match.group(1)
            kinds.append("fence")
            continue
        stripped = re.sub(r"^- \[ \] ", "- ", line)  # our task-list items
        stripped = _without_code_spans(stripped)  # inline code cannot carry structure
        assert not _unescaped(stripped, "<["), f"HTML or link could start here: {line!r}"
        assert not re.search(r"(?<!\\)://|www\.|(?<!\\)@", stripped), f"autolink could start here: {line!r}"
        heading = re.match(r"^ {0,3}(#{1,6})(\s|$)", line)
        if heading:
            kinds.append(f"h{len(heading.group(1))}")
        elif line.startswith("|"):
            kinds.append(f"row{len(_unescaped(line, '|'))}")
        elif re.match(r"^\s*([-*+]|\d+[.)])\s", line):
            kinds.append("item")
        else:
            kinds.append("text" if line.strip() else "blank")
    assert not fence, "unclosed code block"
    return kinds


# -- templates ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["checkpoint.md.j2", "phase_header.md.j2", "summary.md.j2"])
def test_templates_load_from_the_installed_package(name: str, tmp_path: Path) -> None:
    """pyproject maps the top-level templates/ to the package `monitor.templates` (editable and wheel installs).

    Checked in a fresh interpreter started outside the checkout, so it is the installed package that answers, not
    the source tree on the test run's path."""
    code = (
        "import importlib.resources, sys; "
        f"sys.stdout.write(importlib.resources.files('monitor.templates').joinpath({name!r}).read_text('utf-8'))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == (Path(__file__).resolve().parents[2] / "templates" / name).read_text(encoding="utf-8")


# -- expected output ---------------------------------------------------------------------------------------------
def test_entry_matches_the_frozen_expected_markdown() -> None:
    entry = render_entry(make_checkpoint())
    assert entry == (EXPECTED / "checkpoint_entry.md").read_text(encoding="utf-8")


def test_entry_sections_come_in_the_documented_order() -> None:
    headings = [line for line in render_entry(make_checkpoint()).split("\n") if line.startswith("#")]
    assert headings == [
        "## Checkpoint: h03 (2024-05-01T10:00:00Z)",
        "### Flag state",
        "### Expected config",
        "### Request metrics",
        "### Error rates",
        "### Baseline & cohort comparison",
        "### Determinism",
        "### Latency",
        "### Data quality",
        "### Alerts",
        "### Decision",
        "### Gate",
        "### Manual review",
    ]


def test_header_plus_entries_is_the_rebuilt_phase_log() -> None:
    first = make_checkpoint("h01", at=T0 - timedelta(hours=2), status=Status.PASS)
    second = make_checkpoint("h02", at=T0 - timedelta(hours=1), status=Status.PASS)
    third = make_checkpoint("h03")
    appended = render_header(first.feature, first.phase, first.created_at)
    for cp in (first, second, third):
        appended += render_entry(cp)
    assert render_phase_log(first.feature, first.phase, [first, second, third]) == appended
    assert appended.count("\n## Checkpoint: ") == 3
    structure(appended)


def test_entry_is_the_same_after_a_round_trip_through_json_storage() -> None:
    """A checkpoint read back from PostgreSQL JSONB has its dict keys reordered and times in another zone."""
    checkpoint = make_checkpoint()
    stored = checkpoint.model_dump(mode="json")

    def reorder(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reorder(value[k]) for k in sorted(value, reverse=True)}
        return [reorder(v) for v in value] if isinstance(value, list) else value

    stored = reorder(stored)
    stored["created_at"] = "2024-05-01T12:00:00+02:00"
    assert render_entry(Checkpoint.model_validate(stored)) == render_entry(checkpoint)


# -- injection ------------------------------------------------------------------------------------------------------
HOSTILE = [
    pytest.param("x\n## Fake heading", id="heading-after-newline"),
    pytest.param("<script>alert(1)</script>", id="html-tag"),
    pytest.param("[link](http://evil.example)", id="link"),
    pytest.param("see https://evil.example/x or www.evil.example or a@evil.example", id="autolink"),
    pytest.param("| a | b |", id="table-row"),
    pytest.param("x\r\n| a | b |\n|---|---|", id="table-after-newline"),
    pytest.param("![img](http://evil.example/x.png) `code` *em* _u_ &amp; \x00\x1b[31m\u202e", id="mixed"),
    pytest.param("\\[link](x)", id="backslash-before-bracket"),
]


def _hostile_checkpoint(text: str) -> Checkpoint:
    """Outside text in every place evidence holds text (typed evidence keeps it out of the numeric fields)."""
    ev = {c.name: c.model_dump()["evidence"] for c in _checks()}
    ev["data_quality"]["samples"] = [f"http_request: bad status (fields: {text},path)", text]
    ev["data_quality"]["problems"] = [f"GetQueryResults on /ecs/{text} truncated"]
    ev["data_quality"]["inputs"] = {text: 1, "export wrapper lines": 2}
    ev["data_quality"]["unreadable_inputs"] = [f"s3://b/{text}: 3 of 3 lines in no format beta-monitor reads"]
    ev["data_quality"]["aws_calls"][text] = 1
    ev["data_quality"]["queries"] = [{"name": text, "query": f"fields @message\n```\n{text}\n````"}]
    ev["error_rate"]["routes"][text] = {"requests": 1, "errors_5xx": 0, "rate": 0.0, "interval": [0.0, 0.79]}
    ev["error_rate"]["baseline"]["label"] = text
    ev["config_drift"]["mismatches"] = [text]
    ev["config_drift"]["allowlist_examples"] = [text]
    ev["determinism"]["examples"] = [text, f"hash={text}"]
    ev["latency"]["routes"][text] = {"p95_ms": 1.0, "status": "WARN"}
    checks = [c.model_copy(update={"evidence": type(c.evidence).model_validate(ev[c.name])}) for c in _checks()]
    checks.append(CheckResult(name=text, status=Status.ERROR, summary=text))
    gate = GateDecision(action=GateAction.HOLD, reasons=[text], missing=[text], command=f"beta-monitor x `{text}`")
    checkpoint = make_checkpoint(text, checks=checks, gate=gate)
    return checkpoint.model_copy(update={"live_config": {**checkpoint.live_config, "mirror": {"note": text}}})


@pytest.mark.parametrize("text", HOSTILE)
def test_outside_text_cannot_inject_structure_or_html(text: str) -> None:
    hostile = _hostile_checkpoint(text)
    benign = _hostile_checkpoint("benign")
    assert structure(render_entry(hostile)) == structure(render_entry(benign))
    header = render_header(text, text, T0)
    assert structure(header) == structure(render_header("f", "p", T0))
    summary = render_summary(text, text, [hostile], hostile.gate)
    assert structure(summary) == structure(render_summary("f", "p", [benign], benign.gate))
    for rendered in (render_entry(hostile), header, summary):
        assert "\x00" not in rendered and "\x1b" not in rendered and "\u202e" not in rendered


def test_a_file_replay_shows_its_inputs_and_what_it_could_not_read() -> None:
    ev = {c.name: c.model_dump()["evidence"] for c in _checks()}
    ev["data_quality"].update(
        unrecognised=51,
        inputs={"CloudWatch export-task lines, gzip": 2, "other lines": 1},
        unreadable_inputs=["/x/b.csv: 51 of 51 lines in no format beta-monitor reads (first line: CSV-like)"],
    )
    checks = [c.model_copy(update={"evidence": type(c.evidence).model_validate(ev[c.name])}) for c in _checks()]
    lines = render_entry(make_checkpoint(checks=checks)).splitlines()
    assert (
        "- Inputs read: CloudWatch export-task lines, gzip 2, other lines 1 (51 lines in no format beta-monitor reads)"
        in lines
    )
    assert "- Unrecognised input: /x/b.csv: 51 of 51 lines in no format beta-monitor reads (first line: CSV-like)" in [
        line.replace("\\", "") for line in lines
    ]


def test_a_hostile_label_shows_as_text() -> None:
    entry = render_entry(make_checkpoint("x\n## Fake <b>[l](u)</b> | a |"))
    assert entry.split("\n")[1] == r"## Checkpoint: x ## Fake \<b\>\[l\](u)\</b\> \| a \| (2024-05-01T10:00:00Z)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("plain words", "plain words", id="plain"),
        pytest.param("a\nb\r\nc\u2028d", "a b  c d", id="line-breaks"),
        pytest.param("#1 [x](y) <i> a|b", r"#1 \[x\](y) \<i\> a\|b", id="structure"),
        pytest.param("# heading", r"\# heading", id="heading-at-start"),
        pytest.param("- item", r"\- item", id="list-at-start"),
        pytest.param("3. item", r"3\. item", id="ordered-list-at-start"),
        pytest.param("> quote", r"\> quote", id="quote-at-start"),
        pytest.param("=== underline", r"\=== underline", id="setext-at-start"),
        pytest.param("0.75% (88/11773), rollout-5pct", "0.75% (88/11773), rollout-5pct", id="prose-stays-readable"),
        pytest.param("*_`~!&+-.{}", r"\*\_\`\~\!\&+-.\{\}", id="inline-marks"),
        pytest.param("http://a.b www.c.d e@f.g", r"http:/\/a.b www\.c.d e\@f.g", id="autolinks"),
        pytest.param("back\\slash", "back\\\\slash", id="backslash"),
        pytest.param("bell\x07 esc\x1b del\x7f rtl\u202e", "bell esc del rtl", id="controls"),
        pytest.param(None, "n/a", id="none"),
    ],
)
def test_md_escapes_outside_text(value: Any, expected: str) -> None:
    assert md(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("beta-monitor gate f p", "`beta-monitor gate f p`", id="plain"),
        pytest.param("say `hi`", "`` say `hi` ``", id="backtick-inside"),
        pytest.param("a ``` b", "````a ``` b````", id="long-run"),
        pytest.param("two\nlines", "`two lines`", id="newline"),
    ],
)
def test_code_span_cannot_be_closed_by_its_text(value: str, expected: str) -> None:
    assert code(value) == expected


def test_code_block_fence_is_longer_than_any_backtick_run() -> None:
    block = code_block("fields x\n````\n# not a heading")
    assert block.startswith("`````\n") and block.endswith("\n`````")
    assert structure(block) == ["fence", "fence-end"]


@pytest.mark.parametrize(
    ("fn", "value", "expected"),
    [
        pytest.param(pct, 0.0015, "0.15%", id="pct"),
        pytest.param(pct, None, "n/a", id="pct-none"),
        pytest.param(pct, float("nan"), "n/a", id="pct-nan"),
        pytest.param(pct, "<b>", r"\<b\>", id="pct-text"),
        pytest.param(pvalue, 0.41274, "0.413", id="p"),
        pytest.param(pvalue, 1.0, "1.00", id="p-one"),
        pytest.param(pvalue, 0.0000123456, "1.23e-05", id="p-tiny"),
        pytest.param(pvalue, None, "n/a", id="p-none"),
    ],
)
def test_numbers_are_formatted_and_none_is_na(fn: Any, value: Any, expected: str) -> None:
    assert fn(value) == expected


# -- missing and broken checks --------------------------------------------------------------------------------------
def test_missing_and_error_checks_render_as_not_measured() -> None:
    checks = [c for c in _checks() if c.name not in ("latency", "cohort_regression", "determinism")]
    checks.append(
        CheckResult(
            name="determinism",
            status=Status.ERROR,
            evidence={"exception": "KeyError"},
            summary="check raised KeyError: 'segments'",
        )
    )
    checks = [
        CheckResult(name="data_quality", status=Status.ERROR, summary="Insights query timed out after 300 s")
        if c.name == "data_quality"
        else c
        for c in checks
    ]
    entry = render_entry(make_checkpoint(checks=checks))
    structure(entry)
    assert "Cohorts: not measured: not recorded in this checkpoint" in entry
    latency = entry.split("### Latency\n\n")[1].split("\n\n")[0]
    assert latency == "not measured: not recorded in this checkpoint"
    quality = entry.split("### Data quality\n\n")[1].split("\n\n")[0]
    assert quality == r"**ERROR** — not measured: Insights query timed out after 300 s"
    alerts = entry.split("### Alerts\n\n")[1].split("\n\n")[0]
    assert r"- **data\_quality** ERROR: Insights query timed out after 300 s" in alerts
    determinism = entry.split("### Determinism\n\n")[1].split("\n\n")[0]
    assert determinism == r"**ERROR** — not measured: check raised KeyError: 'segments'"
    manual = entry.split("### Manual review\n\n")[1]
    assert "- [ ] latency was not run at this checkpoint: judge it by hand." in manual
    assert r"- [ ] data\_quality was ERROR (Insights query timed out after 300 s): judge it by hand." in manual
    assert r"cohort\_regression was not run" in manual
    assert "Product/UX review" in manual and "Confirm no customer complaints" in manual


def test_evidence_missing_keys_render_na() -> None:
    checks = [
        CheckResult(name=c.name, status=c.status, summary=c.summary, evidence={"unexpected": 1}) for c in _checks()
    ]
    entry = render_entry(make_checkpoint(checks=checks, gate=GateDecision(action=GateAction.HOLD)))
    structure(entry)
    assert "- 5xx rate: **n/a** (n/a of n/a requests), 95% interval n/a" in entry
    assert "| ON (allowlist + rollout) | n/a | n/a | n/a | n/a |" in entry
    assert "- p95: **n/a**; no baseline yet (the phase's first PASS checkpoint becomes it)" in entry


def test_skipped_and_nodata_checks_are_listed_for_manual_review_only() -> None:
    checks = [
        CheckResult(name="config_drift", status=Status.SKIP, summary="no expected config"),
        CheckResult(
            name="cohort_regression",
            status=Status.NODATA,
            summary="ON cohort 40 requests over the phase, needs 60 more (≈1.5 h at the current rate)",
            evidence={"on": {"requests": 40}, "needed_requests": 60, "needed_hours": 1.5},
        ),
    ]
    entry = render_entry(make_checkpoint(checks=checks, status=Status.WARN))
    alerts = entry.split("### Alerts\n\n")[1].split("\n\n")[0]
    assert "config" not in alerts and "cohort" in alerts
    assert "- A verdict needs 60 more requests in a cohort (≈1.5 h at the current rate)" in entry
    manual = entry.split("### Manual review\n\n")[1]
    assert r"config\_drift was SKIP (no expected config)" in manual
    assert r"cohort\_regression was NODATA" in manual


@pytest.mark.parametrize(
    ("status", "meaning"),
    [
        pytest.param(
            Status.PASS, "**PASS**: every check passed. The rollout may advance when the gate says ADVANCE.", id="pass"
        ),
        pytest.param(Status.WARN, "**WARN**: hold at the current step and look at the alerts above", id="warn"),
        pytest.param(Status.FAIL, "**FAIL**: roll back as the gate says", id="fail"),
    ],
)
def test_decision_says_what_the_status_means(status: Status, meaning: str) -> None:
    decision = render_entry(make_checkpoint(status=status)).split("### Decision\n\n")[1]
    assert decision.startswith(meaning)


def test_determinism_failure_shows_examples_and_config_segments() -> None:
    start_ms = int((T0 - timedelta(hours=1)).timestamp() * 1000)
    change_ms = start_ms + 1_800_000

    def segment(index: int, mode: str, start: int, end: int, wrong: int) -> dict[str, Any]:
        return {
            "index": index,
            "judged_against": mode,
            "from_ms": start,
            "until_ms": end,
            "passengers": 300,
            "wrong_decision_passengers": wrong,
            "conflicting_passengers": 0,
            "unverifiable_passengers": 0,
            "allowlist_violations": 0,
        }

    evidence = {
        "allowlist_size": 12,
        "allowlist_violations": 0,
        "decisions": 5400,
        "passengers": 830,
        "wrong_decision_passengers": 3,
        "conflicting_passengers": 0,
        "unverifiable_passengers": 0,
        "examples": ["a1b2c3d4", "e5f60718", "99aa00bb"],
        "exposure": None,
        "segments": [
            segment(0, "previous", start_ms, change_ms, 0),
            segment(1, "grace", change_ms, change_ms + 60_000, 0),
            segment(2, "live", change_ms + 60_000, start_ms + 3_600_000, 3),
        ],
    }
    checks = [
        CheckResult(
            name="determinism",
            status=Status.FAIL,
            evidence=evidence,
            summary="3 passengers got a decision the config does not predict, e.g. a1b2c3d4",
        )
    ]
    entry = render_entry(make_checkpoint(checks=checks, status=Status.FAIL))
    structure(entry)
    assert "| Config segments judged | 3 |" in entry
    assert "| 2 | live | 2024-05-01T09:31:00Z | 2024-05-01T10:00:00Z | 300 | 3 | 0 | 0 | 0 |" in entry
    assert "| 0 | previous | 2024-05-01T09:00:00Z | 2024-05-01T09:30:00Z | 300 | 0 | 0 | 0 | 0 |" in entry
    assert "- Example hashes: a1b2c3d4; e5f60718; 99aa00bb" in entry
    assert "- Exposure: n/a" in entry
    assert r"- **determinism** FAIL: 3 passengers got a decision" in entry


# -- summary -------------------------------------------------------------------------------------------------------
def test_summary_has_table_counts_and_mermaid_chart() -> None:
    runs = [(Status.PASS, 0.001, 2), (Status.PASS, 0.0015, 3), (Status.FAIL, 0.0125, 25)]
    cps = [
        make_checkpoint(f"h0{i}", at=T0 + timedelta(hours=i), status=s, checks=_checks(rate, e))
        for i, (s, rate, e) in enumerate(runs)
    ]
    cps.append(
        make_checkpoint(
            "odd label/with spaces",
            at=T0 + timedelta(hours=5),
            checks=[],
            status=Status.WARN,
            gate=GateDecision(action=GateAction.HOLD),
        )
    )
    gate = GateDecision(
        action=GateAction.ROLLBACK,
        reasons=["5xx above 1.00% on 2 consecutive checkpoints"],
        command="beta-monitor rollout set passenger_favorites_matching 0 --reason 'cp h02 FAIL'",
    )
    summary = render_summary("passenger_favorites_matching", "rollout-5", cps, gate)
    structure(summary)
    assert "Status counts: PASS 2, WARN 1, FAIL 1" in summary
    assert "| 3 | h02 | 2024-05-01T12:00:00Z | FAIL | 2,000 | 1.25% | 0.25% | 0.313 | HOLD |" in summary
    assert "| 4 | odd label/with spaces | 2024-05-01T15:00:00Z | WARN | n/a | n/a | n/a | n/a | HOLD |" in summary
    chart = summary.split("```mermaid\n")[1].split("\n```")[0].split("\n")
    assert chart[0] == "xychart-beta"
    assert chart[2] == '    x-axis ["1-h00", "2-h01", "3-h02", "4-oddlabelwithspaces"]'
    assert chart[3] == '    y-axis "5xx rate (%)" 0 --> 1.56'
    assert chart[4:] == [
        "    line [0.10, 0.15, 1.25, 0.00]",
        "    line [0.25, 0.25, 0.25, 0.00]",
        "    line [1.00, 1.00, 1.00, 1.00]",
    ]
    assert "**ROLLBACK**" in summary and "`beta-monitor rollout set passenger_favorites_matching 0" in summary


def test_summary_without_checkpoints() -> None:
    summary = render_summary("f", "p", [], None)
    assert "No checkpoints yet." in summary and "mermaid" not in summary and "Not evaluated." in summary


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        pytest.param("h01", "1-h01", id="plain"),
        pytest.param('a"]\n--> b', "1-a--b", id="quotes-and-arrows"),
        pytest.param("###", "1", id="nothing-left"),
        pytest.param("a" * 40, "1-" + "a" * 11 + "~" + "a" * 12, id="long"),
        pytest.param("rollout-5pct-validation", "1-rollout-5pct-validation", id="whole-when-it-fits"),
        pytest.param("rollout-10pct-validation-after-fix", "1-rollout-10p~on-after-fix", id="start-and-end"),
    ],
)
def test_mermaid_categories_keep_only_safe_characters(label: str, expected: str) -> None:
    assert mermaid_category(label, 1) == expected


def test_mermaid_categories_of_one_phase_read_apart() -> None:
    """Labels that share a long start (the demo's, an operator's) stay distinct and readable without the index."""
    labels = [
        "rollout-5pct-validation",
        "rollout-5pct-hour2",
        "rollout-5pct-hourly-2026-11-22T14",
        "rollout-5pct-hourly-2026-11-22T15",
    ]
    shown = [mermaid_category(label, i).split("-", 1)[1] for i, label in enumerate(labels, start=1)]
    assert len(set(shown)) == len(shown), shown
    assert all(len(s) <= 24 for s in shown)
