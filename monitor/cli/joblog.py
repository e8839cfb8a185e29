"""Logs of the job itself on stderr: text for people, JSON (one object a line) in containers. No ids, no secrets."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        return json.dumps(data, default=str, ensure_ascii=False)


def configure_logging(fmt: str = "text", level: int = logging.WARNING) -> None:
    logger = logging.getLogger("beta_monitor")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("beta-monitor: %(levelname)s: %(message)s")
    )
    logger.addHandler(handler)
    logger.setLevel(level if fmt != "json" else logging.INFO)
    logger.propagate = False
