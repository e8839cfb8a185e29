"""Optional: build the image's runtime stage with podman and run `beta-monitor --help` in it, as the job would run
(read-only root, /tmp writable, no network, non-root user).

There is no Docker engine and no registry access from inside a build here, so:
- the base is a local Debian bookworm image made by mmdebstrap (Python 3.11, pip, passwd), standing in for
  python:3.11-slim unless BETA_MONITOR_BASE_IMAGE names a local image to use instead;
- the builder stage (`pip wheel` inside the image) is replaced by the same `pip wheel` run on the host; the runtime
  stage is the Dockerfile's own text, unchanged.
It takes minutes (the vfs storage driver copies every layer) and downloads the dependency wheels, so it only runs
with BETA_MONITOR_IMAGE_TEST=1. Nothing is installed by this test: podman, runc and mmdebstrap must be present.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(tempfile.gettempdir()) / "beta-monitor-image-test"
BASE_TAG = "localhost/beta-monitor-test-base:bookworm"
IMAGE_TAG = "localhost/beta-monitor:image-test"
PODMAN = ["podman", "--storage-driver", "vfs"]
RUN = [
    *PODMAN,
    "run",
    "--rm",
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--network",
    "none",
]
BUILD_INPUTS = ("pyproject.toml", "README.md", "monitor", "templates")


def _run(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1][:300] if lines else f"exit {done.returncode}"


def _preconditions() -> None:
    missing = [tool for tool in ("podman", "runc", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"image build needs {', '.join(missing)} (not installed; this test installs nothing)")
    if os.environ.get("BETA_MONITOR_IMAGE_TEST") != "1":
        pytest.skip("image build takes minutes and downloads dependency wheels: set BETA_MONITOR_IMAGE_TEST=1 to run")
    if os.geteuid() != 0:
        pytest.skip("image build with mmdebstrap and podman (vfs, chroot isolation) needs root here")


def _base_image() -> str:
    chosen = os.environ.get("BETA_MONITOR_BASE_IMAGE")
    if chosen:
        if _run([*PODMAN, "image", "exists", chosen]).returncode != 0:
            pytest.skip(f"BETA_MONITOR_BASE_IMAGE={chosen} is not a local podman image")
        return chosen
    if _run([*PODMAN, "image", "exists", BASE_TAG]).returncode == 0:
        return BASE_TAG
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / "base.tar"
    made = _run(
        [
            "mmdebstrap",
            "--variant=minbase",
            "--include=python3,python3-pip,ca-certificates,passwd",
            '--customize-hook=chroot "$1" ln -sf /usr/bin/python3 /usr/local/bin/python',
            '--customize-hook=chroot "$1" ln -sf /usr/bin/pip3 /usr/local/bin/pip',
            '--customize-hook=rm -f "$1"/usr/lib/python3.11/EXTERNALLY-MANAGED',
            "bookworm",
            str(tarball),
        ]
    )
    if made.returncode != 0:
        pytest.skip(f"a local base image could not be made (mmdebstrap): {_last_line(made)}")
    imported = _run(
        [
            *PODMAN,
            "import",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            'CMD ["python3"]',
            str(tarball),
            BASE_TAG,
        ]
    )
    tarball.unlink(missing_ok=True)
    if imported.returncode != 0:
        pytest.skip(f"a local base image could not be made (podman import): {_last_line(imported)}")
    return BASE_TAG


def _context(root: Path) -> Path:
    """Build context: the host-built wheels plus a Dockerfile = wheel stage + the real runtime stage."""
    source = root / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists():
            shutil.copy2(path, source / name)
    wheels = root / "context" / "wheels"
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--wheel-dir",
            str(wheels),
            "--find-links",
            str(CACHE / "wheels"),
            str(source),
        ]
    )
    if built.returncode != 0:
        pytest.skip(f"dependency wheels could not be built on the host: {_last_line(built)}")
    shutil.copytree(wheels, CACHE / "wheels", dirs_exist_ok=True)  # reused by the next run
    text = (REPO / "Dockerfile").read_text()
    runtime = text[text.index("FROM ${PYTHON_IMAGE} AS runtime") :]
    (root / "context" / "Dockerfile").write_text(
        "ARG PYTHON_IMAGE\nFROM scratch AS builder\nCOPY wheels/ /wheels/\n" + runtime
    )
    return root / "context"


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    _preconditions()
    base = _base_image()
    with tempfile.TemporaryDirectory(prefix="beta-monitor-image-") as tmp:
        context = _context(Path(tmp))
        built = _run(
            [
                *PODMAN,
                "build",
                "--pull=never",
                "--isolation=chroot",
                "--runtime",
                "runc",
                "--build-arg",
                f"PYTHON_IMAGE={base}",
                "-t",
                IMAGE_TAG,
                str(context),
            ],
            timeout=1800,
        )
        assert built.returncode == 0, f"podman build failed: {_last_line(built)}"
    yield IMAGE_TAG
    _run([*PODMAN, "rmi", "--force", IMAGE_TAG])


def test_default_command_prints_help_on_a_read_only_root(image: str) -> None:
    done = _run([*RUN, image], timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith("usage: beta-monitor")
    for command in ("checkpoint", "gate", "rollout", "db"):
        assert command in done.stdout


def test_runs_as_the_unprivileged_job_user(image: str) -> None:
    done = _run([*RUN, "--entrypoint", "id", image], timeout=300)
    assert done.stdout.startswith("uid=10001(monitor) gid=10001(monitor)"), done.stdout + done.stderr


def test_templates_are_installed_with_the_package(image: str) -> None:
    listing = "import importlib.resources as r; print(*sorted(p.name for p in r.files('monitor.templates').iterdir()))"
    done = _run([*RUN, "--entrypoint", "python", image, "-c", listing], timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    expected = {p.name for p in (REPO / "templates").glob("*.j2")}
    assert expected and expected <= set(done.stdout.split())
