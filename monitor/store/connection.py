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

CONNECT_TIMEOUT_SECONDS = 10
APPLICATION_NAME = "beta-monitor"

# purpose -> (how the database is named in messages, the setting that configures it)
PURPOSES: dict[str, tuple[str, str]] = {
    "watchdog": ("watchdog", "BETA_MONITOR_DATABASE_URL"),
    "flags": ("backend's flag", "BETA_MONITOR_FLAGS_DATABASE_URL"),
    "embedded": ("embedded", "BETA_MONITOR_EMBEDDED_DIR"),
}

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>.*)$", re.DOTALL)
_PASSWORD_PARAM = re.compile(r"(?P<key>password\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^\s&]*)", re.IGNORECASE)


def _userinfo_split(url: str) -> tuple[str, str, str] | None:
    """'scheme://user:pw@host/db?q' -> (prefix up to 'user:', password, rest from '@'); None without a password."""
    match = _SCHEME.match(url)
    if not match:
        return None
    rest = match["rest"]
    authority_end = rest.find("?")
    head = rest if authority_end < 0 else rest[:authority_end]
    at = head.rfind("@")
    if at < 0:
        return None
    userinfo = head[:at]
    user, sep, password = userinfo.partition(":")
    if not sep or not password:
        return None
    return match["scheme"] + user + ":", password, rest[at:]


def url_password(url: str) -> str | None:
    """The password a URL or key=value conninfo carries, if any (to scrub it from driver messages)."""
    parts = _userinfo_split(url)
    if parts:
        return parts[1]
    found = _PASSWORD_PARAM.search(url)
    if not found:
        return None
    return found["value"].strip("'") or None


def redact_url(url: str) -> str:
    """The URL (or key=value conninfo) with any password replaced by ***: safe for messages and logs."""
    parts = _userinfo_split(url)
    if parts:
        url = parts[0] + "***" + parts[2]
    return _PASSWORD_PARAM.sub(lambda m: m["key"] + "***", url)


def error_reason(exc: BaseException, secrets: tuple[str | None, ...] = ()) -> str:
    """The cause of a driver error on one short line, e.g. 'connection refused', with secrets scrubbed."""
    text = str(exc).strip().splitlines()[0].strip() if str(exc).strip() else type(exc).__name__
    if "failed: " in text:
        text = text.rsplit("failed: ", 1)[1]
    text = re.sub(r"^(FATAL|ERROR):\s*", "", text).strip()
    text = re.sub(r"\s+", " ", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _PASSWORD_PARAM.sub(lambda m: m["key"] + "***", text)
    text = text[:1].lower() + text[1:]
    return text[:200] or type(exc).__name__


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
        reason = error_reason(exc, (url_password(url),))
        raise StoreError(f"cannot reach the {name} database at {redact_url(url)}: {reason} — check {setting}") from None


@contextmanager
def translate_errors(url: str, *, purpose: str, action: str) -> Iterator[None]:
    """Turn psycopg errors raised inside the block into one-line StoreErrors naming what was being done."""
    name, setting = describe(purpose)
    try:
        yield
    except psycopg.OperationalError as exc:
        reason = error_reason(exc, (url_password(url),))
        raise StoreError(
            f"lost the {name} database at {redact_url(url)} while {action}: {reason} — check {setting}"
        ) from None
    except psycopg.Error as exc:
        reason = error_reason(exc, (url_password(url),))
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
