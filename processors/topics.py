"""The Faust topic objects, declared from names.Topics (the one source of the names).

Values travel as raw bytes: each agent parses them itself, so that a message
that is not valid JSON or not a valid article goes to the dead-letter topic
with the reason instead of crashing the stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

from wirewatch.names import Topics


@dataclass(frozen=True)
class FaustTopics:
    raw: faust.TopicT
    enriched: faust.TopicT
    alerts: faust.TopicT
    deliveries: faust.TopicT
    dead_letters: faust.TopicT


def declare_topics(app: faust.App, names: Topics, partitions: int) -> FaustTopics:
    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=partitions, internal=False)

    return FaustTopics(
        raw=topic(names.raw),
        enriched=topic(names.enriched),
        alerts=topic(names.alerts),
        deliveries=topic(names.deliveries),
        dead_letters=topic(names.dead_letters),
    )
