# syntax=docker/dockerfile:1
# beta-monitor: the hourly rollout watchdog as a batch container (ECS Fargate, EventBridge Scheduler).
#
#   docker build -t beta-monitor:0.1.0 .
#   docker run --rm beta-monitor:0.1.0 checkpoint FEATURE PHASE LABEL --source insights
#
# Reproducible: the base is pinned by digest, every dependency comes from infra/requirements.lock with its sha256
# checked (--require-hashes), wheels only, and the build tools from infra/build-requirements.lock. The builder
# stage fills a virtual environment made without pip; the runtime stage copies it and removes the base image's own
# pip and setuptools, so no installer, build tool, cache or source tree is left in the image. The embedded
# PostgreSQL (the `embedded` extra) is not installed: the job reads BETA_MONITOR_DATABASE_URL from its secret.
# Settings come from the environment at run time; the image holds no secret.

# python:3.11-slim (Debian bookworm, linux/amd64 + arm64 index). Update the digest with the lock files (README,
# "Reproducible image"); a local build may override the whole reference with --build-arg PYTHON_IMAGE=...
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# Dependencies first (their layer is reused while only the code changes): exactly the locked files, hash-checked,
# no dependency resolution, no source distribution. pip runs from the base image against the pip-less venv.
COPY infra/requirements.lock infra/build-requirements.lock infra/
RUN python -m pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: \
        -r infra/build-requirements.lock \
    && python -m venv --without-pip /opt/beta-monitor \
    && python -m pip --python /opt/beta-monitor/bin/python install --no-cache-dir --require-hashes --no-deps \
        --only-binary=:all: -r infra/requirements.lock
# The project itself, built with the locked build tools (no build isolation: nothing unlocked is fetched).
COPY pyproject.toml README.md ./
COPY monitor/ monitor/
COPY templates/ templates/
RUN python -m pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels . \
    && python -m pip --python /opt/beta-monitor/bin/python install --no-cache-dir --no-deps /wheels/beta_monitor-*.whl

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="beta-monitor" \
      org.opencontainers.image.description="Watchdog for progressive feature-flag rollouts (hourly checkpoint job)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# No installer in the runtime image: the base image's pip, setuptools and wheel go (the venv never had them; `python`
# is still the base image's here, before PATH points at the venv). The job user gets its fixed UID and owns /tmp.
RUN python -m pip uninstall --yes pip setuptools wheel \
    && groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin monitor \
    && chown 10001:10001 /tmp \
    && chmod 0700 /tmp

# Read-only root file system friendly: everything the process may write (home, caches, temp files) is under /tmp,
# the scratch volume. No byte-code files, unbuffered output for the log driver.
ENV PATH=/opt/beta-monitor/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_CONFIG_HOME=/tmp/.config \
    XDG_DATA_HOME=/tmp/.local/share \
    XDG_STATE_HOME=/tmp/.local/state \
    BETA_MONITOR_LOG_FORMAT=json

COPY --from=builder /opt/beta-monitor /opt/beta-monitor

# /tmp, owned by the job user above, is the scratch volume. Fargate copies a VOLUME path's owner and mode into the
# task's bind mount at that path (infra/README.md): without VOLUME the mount is root-owned 0755 and the job cannot
# write HOME or TMPDIR. Nothing may change /tmp after this line.
VOLUME ["/tmp"]

WORKDIR /tmp
USER 10001:10001

# A batch job started by the scheduler: its exit code is the result (0 PASS, 1 WARN, 2 FAIL, 3 UNKNOWN).
HEALTHCHECK NONE
ENTRYPOINT ["beta-monitor"]
CMD ["--help"]
