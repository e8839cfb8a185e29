"""Connections: password-free one-line errors, fast failure on an unreachable database."""

from __future__ import annotations

import socket

import psycopg
import pytest

from monitor.errors import StoreError
from monitor.store.checkpoints import PostgresCheckpointStore
from monitor.store.connection import connect, redact_url, scrub_credentials, translate_errors, url_password
from monitor.store.flags import PostgresFlagSource
from monitor.store.redaction import HIDDEN


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def unreachable_url() -> str:
    return f"postgresql://app:s3cr3t@127.0.0.1:{_closed_port()}/monitor"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("postgresql://app:s3cr3t@db:5432/monitor", "postgresql://app:***@db:5432/monitor", id="password"),
        pytest.param("postgresql://app@db/monitor", "postgresql://app@db/monitor", id="no-password"),
        pytest.param(
            "postgresql://postgres:@/postgres?host=/tmp/x",
            "postgresql://postgres@/postgres?host=/tmp/x",
            id="empty-password-socket",
        ),
        pytest.param("postgres://u:p@ss/w0rd@db/m", f"postgres://{HIDDEN}", id="at-and-slash-in-password"),
        pytest.param("postgresql://u:p@ss@host/db", f"postgresql://{HIDDEN}", id="unescaped-at"),
        pytest.param("postgresql://u:p/ss@host/db", f"postgresql://{HIDDEN}", id="unescaped-slash"),
        pytest.param("postgresql://u:p%40ss@host/db", "postgresql://u:***@host/db", id="escaped-at"),
        pytest.param("postgresql://u:p%zz@host/db", f"postgresql://{HIDDEN}", id="bad-escape"),
        pytest.param("postgresql://u:p?ss@host/db", "postgresql://u:***@host/db", id="question-mark"),
        pytest.param(
            "postgresql://db/m?user=u&password=s3cr3t&sslmode=require",
            "postgresql://u:***@db/m?sslmode=require",
            id="query-password",
        ),
        pytest.param("postgresql://db/m?password=a&b", f"postgresql://{HIDDEN}", id="ampersand-in-query-password"),
        pytest.param(
            "host=db user=u password=s3cr3t dbname=m", "host=db dbname=m user=u password=***", id="keyword-conninfo"
        ),
        pytest.param("host=db password='a b\\'c' dbname=m", "host=db dbname=m password=***", id="quoted-keyword"),
        pytest.param("host=db password=a b dbname=m", f"connection string {HIDDEN}", id="unquoted-space"),
        pytest.param("u:p@ss@host/db", f"connection string {HIDDEN}", id="no-scheme"),
        pytest.param("postgresql://db/m?host=/x@y", "postgresql:///m?host=/x@y", id="at-in-query-only"),
        pytest.param("postgresql://[::1]:5432/db", "postgresql://[::1]:5432/db", id="ipv6"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("postgresql://app:s3cr3t@db/m", "s3cr3t", id="url"),
        pytest.param("host=db password=s3cr3t", "s3cr3t", id="keyword"),
        pytest.param("postgresql://app@db/m", None, id="none"),
        pytest.param("postgresql://u:p%40ss@db/m", "p@ss", id="decoded"),
    ],
)
def test_url_password(url: str, expected: str | None) -> None:
    assert url_password(url) == expected


# Each shape with its secret: no substring of 3 or more of the secret may appear in anything printed.
LEAKY_SHAPES = [
    pytest.param("postgresql://app:p@ss@127.0.0.1:{port}/monitor", "p@ss", id="unescaped-at"),
    pytest.param("postgresql://app:pa@ss@w0rd@127.0.0.1:{port}/monitor", "pa@ss@w0rd", id="two-ats"),
    pytest.param("postgresql://app:s3c/r3t@127.0.0.1:{port}/monitor", "s3c/r3t", id="unescaped-slash"),
    pytest.param("postgresql://app:s3cr%40t@127.0.0.1:{port}/monitor", "s3cr@t", id="escaped-at"),
    pytest.param("postgresql://app:s3cr%zzt@127.0.0.1:{port}/monitor", "s3cr%zzt", id="bad-escape"),
    pytest.param("postgresql://127.0.0.1:{port}/monitor?user=app&password=s3cr3t", "s3cr3t", id="query"),
    pytest.param("postgresql://127.0.0.1:{port}/monitor?password=s3c&r3t", "s3c&r3t", id="ampersand-in-query"),
    pytest.param("host=127.0.0.1 port={port} user=app password=s3cr3t dbname=m", "s3cr3t", id="keyword"),
    pytest.param("host=127.0.0.1 port={port} password=s3c r3t dbname=m", "s3c r3t", id="keyword-unquoted-space"),
    pytest.param("app:p@ss@127.0.0.1:{port}/monitor", "p@ss", id="no-scheme"),
]


def assert_no_fragment(text: str, secret: str) -> None:
    pieces = {secret[i : i + 3] for i in range(len(secret) - 2)}
    leaked = sorted(piece for piece in pieces if piece in text)
    assert not leaked, f"{leaked} of the password in {text!r}"


@pytest.mark.parametrize(("template", "secret"), LEAKY_SHAPES)
def test_no_part_of_a_password_in_connect_errors(template: str, secret: str) -> None:
    url = template.format(port=_closed_port())
    with pytest.raises(StoreError) as caught:
        connect(url, purpose="watchdog")
    assert "\n" not in str(caught.value)
    assert_no_fragment(str(caught.value), secret)


@pytest.mark.parametrize(("template", "secret"), LEAKY_SHAPES)
def test_scrub_takes_every_credential_out_of_any_text(template: str, secret: str) -> None:
    url = template.format(port=5432)
    text = f"boom: {url} / password={secret} / {secret} / {secret.replace('@', '%40')}"
    assert_no_fragment(scrub_credentials(text, [url]), secret)


def test_unreachable_database_is_one_line_without_password(unreachable_url: str) -> None:
    with pytest.raises(StoreError) as caught:
        connect(unreachable_url, purpose="watchdog")
    message = str(caught.value)
    assert "s3cr3t" not in message
    assert "\n" not in message
    assert message.startswith("cannot reach the watchdog database at postgresql://app:***@127.0.0.1:")
    assert "connection refused" in message
    assert message.endswith("check BETA_MONITOR_DATABASE_URL")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_flags_purpose_names_its_setting(unreachable_url: str) -> None:
    with pytest.raises(StoreError, match=r"backend's flag database .* check BETA_MONITOR_FLAGS_DATABASE_URL$"):
        PostgresFlagSource(unreachable_url).get("any_flag")


def test_store_operations_fail_with_store_error(unreachable_url: str) -> None:
    store = PostgresCheckpointStore(unreachable_url)
    for operation in (store.migrate, lambda: store.history("f"), lambda: store.lock("f", "p").__enter__()):
        with pytest.raises(StoreError) as caught:
            operation()
        assert "s3cr3t" not in str(caught.value)


def test_unparseable_url_does_not_leak_password() -> None:
    with pytest.raises(StoreError) as caught:
        connect("postgresql://app:s3cr3t@db/m?not_an_option=1", purpose="watchdog")
    assert "s3cr3t" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_database_names_the_cause(pg_url: str) -> None:
    base, _, query = pg_url.partition("?")
    url = base.rsplit("/", 1)[0] + "/no_such_db?" + query
    with pytest.raises(StoreError, match='database "no_such_db" does not exist'):
        connect(url, purpose="watchdog")


def test_connect_works_and_is_autocommit(pg_url: str) -> None:
    with connect(pg_url, purpose="watchdog") as conn:
        assert conn.autocommit
        assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("beta-monitor",)


def test_query_errors_become_store_errors(pg_url: str) -> None:
    with connect(pg_url, purpose="watchdog") as conn, pytest.raises(StoreError) as caught:  # noqa: SIM117
        with translate_errors(pg_url, purpose="watchdog", action="testing"):
            conn.execute("SELECT * FROM nowhere")
    assert str(caught.value) == 'watchdog database error while testing: relation "nowhere" does not exist'
    assert isinstance(caught.value.__cause__, psycopg.errors.UndefinedTable)


@pytest.mark.slow
def test_silent_server_times_out_instead_of_hanging() -> None:
    # A socket that accepts the TCP handshake but never answers: only connect_timeout ends the wait.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"postgresql://app:s3cr3t@127.0.0.1:{silent.getsockname()[1]}/monitor"
        with pytest.raises(StoreError, match="connection timeout expired") as caught:
            connect(url, purpose="watchdog")
    assert "s3cr3t" not in str(caught.value)
