import json

import pytest

from processors.es.templates import (
    LANGUAGE_FIELDS, PLUGIN_ANALYZERS, TEMPLATE_DIR, TemplateError, render,
)
from processors.indexer import to_document
from processors.es.samples import make_article


def _analyzers(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("analyzer") and isinstance(item, str):
                yield item
            else:
                yield from _analyzers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _analyzers(item)


def test_names_come_from_the_prefix():
    rendered = render("ww-abc", analyzers_available=True)
    assert rendered.index_template_name == "ww-abc-articles"
    assert set(rendered.components) == {"ww-abc-articles-settings", "ww-abc-articles-mappings"}
    assert rendered.index_template["index_patterns"] == ["ww-abc-articles-*"]
    assert rendered.index_template["composed_of"] == ["ww-abc-articles-settings", "ww-abc-articles-mappings"]
    assert rendered.index_template["template"]["aliases"] == {"ww-abc-articles": {}}
    assert rendered.index_template["priority"] < 100
    assert rendered.rebuild_template_name == "ww-abc-articles-rebuild"
    assert rendered.rebuild_template["index_patterns"] == ["ww-abc-articles-r*"]
    assert rendered.index_template["priority"] < rendered.rebuild_template["priority"] < 100
    assert rendered.rebuild_template["template"]["aliases"] == {}
    assert "{{" not in json.dumps(rendered.__dict__)


def test_analyzer_switch():
    with_plugin = set(_analyzers(render("p", analyzers_available=True).components))
    without = set(_analyzers(render("p", analyzers_available=False).components))
    assert with_plugin == set(PLUGIN_ANALYZERS)
    assert without == {"standard"}


def test_every_language_has_its_fields_and_analyzer():
    props = render("p", analyzers_available=True).mappings["properties"]
    for code in LANGUAGE_FIELDS:
        assert props[f"title_{code}"]["analyzer"] == props[f"text_{code}"]["analyzer"]
        assert props[f"title_{code}"]["analyzer"] in PLUGIN_ANALYZERS


def test_alert_query_fields_exist():
    props = render("p", analyzers_available=False).mappings["properties"]
    assert props["lang"] == {"type": "alias", "path": "language"}
    assert props["topic"] == {"type": "alias", "path": "topics"}
    assert props["entity"]["type"] == props["source"]["type"] == "keyword"
    assert props["title"]["fields"]["keyword"]["type"] == "keyword"
    for date in ("published_at", "fetched_at", "indexed_at"):
        assert props[date]["type"] == "date"


def _mapped_paths(properties, prefix=""):
    for name, spec in properties.items():
        if "properties" in spec:
            yield from _mapped_paths(spec["properties"], f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def _doc_paths(doc, prefix=""):
    for name, value in doc.items():
        if isinstance(value, dict):
            yield from _doc_paths(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


@pytest.mark.parametrize("language", [*LANGUAGE_FIELDS, "ja"])
def test_every_document_field_is_mapped(language):
    # The mapping is `dynamic: false`: a field the template forgot would be
    # stored but silently unsearchable.
    mapped = set(_mapped_paths(render("p", analyzers_available=True).mappings["properties"]))
    assert set(_doc_paths(to_document(make_article(language=language)))) <= mapped


def test_template_files_are_plain_json():
    for path in TEMPLATE_DIR.glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


def test_missing_template_dir_is_a_clear_error(tmp_path):
    with pytest.raises(TemplateError, match="cannot be read"):
        render("p", analyzers_available=True, template_dir=tmp_path)
