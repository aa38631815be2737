"""Child process of producers.isolation's pools: reads length-prefixed pickled
requests on stdin, answers ("ok", value) / ("refused", reason) / ("error", text)
on stdout. Run as ``python -m producers.parse_worker LIMIT TASK``, TASK being
``parse`` (feed bytes -> ParsedFeed) or ``extract`` (page bytes -> main text)."""

from __future__ import annotations

import os
import pickle
import resource
import struct
import sys

_HEADER = struct.Struct(">I")


def _limit_memory(limit_bytes: int) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    except (ValueError, OSError):  # a lower hard limit already applies: keep it
        pass


def _run(request: dict) -> object:
    if request.get("task") == "extract":
        from producers.extract import main_text

        return main_text(request["body"], **request["kwargs"])
    from producers.normalise import parse_feed

    return parse_feed(request["body"], **request["kwargs"])


def _answer(request: dict) -> tuple[str, object]:
    from producers.extract import NoMainText
    from producers.normalise import FeedRefused

    try:
        return "ok", _run(request)
    except FeedRefused as exc:
        return "refused", exc.reason
    except NoMainText as exc:
        return "refused", str(exc)
    except MemoryError:
        return "refused", "document needs too much memory to process"
    except RecursionError:
        return "refused", "document nested too deeply to process"
    except Exception as exc:  # reported to the parent, which logs it with the feed
        return "error", f"{type(exc).__name__}: {exc}"[:500]


def main() -> None:
    _limit_memory(int(sys.argv[1]) if len(sys.argv) > 1 else 2 << 30)
    # Import once, before the first request (whose deadline should not pay for it).
    import producers.normalise  # noqa: F401
    if len(sys.argv) > 2 and sys.argv[2] == "extract":
        import producers.extract

        producers.extract.preload()

    # The protocol gets its own copy of stdout; anything printed by a library
    # goes to stderr instead of corrupting the answers.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin = sys.stdin.buffer
    stdout.write(b"R")  # producers.isolation.READY: imports done, deadlines may start
    stdout.flush()
    while True:
        header = stdin.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return  # parent closed the pipe
        request = pickle.loads(stdin.read(_HEADER.unpack(header)[0]))  # noqa: S301 - from our parent
        data = pickle.dumps(_answer(request), protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(_HEADER.pack(len(data)) + data)
        stdout.flush()


if __name__ == "__main__":
    main()
