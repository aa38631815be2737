"""The wirewatch-analysis plugin (deploy/es-plugin) on the local node.

The integ-test Elasticsearch has no analysis-common module; the plugin brings back
language analyzers built from Lucene's own. These tests ask the real node, through
``_analyze`` and a real index, that every component the plugin declares is
registered and stems, drops stopwords and folds as Lucene's analyzers do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
COMPONENTS_FILE = REPO / "deploy" / "es-plugin" / "src" / "main" / "plugin-metadata" / "named_components.json"
PLUGIN_NAME = "wirewatch-analysis"
ANALYZER_KIND = "org.elasticsearch.plugin.analysis.AnalyzerFactory"
FILTER_KIND = "org.elasticsearch.plugin.analysis.TokenFilterFactory"
LANGUAGES = ["english", "spanish", "german", "french", "portuguese", "italian"]

# (language, inflected form, base form): each analyzer must index both as one token.
STEM_PAIRS = [
    ("english", "elections", "election"),
    ("english", "running", "run"),
    ("spanish", "soldados", "soldado"),
    ("spanish", "elecciones", "elección"),
    ("german", "Soldaten", "Soldat"),
    ("french", "soldats", "soldat"),
    ("portuguese", "eleições", "eleição"),
    ("italian", "soldati", "soldato"),
]
# (language, a default stopword of Lucene's analyzer for it)
STOPWORDS = [
    ("english", "the"),
    ("spanish", "los"),
    ("german", "die"),
    ("french", "les"),
    ("portuguese", "os"),
    ("italian", "il"),
]


def declared(kind: str) -> list[str]:
    return sorted(json.loads(COMPONENTS_FILE.read_text(encoding="utf-8"))[kind])


def tokens(es, **body) -> list[str]:
    return [t["token"] for t in es.indices.analyze(**body)["tokens"]]


@pytest.fixture
def plugin_es(es):
    """The ``es`` client, failing with the fix when the node lacks the plugin."""
    installed = {row["component"] for row in es.cat.plugins(format="json")}
    if PLUGIN_NAME not in installed:
        pytest.fail(
            f"plugin {PLUGIN_NAME} is not installed on the node (has: {sorted(installed)}); "
            "build and install it: deploy/es-plugin/README.md",
            pytrace=False,
        )
    return es


def test_declared_components_are_the_documented_ones():
    assert declared(ANALYZER_KIND) == sorted([f"ww_{lang}" for lang in LANGUAGES] + ["ww_folding"])
    assert declared(FILTER_KIND) == sorted([f"ww_stemmer_{lang}" for lang in LANGUAGES] + ["ww_asciifolding"])


@pytest.mark.parametrize("name", declared(ANALYZER_KIND))
def test_every_declared_analyzer_is_registered(plugin_es, name):
    assert tokens(plugin_es, analyzer=name, text="Wirewatch") == ["wirewatch"]


@pytest.mark.parametrize("name", declared(FILTER_KIND))
def test_every_declared_filter_is_registered(plugin_es, name):
    assert tokens(plugin_es, tokenizer="standard", filter=[name], text="zzz") == ["zzz"]


@pytest.mark.parametrize(("language", "inflected", "base"), STEM_PAIRS)
def test_language_analyzer_gives_inflected_and_base_forms_one_token(plugin_es, language, inflected, base):
    analyzer = f"ww_{language}"
    assert tokens(plugin_es, analyzer=analyzer, text=inflected) == tokens(plugin_es, analyzer=analyzer, text=base)
    # Without stemming the two differ: the equality above is the plugin's doing.
    assert tokens(plugin_es, analyzer="standard", text=inflected) != tokens(plugin_es, analyzer="standard", text=base)


def test_spanish_soldados_and_soldado_are_one_token(plugin_es):
    assert tokens(plugin_es, analyzer="ww_spanish", text="Los soldados y el soldado") == ["soldad", "soldad"]


@pytest.mark.parametrize(("language", "stopword"), STOPWORDS)
def test_language_analyzer_drops_its_stopwords(plugin_es, language, stopword):
    assert tokens(plugin_es, analyzer=f"ww_{language}", text=stopword) == []


@pytest.mark.parametrize(("language", "text", "expected"), [("french", "l'élection", ["election"]), ("italian", "dell'esercito", ["esercit"])])
def test_french_and_italian_analyzers_strip_elisions(plugin_es, language, text, expected):
    assert tokens(plugin_es, analyzer=f"ww_{language}", text=text) == expected


def test_folding_analyzer_lowercases_and_folds_without_stemming(plugin_es):
    assert tokens(plugin_es, analyzer="ww_folding", text="José MÜLLER Straße soldados") == ["jose", "muller", "strasse", "soldados"]


def test_asciifolding_filter_folds_and_keeps_case(plugin_es):
    assert tokens(plugin_es, tokenizer="standard", filter=["ww_asciifolding"], text="Ñandú Ærø") == ["Nandu", "AEro"]


@pytest.mark.parametrize(("language", "inflected", "base"), STEM_PAIRS)
def test_stemmer_filter_stems_like_its_analyzer(plugin_es, language, inflected, base):
    chain = {"tokenizer": "standard", "filter": ["lowercase", f"ww_stemmer_{language}"]}
    stemmed = tokens(plugin_es, text=inflected, **chain)
    assert stemmed == tokens(plugin_es, text=base, **chain)
    assert stemmed == tokens(plugin_es, analyzer=f"ww_{language}", text=inflected)


def test_index_mapped_with_the_analyzers_finds_base_forms(plugin_es, settings):
    index = f"{settings.es.index_prefix}-analysis"
    properties = {f"title_{lang}": {"type": "text", "analyzer": f"ww_{lang}"} for lang in LANGUAGES}
    properties["person"] = {"type": "text", "analyzer": "ww_folding"}
    properties["custom"] = {"type": "text", "analyzer": "folded_spanish"}
    plugin_es.indices.create(
        index=index,
        settings={
            "number_of_replicas": 0,
            "analysis": {
                "analyzer": {
                    "folded_spanish": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["lowercase", "ww_asciifolding", "ww_stemmer_spanish"],
                    }
                }
            },
        },
        mappings={"properties": properties},
    )
    # One document per pair: a language with several pairs gets several documents.
    for number, (lang, inflected, _) in enumerate(STEM_PAIRS):
        plugin_es.index(index=index, id=str(number), document={f"title_{lang}": inflected})
    plugin_es.index(index=index, id="names", document={"person": "José Müller", "custom": "Las elecciones"})
    plugin_es.indices.refresh(index=index)

    queries = [{"match": {f"title_{lang}": base}} for lang, _, base in STEM_PAIRS]
    queries += [{"match": {"person": "JOSE MULLER"}}, {"match": {"custom": "eleccion"}}]
    for query in queries:
        hits = plugin_es.search(index=index, query=query)["hits"]["total"]["value"]
        assert hits == 1, query
