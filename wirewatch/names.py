"""Every Kafka topic and Elasticsearch index name, derived from the settings.

Nothing else in the code base spells a topic or index name: tests get topics
and indices of their own by setting a prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from wirewatch.settings import ESSettings, KafkaSettings


@dataclass(frozen=True)
class Topics:
    raw: str          # articles as the producers parsed them, key = article id
    enriched: str     # articles with language, topics, keywords, entities, story
    alerts: str       # one event per (subscription, story) match, key = alert id
    deliveries: str   # the alerts the deliver agent has work for (see processors.subscriptions.needs_delivery)
    dead_letters: str  # events an agent gave up on, with the reason
    feed_state: str   # compacted: per-feed polling state, key = feed url
    signed: str       # enriched articles with their near-duplicate signature, waiting for a story id; one constant key

    @classmethod
    def from_settings(cls, kafka: KafkaSettings) -> "Topics":
        p = kafka.topic_prefix
        return cls(
            raw=f"{p}articles.raw",
            enriched=f"{p}articles.enriched",
            alerts=f"{p}alerts",
            deliveries=f"{p}alerts.deliver",
            dead_letters=f"{p}deadletters",
            feed_state=f"{p}feeds.state",
            signed=f"{p}articles.signed",
        )

    def all(self) -> list[str]:
        return [self.raw, self.enriched, self.alerts, self.deliveries, self.dead_letters, self.feed_state, self.signed]

    def compacted(self) -> set[str]:
        return {self.feed_state}


@dataclass(frozen=True)
class Indices:
    articles: str        # alias that searches read and the indexer writes
    subscriptions: str   # stored alert subscriptions
    alerts: str          # every alert and its delivery attempts
    alert_claims: str    # one document per alert id: the "once per story" guarantee
    dead_letters: str    # copy of the dead-letter topic, for Kibana's Pipeline dashboard
    template: str        # composable index template for `articles`
    scratch: str         # the matcher's short-lived copy of the batch being matched
    api_tokens: str      # API bearer tokens, stored hashed: one document per token

    @classmethod
    def from_settings(cls, es: ESSettings) -> "Indices":
        p = es.index_prefix
        return cls(
            articles=f"{p}-articles",
            subscriptions=f"{p}-subscriptions",
            alerts=f"{p}-alerts",
            alert_claims=f"{p}-alert-claims",
            dead_letters=f"{p}-deadletters",
            template=f"{p}-articles",
            scratch=f"{p}-match-scratch",
            api_tokens=f"{p}-api-tokens",
        )
