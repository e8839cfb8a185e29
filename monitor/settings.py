"""Settings from the environment (`BETA_MONITOR_*`, `AWS_REGION`, `AWS_ENDPOINT_URL`); command-line flags override them.

Every setting is documented here once; the README's configuration table is generated from this model (a test keeps
them in sync).
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.errors import ConfigError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


MAX_WINDOW = timedelta(days=7)
MIN_SECONDS = 0.001
# The longest value each duration setting may take (a typo such as 800000d must fail with one line, not overflow).
DURATION_LIMITS: dict[str, timedelta] = {
    "window": MAX_WINDOW,
    "ingestion_lag": timedelta(days=1),
    "freshness": timedelta(days=1),
    "drift_grace": timedelta(days=7),
}


def parse_duration(text: str | int | float, *, maximum: timedelta | None = None, what: str = "duration") -> timedelta:
    """'1h', '90m', '2h30m', '45s', '1d' or a number of seconds → timedelta, positive and at most `maximum`.
    Raises ConfigError naming `what`."""
    shown = str(text)[:40]
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        raw = str(text).strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", raw):
            seconds = float(raw)
        else:
            parts = _DURATION.findall(raw)
            if not parts or "".join(n + u for n, u in parts) != raw:
                raise ConfigError(f"cannot read {what} {shown!r}: give a duration such as 1h, 90m, 2h30m or 45s")
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if maximum is not None and not seconds <= maximum.total_seconds():
        raise ConfigError(f"{what} {shown!r} is longer than the {_human(maximum)} allowed")
    if not seconds <= timedelta.max.total_seconds() / 2:
        raise ConfigError(f"{what} {shown!r} is too long")
    if seconds < MIN_SECONDS:
        raise ConfigError(f"{what} {shown!r} must be positive (at least 1 ms)")
    return timedelta(seconds=seconds)


def window_length(text: str) -> timedelta:
    """A checkpoint window (`--window`, BETA_MONITOR_WINDOW): at most 7 days."""
    return parse_duration(text, maximum=MAX_WINDOW, what="window")


def _human(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} s"


def parse_route_groups(text: str) -> list[tuple[str, str]]:
    """'feature_flag=/api/feature-flags,matching=/api/matching' → [(name, path prefix), ...]."""
    groups: list[tuple[str, str]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, prefix = part.partition("=")
        if not sep or not name.strip() or not prefix.strip().startswith("/"):
            raise ConfigError(f"route group {part[:60]!r} must look like name=/path/prefix")
        groups.append((name.strip(), prefix.strip()))
    return groups


class Settings(BaseSettings):
    """beta-monitor settings. Environment variable = `BETA_MONITOR_` + the field name in capitals."""

    model_config = SettingsConfigDict(
        env_prefix="BETA_MONITOR_", extra="ignore", populate_by_name=True, allow_inf_nan=False
    )

    # Databases
    database_url: SecretStr | None = Field(
        None,
        description="The watchdog's PostgreSQL (checkpoints). Unset: an embedded PostgreSQL "
        "in the user data directory.",
    )
    flags_database_url: SecretStr | None = Field(
        None, description="The backend's PostgreSQL holding the flag tables. Defaults to database_url."
    )
    embedded_dir: str | None = Field(
        None,
        description="Data directory of the embedded PostgreSQL used when no database URL is set "
        "(default: the user data dir; /var/tmp/beta-monitor/pgdata as root).",
    )
    flag_schema: str = Field(
        "columns", description="Flag table layout: `columns` (feature_flags + allowlist table) or `json` (value jsonb)."
    )
    flags_table: str = Field("feature_flags", description="Name of the flag table.")
    allowlist_table: str = Field(
        "feature_flag_allowlist", description="Name of the allowlist table (`columns` schema)."
    )
    # Resolver
    bucket_hash: str = Field("sha256", description="Hash of the bucket function: sha256 or md5.")
    bucket_hex_chars: int = Field(
        8, ge=0, le=128, description="Hex characters of the digest that feed the bucket (0 = all)."
    )
    flag_cache_ttl: float = Field(
        60.0, ge=0, le=86400, description="Seconds the backend caches flag config: grace after a change."
    )
    # Logs
    log_group: str = Field("/ecs/kaviar-backend", description="CloudWatch Logs group of the backend.")
    route_groups: str = Field(
        "feature_flag=/api/feature-flags,matching=/api/matching",
        description="Route groups counted separately: name=/prefix,...",
    )
    source: str = Field(
        "insights", description="Log engine: insights, scan or file:PATH (a file, a directory or s3://bucket/prefix/)."
    )
    window: str = Field("1h", description="Checkpoint window length (at most 7d).")
    ingestion_lag: str = Field("5m", description="The window ends this long before now (CloudWatch ingestion delay).")
    insights_timeout: float = Field(
        300.0, gt=0, le=3600, description="Seconds to wait for Logs Insights queries before ERROR."
    )
    aws_max_attempts: int = Field(8, ge=1, le=20, description="Attempts per AWS call (adaptive retry mode).")
    # Thresholds
    max_5xx_rate: float = Field(0.01, ge=0, le=1, description="error_rate FAILs above this 5xx share.")
    min_requests: int = Field(100, ge=1, description="Requests needed before error_rate judges (else NODATA).")
    alpha: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="cohort_regression's false-FAIL probability over a whole phase, however many hourly looks.",
    )
    min_relative_effect: float | None = Field(
        None,
        ge=0,
        le=100,
        description="Relative margin inside cohort_regression's null: 0.2 FAILs only if ON is more than 1.2× worse "
        "than OFF (unset or 0: any excess).",
    )
    min_cohort_requests: int = Field(100, ge=1, description="ON-cohort requests needed for cohort_regression.")
    latency_warn: float = Field(0.20, ge=0, description="p95 above baseline by this share → WARN.")
    latency_fail: float = Field(0.50, ge=0, description="p95 above baseline by this share → FAIL.")
    max_malformed_share: float = Field(
        0.01, ge=0, le=1, description="Malformed share of events above which data_quality WARNs."
    )
    freshness: str = Field("15m", description="No event in this last part of a window that ends now → logs stale WARN.")
    drift_grace: str = Field(
        "10m", description="A config mismatch younger than this is WARN (change in progress), not FAIL."
    )
    error_escalation: int = Field(
        4, ge=1, description="A check ERROR on this many consecutive checkpoints escalates to FAIL."
    )
    # Outputs
    phase_log: str = Field(
        "reports/{feature}/{phase}.md",
        description="Phase log destination: path or s3://bucket/key, with {feature} and {phase}.",
    )
    phase_plan: str = Field(
        "0,1,5,10,25,50,100", description="Rollout steps `rollout set` may move between without --force."
    )
    sns_topic_arn: str | None = Field(None, description="SNS topic notified on status transitions and ROLLBACK.")
    metric_namespace: str = Field("BetaMonitor", description="CloudWatch namespace of the CheckpointStatus metric.")
    publish_metric: bool = Field(False, description="Publish BetaMonitor/CheckpointStatus after every checkpoint.")
    actor: str | None = Field(
        None, description="Who runs `rollout set` (else the AWS caller identity, else the OS user)."
    )
    # Acting on the gate (monitor.autopilot)
    auto_rollback: bool = Field(
        False,
        description="A ROLLBACK verdict steps the flag back itself (audited, compare-and-set on the judged config, "
        "at most once per phase).",
    )
    rollback_to: str = Field(
        "previous",
        description="Where an automatic rollback goes: `previous` (the phase plan's step below), `zero` (0%, "
        "allowlist kept) or `disable` (master switch off).",
    )
    auto_advance: bool = Field(
        False, description="An ADVANCE verdict steps the flag up one plan step itself (with auto_rollback's guards)."
    )
    auto_actor: str = Field("beta-monitor (auto)", description="The actor of the audit row an automatic change writes.")
    log_format: str = Field("text", description="Job log format on stderr: text or json (json in containers).")
    # Load balancer cross-check (optional)
    alb_load_balancer: str | None = Field(
        None, description="ALB dimension (app/name/id) for the CloudWatch metrics cross-check."
    )
    alb_target_group: str | None = Field(None, description="Optional TargetGroup dimension (targetgroup/name/id).")
    # AWS
    aws_region: str | None = Field(
        None,
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION", "BETA_MONITOR_AWS_REGION"),
        description="AWS region (AWS_REGION).",
    )
    aws_endpoint_url: str | None = Field(
        None,
        validation_alias=AliasChoices("AWS_ENDPOINT_URL", "BETA_MONITOR_AWS_ENDPOINT_URL"),
        description="AWS endpoint override (AWS_ENDPOINT_URL), e.g. a local emulator.",
    )

    @field_validator("window", "ingestion_lag", "freshness", "drift_grace")
    @classmethod
    def _duration(cls, value: str, info: ValidationInfo) -> str:
        name = str(info.field_name)
        try:
            parse_duration(value, maximum=DURATION_LIMITS[name], what=name.replace("_", " "))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("flag_schema")
    @classmethod
    def _schema(cls, value: str) -> str:
        if value not in ("columns", "json"):
            raise ValueError("must be 'columns' or 'json'")
        return value

    @field_validator("rollback_to")
    @classmethod
    def _rollback_to(cls, value: str) -> str:
        if value not in ("previous", "zero", "disable"):
            raise ValueError("must be 'previous', 'zero' or 'disable'")
        return value

    @field_validator("bucket_hash")
    @classmethod
    def _hash(cls, value: str) -> str:
        if value not in ("sha256", "md5"):
            raise ValueError("must be 'sha256' or 'md5'")
        return value

    @field_validator("flags_table", "allowlist_table")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", value):
            raise ValueError("must be a plain table name (letters, digits, underscore, optional schema.)")
        return value

    # Derived, parsed views ------------------------------------------------------------------------------------
    @property
    def route_group_list(self) -> list[tuple[str, str]]:
        return parse_route_groups(self.route_groups)

    @property
    def phase_steps(self) -> list[int]:
        try:
            steps = sorted({int(p) for p in self.phase_plan.split(",") if p.strip()})
        except ValueError as exc:
            raise ConfigError("BETA_MONITOR_PHASE_PLAN must be comma-separated percentages, e.g. 0,1,5,10,100") from exc
        return steps

    def flags_url(self) -> str | None:
        url = self.flags_database_url or self.database_url
        return url.get_secret_value() if url else None

    def store_url(self) -> str | None:
        return self.database_url.get_secret_value() if self.database_url else None


def load_settings(**overrides: object) -> Settings:
    """Environment + overrides (None values are ignored). Invalid settings raise ConfigError with one line."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise ConfigError(f"invalid setting BETA_MONITOR_{where.upper()}: {message}") from None


def settings_table() -> str:
    """The README's configuration table, generated from this model (tests/test_docs.py keeps them in sync)."""
    rows = ["| Environment variable | Default | Meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        env = alias.choices[0] if isinstance(alias, AliasChoices) else f"BETA_MONITOR_{name.upper()}"
        default = info.default
        shown = "unset" if default is None else f"`{str(default).lower() if isinstance(default, bool) else default}`"
        rows.append(f"| `{env}` | {shown} | {(info.description or '').replace('|', '/')} |")
    return "\n".join(rows) + "\n"
