# syntax=docker/dockerfile:1
# beta-monitor: the hourly rollout watchdog as a batch container (ECS Fargate, EventBridge Scheduler).
#
#   docker build -t beta-monitor:0.1.0 .
#   docker run --rm beta-monitor:0.1.0 checkpoint FEATURE PHASE LABEL --source insights
#
# Two stages: the builder turns the project (its own pyproject.toml) and every dependency into wheels; the runtime
# installs those wheels only (--no-index), so nothing is compiled or fetched in the final image and no build tool,
# cache or source tree is left in it. Settings come from the environment at run time; the image holds no secret.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor/ monitor/
COPY templates/ templates/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="beta-monitor" \
      org.opencontainers.image.description="Watchdog for progressive feature-flag rollouts (hourly checkpoint job)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# Read-only root file system friendly: everything the process may write (home, caches, temp files) is under /tmp,
# which the task mounts as a writable volume. No byte-code files, unbuffered output for the log driver.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_CONFIG_HOME=/tmp/.config \
    XDG_DATA_HOME=/tmp/.local/share \
    XDG_STATE_HOME=/tmp/.local/state \
    BETA_MONITOR_LOG_FORMAT=json

# Install the wheels made by the builder and nothing else: --no-index never reaches a package index, and the
# versions are the ones the builder resolved (pinned by the wheel files themselves).
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/beta_monitor-*.whl \
    && groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin monitor

WORKDIR /tmp
USER 10001:10001

# A batch job started by the scheduler: its exit code is the result (0 PASS, 1 WARN, 2 FAIL, 3 UNKNOWN).
HEALTHCHECK NONE
ENTRYPOINT ["beta-monitor"]
CMD ["--help"]
