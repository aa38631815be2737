"""`wirewatch`: the one console script. Each area registers its own verbs."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from wirewatch.settings import ConfigError, load_settings

# Areas that add verbs: module path -> what they cover. Each has register(subparsers).
AREA_CLIS = [
    "producers.cli",          # feeds ..., produce
    "processors.cli",         # worker, topics
    "processors.enrich.cli",  # enrich, eval, trends
    "processors.es.cli",      # search, es ..., kibana ...
    "processors.alerts_cli",  # subs ..., alerts ...
    "processors.api_cli",     # tokens ..., api serve
    "bench.cli",              # bench ...
    "wirewatch.demo",         # demo
]


def _stack_cmd(args) -> int:
    from wirewatch import stack

    settings = load_settings()
    if args.action == "up":
        statuses = stack.up(settings.stack)
        _print_status(statuses)
        return 0
    if args.action == "down":
        for line in stack.down(settings.stack):
            print(line)
        return 0
    if args.action == "fetch":
        layout = stack.fetch(settings.stack)
        print(f"kafka {layout.kafka_version} and elasticsearch {layout.es_version} are in {layout.cache}")
        return 0
    statuses = stack.status(settings.stack)
    _print_status(statuses)
    return 0 if all(s.state == "running" for s in statuses) else 3


def _print_status(statuses) -> None:
    for s in statuses:
        print(f"{s.name:<14} {s.state:<9} {s.address:<24} version={s.version or '-'} pid={s.pid or '-'}")


def _config_cmd(args) -> int:
    print(json.dumps(load_settings().masked(), indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wirewatch", description="Streaming news monitoring.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("stack", help="start, stop or inspect the local Kafka and Elasticsearch")
    p.add_argument("action", choices=["up", "down", "status", "fetch"])
    p.set_defaults(func=_stack_cmd)

    p = sub.add_parser("config", help="print the effective settings (secrets masked)")
    p.set_defaults(func=_config_cmd)

    for module in AREA_CLIS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from wirewatch.logs import configure_logging
    from wirewatch.stack import StackError

    configure_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "worker":  # Faust handles its own signals
        _exit_cleanly_on_sigterm()
    try:
        return int(args.func(args) or 0)
    except (ConfigError, StackError) as exc:
        print(f"wirewatch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - a service that cannot be reached is not a crash
        unreachable = _unreachable_service(exc)
        if unreachable is None:
            raise
        print(f"wirewatch: {unreachable}", file=sys.stderr)
        return 3


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so that `with` blocks stop what they started
    (the demo's and the benchmarks' worker processes, servers, producers)."""
    import signal

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _unreachable_service(exc: Exception) -> str | None:
    """A one-line reason when `exc` means Kafka or Elasticsearch cannot be reached."""
    from elastic_transport import ConnectionError as ESConnectionError
    from elastic_transport import ConnectionTimeout
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    if isinstance(exc, (KafkaConnectionError, KafkaTimeoutError)):
        return f"Kafka cannot be reached ({type(exc).__name__}); is it running? (`wirewatch stack status`)"
    if isinstance(exc, (ESConnectionError, ConnectionTimeout)):
        return f"Elasticsearch cannot be reached ({type(exc).__name__}); is it running? (`wirewatch stack status`)"
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
