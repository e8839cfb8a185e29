"""Connections: password-free one-line errors, fast failure on an unreachable database."""

from __future__ import annotations

import socket

import psycopg
import pytest

from monitor.errors import StoreError
from monitor.store.checkpoints import PostgresCheckpointStore
from monitor.store.connection import connect, redact_url, translate_errors, url_password
from monitor.store.flags import PostgresFlagSource


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
            "postgresql://postgres:@/postgres?host=/tmp/x",
            id="empty-password-socket",
        ),
        pytest.param("postgres://u:p@ss/w0rd@db/m", "postgres://u:***@db/m", id="at-and-slash-in-password"),
        pytest.param(
            "postgresql://db/m?user=u&password=s3cr3t&sslmode=require",
            "postgresql://db/m?user=u&password=***&sslmode=require",
            id="query-password",
        ),
        pytest.param(
            "host=db user=u password=s3cr3t dbname=m", "host=db user=u password=*** dbname=m", id="keyword-conninfo"
        ),
        pytest.param("host=db password='a b\\'c' dbname=m", "host=db password=*** dbname=m", id="quoted-keyword"),
        pytest.param("postgresql://db/m?host=/x@y", "postgresql://db/m?host=/x@y", id="at-in-query-only"),
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
    ],
)
def test_url_password(url: str, expected: str | None) -> None:
    assert url_password(url) == expected


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
