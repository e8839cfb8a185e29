"""No part of a database credential is ever printed, whatever the connection string's shape.

A URL is described only from what libpq itself parsed out of it (user, host, port, dbname — the password masked),
never from its raw text. When libpq cannot parse it, or parses it differently from what its author meant — a
reserved character left unescaped in the password, `postgresql://u:p@ss@host/db`, makes libpq take `ss@host` for
the host — neither the URL nor the driver's message is shown (the message would quote the fragment), only a hint.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from psycopg.conninfo import conninfo_to_dict

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$", re.DOTALL)
_PORT = re.compile(r"[0-9,]*")
_SHOWN_KEYS = ("host", "hostaddr", "port", "dbname", "user", "sslmode")
HIDDEN = "(not shown: it does not parse cleanly)"
UNPARSEABLE = (
    "the connection string does not parse cleanly: percent-encode reserved characters in the password "
    "(@ as %40, : as %3A, / as %2F, ? as %3F, # as %23, space as %20)"
)


def _parsed(url: str) -> dict[str, str] | None:
    """What libpq reads in `url`, or None when it cannot read it or reads it differently from what was meant."""
    try:
        parsed = {k: str(v) for k, v in conninfo_to_dict(url).items()}
    except Exception:  # psycopg raises ProgrammingError; anything else means the same here
        return None
    match = _SCHEME.match(url)
    if match:
        before_query = match["rest"].split("?", 1)[0]
        at = before_query.find("@")
        slash = before_query.find("/")
        if before_query.count("@") > 1 or (at >= 0 and 0 <= slash < at):
            return None  # an unescaped @ or / in the userinfo: libpq split it elsewhere than meant
    if "@" in parsed.get("host", "") and not parsed["host"].startswith("/"):
        return None
    if not _PORT.fullmatch(parsed.get("port", "")):
        return None
    return parsed


def url_password(url: str) -> str | None:
    """The password the connection string carries, as libpq reads it (None when none, or unparseable)."""
    parsed = _parsed(url)
    return (parsed or {}).get("password") or None


def redact_url(url: str) -> str:
    """A description of the connection string that carries no credential: built from libpq's reading of it."""
    parsed = _parsed(url)
    match = _SCHEME.match(url)
    if parsed is None:
        return f"{match['scheme']}://{HIDDEN}" if match else f"connection string {HIDDEN}"
    if not match:  # key=value conninfo
        shown = [f"{key}={parsed[key]}" for key in _SHOWN_KEYS if parsed.get(key)]
        return " ".join([*shown, *(["password=***"] if "password" in parsed else [])]) or "(empty connection string)"
    user = parsed.get("user", "")
    userinfo = f"{user}:***@" if parsed.get("password") else (f"{user}@" if user else "")
    host = parsed.get("host", "")
    socket_host = host.startswith("/")
    netloc = "" if socket_host else (f"[{host}]" if ":" in host else host)
    port = parsed.get("port")
    text = f"{match['scheme']}://{userinfo}{netloc}{f':{port}' if port and not socket_host else ''}"
    text += f"/{parsed.get('dbname', '')}" if parsed.get("dbname") or socket_host else ""
    query = [f"{key}={parsed[key]}" for key in ("host", "port") if socket_host and parsed.get(key)]
    query += [f"sslmode={parsed['sslmode']}"] if parsed.get("sslmode") else []
    return text + (f"?{'&'.join(query)}" if query else "")


def credential_fragments(url: str) -> list[str]:
    """Every text that is or may be part of the credential in `url`, longest first: the password as libpq reads
    it, and — from the raw text, whatever libpq makes of it — the userinfo, the password after the first ':',
    raw and percent-decoded, and a `password=` value. Used to scrub driver messages and bug reports."""
    found: set[str] = set()
    parsed = _parsed(url)
    if parsed and parsed.get("password"):
        found.add(parsed["password"])
    match = _SCHEME.match(url)
    authority = match["rest"].split("?", 1)[0] if match else (url if "=" not in url else "")
    if "@" in authority:
        userinfo = authority[: authority.rfind("@")]
        secret = userinfo.split(":", 1)[1] if ":" in userinfo else ""
        if secret:
            found.update({userinfo, unquote(userinfo), secret, unquote(secret)})
            found.update(piece for piece in re.split(r"[@:/?#&=]", secret) if len(piece) >= 3)
    for value in re.findall(r"password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]*)", url, re.IGNORECASE):
        found.update({value, value.strip("'"), unquote(value)})
    if parsed is None:  # misread: the value may run on, past a space or an &, up to the next key=
        for value in re.findall(r"password\s*=\s*(.*?)(?=[\s&][A-Za-z_]+=|$)", url, re.IGNORECASE | re.DOTALL):
            found.update({value, *(piece for piece in re.split(r"[\s@:/?#&=']", value) if len(piece) >= 3)})
    return sorted((f for f in found if f), key=len, reverse=True)


def scrub_credentials(text: str, urls: list[str]) -> str:
    """`text` with every URL in `urls` replaced by its description and every credential fragment by ***."""
    for url in urls:
        if url:
            text = text.replace(url, redact_url(url))
    for url in urls:
        for fragment in credential_fragments(url):
            text = text.replace(fragment, "***")
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)", r"\1***", text, flags=re.IGNORECASE)


def parses_cleanly(url: str) -> bool:
    """Whether libpq reads `url` as it was meant (else its messages may quote a fragment of the password)."""
    return _parsed(url) is not None
