"""The Kibana saved objects reference only fields the index templates define,
with types Kibana can use that way (Kibana cannot run here to check it)."""

from __future__ import annotations

import json
import re

import pytest

from processors.es.kibana import load_saved_objects
from processors.es.templates import indices_for_prefix, render

AGGREGATABLE = {"keyword", "boolean", "integer", "long", "short", "float", "half_float", "double", "date"}
FIELD_IN_QUERY = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*):")


def _flatten(properties, prefix=""):
    out = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            out.update(_flatten(spec["properties"], f"{path}."))
            continue
        out[path] = spec
        for sub, sub_spec in spec.get("fields", {}).items():
            out[f"{path}.{sub}"] = sub_spec
    return out


def _field_types(properties):
    specs = _flatten(properties)
    types = {}
    for path, spec in specs.items():
        kind = spec.get("type", "object")
        if kind == "alias":
            kind = specs[spec["path"]]["type"]
        if spec.get("index") is False and kind == "text":
            kind = "unsearchable-text"
        types[path] = kind
    return types


@pytest.fixture(scope="module")
def objects():
    return load_saved_objects()


@pytest.fixture(scope="module")
def field_types_by_view(objects):
    from processors.delivery.records import ALERTS_MAPPING

    articles = _field_types(render("wirewatch", analyzers_available=True).mappings["properties"])
    alerts = _field_types(ALERTS_MAPPING["properties"])
    by_title = {"wirewatch-articles": articles, "wirewatch-alerts": alerts}
    return {o["id"]: by_title[o["attributes"]["title"]] for o in objects if o["type"] == "index-pattern"}


def _view_of(obj):
    refs = [r["id"] for r in obj.get("references", []) if r["type"] == "index-pattern"]
    return refs[0] if refs else None


def _uses(obj):
    """(field, how) pairs of one saved object."""
    attrs = obj["attributes"]
    if obj["type"] == "index-pattern":
        yield attrs["timeFieldName"], "date"
        for name in json.loads(attrs["fieldFormatMap"]):
            yield name, "exists"
    meta = json.loads(attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}"))
    for name in FIELD_IN_QUERY.findall((meta.get("query") or {}).get("query", "")):
        yield name, "searchable"
    if obj["type"] == "search":
        for column in attrs["columns"]:
            yield column, "exists"
        for name, _ in attrs["sort"]:
            yield name, "aggregatable"
    if obj["type"] == "visualization":
        for agg in json.loads(attrs["visState"])["aggs"]:
            if "field" in agg["params"]:
                yield agg["params"]["field"], "date" if agg["type"] == "date_histogram" else "aggregatable"


def test_every_referenced_field_exists_with_a_compatible_type(objects, field_types_by_view):
    problems, checked = [], 0
    for obj in objects:
        view = obj["id"] if obj["type"] == "index-pattern" else _view_of(obj)
        for name, how in _uses(obj):
            checked += 1
            kind = field_types_by_view[view].get(name)
            if kind is None:
                problems.append(f"{obj['id']}: {name} is not in the template of {view}")
            elif how == "date" and kind != "date":
                problems.append(f"{obj['id']}: {name} is {kind}, needs date")
            elif how == "aggregatable" and kind not in AGGREGATABLE:
                problems.append(f"{obj['id']}: {name} is {kind}, cannot be aggregated or sorted")
            elif how == "searchable" and kind == "unsearchable-text":
                problems.append(f"{obj['id']}: {name} is not indexed")
    assert not problems
    assert checked > 30  # the walk found the fields


def test_articles_data_view_links_back_and_uses_published_at(objects):
    view = next(o for o in objects if o["id"] == "wirewatch-articles")
    assert view["attributes"]["timeFieldName"] == "published_at"
    assert json.loads(view["attributes"]["fieldFormatMap"])["url"]["id"] == "url"


def test_every_reference_points_at_an_object_in_the_files(objects):
    known = {(o["type"], o["id"]) for o in objects}
    missing = [(o["id"], r["type"], r["id"]) for o in objects for r in o.get("references", [])
               if (r["type"], r["id"]) not in known]
    assert not missing
    for dash in (o for o in objects if o["type"] == "dashboard"):
        panels = json.loads(dash["attributes"]["panelsJSON"])
        names = {r["name"] for r in dash["references"]}
        assert {f"{p['panelIndex']}:{p['panelRefName']}" for p in panels} == names


def test_both_dashboards_and_saved_searches_are_there(objects):
    titles = {(o["type"], o["attributes"]["title"]) for o in objects}
    assert {("dashboard", "Wirewatch: News"), ("dashboard", "Wirewatch: Pipeline"),
            ("search", "Latest articles"), ("search", "Articles by topic")} <= titles


def test_data_views_follow_the_index_prefix():
    views = {o["id"]: o["attributes"]["title"] for o in load_saved_objects(indices_for_prefix("acme"))
             if o["type"] == "index-pattern"}
    assert views == {"wirewatch-articles": "acme-articles", "wirewatch-articles-by-indexing-time": "acme-articles",
                     "wirewatch-alerts": "acme-alerts"}
