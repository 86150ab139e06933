"""structlog setup: JSON lines in production, readable console in development, optional files.

Library code gets its logger with `structlog.get_logger(__name__)` and binds context fields
(symbol, interval, duration_ms, trace_id); only the composition root calls `configure_logging`.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

import structlog

_SECRET_KEYS = frozenset({"api_key", "api_secret", "secret", "password", "token", "signature", "jwt"})


def _mask_secrets(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # A last line of defence: a secret passed as a log field by mistake never reaches a sink.
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS or key.lower().endswith(("_secret", "_token", "_password")):
            event_dict[key] = "********"
    return event_dict


def configure_logging(
    level: str = "INFO",
    *,
    json_format: bool = False,
    log_dir: Path | None = None,
    stream: Any = None,
    to_stderr: bool = True,
) -> None:
    """Route structlog and stdlib logging to stderr (or `stream`) and rotating files under `log_dir`.

    With `to_stderr=False` nothing goes to the stream: logs reach only the files, if any (the CLI's
    default, so log lines never mix with what a command prints).
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_format
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if json_format else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
    )
    # A NullHandler keeps Python's last-resort handler from printing warnings when no sink is set.
    handlers: list[logging.Handler] = [logging.NullHandler()]
    if to_stderr:
        console = logging.StreamHandler(stream or sys.stderr)
        console.setFormatter(formatter)
        handlers.append(console)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_formatter = structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
        general = logging.handlers.RotatingFileHandler(
            log_dir / "bst.log", maxBytes=10_000_000, backupCount=5, encoding="utf-8"
        )
        general.setFormatter(file_formatter)
        errors = logging.handlers.RotatingFileHandler(
            log_dir / "errors.log", maxBytes=10_000_000, backupCount=5, encoding="utf-8"
        )
        errors.setLevel(logging.ERROR)
        errors.setFormatter(file_formatter)
        handlers += [general, errors]
    root = logging.getLogger()
    root.handlers = handlers
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access", "websockets"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
