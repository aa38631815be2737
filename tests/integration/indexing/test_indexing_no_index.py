import pytest

from processors.search import NoArticles, search

pytestmark = pytest.mark.integration


def test_search_without_an_index_says_so_instead_of_finding_nothing(es, indices):
    # Elasticsearch would not even parse this query without a shard to run it on.
    with pytest.raises(NoArticles, match="no articles index yet"):
        search(es, indices, "maduro AND (")
