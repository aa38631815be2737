"""What every agent needs, built once per worker: settings, topics, clients."""

from __future__ import annotations

from dataclasses import dataclass

from processors.topics import FaustTopics
from wirewatch.names import Indices, Topics
from wirewatch.settings import Settings


@dataclass
class WorkerContext:
    settings: Settings
    topic_names: Topics
    indices: Indices
    topics: FaustTopics
