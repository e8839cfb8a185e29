"""Database administration used by the demo: a fresh database on a server."""

from __future__ import annotations

from psycopg import sql

from monitor.store.connection import connect
from monitor.store.embedded import with_database


def recreate_database(url: str, name: str) -> str:
    """Drop (if present) and create database `name` on the server of `url`; return its URL."""
    with connect(with_database(url, "postgres"), purpose="embedded") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(url, name)
