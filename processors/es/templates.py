"""Render and apply the articles index templates kept in ``deploy/elasticsearch/``.

Three JSON files, one component template each for settings and mappings and
one composable index template (priority 50, below the 100 that Elastic's own
templates use) that composes them for every ``<articles>-*`` monthly index.
``{{articles}}`` in them stands for ``Indices.articles``.

Analyzer switch: the mappings name the ``ww_*`` analyzers of the wirewatch
analysis plugin. This node has only ``standard`` until the plugin is installed,
so ``render(..., analyzers_available=False)`` maps every ``ww_*`` analyzer to
``standard``; ``ensure_templates`` asks the node (``_analyze``) when not told.
Indices keep the analyzers they were created with: after installing the plugin,
new months get the language analyzers and ``es reindex`` rebuilds old ones.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import structlog
from elasticsearch import ApiError, Elasticsearch

from processors.es.layout import ArticleLayout
from wirewatch.names import Indices
from wirewatch.settings import ESSettings

log = structlog.get_logger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "elasticsearch"
TEMPLATE_VERSION = 1
PLACEHOLDER = "{{articles}}"
PLUGIN_ANALYZERS = ("ww_english", "ww_spanish", "ww_german", "ww_french", "ww_portuguese", "ww_italian", "ww_folding")
FALLBACK_ANALYZER = "standard"
# Language code -> suffix of its per-language fields (title_<code>, text_<code>).
LANGUAGE_FIELDS = ("en", "es", "de", "fr", "pt", "it")
_COMPONENT_FILES = {"settings": "articles-settings.component.json", "mappings": "articles-mappings.component.json"}
_INDEX_TEMPLATE_FILE = "articles.index-template.json"
_REBUILD_TEMPLATE_FILE = "articles-rebuild.index-template.json"
REBUILD_MARK = "r"  # rebuild indices are <articles>-r<timestamp>-YYYY.MM


class TemplateError(Exception):
    """A template file that is missing or invalid, or one Elasticsearch refused."""


@dataclass(frozen=True)
class RenderedTemplates:
    components: dict[str, dict[str, Any]]  # component template name -> body
    index_template_name: str
    index_template: dict[str, Any]
    rebuild_template_name: str
    rebuild_template: dict[str, Any]

    @property
    def mappings(self) -> dict[str, Any]:
        return next(c["template"]["mappings"] for c in self.components.values() if "mappings" in c["template"])


def indices_for_prefix(prefix: str) -> Indices:
    return Indices.from_settings(ESSettings.model_construct(index_prefix=prefix))


def load_template_file(name: str, template_dir: Path = TEMPLATE_DIR) -> dict[str, Any]:
    path = template_dir / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateError(f"{path}: cannot be read ({exc.strerror}); is the repo's deploy/ folder present?") from None
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}: not valid JSON: {exc}") from None


def render(indices: Indices | str, analyzers_available: bool, template_dir: Path = TEMPLATE_DIR) -> RenderedTemplates:
    """The templates for these names (or this index prefix), pure apart from
    reading the files."""
    if isinstance(indices, str):
        indices = indices_for_prefix(indices)
    articles = indices.articles
    meta = {"wirewatch_template_version": TEMPLATE_VERSION,
            "analyzers": "plugin" if analyzers_available else FALLBACK_ANALYZER}
    components = {}
    for role, filename in _COMPONENT_FILES.items():
        body = _substitute(load_template_file(filename, template_dir), articles)
        body.setdefault("_meta", {}).update(meta)
        if not analyzers_available:
            body = _fallback_analyzers(body)
        components[f"{articles}-{role}"] = body
    templates = {}
    for filename in (_INDEX_TEMPLATE_FILE, _REBUILD_TEMPLATE_FILE):
        body = _substitute(load_template_file(filename, template_dir), articles)
        body.setdefault("_meta", {}).update(meta)
        missing = set(body.get("composed_of", [])) - set(components)
        if missing:
            raise TemplateError(f"{filename}: composed_of names unknown component(s) {sorted(missing)}")
        templates[filename] = body
    return RenderedTemplates(components=components, index_template_name=indices.template,
                             index_template=templates[_INDEX_TEMPLATE_FILE],
                             rebuild_template_name=rebuild_template_name(indices),
                             rebuild_template=templates[_REBUILD_TEMPLATE_FILE])


def rebuild_template_name(indices: Indices) -> str:
    return f"{indices.template}-rebuild"


def _substitute(value: Any, articles: str) -> Any:
    if isinstance(value, str):
        return value.replace(PLACEHOLDER, articles)
    if isinstance(value, list):
        return [_substitute(v, articles) for v in value]
    if isinstance(value, dict):
        return {_substitute(k, articles): _substitute(v, articles) for k, v in value.items()}
    return value


def _fallback_analyzers(value: Any) -> Any:
    """Every ``ww_*`` analyzer reference replaced by ``standard``."""
    if isinstance(value, list):
        return [_fallback_analyzers(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ("analyzer", "search_analyzer", "search_quote_analyzer") and isinstance(item, str) and item.startswith("ww_"):
                out[key] = FALLBACK_ANALYZER
            else:
                out[key] = _fallback_analyzers(item)
        return out
    return copy.deepcopy(value)


def plugin_analyzers_available(es: Elasticsearch) -> bool:
    """True when the node knows every ``ww_*`` analyzer (one ``_analyze`` each)."""
    missing = []
    for analyzer in PLUGIN_ANALYZERS:
        try:
            es.indices.analyze(analyzer=analyzer, text="wirewatch")
        except ApiError as exc:
            if exc.status_code != 400:
                raise
            missing.append(analyzer)
    if missing and len(missing) < len(PLUGIN_ANALYZERS):
        log.warning("es.analyzers.partial", missing=missing, using=FALLBACK_ANALYZER)
    return not missing


def ensure_templates(es: Elasticsearch, indices: Indices, *, analyzers_available: bool | None = None) -> RenderedTemplates:
    """Put the component and index templates (idempotent: same names, same
    bodies). Returns what was applied."""
    if analyzers_available is None:
        analyzers_available = plugin_analyzers_available(es)
    rendered = render(indices, analyzers_available)
    try:
        for name, body in rendered.components.items():
            es.cluster.put_component_template(name=name, **body)
        es.indices.put_index_template(name=rendered.index_template_name, **rendered.index_template)
        es.indices.put_index_template(name=rendered.rebuild_template_name, **rendered.rebuild_template)
    except ApiError as exc:
        from processors.es.client import describe_error

        raise TemplateError(f"Elasticsearch refused the articles templates: {describe_error(exc)}") from None
    log.info("es.templates.applied", template=rendered.index_template_name,
             analyzers="plugin" if analyzers_available else FALLBACK_ANALYZER)
    return rendered


def ensure_articles_index(es: Elasticsearch, indices: Indices, *, now: datetime | None = None) -> str:
    """Make sure this month's index exists, is in the read alias and holds the
    write alias; add new template fields to existing indices. Idempotent.
    Call after ``ensure_templates``. Returns the current month's index."""
    layout = ArticleLayout.from_indices(indices)
    current = layout.index_for(now or datetime.now(timezone.utc))
    if not es.indices.exists(index=current):
        try:
            es.indices.create(index=current, aliases={layout.read_alias: {}})
        except ApiError as exc:
            if _error_type(exc) != "resource_already_exists_exception":
                raise
    _point_write_alias(es, layout, current)
    _update_existing_mappings(es, indices, layout)
    return current


def _point_write_alias(es: Elasticsearch, layout: ArticleLayout, current: str) -> None:
    holders = set(es.indices.get_alias(name=layout.write_alias, ignore_unavailable=True).keys()) \
        if es.indices.exists_alias(name=layout.write_alias) else set()
    if holders == {current}:
        return
    actions = [{"remove": {"index": old, "alias": layout.write_alias}} for old in sorted(holders - {current})]
    actions.append({"add": {"index": current, "alias": layout.write_alias, "is_write_index": True}})
    es.indices.update_aliases(actions=actions)
    log.info("es.write_alias.moved", alias=layout.write_alias, index=current, previous=sorted(holders))


def _update_existing_mappings(es: Elasticsearch, indices: Indices, layout: ArticleLayout) -> None:
    """New fields of the template reach existing months too; a change ES cannot
    apply in place (e.g. another analyzer) is logged: those months keep their
    mapping until rebuilt with ``es reindex``."""
    try:
        template = es.cluster.get_component_template(name=f"{indices.articles}-mappings")
        mappings = template["component_templates"][0]["component_template"]["template"]["mappings"]
        es.indices.put_mapping(index=layout.read_alias, properties=mappings["properties"])
    except ApiError as exc:
        from processors.es.client import describe_error

        log.warning("es.mappings.not_updated", alias=layout.read_alias, reason=describe_error(exc))


def drop_templates(es: Elasticsearch, indices: Indices) -> None:
    """Delete the index and component templates (tests, uninstall)."""
    es.options(ignore_status=404).indices.delete_index_template(name=indices.template)
    es.options(ignore_status=404).indices.delete_index_template(name=rebuild_template_name(indices))
    for role in _COMPONENT_FILES:
        es.options(ignore_status=404).cluster.delete_component_template(name=f"{indices.articles}-{role}")


def _error_type(exc: ApiError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    return str((body.get("error") or {}).get("type", ""))
