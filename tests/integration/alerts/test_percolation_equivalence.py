"""Issue #6's promise: for generated subscriptions over an indexed corpus, the
matcher's (subscription, article) pairs are exactly what a search with the
same query and filters returns on the articles index.

The articles are really enriched (processors.enrich.pipeline.Enricher), so
language, topics and entities are what the pipeline would give; the same
articles go through the real indexing path (templates, monthly index,
``index_batch``) and are searched one subscription at a time (msearch).
Queries are generated from the articles' own words, entities, topics and
sources so that a fair share match, and cover every construct of the query
language: AND/OR/NOT, +/-, juxtaposition, groups, phrases, proximity,
trailing wildcards and the fields title/text/source/topic/lang/entity.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

import processors.matcher as matcher_module
from processors.matcher import ARTIFICIAL_MAX_BATCH, PART_SIZE, Matcher, subscription_query
from processors.subscriptions import StaticSubscriptions
from wirewatch.schema import Article, Subscription, SubscriptionFilters

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"
BBC = CORPUS / "news-labeled" / "bbc-dev"
BBC_ARTICLES = 600
SUBSCRIPTIONS = 200
MATCH_BATCH = 2 * PART_SIZE + ARTIFICIAL_MAX_BATCH  # several matcher batches, each in overlapping parts of both kinds (indexed, artificial)
DOMAINS = ["bbc.co.uk", "www.reuters.com", "news.example.org"]
COUNTRIES = ["gb", "US", None, "es"]  # source_country, lower-cased by its normaliser
_WORD = re.compile(r"[^\W\d_]{4,}")

# Built in, so that the test runs without ../shared: several languages (the
# per-language stemmed fields), accents, apostrophes, hyphens, a few shared
# names (entities, phrases that recur).
BUILTIN = [
    ("Venezuelan sergeant urges soldiers to rise up against Maduro",
     "A sergeant in the Venezuelan Armed Forces has released a video calling for his fellow soldiers to rise up "
     "against Nicolás Maduro and reject orders to attack unarmed civilians, the latest indication that Maduro is "
     "losing the support of the military amid a wave of violent crackdowns in Caracas."),
    ("Central bank raises interest rates as inflation climbs",
     "The European Central Bank raised interest rates again on Thursday. Christine Lagarde said inflation in the "
     "euro zone remained too high, and markets in Frankfurt and Paris fell sharply after the announcement."),
    ("Storm floods coastal towns, thousands evacuated",
     "Heavy rain and a powerful storm flooded coastal towns in Portugal and Spain. Emergency services evacuated "
     "thousands of residents, and the weather service warned that more rain was expected over the weekend."),
    ("Champions League: Madrid beat Munich in extra time",
     "Real Madrid beat Bayern Munich in extra time to reach the Champions League final. The goalkeeper made "
     "several saves and the striker scored twice in the second half of a dramatic football match."),
    ("Parliament passes budget after long debate",
     "Parliament passed the annual budget after a long debate. The finance minister said the budget would cut "
     "the deficit, while the opposition accused the government of raising taxes on workers and pensioners."),
    ("New smartphone chip promises longer battery life",
     "The technology company unveiled a new smartphone chip that it says doubles battery life. Analysts said the "
     "chip could help the company win back market share from rivals in China and the United States."),
    ("El ejército venezolano y los soldados de Maduro",
     "Un sargento de las Fuerzas Armadas de Venezuela publicó un video en el que pide a los soldados rebelarse "
     "contra Nicolás Maduro y no atacar a civiles desarmados en Caracas durante las protestas."),
    ("El Banco Central Europeo sube los tipos de interés",
     "El Banco Central Europeo subió los tipos de interés para frenar la inflación. Los mercados de Madrid y "
     "Frankfurt cayeron tras el anuncio de Christine Lagarde."),
    ("L'armée française déployée après la tempête",
     "L'armée française a été déployée dans les villes côtières après la tempête. Les soldats ont évacué des "
     "milliers d'habitants à cause des inondations et de la pluie."),
    ("Le Parlement adopte le budget après un long débat",
     "Le Parlement a adopté le budget annuel après un long débat. Le ministre des finances a promis de réduire "
     "le déficit, tandis que l'opposition dénonce des impôts plus élevés."),
    ("Bundesbank warnt vor hoher Inflation",
     "Die Bundesbank warnt vor anhaltend hoher Inflation in Deutschland. Die Europäische Zentralbank in Frankfurt "
     "hat die Zinsen erneut erhöht, und die Märkte reagierten nervös."),
    ("Sturm überflutet Küstenstädte",
     "Ein schwerer Sturm hat Küstenstädte in Norddeutschland überflutet. Tausende Bewohner wurden evakuiert, "
     "und der Wetterdienst erwartet weiteren Regen am Wochenende."),
]


@pytest.fixture(scope="module")
def enricher():
    from processors.enrich.pipeline import Enricher

    return Enricher(update_stats=False)


def _enriched(enricher, articles: list[Article]) -> list[Article]:
    return [a.model_copy(update={"enrichment": enricher.enrich(a)}) for a in articles]


def builtin_articles(make_article) -> list[Article]:
    return [make_article(f"https://{DOMAINS[i % len(DOMAINS)]}/builtin/{i}", title, text, domain=DOMAINS[i % len(DOMAINS)],
                         country=COUNTRIES[i % len(COUNTRIES)])
            for i, (title, text) in enumerate(BUILTIN)]


def bbc_articles(make_article, limit: int) -> list[Article]:
    files = sorted(BBC.glob("*/*.txt"))
    random.Random(6).shuffle(files)
    out = []
    for i, path in enumerate(files[:limit]):
        title, _, text = path.read_text(encoding="utf-8", errors="replace").strip().partition("\n")
        domain = DOMAINS[i % len(DOMAINS)]
        out.append(make_article(f"https://{domain}/bbc/{path.parent.name}/{path.name}", title.strip(), text.strip(), domain=domain,
                                country=COUNTRIES[i % len(COUNTRIES)]))
    return out


# --- generated subscriptions ----------------------------------------------------------

class Vocabulary:
    """What the generated queries are made of, taken from the enriched articles."""

    def __init__(self, articles: list[Article]):
        df = Counter()
        self.bigrams: list[str] = []
        self.title_words = sorted({w.lower() for a in articles for w in _WORD.findall(a.title)})
        for article in articles:
            words = _WORD.findall(article.full_text())
            df.update({w.lower() for w in words})
            for a, b in zip(words, words[1:]):
                if a.islower() and b.islower() and len(self.bigrams) < 5000:
                    self.bigrams.append(f"{a} {b}")
        n = len(articles)
        # Specific words (in 1 to 5% of the articles, at least one), plus a few common ones.
        self.rare = sorted(w for w, c in df.items() if c <= max(1, 0.05 * n))
        self.common = sorted(w for w, c in df.items() if 0.05 * n < c <= 0.5 * n) or self.rare
        self.entities = sorted({e.text for a in articles for e in a.enrichment.entities if '"' not in e.text and "\\" not in e.text})
        self.topics = sorted({t.name for a in articles for t in a.enrichment.topics}) or ["politics"]
        self.languages = sorted({a.enrichment.language for a in articles if a.enrichment.language}) or ["en"]
        self.domains = ["bbc.co.uk", "reuters.com", "news.example.org", "absent.example.com"]

    def word(self, rng: random.Random) -> str:
        return rng.choice(self.rare if rng.random() < 0.7 else self.common)


def generated_query(rng: random.Random, v: Vocabulary) -> str:
    a, b, c = v.word(rng), v.word(rng), v.word(rng)
    bigram = rng.choice(v.bigrams) if v.bigrams else f"{a} {b}"
    entity = rng.choice(v.entities) if v.entities else a
    t = rng.choice(v.title_words) if v.title_words else a
    shapes = [
        lambda: a,
        lambda: f"{a} AND {b}",
        lambda: f"{a} OR {b}",
        lambda: f"{a} {b}",
        lambda: f"{a} AND NOT {b}",
        lambda: f"{a} NOT {b}",
        lambda: f"({a} OR {b}) AND {c}",
        lambda: f"{a} OR ({b} AND NOT {c})",
        lambda: f"+{a} -{b} {c}",
        lambda: f"{a} OR {b} OR {c}",
        lambda: f"{a} {b} {c}",
        lambda: f"{a} OR NOT {b}",
        lambda: f"({a} {b}) AND NOT {c}",
        lambda: f"{a} OR {b} AND {c}",   # AND and OR mixed: Lucene's parser decides what is required
        lambda: f'"{bigram}"',
        lambda: f'"{bigram}" OR {c}',
        lambda: f'"{a} {b}"~{rng.choice([1, 3, 8])}',
        lambda: f'"{bigram.split()[1]} {bigram.split()[0]}"~2',
        lambda: f"{a[:rng.randint(3, max(3, len(a) - 1))]}*",
        lambda: f"{a[:4]}* AND {b}",
        lambda: f"title:{t}",
        lambda: f"title:({t} OR {b})",
        lambda: f"text:{a} AND NOT title:{b}",
        lambda: f'title:"{bigram}"',
        lambda: f"source:{rng.choice(v.domains)} AND {a}",
        lambda: f"topic:{rng.choice(v.topics)} AND ({a} OR {b})",
        lambda: f"topic:{rng.choice(v.topics)}",
        lambda: f"lang:{rng.choice(v.languages)} AND {a}",
        lambda: f'entity:"{entity}"',
        lambda: f'entity:"{entity}" OR {a}',
        lambda: f"{entity.split()[0]}",
        # decided in Python (processors.matcher.term_predicate / filter_predicate): case of
        # prefixes and of keyword values (lower-cased fields vs topics, compared as is)
        lambda: f"{a[:5].upper()}* AND NOT {b}",
        lambda: f"{a[:4]}* OR title:{t}",
        lambda: f"lang:{rng.choice(v.languages).upper()} AND NOT {b}",
        lambda: f"topic:{rng.choice(v.topics).capitalize()} OR {a}",
        lambda: f"(topic:{rng.choice(v.topics)} OR {a}) AND NOT {b}",
        lambda: f"source:{rng.choice(v.domains).upper()} OR {a}",
        lambda: f'entity:"{entity.lower()}" OR {b}',
    ]
    return rng.choice(shapes)()


def generated_filters(rng: random.Random, v: Vocabulary) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    if rng.random() < 0.25:
        filters["languages"] = rng.sample(v.languages + ["it"], min(2, len(v.languages) + 1))[: rng.randint(1, 2)]
    if rng.random() < 0.25:
        filters["sources"] = [rng.choice(v.domains + ["BBC.co.uk"])]
    if rng.random() < 0.25:
        filters["topics"] = rng.sample(v.topics, min(len(v.topics), rng.randint(1, 2)))
        if rng.random() < 0.2:
            filters["topics"] = [t.upper() for t in filters["topics"]]  # topics are compared as is
    if rng.random() < 0.1:
        filters["countries"] = [rng.choice(["GB", "us", "es"])]
    return filters


def generated_subscriptions(articles: list[Article], count: int, seed: int) -> list[Subscription]:
    from processors.query_validation import QueryRejected, parse

    rng = random.Random(seed)
    vocabulary = Vocabulary(articles)
    subs: list[Subscription] = []
    while len(subs) < count:
        query = generated_query(rng, vocabulary)
        try:
            parse(query)
        except QueryRejected:  # e.g. an entity with a character the language refuses: draw again
            continue
        subs.append(Subscription(id=f"eq{len(subs)}", name=f"eq {len(subs)}", query=query,
                                 filters=SubscriptionFilters(**generated_filters(rng, vocabulary))))
    return subs


# --- the two sides ----------------------------------------------------------------------

def matcher_pairs(run_async, settings, subs, articles, batch, phrases=False) -> set[tuple[str, str]]:
    async def go(aes):
        matcher = Matcher.from_settings(aes, settings, StaticSubscriptions(subs), decide_phrases=phrases)
        pairs, skipped, searched, decided = set(), [], 0, 0
        for start in range(0, len(articles), batch):
            alerts = await matcher.match(articles[start:start + batch])
            pairs.update((a.subscription_id, a.article_id) for a in alerts)
            skipped += matcher.last_stats.skipped_subscriptions
            searched += matcher.last_stats.pairs
            decided += matcher.last_stats.decided_pairs
        assert skipped == [], f"the matcher skipped subscriptions: {skipped}"
        # both ways of deciding a pair are exercised: Elasticsearch and term vectors
        assert searched > 0 and decided > 0, (searched, decided)
        return pairs

    return run_async(go)


def search_pairs(run_async, es, indices, subs, articles) -> set[tuple[str, str]]:
    from processors.es.templates import ensure_articles_index, ensure_templates
    from processors.indexer import index_batch

    ensure_templates(es, indices)
    ensure_articles_index(es, indices)
    outcome = run_async(lambda aes: index_batch(aes, indices, articles, refresh=True))
    assert outcome.all_ok, (outcome.permanent, outcome.transient)
    pairs = set()
    for start in range(0, len(subs), 50):
        part = subs[start:start + 50]
        searches = []
        for sub in part:
            searches += [{"index": indices.articles},
                         {"query": subscription_query(sub), "size": len(articles), "_source": False, "track_total_hits": True}]
        for sub, answer in zip(part, es.msearch(searches=searches)["responses"]):
            assert "error" not in answer, (sub.query, answer.get("error"))
            assert answer["hits"]["total"]["value"] == len(answer["hits"]["hits"])
            pairs.update((sub.id, hit["_id"]) for hit in answer["hits"]["hits"])
    return pairs


# (what the matcher is asked to do, phrases decided from positions, share above which a part is indexed first)
MODES = [
    ("defaults: phrases ruled out by their terms, term vectors without indexing", False, matcher_module.INDEX_FIRST_SHARE),
    ("every large part indexed first", False, -1.0),
    ("phrases decided from term positions", True, matcher_module.INDEX_FIRST_SHARE),
]


def assert_equivalent(run_async, es, indices, settings, articles, seed, batch, monkeypatch):
    subs = generated_subscriptions(articles, SUBSCRIPTIONS, seed)
    searched = search_pairs(run_async, es, indices, subs, articles)
    by_id = {s.id: s for s in subs}
    for mode, phrases, index_first_share in MODES:
        monkeypatch.setattr(matcher_module, "INDEX_FIRST_SHARE", index_first_share)
        matched = matcher_pairs(run_async, settings, subs, articles, batch, phrases)
        only_matcher = sorted((by_id[s].query, a) for s, a in matched - searched)[:10]
        only_search = sorted((by_id[s].query, a) for s, a in searched - matched)[:10]
        assert (only_matcher, only_search) == ([], []), f"matcher and search disagree ({mode})"
        assert matched == searched
    # The comparison says something only if many subscriptions match, and not all of everything.
    matching_subs = {s for s, _ in searched}
    assert len(matching_subs) >= SUBSCRIPTIONS // 4, f"only {len(matching_subs)} subscriptions match anything"
    assert len(searched) < len(subs) * len(articles) // 4
    return subs, searched


def test_builtin_articles_match_like_search(run_async, es, indices, settings, enricher, make_article, monkeypatch):
    articles = _enriched(enricher, builtin_articles(make_article))
    assert {a.enrichment.language for a in articles} >= {"en", "es", "fr", "de"}
    assert_equivalent(run_async, es, indices, settings, articles, seed=61, batch=5, monkeypatch=monkeypatch)  # languages vary per batch


def test_bbc_corpus_matches_like_search(run_async, es, indices, settings, enricher, make_article, monkeypatch):
    if not BBC.is_dir():
        pytest.skip("../shared/corpus not present: percolation equivalence over the BBC corpus not run")
    articles = _enriched(enricher, bbc_articles(make_article, BBC_ARTICLES) + builtin_articles(make_article))
    subs, searched = assert_equivalent(run_async, es, indices, settings, articles, seed=62, batch=MATCH_BATCH,
                                       monkeypatch=monkeypatch)
    assert any(a.enrichment.entities for a in articles) and any(a.enrichment.topics for a in articles)
    shapes_matched = {s.query.split(":")[0] for s in subs if any(p[0] == s.id for p in searched)}
    assert {"title", "text", "topic", "entity", "lang", "source"} <= shapes_matched, shapes_matched
    assert len(searched) > 1000, len(searched)
