"""What an exported input holds, found by content (never by its name), and the decoders the `file:` engine streams.

- gzip is recognised by its magic bytes and decompressed on the fly (concatenated members too);
- an AWS CLI JSON document — `aws logs filter-log-events` / `get-log-events` output, `{"events": [{"timestamp",
  "message", …}], …}`, also several pages back to back, or a bare array of events (`--query events`) — is streamed
  event by event (`document_events`): memory holds one event and a read buffer, never the document;
- anything else is read line by line, each line judged on its own (`source._read_lines`): our wrapper
  `{"timestamp", "message"}`, a plain message (JSON or logfmt), or a CloudWatch export-task line
  (`2026-11-26T19:01:00.000Z <message>`, the timestamp being the event's time, parsed by fixed-width slicing:
  `ExportStamps`).

`describe_line` says what a line looks like (field names and counts, never values) for the data_quality verdict on
an input the engine could not read.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 64 * 1024  # how much of an input (after decompression) is looked at to choose how to read it
READ_CHUNK = 1024 * 1024
MAX_JSON_VALUE = 16 * 1024 * 1024  # one event (CloudWatch caps a message at 1 MB) plus generous room
_SECOND_CACHE = 100_000
_MAX_KEYS_SHOWN = 12

DOCUMENT_KEYS = ("events", "searchedLogStreams", "nextToken", "nextForwardToken", "nextBackwardToken", "NextToken")
_DOCUMENT_START = re.compile(rb'\s*\{\s*"(?:' + b"|".join(k.encode() for k in DOCUMENT_KEYS) + rb')"\s*:')
_EVENT_ARRAY_START = re.compile(rb'\s*\[\s*(?:\]|\{\s*"(?:timestamp|message|logStreamName|eventId|ingestionTime)")')
_EXPORT_LINE = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z ")
_SECOND = re.compile(rb"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})")
LOGFMT_START = re.compile(rb"\s*[A-Za-z_][\w.\-]*=")  # a line that opens with a key=value pair
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class BrokenDocumentError(ValueError):
    """A JSON document that stops making sense (truncated, or not JSON after all) at `offset` characters."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} at character {offset:,}")
        self.offset = offset


# -- reading an input ---------------------------------------------------------------------------------------------


class PrefixedStream(io.RawIOBase):
    """`head` (bytes already read from `rest` to look at them) followed by the rest of `rest`, as one stream."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def sniffed(raw: IO[bytes]) -> tuple[bytes, IO[bytes], bool]:
    """(the first bytes of the content, a stream of the whole content, whether it was gzip) for an input's raw bytes."""
    head = raw.read(SNIFF_BYTES)
    stream: IO[bytes] = io.BufferedReader(PrefixedStream(head, raw), READ_CHUNK)
    if head[:2] != GZIP_MAGIC:
        return head, stream, False
    unpacked: Any = gzip.GzipFile(fileobj=stream, mode="rb")
    head = unpacked.read(SNIFF_BYTES)
    return head, io.BufferedReader(PrefixedStream(head, unpacked), READ_CHUNK), True


def is_document(head: bytes) -> bool:
    """Does content starting with `head` hold AWS CLI JSON documents (rather than one event per line)?"""
    if _EVENT_ARRAY_START.match(head):
        return True
    if not _DOCUMENT_START.match(head):
        return False
    first = head.lstrip().split(b"\n", 1)[0]
    try:
        obj = orjson.loads(first)
    except orjson.JSONDecodeError:
        return True  # a document spread over lines (the CLI prints it indented), or longer than the sniffed bytes
    return isinstance(obj, dict) and isinstance(obj.get("events"), list)


class ExportStamps:
    """Epoch milliseconds of an export-task line's timestamp (`2026-11-26T19:01:00.000Z `), or None when the line
    does not start with one. Fixed-width slicing; each second is parsed once and cached."""

    def __init__(self) -> None:
        self._seconds: dict[bytes, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch ms, or -1 when it is not a time

    def __call__(self, line: bytes) -> int | None:
        base = self._seconds.get(line[:19])
        if base is None:
            base = self._second(line[:19])
        milli = line[20:23]
        if base < 0 or line[19:20] != b"." or not milli.isdigit():
            return None
        return base + int(milli)

    def _second(self, key: bytes) -> int:
        if len(self._seconds) >= _SECOND_CACHE:
            self._seconds.clear()
        m = _SECOND.fullmatch(key)
        base = -1
        if m is not None:
            try:
                year, month, day, hour, minute, second = (int(g) for g in m.groups())
                base = int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1000
            except ValueError:  # month 13, day 32, hour 25…
                base = -1
        self._seconds[key] = base
        return base


# -- JSON documents, streamed -------------------------------------------------------------------------------------


class _JsonReader:
    """JSON values read one at a time from a byte stream (UTF-8), with a bounded buffer."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._text = codecs.getincrementaldecoder("utf-8")("replace")
        self._decoder = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        self.passed = 0  # characters dropped from the front of the buffer
        self.eof = False

    def _more(self) -> bool:
        if self.eof:
            return False
        if self.pos:
            self.passed += self.pos
            self.buf, self.pos = self.buf[self.pos :], 0
        data = self._stream.read(READ_CHUNK)
        self.eof = not data
        self.buf += self._text.decode(data, final=self.eof)
        return bool(data)

    def peek(self) -> str | None:
        """The next non-blank character (not consumed), or None at the end of the input."""
        while True:
            self.pos = _WHITESPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]  # always matches
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return None

    def take(self, expected: str) -> None:
        if self.peek() != expected:
            raise self.broken(f"expected {expected!r}")
        self.pos += 1

    def value(self) -> Any:
        if self.peek() is None:
            raise self.broken("unexpected end")
        while True:
            try:
                value, self.pos = self._decoder.raw_decode(self.buf, self.pos)
                return value
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos > MAX_JSON_VALUE or not self._more():
                    raise self.broken(exc.msg) from None

    def broken(self, reason: str) -> BrokenDocumentError:
        return BrokenDocumentError(reason, self.passed + self.pos)


def _array(reader: _JsonReader) -> Iterator[Any]:
    reader.take("[")
    if reader.peek() == "]":
        reader.pos += 1
        return
    while True:
        yield reader.value()
        if reader.peek() == ",":
            reader.pos += 1
        else:
            reader.take("]")
            return


def _object(reader: _JsonReader) -> Iterator[Any]:
    """The events of one top-level object: its `events` array streamed, or the object itself when it has none (a
    lone event)."""
    reader.take("{")
    others: dict[str, Any] = {}
    has_events = False
    if reader.peek() == "}":
        reader.pos += 1
        yield others
        return
    while True:
        if reader.peek() != '"':
            raise reader.broken("expected a key")
        key = reader.value()
        reader.take(":")
        if key == "events" and reader.peek() == "[":
            has_events = True
            yield from _array(reader)
        else:
            others[key] = reader.value()
        if reader.peek() == ",":
            reader.pos += 1
            continue
        reader.take("}")
        if not has_events:
            yield others
        return


def document_events(stream: IO[bytes]) -> Iterator[Any]:
    """Every event of the JSON documents in `stream`, in order: the `events` of each object (the AWS CLI's output,
    pages back to back), each element of a top-level array. Raises BrokenDocumentError where the JSON breaks."""
    reader = _JsonReader(stream)
    while (start := reader.peek()) is not None:
        if start == "{":
            yield from _object(reader)
        elif start == "[":
            yield from _array(reader)
        else:
            raise reader.broken("expected a JSON object or array")


# -- what a line looks like (for an operator, without values) -----------------------------------------------------


def first_line(head: bytes) -> bytes:
    for line in head.splitlines():
        if line.strip():
            return line.strip()
    return b""


def _json_shape(value: Any) -> str:
    if isinstance(value, dict):
        keys = [str(k)[:40] for k in list(value)[:_MAX_KEYS_SHOWN]]
        more = ", …" if len(value) > _MAX_KEYS_SHOWN else ""
        return f"JSON object with keys: {', '.join(keys)}{more}" if keys else "empty JSON object"
    kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
    return f"JSON {kind}"


def _text_shape(line: bytes, text: str) -> str:
    if text.startswith(("{", "[")):
        return "broken JSON (it does not parse)"
    if LOGFMT_START.match(line):
        return "logfmt (key=value pairs)"
    for name, sep in (("CSV", ","), ("TSV", "\t"), ("semicolon-separated", ";"), ("pipe-separated", "|")):
        if text.count(sep) >= 2:
            return f"{name}-like: {text.count(sep) + 1} {sep!r}-separated fields"
    return f"plain text ({len(text.split())} words), not JSON or logfmt"


def describe_line(line: bytes) -> str:
    """What `line` looks like, by its shape only (field names and counts, never values)."""
    if b"\x00" in line or line[:2] == GZIP_MAGIC:
        return "binary data, not text"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data, not UTF-8 text"
    if not text:
        return "empty"
    if _EXPORT_LINE.match(line):
        return "CloudWatch export-task line"
    try:
        return _json_shape(orjson.loads(line))
    except orjson.JSONDecodeError:
        return _text_shape(line, text)


def line_kind(line: bytes) -> str:
    """Which of the accepted line formats `line` is in, or "other lines" when none."""
    if not line:
        return "empty"
    if _EXPORT_LINE.match(line):
        return "CloudWatch export-task lines"
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "plain message lines" if LOGFMT_START.match(line) else "other lines"
    if not isinstance(obj, dict):
        return "other lines"
    if type(obj.get("timestamp")) is int and "message" in obj and "type" not in obj:
        return "export wrapper lines"
    return "plain message lines"


def input_format(head: bytes, *, document: bool, compressed: bool) -> str:
    """A label for how an input was read, from its first line (`CloudWatch export-task lines, gzip`)."""
    kind = "AWS CLI JSON documents" if document else line_kind(first_line(head))
    return f"{kind}, gzip" if compressed else kind
