"""`wirewatch worker` with the enrichment agents only (enrich, story, trends), for
`wirewatch bench enrich --agent N --enrich-only`: what the enrich agent costs
without the index, match and delivery agents that share its process."""

from __future__ import annotations

import os
import sys
import types

import faust

from processors import app
from processors.agents import enrich, story, trends


def main() -> int:
    app.AGENT_MODULES = (enrich, story, trends)
    linger_ms = int(os.environ.get("WIREWATCH_BENCH_PRODUCER_LINGER_MS", "0"))
    if linger_ms > 0:  # try a producer setting that processors/app.py does not set (yet)
        def app_with_linger(*args, **kwargs):
            return faust.App(*args, producer_linger=linger_ms / 1000, **kwargs)

        app.faust = types.SimpleNamespace(App=app_with_linger)
    from wirewatch.cli import main as cli_main

    return int(cli_main(["worker"]) or 0)


if __name__ == "__main__":
    sys.exit(main())
