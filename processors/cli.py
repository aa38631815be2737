"""`wirewatch worker` (the Faust agents) and `wirewatch topics create`."""

from __future__ import annotations

import logging
import os

from wirewatch.settings import load_settings


def _worker_class():
    from faust.worker import Worker

    class QuietWorker(Worker):
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            # Faust's terminal spinner sets the root logger to DEBUG so that it spins on
            # every record: every aiokafka debug call then built a LogRecord only for the
            # handler to drop it (measured: ~10% of the worker's CPU). No spinner.
            self.spinner = None
            logger.setLevel(level or logging.WARNING)

    return QuietWorker


def use_uvloop() -> None:
    """uvloop for the worker's event loop when it is installed: Faust and aiokafka handle
    several messages per article, and asyncio's own loop was ~15% of that path's CPU."""
    try:
        import mode.loop

        mode.loop.use("uvloop")
    except ImportError:  # not on every platform (see pyproject.toml)
        pass


def _worker(args) -> int:

    from processors.app import create_app, tune_gc
    from wirewatch.kafka_admin import ensure_topics
    from wirewatch.names import Topics

    settings = load_settings()
    ensure_topics(settings.kafka, Topics.from_settings(settings.kafka))
    tune_gc()
    use_uvloop()
    app = create_app(settings)
    level = args.loglevel or os.environ.get("WIREWATCH_LOG_LEVEL", "warning")
    worker = _worker_class()(app, loglevel=level.upper(), quiet=True)
    worker.execute_from_commandline()  # returns only on shutdown (SIGTERM / SIGINT)
    return 0


def _topics(args) -> int:
    from wirewatch.kafka_admin import ensure_topics
    from wirewatch.names import Topics

    settings = load_settings()
    created = ensure_topics(settings.kafka, Topics.from_settings(settings.kafka))
    for name in Topics.from_settings(settings.kafka).all():
        print(f"{name}\t{'created' if name in created else 'exists'}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("worker", help="run the Faust agents: enrich, index, match, deliver")
    p.add_argument("--loglevel", default=None, help="debug, info, warning (default) or error")
    p.set_defaults(func=_worker)

    p = sub.add_parser("topics", help="create Wirewatch's Kafka topics")
    p.add_argument("action", choices=["create"])
    p.set_defaults(func=_topics)
