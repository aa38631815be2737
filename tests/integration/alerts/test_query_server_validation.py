"""Every query the local validator accepts, Elasticsearch accepts on the real
articles mapping (and `put` asks it)."""

import pytest

from processors.es.templates import ensure_articles_index, ensure_templates
from processors.query_validation import QueryRejected, validate

pytestmark = pytest.mark.integration

ACCEPTED = [
    "maduro", "maduro AND (military OR soldiers)", "maduro && (military || soldiers)", '"armed forces"~3',
    "venezuel*", 'title:"nicolás maduro"', "title:(maduro OR caracas) AND NOT topic:sport",
    "source:bbc.co.uk lang:en topic:politics entity:maduro", 'entity:"Nicolás Maduro"', "text:soldier*",
    "maduro -sport +venezuela", "maduro !sport", "al-Qaeda", r"foo\:bar", r"a\/b", "maduro AND NOT (military OR army)",
]


@pytest.mark.parametrize("query", ACCEPTED)
def test_server_accepts_what_we_accept(es, indices, query):
    ensure_templates(es, indices)
    ensure_articles_index(es, indices)
    validate(query, es, indices.articles)


def test_without_an_articles_index_the_local_check_stands(es, indices):
    validate("maduro", es, indices.articles)
    with pytest.raises(QueryRejected):
        validate("maduro AND", es, indices.articles)
