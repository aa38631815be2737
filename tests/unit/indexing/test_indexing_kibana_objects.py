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
    from processors.agents.deadletters import DEAD_LETTERS_MAPPING
    from processors.delivery.records import ALERTS_MAPPING

    indices = indices_for_prefix("wirewatch")  # the names the files spell
    by_title = {
        indices.articles: _field_types(render("wirewatch", analyzers_available=True).mappings["properties"]),
        indices.alerts: _field_types(ALERTS_MAPPING["properties"]),
        indices.dead_letters: _field_types(DEAD_LETTERS_MAPPING["properties"]),
    }
    views = {o["id"]: o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"}
    unknown = {view: title for view, title in views.items() if title not in by_title}
    assert not unknown, f"data views over indices this test has no mapping for: {unknown}"
    return {view: by_title[title] for view, title in views.items()}


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


def _field_problems(objects, field_types_by_view):
    """(problems, (view, field) pairs checked) over every saved object."""
    problems, checked = [], set()
    for obj in objects:
        view = obj["id"] if obj["type"] == "index-pattern" else _view_of(obj)
        for name, how in _uses(obj):
            checked.add((view, name))
            kind = field_types_by_view[view].get(name)
            if kind is None:
                problems.append(f"{obj['id']}: {name} is not in the template of {view}")
            elif how == "date" and kind != "date":
                problems.append(f"{obj['id']}: {name} is {kind}, needs date")
            elif how == "aggregatable" and kind not in AGGREGATABLE:
                problems.append(f"{obj['id']}: {name} is {kind}, cannot be aggregated or sorted")
            elif how == "searchable" and kind == "unsearchable-text":
                problems.append(f"{obj['id']}: {name} is not indexed")
    return problems, checked


def test_every_referenced_field_exists_with_a_compatible_type(objects, field_types_by_view):
    problems, checked = _field_problems(objects, field_types_by_view)
    assert not problems
    assert len(checked) >= 20  # the walk found the fields (22 distinct ones when written)
    assert {view for view, _ in checked} == set(field_types_by_view)  # and every data view was used


def test_dead_letter_panels_use_the_dead_letters_mapping(objects, field_types_by_view):
    _, checked = _field_problems(objects, field_types_by_view)
    assert {("wirewatch-deadletters", f) for f in ("failed_at", "stage", "reason.keyword")} <= checked


@pytest.mark.parametrize(("field", "expected"), [
    ("reason", "reason is text, cannot be aggregated"),           # the analysed field, not its keyword
    ("value", "value is unsearchable-text, cannot be aggregated"),  # stored, not indexed
    ("reason.raw", "reason.raw is not in the template of wirewatch-deadletters"),
])
def test_a_dead_letters_field_the_mapping_does_not_allow_is_reported(objects, field_types_by_view, field, expected):
    table = json.loads(json.dumps(next(o for o in objects if o["id"] == "wirewatch-dead-letters-top-reasons")))
    vis = json.loads(table["attributes"]["visState"])
    next(a for a in vis["aggs"] if a["type"] == "terms")["params"]["field"] = field
    table["attributes"]["visState"] = json.dumps(vis)
    problems, _ = _field_problems([table], field_types_by_view)
    assert [p for p in problems if expected in p]


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
                     "wirewatch-alerts": "acme-alerts", "wirewatch-deadletters": "acme-deadletters"}


def test_dead_letters_data_view_is_timed_by_failure(objects):
    view = next(o for o in objects if o["id"] == "wirewatch-deadletters")
    assert view["attributes"]["timeFieldName"] == "failed_at"


def test_pipeline_dashboard_charts_indexing_alerts_and_dead_letters(objects):
    by_id = {o["id"]: o for o in objects}
    dashboard = next(o for o in objects if o["attributes"]["title"] == "Wirewatch: Pipeline")
    panels = [by_id[r["id"]] for r in dashboard["references"]]
    kinds = {json.loads(p["attributes"]["visState"])["type"] for p in panels}
    assert "markdown" not in kinds  # every panel is drawn from an index, none is a note
    assert {_view_of(p) for p in panels} == {"wirewatch-articles-by-indexing-time", "wirewatch-alerts",
                                             "wirewatch-deadletters"}
    dead = {json.loads(p["attributes"]["visState"])["title"]: p for p in panels
            if _view_of(p) == "wirewatch-deadletters"}
    aggs = {title: {(a["type"], a["params"].get("field")) for a in json.loads(p["attributes"]["visState"])["aggs"]}
            for title, p in dead.items()}
    assert ("date_histogram", "failed_at") in aggs["Dead letters over time by stage"]
    assert ("terms", "stage") in aggs["Dead letters over time by stage"]
    assert {("count", None), ("terms", "reason.keyword")} <= aggs["Dead letters: top reasons"]
