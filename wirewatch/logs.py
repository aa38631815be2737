"""Logging: structlog, JSON when not on a terminal, readable on one."""

from __future__ import annotations

import logging
import os
import sys

import structlog


class _StderrLoggerFactory:
    """A PrintLogger on whatever sys.stderr is now."""

    def __call__(self, *args) -> structlog.PrintLogger:
        return structlog.PrintLogger(file=sys.stderr)


def configure_logging(level: str | None = None) -> None:
    level_name = (level or os.environ.get("WIREWATCH_LOG_LEVEL", "WARNING")).upper()
    numeric = getattr(logging, level_name, logging.WARNING)
    renderer = (
        structlog.dev.ConsoleRenderer(colors=False)
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_StderrLoggerFactory(),
        # Not cached: a cached logger would keep writing to a stderr that was
        # replaced since (pytest's capture, a daemonised process).
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)
    # kafka-python warns about things that are normal for us (Faust's group
    # metadata, consumers without a group) and logs every failed connection
    # attempt as an error; the caller reports what matters in one line.
    logging.getLogger("kafka").setLevel(max(numeric, logging.CRITICAL) if numeric > logging.INFO else numeric)
