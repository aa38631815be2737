"""Every setting of Wirewatch, typed and validated, in one place.

Values come, highest priority first, from environment variables
(``WIREWATCH_<SECTION>_<NAME>``), then the config file (TOML, one table per
section: ``[kafka]``, ``[es]``, ...), then the defaults below, which work
against the local stack started by ``wirewatch stack up``.

The config file is ``$WIREWATCH_CONFIG`` if set, else ``./wirewatch.toml`` if
it exists.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "WIREWATCH_CONFIG"
DEFAULT_CONFIG_FILE = "wirewatch.toml"


class ConfigError(Exception):
    """A config file or environment variable that cannot be used; the message names it."""


def config_file_path() -> Path | None:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV}={explicit}: no such file")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def _read_config_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
    return data


class _FileSection(PydanticBaseSettingsSource):
    """Feeds one ``[section]`` of the TOML config file to a settings class."""

    def __init__(self, settings_cls: type[BaseSettings], section: str):
        super().__init__(settings_cls)
        self.section = section

    def get_field_value(self, field, field_name):  # pragma: no cover - unused protocol method
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_file_path()
        if path is None:
            return {}
        table = _read_config_file(str(path)).get(self.section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{self.section}] must be a table")
        return table


class _Section(BaseSettings):
    """Base: env vars beat the config file's ``[section]``, which beats defaults."""

    _section: str = ""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        return (init_settings, env_settings, _FileSection(settings_cls, cls._section.default))  # type: ignore[attr-defined]


class KafkaSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="WIREWATCH_KAFKA_", extra="forbid")
    _section = "kafka"

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers.")
    topic_prefix: str = Field("", description="Prepended to every topic name; tests use it to get topics of their own.")
    partitions: int = Field(4, ge=1, le=1024, description="Partitions of the topics Wirewatch creates.")
    replication_factor: int = Field(1, ge=1, le=16, description="Replication factor of the topics Wirewatch creates.")
    # zstd: about the ratio of gzip for 3-4x less CPU (aiokafka's gzip runs level 9).
    compression: str = Field("zstd", description="Producer compression: none, gzip, snappy, lz4 or zstd.")
    request_timeout_s: float = Field(30.0, gt=0, le=600, description="Deadline of one Kafka request.")

    @field_validator("compression")
    @classmethod
    def _known_compression(cls, value: str) -> str:
        allowed = {"none", "gzip", "snappy", "lz4", "zstd"}
        if value not in allowed:
            raise ValueError(f"must be one of {sorted(allowed)}")
        return value


class ESSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="WIREWATCH_ES_", extra="forbid")
    _section = "es"

    url: str = Field("http://127.0.0.1:9200", description="Elasticsearch HTTP address.")
    username: str | None = Field(None, description="Basic-auth user, when the cluster has security on.")
    password: SecretStr | None = Field(None, description="Basic-auth password.")
    index_prefix: str = Field("wirewatch", description="Prefix of every index, alias and template Wirewatch owns.")
    request_timeout_s: float = Field(30.0, gt=0, le=600, description="Deadline of one Elasticsearch request.")
    bulk_size: int = Field(500, ge=1, le=10_000, description="Most documents in one bulk request.")
    bulk_wait_s: float = Field(1.0, gt=0, le=60, description="Longest wait to fill a bulk batch.")
    kibana_url: str = Field("http://127.0.0.1:5601", description="Kibana base URL used in alert links.")


class ProducerSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="WIREWATCH_PRODUCER_", extra="forbid")
    _section = "producer"

    feeds_file: Path = Field(Path("feeds.yaml"), description="YAML catalogue of the feeds to poll.")
    user_agent: str = Field("Wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)", description="User-Agent sent with every fetch; name a contact URL.")
    fetch_timeout_s: float = Field(20.0, gt=0, le=300, description="Total deadline of one fetch, redirects included.")
    max_body_bytes: int = Field(15 * 1024 * 1024, ge=1024, description="Cap on a feed's decoded body size.")
    max_redirects: int = Field(5, ge=0, le=20, description="Most redirects followed per fetch.")
    max_entries_per_poll: int = Field(200, ge=1, le=10_000, description="Most entries taken from one poll of a feed.")
    concurrency: int = Field(50, ge=1, le=2000, description="Most fetches in flight at once.")
    per_host_concurrency: int = Field(2, ge=1, le=100, description="Most fetches in flight to one host.")
    allow_hosts: list[str] = Field(default_factory=list, description="Hosts or CIDRs allowed although private or loopback (tests and the demo allow 127.0.0.1).")
    parse_timeout_s: float = Field(10.0, gt=0, le=300, description="Deadline for parsing one feed document (in a child process).")
    parse_workers: int = Field(0, ge=0, le=32, description="Feed-parsing child processes (0: one per core, at most 4).")
    metrics_port: int = Field(0, ge=0, le=65535, description="Port of the producer's Prometheus endpoint on 127.0.0.1 (0: off).")
    full_text_concurrency: int = Field(4, ge=1, le=64, description="Most article-page fetches for full text in flight at once (per_host_concurrency applies too).")
    full_text_min_chars: int = Field(1500, ge=0, le=100_000, description="Full-text feeds: an entry whose text is shorter than this is a summary, and its page is fetched.")
    full_text_max_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="Cap on an article page's decoded size (full text).")
    full_text_extract_timeout_s: float = Field(10.0, gt=0, le=300, description="Deadline for extracting one article page's text (in a child process).")


class ProcessorSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="WIREWATCH_PROCESSOR_", extra="forbid")
    _section = "processor"

    app_id: str = Field("wirewatch", description="Faust application id (consumer group and state names).")
    data_dir: Path = Field(Path(".wirewatch/faust"), description="Where Faust keeps local table state.")
    web_port: int = Field(6066, ge=0, le=65535, description="Port of the worker's HTTP endpoint (0: disabled).")
    max_attempts: int = Field(3, ge=1, le=20, description="Attempts at one event before it goes to the dead-letter topic.")
    retry_backoff_s: float = Field(0.5, ge=0, le=60, description="First retry delay; doubles each attempt.")
    taxonomy_dir: Path | None = Field(None, description="Folder of extra or replacement topic taxonomy files.")
    story_max_stories: int = Field(30_000, ge=100, le=1_000_000, description="Most stories the story index keeps (about 6 KB each); the least recently seen go first.")
    story_max_age_s: float = Field(3 * 86400.0, gt=0, le=30 * 86400, description="A story not seen for this long is forgotten: a later copy starts a new story.")
    trends_max_terms: int = Field(10, ge=1, le=100, description="Most keywords and most entities of one article counted for trends.")
    trends_baseline_hours: int = Field(24, ge=2, le=168, description="Hours of 1-hour windows kept as the baseline that trending scores compare against.")
    keyword_df_flush_articles: int = Field(5000, ge=1, le=1_000_000, description="Articles of one partition after which the keyword step's document frequencies are written to the keyword-df table.")
    keyword_df_flush_s: float = Field(60.0, gt=0, le=3600, description="The keyword step's document frequencies are written to the keyword-df table at least this often (what is not written is lost when a worker stops).")


class AlertSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="WIREWATCH_ALERTS_", extra="forbid")
    _section = "alerts"

    webhook_timeout_s: float = Field(10.0, gt=0, le=120, description="Deadline of one webhook delivery attempt.")
    max_attempts: int = Field(5, ge=1, le=50, description="Delivery attempts before the alert goes to the dead-letter topic.")
    backoff_s: float = Field(1.0, ge=0, le=600, description="First delivery retry delay; doubles with jitter.")
    subscriptions_refresh_s: float = Field(2.0, gt=0, le=3600, description="How often the matcher reloads subscriptions.")
    allow_hosts: list[str] = Field(default_factory=list, description="Webhook and SMTP hosts or CIDRs allowed although private or loopback.")
    email_from: str = Field("Wirewatch <wirewatch@localhost>", description="Sender of alert emails.")
    digest_check_s: float = Field(60.0, gt=0, le=3600, description="How often the leader worker looks for digests that are due.")
    digest_max_stories: int = Field(200, ge=1, le=5000, description="Most stories in one digest; the rest wait for the next one.")
    digest_lease_s: float = Field(900.0, ge=10, le=86400, description="After this long, a digest claimed but never confirmed as sent (a crash) is sent again, with the same id.")


class ApiSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="WIREWATCH_API_", extra="forbid")
    _section = "api"

    host: str = Field("127.0.0.1", description="Address `wirewatch api serve` listens on.")
    port: int = Field(8080, ge=0, le=65535, description="Port `wirewatch api serve` listens on (0: any free port).")
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024, description="Largest request body accepted (413 beyond).")
    max_page_size: int = Field(100, ge=1, le=1000, description="Most items in one page of a list.")
    es_timeout_s: float = Field(10.0, gt=0, le=120, description="Deadline of one Elasticsearch request made for an API call.")


class StackSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="WIREWATCH_STACK_", extra="forbid")
    _section = "stack"

    state_dir: Path = Field(Path(".wirewatch"), description="Data, logs and pid files of the local stack.")
    cache_dir: Path | None = Field(None, description="Where downloaded jars are kept (default: <state_dir>/cache).")
    kafka_port: int = Field(9092, ge=1, le=65535, description="Local Kafka broker port (the controller takes the next one).")
    es_port: int = Field(9200, ge=1, le=65535, description="Local Elasticsearch HTTP port (transport takes port + 100).")
    kafka_heap: str = Field("512m", description="Kafka JVM heap (-Xmx).")
    es_heap: str = Field("1g", description="Elasticsearch JVM heap (-Xms and -Xmx).")
    start_timeout_s: float = Field(120.0, gt=0, le=1800, description="Deadline for a service to answer after start.")
    stop_timeout_s: float = Field(30.0, gt=0, le=600, description="Grace period before a service is killed on stop.")
    java_home: Path | None = Field(None, description="JDK to run the services with (default: JAVA_HOME, then java on PATH).")

    @field_validator("kafka_heap", "es_heap")
    @classmethod
    def _heap_size(cls, value: str) -> str:
        if not value[:-1].isdigit() or value[-1].lower() not in "mg":
            raise ValueError("must look like 512m or 1g")
        return value


class Settings(BaseModel):
    kafka: KafkaSettings
    es: ESSettings
    producer: ProducerSettings
    processor: ProcessorSettings
    alerts: AlertSettings
    stack: StackSettings
    api: ApiSettings = Field(default_factory=ApiSettings)

    def masked(self) -> dict[str, Any]:
        """The effective settings with secrets hidden, for `wirewatch config`."""
        return self.model_dump(mode="json")

    def to_env(self) -> dict[str, str]:
        """These settings as WIREWATCH_* variables, for a child process (a worker)."""
        env: dict[str, str] = {}
        for section, model in self:
            prefix = type(model).model_config["env_prefix"]
            for name in type(model).model_fields:
                value = getattr(model, name)
                if value is None:
                    continue
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                if isinstance(value, (list, dict)):
                    import json

                    env[f"{prefix}{name.upper()}"] = json.dumps(value)
                else:
                    env[f"{prefix}{name.upper()}"] = str(value)
        return env


def load_settings() -> Settings:
    """Read every section; raise ConfigError naming the bad key on invalid input."""
    sections = {
        "kafka": KafkaSettings,
        "es": ESSettings,
        "producer": ProducerSettings,
        "processor": ProcessorSettings,
        "alerts": AlertSettings,
        "stack": StackSettings,
        "api": ApiSettings,
    }
    path = config_file_path()
    if path is not None:
        unknown = set(_read_config_file(str(path))) - set(sections)
        if unknown:
            raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}; known: {sorted(sections)}")
    values = {}
    for name, cls in sections.items():
        try:
            values[name] = cls()
        except ValidationError as exc:
            problems = "; ".join(
                f"{name}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            source = f" (from {path} or WIREWATCH_{name.upper()}_* variables)" if path else " (from WIREWATCH_* variables)"
            raise ConfigError(f"invalid settings{source}: {problems}") from None
    return Settings(**values)
