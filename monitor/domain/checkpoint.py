"""One stored checkpoint: the window it judged, every check's result, the status and the gate's decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, Field, FieldSerializationInfo, field_serializer, model_validator

from monitor.domain.act import AutoAct
from monitor.domain.evidence import Evidence, evidence_model
from monitor.domain.flag import ExpectedConfig
from monitor.domain.status import GateAction, Status

E = TypeVar("E", bound=Evidence)


class Window(BaseModel):
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


class CheckResult(BaseModel):
    """One check's verdict: its status, a one-line summary and its evidence, typed by the check's name
    (`monitor.domain.evidence`): a stored or hand-written dict loads into the check's model."""

    name: str
    status: Status
    summary: str
    evidence: Evidence = Field(default_factory=Evidence)

    @model_validator(mode="before")
    @classmethod
    def _typed_evidence(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        model = evidence_model(str(data.get("name", "")))
        evidence = data.get("evidence")
        if isinstance(evidence, model):
            return data
        if evidence is None:
            typed = model()
        elif isinstance(evidence, Evidence):
            typed = model.model_validate(evidence.model_dump(exclude_unset=True))
        elif isinstance(evidence, dict):
            typed = model.model_validate(evidence)
        else:
            return data  # not evidence at all: field validation says so
        return {**data, "evidence": typed}

    @field_serializer("evidence")
    def _keys_set(self, evidence: Evidence, info: FieldSerializationInfo) -> dict[str, Any]:
        """Only the keys the check wrote (or the stored row held): a round trip gives back the same JSON."""
        return evidence.model_dump(mode=info.mode, exclude_unset=True)


class GateDecision(BaseModel):
    action: GateAction
    reasons: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    command: str = ""
    # Set when the live flag has already moved past the rollout the phase was judged at ("already rolled back to 5%
    # at …"): the command stays the one the phase log named.
    note: str | None = None
    # What the job did about this decision itself (BETA_MONITOR_AUTO_ROLLBACK / _AUTO_ADVANCE), when it tried.
    act: AutoAct | None = None


class Checkpoint(BaseModel):
    """One stored checkpoint: what was seen, what was judged, and whether its phase-log entry was appended."""

    id: int | None = None
    feature: str
    phase: str
    label: str
    run_key: str
    status: Status
    window: Window
    live_config: dict[str, Any]
    expected: ExpectedConfig
    checks: list[CheckResult]
    metrics: dict[str, Any] = Field(default_factory=dict)
    gate: GateDecision | None = None
    created_at: datetime
    appended: bool = False
    # The phase-log entry's form: "full", or "brief" (one line) for a quiet run of a sub-hourly cadence.
    entry: str = "full"
    # Full hashes of the allowlist at this checkpoint, to report allowlist changes at the next one. Never printed.
    allowlist_hashes: list[str] = Field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """The checkpoint as it may be shown (`--json`, reports): without the allowlist hashes."""
        return self.model_dump(mode="json", exclude={"allowlist_hashes"})

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def evidence(self, model: type[E]) -> E | None:
        """The evidence of the check `model` belongs to (`checkpoint.evidence(ErrorRateEvidence)`), None when that
        check is not in this checkpoint."""
        result = self.check(model.check)
        return result.evidence if result is not None and isinstance(result.evidence, model) else None

    @property
    def alerts(self) -> list[CheckResult]:
        """The checks someone must look at: every status but PASS and SKIP."""
        return [c for c in self.checks if c.status.alerts]
