"""Phase-log sinks: destination templates, a local file under concurrent writers, and S3 with conditional writes."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from monitor.errors import ConfigError, SinkError
from monitor.phaselog.sinks import CONTENT_TYPE, FilePhaseLog, S3PhaseLog, open_sink, phase_log_destination

HEADER = "# Phase log: f / p\n\nStarted 2024-05-01T10:00:00Z.\n"
BUCKET = "phase-logs"


def entry(name: str, size: int = 0) -> str:
    return f"\n## Checkpoint: {name}\n\n" + "".join(f"- line {i} of {name}\n" for i in range(size)) + "- end\n"


# -- destinations ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "feature", "phase", "expected"),
    [
        pytest.param(
            "reports/{feature}/{phase}.md", "checkout_v2", "rollout-5", "reports/checkout_v2/rollout-5.md", id="default"
        ),
        pytest.param("s3://logs/{feature}/{phase}.md", "f", "p1.5", "s3://logs/f/p1.5.md", id="s3"),
        pytest.param(
            "reports/{feature}/{phase}.md", "../../etc", "passwd", "reports/___.._etc/passwd.md", id="traversal"
        ),
        pytest.param("reports/{feature}/{phase}.md", "..", ".", "reports/__/_.md", id="dots-only"),
        pytest.param("reports/{feature}/{phase}.md", "a/b\\c", "", "reports/a_b_c/_.md", id="separators-and-empty"),
        pytest.param("r/{feature}.md", "{phase}", "x", "r/_phase_.md", id="placeholder-in-value"),
        pytest.param("/var/log/beta/{phase}.md", "f", "p\n1", "/var/log/beta/p_1.md", id="newline"),
    ],
)
def test_destination_substitutes_sanitised_feature_and_phase(
    template: str, feature: str, phase: str, expected: str
) -> None:
    assert phase_log_destination(template, feature, phase) == expected


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("reports/{feature}/{label}.md", id="unknown-placeholder"),
        pytest.param("  ", id="empty"),
    ],
)
def test_bad_destination_templates_are_config_errors(template: str) -> None:
    with pytest.raises(ConfigError):
        phase_log_destination(template, "f", "p")


@pytest.mark.parametrize("dest", ["s3://bucket-only", "s3:///key.md", "s3://b/dir/", "file://"])
def test_bad_destinations_are_config_errors(dest: str) -> None:
    with pytest.raises(ConfigError):
        open_sink(dest, s3_client=object())


def test_open_sink_picks_the_implementation(tmp_path: Path) -> None:
    file_sink = open_sink(str(tmp_path / "a.md"))
    assert isinstance(file_sink, FilePhaseLog) and file_sink.path == tmp_path / "a.md"
    assert isinstance(open_sink(f"file://{tmp_path}/b.md"), FilePhaseLog)
    s3_sink = open_sink("s3://logs/f/p.md", s3_client=object())
    assert isinstance(s3_sink, S3PhaseLog) and (s3_sink.bucket, s3_sink.key) == ("logs", "f/p.md")


# -- local file ----------------------------------------------------------------------------------------------------
def test_file_log_is_created_with_header_then_appended(tmp_path: Path) -> None:
    sink = open_sink(str(tmp_path / "reports" / "f" / "p.md"))
    assert sink.read() is None
    sink.append(entry("h01"), HEADER)
    sink.append(entry("h02"), HEADER)
    assert sink.read() == HEADER + entry("h01") + entry("h02")
    assert (tmp_path / "reports" / "f" / "p.md").read_text(encoding="utf-8") == HEADER + entry("h01") + entry("h02")
    leftovers = sorted(p.name for p in (tmp_path / "reports" / "f").iterdir())
    assert leftovers == ["p.md"]  # no lock file, no temporary file left behind


def test_file_log_keeps_its_permissions_and_exact_bytes(tmp_path: Path) -> None:
    path = tmp_path / "p.md"
    path.write_bytes(b"# old\r\nkept as is\n")
    path.chmod(0o640)
    FilePhaseLog(path).append("\n## Checkpoint: caf\u00e9 \u2192 \u2705\n", HEADER)
    assert path.read_bytes() == "# old\r\nkept as is\n\n## Checkpoint: caf\u00e9 \u2192 \u2705\n".encode()
    assert path.stat().st_mode & 0o777 == 0o640


def test_file_log_write_all_replaces_the_content(tmp_path: Path) -> None:
    sink = FilePhaseLog(tmp_path / "p.md")
    sink.append(entry("h01"), HEADER)
    sink.write_all(HEADER + entry("rebuilt"))
    assert sink.read() == HEADER + entry("rebuilt")


def test_file_log_errors_are_one_line_sink_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(SinkError) as excinfo:
        FilePhaseLog(blocker / "p.md").append(entry("h01"), HEADER)
    assert "\n" not in str(excinfo.value) and str(blocker / "p.md") in str(excinfo.value)
    directory = tmp_path / "a-dir.md"
    directory.mkdir()
    with pytest.raises(SinkError):
        FilePhaseLog(directory).read()
    with pytest.raises(SinkError):
        FilePhaseLog(directory).append(entry("h01"), HEADER)


@pytest.mark.parametrize("depth", [0, 2], ids=["parent-is-a-file", "ancestor-is-a-file"])
def test_a_file_in_the_way_is_named_not_a_directory(tmp_path: Path, depth: int) -> None:
    blocker = tmp_path / "reports"
    blocker.write_text("a file where the report directory should be")
    target = blocker.joinpath(*[f"d{i}" for i in range(depth)], "p.md")
    with pytest.raises(SinkError) as excinfo:
        FilePhaseLog(target).append(entry("h01"), HEADER)
    assert str(excinfo.value) == f"cannot append to phase log {target}: {blocker} is not a directory"


def test_an_empty_log_left_by_a_crash_gets_its_header(tmp_path: Path) -> None:
    path = tmp_path / "p.md"
    path.write_bytes(b"")
    FilePhaseLog(path).append(entry("h01"), HEADER)
    assert path.read_text(encoding="utf-8") == HEADER + entry("h01")


def test_a_stop_during_the_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.md"
    FilePhaseLog(path).append(entry("h01"), HEADER)

    def stopped(_fd: int) -> None:
        raise KeyboardInterrupt  # what a SIGTERM raises (monitor.errors.Stopped)

    monkeypatch.setattr("monitor.phaselog.sinks.os.fsync", stopped)
    with pytest.raises(KeyboardInterrupt):
        FilePhaseLog(path).append(entry("h02"), HEADER)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.md"]
    assert path.read_text(encoding="utf-8") == HEADER + entry("h01")


def test_a_writer_waiting_on_a_replaced_log_locks_the_new_one(tmp_path: Path) -> None:
    """Each append replaces the file; a writer that waited on the old inode must not write unlocked."""
    path = tmp_path / "p.md"
    sink = FilePhaseLog(path)
    sink.append(entry("h01"), HEADER)
    stale = os.open(path, os.O_RDONLY)
    try:
        sink.append(entry("h02"), HEADER)  # replaces the inode `stale` points at
        fcntl.flock(stale, fcntl.LOCK_EX)  # a lock on the old file does not block the sink
        sink.append(entry("h03"), HEADER)
    finally:
        os.close(stale)
    with sink._locked("test"):
        fresh = os.open(path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):  # ... but the sink's lock is on the current file
                fcntl.flock(fresh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fresh)
    assert sink.read() == HEADER + entry("h01") + entry("h02") + entry("h03")


def _append_many(path: str, writer: int, count: int) -> None:
    sink = FilePhaseLog(Path(path))
    for i in range(count):
        sink.append(entry(f"w{writer}-{i}", size=200), HEADER)


def test_concurrent_appends_from_processes_keep_every_entry_whole(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "p.md"
    writers, count = 6, 15
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(path), w, count)) for w in range(writers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    text = path.read_text(encoding="utf-8")
    assert text.startswith(HEADER) and text.count("# Phase log") == 1
    entries = [entry(f"w{w}-{i}", size=200) for w in range(writers) for i in range(count)]
    assert all(e in text for e in entries)
    assert len(text) == len(HEADER) + sum(len(e) for e in entries)
    order = [int(line.split("-")[1]) for line in text.split("\n") if line.startswith("## Checkpoint: w0-")]
    assert order == list(range(count))  # each writer's entries in the order it appended them
    assert sorted(p.name for p in path.parent.iterdir()) == ["p.md"]  # nothing beside the log


# -- S3 (moto in-process) -----------------------------------------------------------------------------------------
@pytest.fixture
def s3(mock_aws_env: None) -> Any:
    client = boto3.client("s3", region_name="eu-west-1")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return client


def _object(client: Any, key: str) -> tuple[str, str]:
    response = client.get_object(Bucket=BUCKET, Key=key)
    return response["Body"].read().decode("utf-8"), response["ContentType"]


def _concurrent_writer(client: Any, key: str, times: int | None) -> list[str]:
    """Before each of our PutObject calls (the first `times`, None = all), another writer appends to the object."""
    other = boto3.client("s3", region_name="eu-west-1")
    written: list[str] = []

    def write_first(**_: Any) -> None:
        if times is not None and len(written) >= times:
            return
        name = f"other-{len(written)}"
        try:
            current = other.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8")
        except other.exceptions.NoSuchKey:
            current = HEADER
        other.put_object(Bucket=BUCKET, Key=key, Body=(current + entry(name)).encode("utf-8"))
        written.append(entry(name))

    client.meta.events.register_first("before-call.s3.PutObject", write_first)
    return written


def test_s3_log_is_created_with_header_then_appended(s3: Any) -> None:
    sink = open_sink("s3://phase-logs/reports/f/p.md", s3_client=s3)
    assert sink.read() is None
    sink.append(entry("h01"), HEADER)
    sink.append(entry("h02"), HEADER)
    body, content_type = _object(s3, "reports/f/p.md")
    assert body == HEADER + entry("h01") + entry("h02") == sink.read()
    assert content_type == CONTENT_TYPE


def test_s3_append_retries_after_a_concurrent_write(s3: Any) -> None:
    sink = S3PhaseLog(BUCKET, "p.md", s3, sleep=lambda _: None)
    sink.append(entry("h01"), HEADER)
    others = _concurrent_writer(s3, "p.md", times=1)
    sink.append(entry("h02"), HEADER)
    assert others == [entry("other-0")]
    assert _object(s3, "p.md")[0] == HEADER + entry("h01") + entry("other-0") + entry("h02")


def test_s3_create_race_keeps_one_header_and_both_entries(s3: Any) -> None:
    others = _concurrent_writer(s3, "new.md", times=1)
    S3PhaseLog(BUCKET, "new.md", s3, sleep=lambda _: None).append(entry("h01"), HEADER)
    assert _object(s3, "new.md")[0] == HEADER + others[0] + entry("h01")


def test_s3_append_gives_up_after_bounded_attempts(s3: Any) -> None:
    sink = S3PhaseLog(BUCKET, "busy.md", s3, attempts=4, sleep=lambda _: None)
    sink.append(entry("h01"), HEADER)
    others = _concurrent_writer(s3, "busy.md", times=None)
    with pytest.raises(SinkError, match="another writer changed it on each of 4 attempts") as excinfo:
        sink.append(entry("h02"), HEADER)
    assert "\n" not in str(excinfo.value)
    assert len(others) == 4
    assert _object(s3, "busy.md")[0] == HEADER + entry("h01") + "".join(others)


def test_s3_default_attempts_are_bounded_with_backoff(s3: Any) -> None:
    sleeps: list[float] = []
    sink = S3PhaseLog(BUCKET, "busy.md", s3, sleep=sleeps.append)
    _concurrent_writer(s3, "busy.md", times=None)
    with pytest.raises(SinkError, match="10 attempts"):
        sink.append(entry("h01"), HEADER)
    assert len(sleeps) == 9 and all(0 <= s <= 1.0 for s in sleeps)


def test_s3_write_all_replaces_and_errors_are_sink_errors(s3: Any) -> None:
    sink = S3PhaseLog(BUCKET, "p.md", s3)
    sink.append(entry("h01"), HEADER)
    sink.write_all(HEADER + entry("rebuilt"))
    assert _object(s3, "p.md") == (HEADER + entry("rebuilt"), CONTENT_TYPE)
    missing = S3PhaseLog("no-such-bucket", "p.md", s3)
    with pytest.raises(SinkError, match="NoSuchBucket"):
        missing.append(entry("h01"), HEADER)
    with pytest.raises(SinkError, match=r"s3://no-such-bucket/p\.md"):
        missing.write_all("x")


def test_open_sink_builds_an_s3_client_when_none_is_given(s3: Any) -> None:
    sink = open_sink("s3://phase-logs/built.md")
    sink.append(entry("h01"), HEADER)
    assert _object(s3, "built.md")[0] == HEADER + entry("h01")


def _forbid_get_object(client: Any, times: int | None) -> list[str]:
    """S3 answers the first `times` GetObject calls (None = all) with 403 AccessDenied, as it does to a caller
    without s3:ListBucket for a key that does not exist (and to one without s3:GetObject for one that does)."""
    from botocore.awsrequest import AWSResponse

    seen: list[str] = []

    class Raw:
        def stream(self, **_: Any) -> Any:
            yield b""

    def deny(request: Any, **_: Any) -> Any:
        if times is not None and len(seen) >= times:
            return None
        seen.append(request.url)
        body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        response = AWSResponse(request.url, 403, {"Content-Type": "application/xml"}, Raw())
        response._content = body
        return response

    client.meta.events.register_first("before-send.s3.GetObject", deny)
    return seen


def test_s3_first_read_denied_counts_as_absent_and_creates(s3: Any) -> None:
    denied = _forbid_get_object(s3, times=1)
    S3PhaseLog(BUCKET, "new.md", s3, sleep=lambda _: None).append(entry("h01"), HEADER)
    assert len(denied) == 1
    assert _object(s3, "new.md")[0] == HEADER + entry("h01")


def test_s3_denied_read_of_an_existing_log_rereads_then_appends(s3: Any) -> None:
    S3PhaseLog(BUCKET, "p.md", s3).append(entry("h01"), HEADER)
    denied = _forbid_get_object(s3, times=1)  # the create then meets 412: it exists, read it again
    S3PhaseLog(BUCKET, "p.md", s3, sleep=lambda _: None).append(entry("h02"), HEADER)
    assert len(denied) == 1
    assert _object(s3, "p.md")[0] == HEADER + entry("h01") + entry("h02")


def test_s3_log_that_exists_but_cannot_be_read_names_the_permission(s3: Any) -> None:
    S3PhaseLog(BUCKET, "p.md", s3).append(entry("h01"), HEADER)
    _forbid_get_object(s3, times=None)
    with pytest.raises(SinkError) as excinfo:
        S3PhaseLog(BUCKET, "p.md", s3, sleep=lambda _: None).append(entry("h02"), HEADER)
    assert str(excinfo.value) == (
        f"cannot read phase log s3://{BUCKET}/p.md: it exists but GetObject is denied — grant the task role "
        f"s3:GetObject on arn:aws:s3:::{BUCKET}/p.md"
    )
    untouched = boto3.client("s3", region_name="eu-west-1").get_object(Bucket=BUCKET, Key="p.md")
    assert untouched["Body"].read().decode("utf-8") == HEADER + entry("h01")
