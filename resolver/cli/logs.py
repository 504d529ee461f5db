"""Logging of the command line: the level from ``-v``/``-q`` (before or after the
command) or the ``log-level`` key, standard error or ``log-file``, and two formats,
``text`` and ``json``. Either way one event is one line (a traceback is folded into
it) and timestamps are UTC (ISO 8601 with ``Z``).

Client queries (``--query-log``) go to the logger :data:`QUERY_LOGGER`, whose level
is set on its own, so they are written at the default level (WARNING) too."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

QUERY_LOGGER = "resolver.queries"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}
_DEFAULT = logging.WARNING
_OURS = "_resolver_handler"        # attribute marking the handlers installed here


def flag_level(verbose: int, quiet: int) -> int | None:
    """The level that ``-v`` and ``-q`` ask for (each one step), None without either."""
    if not verbose and not quiet:
        return None
    return min(logging.CRITICAL, max(logging.DEBUG, _DEFAULT - 10 * verbose + 10 * quiet))


def utc_time(record: logging.LogRecord) -> str:
    """``2026-12-06T07:40:27.123Z``: the record's time in UTC, to the millisecond."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER: message`` on one line; line breaks (tracebacks) escaped."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{utc_time(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += " | " + self.formatException(record.exc_info)
        return text.replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message [, exception]."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"time": utc_time(record), "level": record.levelname,
                                "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def make_handler(log_file: Path | None, fmt: str) -> logging.Handler:
    """A handler for *log_file* (appended to; None: standard error) in format *fmt*;
    raises OSError when the file cannot be opened."""
    handler: logging.Handler = (logging.FileHandler(log_file, encoding="utf-8")
                                if log_file is not None else logging.StreamHandler())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, _OURS, True)
    return handler


def install(level: int, handler: logging.Handler, query_log: bool = False) -> None:
    """Make *handler* the root logger's handler in place of those installed here
    before (others, such as a test runner's, stay), at *level*; client queries are
    logged when *query_log* is on, whatever the level."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _OURS, False) and old is not handler:
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    set_levels(level, query_log)


def set_levels(level: int, query_log: bool = False) -> None:
    """The level of the root logger, and of client queries (see :func:`install`)."""
    logging.getLogger().setLevel(level)
    queries = logging.getLogger(QUERY_LOGGER)
    queries.setLevel(min(level, logging.INFO) if query_log else logging.NOTSET)


def setup(level: int | None, log_file: Path | None = None, fmt: str = "text",
          query_log: bool = False) -> None:
    """Configure logging for a command (level None: WARNING), unless the program that
    called :func:`resolver.cli.main` configured logging already (as
    :func:`logging.basicConfig` does)."""
    if any(not getattr(h, _OURS, False) for h in logging.getLogger().handlers):
        return
    install(_DEFAULT if level is None else level, make_handler(log_file, fmt), query_log)
