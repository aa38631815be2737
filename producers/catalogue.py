"""The feed catalogue: a YAML file with a ``feeds:`` list, validated with errors
that name the line and the key, plus OPML import and export.

Defaults (documented here and in `wirewatch feeds list`): a feed is checked at
most every ``min_interval`` (default 5 minutes) and at least every
``max_interval`` (default 6 hours); the scheduler adapts between the two.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from producers.text import BadURL, canonical_url

DEFAULT_MIN_INTERVAL_S = 300
DEFAULT_MAX_INTERVAL_S = 6 * 3600
MAX_CATALOGUE_BYTES = 50 * 1024 * 1024
MAX_FEEDS = 1_000_000


class CatalogueError(ValueError):
    """A catalogue that cannot be used; the message names the file, line and key."""


class Feed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="http(s) address of the feed.")
    name: str = Field("", description="Display name; the feed's own title is used when empty.")
    language: str | None = Field(None, description="Language of the feed's articles when the feed does not say.")
    country: str | None = Field(None, description="ISO 3166 country the source reports from or about.")
    tags: list[str] = Field(default_factory=list)
    min_interval: int = Field(DEFAULT_MIN_INTERVAL_S, ge=30, le=7 * 86400, description="Seconds: never check more often.")
    max_interval: int = Field(DEFAULT_MAX_INTERVAL_S, ge=60, le=30 * 86400, description="Seconds: never check less often.")
    full_text: bool = Field(False, description="Fetch the article page of entries that only carry a summary, for the full text (rule: producers.fulltext).")
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        try:
            canonical_url(value)
        except BadURL as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("language", "country")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not value or len(value) > 35 or not all(c.isalnum() or c == "-" for c in value):
            raise ValueError("must be a short code such as 'en' or 'de-at'")
        return value

    @model_validator(mode="after")
    def _interval_order(self) -> "Feed":
        if self.min_interval > self.max_interval:
            raise ValueError(f"min_interval ({self.min_interval}) is above max_interval ({self.max_interval})")
        return self

    @property
    def host(self) -> str:
        from urllib.parse import urlsplit

        return (urlsplit(self.url).hostname or "").lower()


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records where each mapping and its keys start."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
    marks = {key_node.value: key_node.start_mark.line + 1 for key_node, _ in node.value if isinstance(key_node, yaml.ScalarNode)}
    return _Located(mapping, line=node.start_mark.line + 1, key_lines=marks)


class _Located(dict):
    def __init__(self, mapping: dict, line: int, key_lines: dict[str, int]):
        super().__init__(mapping)
        self.line = line
        self.key_lines = key_lines


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_catalogue(text: str, source: str = "<catalogue>") -> list[Feed]:
    """Feeds of a catalogue document; raise CatalogueError naming line and key."""
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise CatalogueError(f"{source}{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        return []
    if not isinstance(data, dict) or "feeds" not in data:
        raise CatalogueError(f"{source}: must be a mapping with a 'feeds:' list")
    unknown = set(data) - {"feeds"}
    if unknown:
        raise CatalogueError(f"{source}:{data.key_lines.get(sorted(unknown)[0], 1)}: unknown key {sorted(unknown)[0]!r} (only 'feeds' is allowed)")
    items = data["feeds"] or []
    if not isinstance(items, list):
        raise CatalogueError(f"{source}:{data.key_lines.get('feeds', 1)}: 'feeds' must be a list")
    if len(items) > MAX_FEEDS:
        raise CatalogueError(f"{source}: {len(items)} feeds, more than the limit of {MAX_FEEDS}")
    feeds: list[Feed] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        feed = _validate_item(item, index, source)
        line = getattr(item, "line", 0)
        if feed.url in seen:
            raise CatalogueError(f"{source}:{line}: feeds[{index}].url: {feed.url} is already listed at line {seen[feed.url]}")
        seen[feed.url] = line
        feeds.append(feed)
    return feeds


def _validate_item(item: Any, index: int, source: str) -> Feed:
    if isinstance(item, str):  # a bare URL is a feed with defaults
        item = {"url": item}
    if not isinstance(item, dict):
        raise CatalogueError(f"{source}: feeds[{index}]: must be a mapping with at least 'url'")
    try:
        return Feed.model_validate(dict(item))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else ""
        line = getattr(item, "key_lines", {}).get(key) or getattr(item, "line", "?")
        where = f"feeds[{index}].{key}" if key else f"feeds[{index}]"
        raise CatalogueError(f"{source}:{line}: {where}: {error['msg']}") from None


def load_catalogue(path: str | Path) -> list[Feed]:
    return parse_catalogue(read_catalogue_text(path), source=str(path))


def read_catalogue_text(path: str | Path) -> str:
    """The catalogue file's text; CatalogueError naming the file when it cannot be read."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CATALOGUE_BYTES:
            raise CatalogueError(f"{path}: larger than {MAX_CATALOGUE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogueError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot be read: {exc.strerror}") from None
    return text


def dump_catalogue(feeds: list[Feed]) -> str:
    """YAML text of the catalogue, with default values left out."""
    defaults = Feed(url="http://x.invalid/").model_dump()
    items = []
    for feed in feeds:
        data = feed.model_dump()
        items.append({k: v for k, v in data.items() if k == "url" or v != defaults[k]})
    return yaml.safe_dump({"feeds": items}, sort_keys=False, allow_unicode=True)


def save_catalogue(path: str | Path, feeds: list[Feed]) -> None:
    write_catalogue_text(path, dump_catalogue(feeds))


def write_catalogue_text(path: str | Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic: a crash never leaves half a catalogue


# --------------------------------------------------------------------------- moved feeds

# A URL that YAML reads back as the same string when written plain, in block and flow style alike.
_PLAIN_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9._~:/?&=%+;@!$'()*-]+$")


@dataclass
class UrlRewrite:
    text: str                                                            # the catalogue with the new URLs
    applied: list[tuple[str, str]] = field(default_factory=list)         # (old, new)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)    # (old, new, reason)


def rewrite_urls(text: str, moves: dict[str, str], source: str = "<catalogue>") -> UrlRewrite:
    """The catalogue text with each feed URL in ``moves`` replaced by its new URL,
    edited in place: comments, key order, the feeds' order and every other key
    stay exactly as written. A move to a URL that is already listed, or to one
    that is not a usable feed URL, is skipped with the reason."""
    before = [feed.url for feed in parse_catalogue(text, source)]
    listed = set(before)
    result = UrlRewrite(text=text)
    edits: list[tuple[int, int, str]] = []
    for node in _url_nodes(text):
        old = node.value.strip()
        new = (moves.get(old) or "").strip()
        if not new or new == old:
            continue
        reason = _move_refused(new, listed)
        if reason:
            result.skipped.append((old, new, reason))
            continue
        listed.add(new)
        edits.append((node.start_mark.index, node.end_mark.index, _yaml_url(new)))
        result.applied.append((old, new))
    rewritten = text
    for start, end, replacement in sorted(edits, reverse=True):  # from the end: earlier offsets stay valid
        rewritten = rewritten[:start] + replacement + rewritten[end:]
    applied = dict(result.applied)
    if [feed.url for feed in parse_catalogue(rewritten, source)] != [applied.get(url, url) for url in before]:  # never write a catalogue that does not say what we meant
        raise CatalogueError(f"{source}: rewriting the moved URLs would change other entries; edit it by hand")
    result.text = rewritten
    return result


def _url_nodes(text: str) -> list[yaml.ScalarNode]:
    """The scalar node holding each feed's URL (a bare-URL item or its ``url:`` value)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return []
    feeds = next((value for key, value in root.value if isinstance(key, yaml.ScalarNode) and key.value == "feeds"), None)
    nodes = []
    for item in feeds.value if isinstance(feeds, yaml.SequenceNode) else []:
        if isinstance(item, yaml.ScalarNode):
            nodes.append(item)
        elif isinstance(item, yaml.MappingNode):
            nodes += [value for key, value in item.value if isinstance(key, yaml.ScalarNode) and key.value == "url" and isinstance(value, yaml.ScalarNode)]
    return nodes


def _move_refused(new: str, listed: set[str]) -> str | None:
    if new in listed:
        return "the new URL is already in the catalogue: remove the old entry instead"
    try:
        Feed(url=new)
    except ValidationError as exc:
        return f"the new URL is not usable: {exc.errors()[0]['msg']}"
    return None


def _yaml_url(url: str) -> str:
    # JSON strings are valid YAML double-quoted scalars.
    return url if _PLAIN_URL.match(url) and ": " not in url and " #" not in url else json.dumps(url)


# --------------------------------------------------------------------------- OPML


def import_opml(data: bytes) -> list[Feed]:
    """Feeds of an OPML document (outline elements with xmlUrl, at any depth;
    the enclosing outlines' titles become tags). Entities are refused."""
    if b"<!ENTITY" in data.upper() or b"<!DOCTYPE" in data.upper():
        raise CatalogueError("OPML with a DOCTYPE is refused (entity expansion)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise CatalogueError(f"not valid OPML: {exc}") from None
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise CatalogueError("not OPML: no <opml><body>")
    feeds: dict[str, Feed] = {}
    _collect_outlines(body, [], feeds)
    return list(feeds.values())


def _collect_outlines(element: ET.Element, tags: list[str], feeds: dict[str, Feed]) -> None:
    for outline in element.findall("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        title = (outline.get("title") or outline.get("text") or "").strip()
        if url:
            language = (outline.get("language") or "").strip() or None
            name = "" if title == url else title
            categories = [c.strip() for c in (outline.get("category") or "").split(",") if c.strip()]
            feed_tags = list(dict.fromkeys(tags + categories))
            try:
                feed = Feed(url=url, name=name, tags=feed_tags, language=language)
            except ValidationError:
                try:
                    feed = Feed(url=url, name=name, tags=feed_tags)
                except ValidationError:
                    continue  # not an http(s) feed: nothing we could poll
            feeds.setdefault(feed.url, feed)
        _collect_outlines(outline, tags + [title] if title and not url else tags, feeds)


def export_opml(feeds: list[Feed], title: str = "Wirewatch feeds") -> bytes:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(root, "body")
    for feed in feeds:
        attrs = {"type": "rss", "text": feed.name or feed.url, "title": feed.name or feed.url, "xmlUrl": feed.url}
        if feed.language:
            attrs["language"] = feed.language
        if feed.tags:
            attrs["category"] = ",".join(feed.tags)
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


# --------------------------------------------------------------------------- scale-out


def shard(feeds: list[Feed], instance: int, instances: int) -> list[Feed]:
    """The feeds instance ``instance`` (0-based) of ``instances`` polls: a stable
    hash of the URL, so every instance agrees without talking to the others."""
    import hashlib

    if instances < 1 or not 0 <= instance < instances:
        raise ValueError(f"instance {instance} of {instances}: need 0 <= instance < instances")
    return [f for f in feeds if int.from_bytes(hashlib.sha256(f.url.encode("utf-8")).digest()[:8], "big") % instances == instance]
