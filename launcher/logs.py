"""JSON log lines (LOG_FORMAT=json), for collectors that index fields (Loki, ELK, CloudWatch)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# What every record carries; any other attribute came through `extra=` and is logged too.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, exc_info, then any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        entry.update(
            (key, value) for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES
        )
        # default=str: extras such as procrastinate's job records need not be JSON types.
        return json.dumps(entry, default=str, ensure_ascii=False)
