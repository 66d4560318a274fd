"""JSON structured logs, one object per line, with the request id of the request at hand."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = ["JsonFormatter", "configure_json_logging"]

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra fields}``; tracebacks as ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_json_logging(level: int = logging.INFO, *, to_file: Path | None = None) -> None:
    """Route the ``careledger`` loggers to standard error (or ``to_file``) as JSON lines.

    Idempotent: the first call decides where they go, so a demo that sends its logs to
    its folder keeps the terminal for its progress bar.
    """
    logger = logging.getLogger("careledger")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler: logging.Handler = (
        logging.StreamHandler(sys.stderr) if to_file is None else logging.FileHandler(to_file)
    )
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
