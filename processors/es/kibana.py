"""Kibana saved objects (``deploy/kibana/*.ndjson``) and their import.

The files name the default indices (``wirewatch-articles``,
``wirewatch-alerts``, ``wirewatch-deadletters``); ``load_saved_objects``
rewrites the data views' index patterns for the configured prefix.
``import_saved_objects`` sends them in one multipart upload to
``POST /api/saved_objects/_import?overwrite=true`` with the ``kbn-xsrf``
header, as the Kibana API documents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from wirewatch.names import Indices
from wirewatch.settings import ESSettings

KIBANA_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kibana"
# The saved objects are written for the default prefix; names.py says what that gives.
_DEFAULTS = Indices.from_settings(ESSettings.model_construct(index_prefix=ESSettings.model_fields["index_prefix"].default))
DEFAULT_ARTICLES = _DEFAULTS.articles
DEFAULT_ALERTS = _DEFAULTS.alerts
DEFAULT_DEAD_LETTERS = _DEFAULTS.dead_letters
MAX_RESPONSE_BYTES = 1024 * 1024
UPLOAD_NAME = "wirewatch.ndjson"


class KibanaError(Exception):
    """Kibana unreachable, refusing, or a saved-object file that is broken."""


@dataclass(frozen=True)
class ImportResult:
    url: str
    sent: int
    success_count: int
    errors: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        return f"imported {self.success_count} of {self.sent} saved objects into {self.url}"


def load_saved_objects(indices: Indices | None = None, kibana_dir: Path = KIBANA_DIR) -> list[dict[str, Any]]:
    """Every saved object, files in name order (data views first)."""
    files = sorted(kibana_dir.glob("*.ndjson"))
    if not files:
        raise KibanaError(f"no saved objects (*.ndjson) in {kibana_dir}")
    objects = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                objects.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise KibanaError(f"{path.name}:{number}: not valid JSON: {exc.msg}") from None
    return [_for_prefix(o, indices) for o in objects] if indices else objects


def _for_prefix(obj: dict[str, Any], indices: Indices) -> dict[str, Any]:
    """Data views point at this installation's indices."""
    if obj.get("type") != "index-pattern":
        return obj
    renames = {DEFAULT_ARTICLES: indices.articles, DEFAULT_ALERTS: indices.alerts,
               DEFAULT_DEAD_LETTERS: indices.dead_letters}
    title = obj["attributes"]["title"]
    if title in renames:
        obj = json.loads(json.dumps(obj))
        obj["attributes"]["title"] = renames[title]
    return obj


def ndjson_body(objects: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(o, ensure_ascii=False, separators=(",", ":")) + "\n" for o in objects).encode("utf-8")


def import_url(base_url: str, space: str | None = None) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise KibanaError(f"not a Kibana URL: {base_url!r} (expected http(s)://host:port)")
    space_path = f"/s/{space}" if space and space != "default" else ""
    return f"{base_url.rstrip('/')}{space_path}/api/saved_objects/_import?overwrite=true"


def import_saved_objects(base_url: str, indices: Indices, *, space: str | None = None, timeout_s: float = 30.0,
                         kibana_dir: Path = KIBANA_DIR) -> ImportResult:
    url = import_url(base_url, space)
    objects = load_saved_objects(indices, kibana_dir)
    files = {"file": (UPLOAD_NAME, ndjson_body(objects), "application/ndjson")}
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
            response = client.post(url, files=files, headers={"kbn-xsrf": "true"})
    except httpx.TimeoutException:
        raise KibanaError(f"Kibana at {base_url} did not answer within {timeout_s:g}s") from None
    except httpx.HTTPError as exc:
        raise KibanaError(f"Kibana at {base_url} is unreachable: {_os_reason(exc)}") from None
    body = _json_body(response)
    if response.status_code != 200:
        message = body.get("message") if isinstance(body, dict) else None
        raise KibanaError(f"Kibana refused the import: HTTP {response.status_code}"
                          f"{': ' + str(message)[:300] if message else ''}")
    if not isinstance(body, dict) or "success" not in body:
        raise KibanaError(f"{url} did not answer like the Kibana saved-objects API (is it Kibana?)")
    errors = list(body.get("errors") or [])
    if not body.get("success"):
        raise KibanaError(f"Kibana refused {len(errors)} saved object(s): {_describe_errors(errors)}")
    return ImportResult(url=url, sent=len(objects), success_count=int(body.get("successCount", 0)), errors=errors)


def _json_body(response: httpx.Response) -> Any:
    if len(response.content) > MAX_RESPONSE_BYTES:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _describe_errors(errors: list[dict[str, Any]], most: int = 3) -> str:
    parts = [f"{e.get('type')}/{e.get('id')}: {(e.get('error') or {}).get('type', 'error')}" for e in errors[:most]]
    more = f" (+{len(errors) - most} more)" if len(errors) > most else ""
    return "; ".join(parts) + more


def _os_reason(exc: BaseException) -> str:
    cause: BaseException | None = exc
    for _ in range(6):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__ if cause else None
    return str(exc) or type(exc).__name__
