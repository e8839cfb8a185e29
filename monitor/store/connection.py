"""Connections to PostgreSQL with one-line, password-free errors.

Every psycopg error that leaves `monitor.store` goes through `connect` or `translate_errors` and becomes a
`StoreError` whose message names the database (password redacted), the cause, and the setting to check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from monitor.errors import StoreError
from monitor.store.redaction import (
    UNPARSEABLE,
    credential_fragments,
    parses_cleanly,
    redact_url,
    scrub_credentials,
    url_password,
)

__all__ = [
    "connect",
    "error_reason",
    "jsonb",
    "redact_url",
    "scrub_credentials",
    "translate_errors",
    "url_password",
    "utc",
]

CONNECT_TIMEOUT_SECONDS = 10
APPLICATION_NAME = "beta-monitor"

# purpose -> (how the database is named in messages, the setting that configures it)
PURPOSES: dict[str, tuple[str, str]] = {
    "watchdog": ("watchdog", "BETA_MONITOR_DATABASE_URL"),
    "flags": ("backend's flag", "BETA_MONITOR_FLAGS_DATABASE_URL"),
    "embedded": ("embedded", "BETA_MONITOR_EMBEDDED_DIR"),
}


def error_reason(exc: BaseException, secrets: tuple[str | None, ...] = ()) -> str:
    """The cause of a driver error on one short line, e.g. 'connection refused', with secrets scrubbed (before the
    line is cut, so no part of one survives)."""
    text = str(exc)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)", r"\1***", text, flags=re.IGNORECASE)
    text = text.strip().splitlines()[0].strip() if text.strip() else type(exc).__name__
    if "failed: " in text:
        text = text.rsplit("failed: ", 1)[1]
    text = re.sub(r"^(FATAL|ERROR):\s*", "", text).strip()
    text = re.sub(r"\s+", " ", text)
    text = text[:1].lower() + text[1:]
    return text[:200] or type(exc).__name__


def _reason(exc: BaseException, url: str) -> str:
    """The driver's message about `url` on one line, with no part of its credential (see monitor.store.redaction)."""
    if not parses_cleanly(url):
        return UNPARSEABLE  # libpq's message would quote what it misread, possibly a fragment of the password
    return error_reason(exc, tuple(credential_fragments(url)))


def describe(purpose: str) -> tuple[str, str]:
    """(database name for messages, setting to check) of a purpose such as 'watchdog' or 'flags'."""
    return PURPOSES.get(purpose, (purpose, "BETA_MONITOR_DATABASE_URL"))


def connect(url: str, *, purpose: str, autocommit: bool = True) -> psycopg.Connection[Any]:
    """Open a connection (10 s connect timeout). Any failure raises StoreError with one password-free line."""
    name, setting = describe(purpose)
    try:
        return psycopg.connect(
            url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_SECONDS, application_name=APPLICATION_NAME
        )
    except (psycopg.Error, ValueError) as exc:
        reason = _reason(exc, url)
        raise StoreError(f"cannot reach the {name} database at {redact_url(url)}: {reason} — check {setting}") from None


@contextmanager
def translate_errors(url: str, *, purpose: str, action: str) -> Iterator[None]:
    """Turn psycopg errors raised inside the block into one-line StoreErrors naming what was being done."""
    name, setting = describe(purpose)
    try:
        yield
    except psycopg.OperationalError as exc:
        reason = _reason(exc, url)
        raise StoreError(
            f"lost the {name} database at {redact_url(url)} while {action}: {reason} — check {setting}"
        ) from None
    except psycopg.Error as exc:
        reason = _reason(exc, url)
        raise StoreError(f"{name} database error while {action}: {reason}") from exc


def _dumps(obj: Any) -> str:
    # orjson: datetimes as ISO strings, NaN/Infinity as null (jsonb has no NaN), non-string keys as strings.
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()


def jsonb(obj: Any) -> Jsonb:
    """A value for a jsonb parameter."""
    return Jsonb(obj, dumps=_dumps)


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime (naive ones are taken as UTC): what every timestamptz read or written here becomes."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
