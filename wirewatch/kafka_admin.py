"""Topic administration with kafka-python: the topics of names.Topics, created idempotently."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from wirewatch.names import Topics
from wirewatch.settings import KafkaSettings


def admin_client(kafka: KafkaSettings) -> KafkaAdminClient:
    timeout_ms = int(kafka.request_timeout_s * 1000)
    return KafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers.split(","),
        client_id="wirewatch-admin",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )


def topic_configs(topics: Topics, name: str) -> dict[str, str]:
    if name in topics.compacted():
        return {"cleanup.policy": "compact"}
    return {}


def ensure_topics(kafka: KafkaSettings, topics: Topics) -> list[str]:
    """Create the missing topics; returns the names created."""
    admin = admin_client(kafka)
    try:
        existing = set(admin.list_topics())
        missing = [name for name in topics.all() if name not in existing]
        if not missing:
            return []
        new = [
            NewTopic(name, kafka.partitions, kafka.replication_factor, topic_configs=topic_configs(topics, name))
            for name in missing
        ]
        try:
            admin.create_topics(new, timeout_ms=int(kafka.request_timeout_s * 1000))
        except TopicAlreadyExistsError:
            pass  # another process created them meanwhile: what we wanted
        return missing
    finally:
        admin.close()


def delete_topics(kafka: KafkaSettings, names: list[str], *, app_id: str | None = None) -> None:
    """Delete these topics, and with `app_id` every topic the Faust app of that id made
    ("<app_id>-...": table changelogs, the assignor's leader topic), which no one else
    deletes: what a test or a benchmark leaves behind."""
    admin = admin_client(kafka)
    try:
        existing = set(admin.list_topics())
        doomed = [n for n in names if n in existing]
        if app_id:
            doomed += sorted(n for n in existing if n.startswith(f"{app_id}-") and n not in doomed)
        if doomed:
            try:
                admin.delete_topics(doomed, timeout_ms=int(kafka.request_timeout_s * 1000))
            except UnknownTopicOrPartitionError:
                pass
    finally:
        admin.close()
