"""The matcher on the real Elasticsearch: right alerts, filters applied, and
the same answers as a search with the same query and filters."""

import random

import pytest

from processors.matcher import Matcher, subscription_query
from processors.subscriptions import CachedSubscriptions, StaticSubscriptions, SubscriptionStore
from wirewatch.schema import Subscription, SubscriptionFilters, alert_id

pytestmark = pytest.mark.integration


def _sub(sub_id, query, **filters):
    return Subscription(id=sub_id, name=sub_id, query=query, filters=SubscriptionFilters(**filters))


def _match(run_async, indices, settings, subs, articles):
    async def go(aes):
        matcher = Matcher.from_settings(aes, settings, StaticSubscriptions(subs))
        return await matcher.match(articles)

    return run_async(go)


def test_sample_article_alerts_and_other_does_not(run_async, es, indices, settings, make_article, sample_like_article):
    other = make_article("https://news.example.org/budget", "Budget talks resume", "Parliament debated the budget. Maduro was not mentioned by soldiers.")
    other = other.model_copy(update={"text": "Parliament debated the budget for hours.", "summary": "", "title": "Budget talks"})
    sub = _sub("venezuela", "maduro AND (military OR soldiers)")
    alerts = _match(run_async, indices, settings, [sub], [sample_like_article, other])
    assert [a.article_id for a in alerts] == [sample_like_article.id]
    alert = alerts[0]
    assert alert.id == alert_id("venezuela", sample_like_article.id)
    assert alert.story_id == sample_like_article.id
    assert any("<em>" in h for h in alert.highlights)
    assert "maduro" in alert.matched_terms
    assert alert.topics == ["politics", "military"]
    assert alert.entities == ["Nicolás Maduro"]
    assert sample_like_article.id in alert.kibana_url and alert.kibana_url.startswith(settings.es.kibana_url)
    assert alert.produced_at == sample_like_article.produced_at


def test_scratch_copies_stay_invisible_then_go_with_their_generation(run_async, es, indices, settings, make_article,
                                                                     monkeypatch):
    """Nothing is deleted per batch: a later batch of the same generation does not see the
    earlier one's copies; a spent generation is replaced and dropped whole; close() drops the last."""
    import processors.matcher as matcher_module

    monkeypatch.setattr(matcher_module, "ARTIFICIAL_MAX_BATCH", 0)  # every batch indexed first
    monkeypatch.setattr(matcher_module, "INDEX_FIRST_SHARE", -1.0)
    first = [make_article(f"https://a.example/{i}", f"Soldiers in Caracas {i}", "Soldiers marched in Caracas.") for i in range(3)]
    second = [make_article(f"https://b.example/{i}", f"Soldiers in Bogota {i}", "Soldiers marched in Bogota.") for i in range(3)]
    subs = [_sub("soldiers", '"soldiers marched"'), _sub("caracas", "caracas")]

    async def go(aes):
        matcher = Matcher.from_settings(aes, settings, StaticSubscriptions(subs))
        try:
            got = [await matcher.match(first)]
            generation = matcher.scratch_index
            got.append(await matcher.match(second))  # same generation: the first batch's copies are still there
            assert matcher.scratch_index == generation
            monkeypatch.setattr(matcher_module, "SCRATCH_GENERATION_DOCS", 6)
            got.append(await matcher.match(first))   # 6 copies: a new generation, the old one dropped
            replaced = matcher.scratch_index
        finally:
            await matcher.close()
        return got, generation, replaced

    (one, two, three), generation, replaced = run_async(go)
    assert {(a.subscription_id, a.article_id) for a in one} == {(s, a.id) for s in ("soldiers", "caracas") for a in first}
    assert {(a.subscription_id, a.article_id) for a in two} == {("soldiers", a.id) for a in second}
    assert {(a.subscription_id, a.article_id) for a in three} == {(a.subscription_id, a.article_id) for a in one}
    assert replaced != generation and generation.startswith(indices.scratch) and replaced.startswith(indices.scratch)
    assert not es.indices.exists(index=generation) and not es.indices.exists(index=replaced)


def test_filters_apply(run_async, indices, settings, make_article, sample_like_article):
    spanish = make_article("https://es.example.org/maduro", "Maduro y los soldados", "Maduro habló a los soldados del military.", language="es", topics=("politics",))
    subs = [
        _sub("en-only", "maduro", languages=["en"]),
        _sub("es-only", "maduro", languages=["es"]),
        _sub("military-topic", "maduro", topics=["military"]),
        _sub("sport-topic", "maduro", topics=["sport"]),
        _sub("both", "maduro", languages=["en", "es"]),
    ]
    alerts = _match(run_async, indices, settings, subs, [sample_like_article, spanish])
    got = {(a.subscription_id, a.article_id) for a in alerts}
    assert got == {
        ("en-only", sample_like_article.id),
        ("es-only", spanish.id),
        ("military-topic", sample_like_article.id),
        ("both", sample_like_article.id),
        ("both", spanish.id),
    }


def test_one_alert_per_story(run_async, indices, settings, make_article, sample_like_article):
    copy = make_article("https://mirror.example.net/copy", sample_like_article.title, sample_like_article.text, story_id="story-1")
    first = sample_like_article.model_copy(update={"enrichment": sample_like_article.enrichment.model_copy(update={"story_id": "story-1"})})
    alerts = _match(run_async, indices, settings, [_sub("s", "maduro")], [first, copy])
    assert [a.id for a in alerts] == [alert_id("s", "story-1")]


def test_stored_subscriptions_feed_the_matcher(run_async, es, indices, settings, sample_like_article):
    SubscriptionStore(es, indices).put(_sub("stored", "title:sergeant"))

    async def go(aes):
        source = CachedSubscriptions(aes, indices, settings.alerts.subscriptions_refresh_s)
        return await Matcher.from_settings(aes, settings, source).match([sample_like_article])

    assert [a.subscription_id for a in run_async(go)] == ["stored"]


WORDS = ["maduro", "military", "soldiers", "venezuela", "budget", "parliament", "election", "football",
         "video", "sergeant", "civilians", "orders", "market", "bank", "storm", "rain", "opposition"]
TOPICS = ["politics", "military", "sport", "economy"]


def _generated_articles(make_article, rng):
    articles = []
    for i in range(30):
        words = rng.sample(WORDS, 6)
        articles.append(make_article(
            f"https://gen.example.org/{i}",
            " ".join(words[:3]).title(),
            "The " + " and ".join(words) + " were in the news today.",
            language=rng.choice(["en", "es", "fr"]),
            topics=tuple(rng.sample(TOPICS, 2)),
            entities=(rng.choice(["Nicolás Maduro", "Angela Merkel"]),),
            domain=rng.choice(["a.example.org", "b.example.org"]),
        ))
    return articles


def _generated_query(rng):
    a, b, c = rng.sample(WORDS, 3)
    return rng.choice([
        f"{a}", f"{a} AND {b}", f"{a} OR {b}", f"{a} AND NOT {b}", f"({a} OR {b}) AND {c}",
        f'"{a} and {b}"', f'"{a} {b}"~3', f"{a[:4]}*", f"title:{a}", f"text:{a} OR title:{b}",
        f"topic:{rng.choice(TOPICS)} AND {a}", f"entity:maduro AND {a}", f"lang:en {a}", f"{a} -{b} +{c}",
    ])


def _generated_filters(rng):
    filters = {}
    if rng.random() < 0.3:
        filters["languages"] = rng.sample(["en", "es", "fr"], rng.randint(1, 2))
    if rng.random() < 0.3:
        filters["topics"] = [rng.choice(TOPICS)]
    if rng.random() < 0.2:
        filters["sources"] = [rng.choice(["a.example.org", "b.example.org"])]
    return filters


def test_matches_equal_search_results(run_async, es, indices, settings, make_article):
    rng = random.Random(20170520)
    articles = _generated_articles(make_article, rng)
    subs = [_sub(f"g{i}", _generated_query(rng), **_generated_filters(rng)) for i in range(50)]

    alerts = _match(run_async, indices, settings, subs, articles)
    matched = {(a.subscription_id, a.article_id) for a in alerts}

    # The same articles through the real indexing path, searched one subscription at a time.
    from processors.es.templates import ensure_articles_index, ensure_templates
    from processors.indexer import index_batch

    ensure_templates(es, indices)
    ensure_articles_index(es, indices)
    outcome = run_async(lambda aes: index_batch(aes, indices, articles, refresh=True))
    assert outcome.all_ok
    searched = set()
    for sub in subs:
        hits = es.search(index=indices.articles, query=subscription_query(sub), size=100, _source=False)["hits"]["hits"]
        searched.update((sub.id, hit["_id"]) for hit in hits)

    assert len(searched) > 20, "the generated data should produce a fair number of matches"
    assert matched == searched


TRICKY_QUERIES = [
    "soldier", "soldiers", "SOLDADOS", "soldado", "nicolas", "Nicolás", "nicolás AND maduro",
    "the", "the AND maduro", "the OR zzzabsent", '"the army"', '"armed forces"~2', '"forces armed"~3',
    "al-qaeda", "qaeda", "zzzabsent", "zzzabsent OR maduro", "zzzabsent AND maduro", "maduro AND NOT zzzabsent",
    "NOT maduro AND video", "maduro NOT video", "title:sergeant", "text:sergeant", "title:(zzzabsent OR video)",
    "sold*", "zzz*", "entity:\"nicolás maduro\"", "topic:politics", "lang:es", "source:news.example.org",
    "(zzzabsent OR armed) AND (forces OR zzzother)", "+maduro -zzzabsent", "running", "ran", "crackdowns", "crackdown",
    "U.S.", "don't", "l'armée", "armée", "fuerzas armadas", '"fuerzas armadas"', "Venezuela's", "venezuela",
]


def test_preselection_never_drops_a_match(run_async, es, indices, settings, make_article, sample_like_article):
    articles = [
        sample_like_article,
        make_article("https://es.example.org/1", "Las Fuerzas Armadas y los soldados", "Los soldados de Venezuela's army: U.S. don't. L'armée.", language="es"),
        make_article("https://fr.example.org/1", "L'armée française", "Les soldats de l'armée et al-Qaeda; running crackdowns.", language="fr"),
    ]
    subs = [_sub(f"q{i}", q) for i, q in enumerate(TRICKY_QUERIES)]

    async def both(aes):
        with_anchors = await Matcher.from_settings(aes, settings, StaticSubscriptions(subs)).match(articles)
        without = await Matcher.from_settings(aes, settings, StaticSubscriptions(subs), preselect=False).match(articles)
        return with_anchors, without

    # (pre-selection also decides the simplest queries from term vectors: compared here too)

    with_anchors, without = run_async(both)
    got = {(a.subscription_id, a.article_id) for a in with_anchors}
    assert len(without) >= 15, "the tricky queries should match something"
    assert got == {(a.subscription_id, a.article_id) for a in without}


def test_preselection_skips_subscriptions_whose_words_are_absent(run_async, indices, settings, sample_like_article):
    subs = [_sub("absent", "zzzabsent AND maduro"), _sub("present", "maduro"), _sub("prefix", "zzz*"),
            _sub("present-prefix", "SERGEA*"), _sub("keyword-field", "topic:sport")]

    async def go(aes):
        matcher = Matcher.from_settings(aes, settings, StaticSubscriptions(subs))
        alerts = await matcher.match([sample_like_article])
        return alerts, matcher.last_stats

    alerts, stats = run_async(go)
    assert sorted(a.subscription_id for a in alerts) == ["present", "present-prefix"]
    # an absent prefix is ruled out; a keyword field gives no anchor: a candidate everywhere
    assert stats.candidates == 5 and stats.preselected == 3 and stats.pairs + stats.decided_pairs == 3
    # "maduro" (one term per field), "SERGEA*" (a lower-cased prefix) and "topic:sport" (a keyword
    # term) are all decided in Python, from the term vectors and the article's keyword values
    assert stats.decided_pairs == 3 and stats.pairs == 0


def test_analyze_answers_split_back_per_text(run_async, indices, settings):
    from processors.matcher import tokens_by_text

    texts = ["soldiers", "the", "Nicolás", "al-qaeda", "🙂 emoji word", "Venezuela's", "fuerzas armadas"]

    async def go(aes):
        matcher = Matcher.from_settings(aes, settings, StaticSubscriptions([]))
        scratch = await matcher.ensure_scratch()
        together = await aes.indices.analyze(index=scratch, field="text", text=texts)
        alone = {t: tuple(x["token"] for x in (await aes.indices.analyze(index=scratch, field="text", text=t))["tokens"]) for t in texts}
        return tokens_by_text(texts, together["tokens"]), alone

    split, alone = run_async(go)
    assert split == alone


def test_big_and_small_chunks_match_the_same(run_async, indices, settings, make_article):
    """700 such clauses in one bool would pass the node's clause limit; the
    matcher's filters aggregation evaluates each subscription on its own."""
    articles = [make_article(f"https://x.example/{lang}", f"maduro soldiers {lang}", "maduro army forces soldiers " * 10, language=lang)
                for lang in ("en", "es", "de", "fr", "pt", "it")]
    words = ["maduro", "army", "forces", "soldiers", "absentword", "venezuela", "caracas"]
    rng = random.Random(3)
    subs = [_sub(f"h{i}", f'({rng.choice(words)} OR {rng.choice(words)}*) AND "{rng.choice(words)} {rng.choice(words)}"~3 OR {rng.choice(words)}')
            for i in range(700)]

    async def go(aes):
        big = Matcher.from_settings(aes, settings, StaticSubscriptions(subs), chunk_size=700, preselect=False)
        small = Matcher.from_settings(aes, settings, StaticSubscriptions(subs), chunk_size=40, preselect=False)
        return await big.match(articles), big, await small.match(articles)

    from_big, big, from_small = run_async(go)
    assert big.last_stats.skipped_subscriptions == []
    assert big.last_stats.searches == 1
    assert len(from_big) > 100
    assert {(a.subscription_id, a.article_id) for a in from_big} == {(a.subscription_id, a.article_id) for a in from_small}


STOP_WORD_QUERIES = ["the -zzzabsent", "the AND maduro", "the OR zzzabsent", "el -zzzabsent", "los AND soldados",
                     "la OR zzzabsent", "les -zzzabsent", "et AND soldats", '"the army"', '"los soldados"~2', "NOT zzzabsent AND the"]


def test_preselection_holds_when_batches_search_fewer_fields_than_seen_before(run_async, settings, make_article, sample_like_article):
    """The anchors index covers every field seen so far; a later batch of one
    language searches fewer fields, where stop words of other languages vanish."""
    spanish = make_article("https://es.example.org/2", "Los soldados", "Los soldados de Maduro y el ejército.", language="es")
    french = make_article("https://fr.example.org/2", "Les soldats", "Les soldats et l'armée de Maduro.", language="fr")
    subs = [_sub(f"w{i}", q) for i, q in enumerate(STOP_WORD_QUERIES + TRICKY_QUERIES)]
    batches = [[sample_like_article, spanish, french], [sample_like_article], [spanish], [french]]

    async def both(aes):
        with_anchors = Matcher.from_settings(aes, settings, StaticSubscriptions(subs))
        without = Matcher.from_settings(aes, settings, StaticSubscriptions(subs), preselect=False)
        got, expected = [], []
        for batch in batches:
            got.append({(a.subscription_id, a.article_id) for a in await with_anchors.match(batch)})
            expected.append({(a.subscription_id, a.article_id) for a in await without.match(batch)})
        return got, expected

    got, expected = run_async(both)
    assert all(expected), "every batch should match something"
    assert got == expected


def test_a_scratch_index_dropped_under_the_matcher_is_made_again(run_async, es, indices, settings, sample_like_article):
    from processors.matcher import ScratchIndexMissing

    sub = _sub("venezuela", "maduro AND (military OR soldiers)")

    async def go(aes):
        matcher = Matcher.from_settings(aes, settings, StaticSubscriptions([sub]))
        try:
            first = await matcher.match([sample_like_article])
            dropped = matcher.scratch_index
            await aes.indices.delete(index=dropped)
            with pytest.raises(ScratchIndexMissing):
                await matcher.match([sample_like_article])  # the agent retries such a batch
            again = await matcher.match([sample_like_article])
            return first, again, dropped, matcher.scratch_index
        finally:
            await matcher.close()

    first, again, dropped, made = run_async(go)
    assert [a.id for a in again] == [a.id for a in first] == [alert_id("venezuela", sample_like_article.id)]
    assert made != dropped
    assert not es.indices.exists(index=dropped)  # never made again by a bulk, with a guessed mapping


def test_phrases_are_decided_from_positions_without_indexing(run_async, settings, make_article):
    """Both words in an article, apart or side by side: positions decide, and nothing
    goes through the scratch index (no bulk, no refresh, no search)."""
    apart = make_article("https://p.example/apart", "Forces on the border", "Armed men crossed; the forces of order waited.")
    together = make_article("https://p.example/together", "Armed forces on the border", "The armed forces crossed the river.")
    subs = [_sub("phrase", '"armed forces"'), _sub("near", '"armed order"~3')]

    async def go(aes):
        matcher = Matcher.from_settings(aes, settings, StaticSubscriptions(subs))
        try:
            alerts = await matcher.match([apart, together])
            return alerts, matcher.last_stats, matcher.generation.docs
        finally:
            await matcher.close()

    alerts, stats, indexed = run_async(go)
    assert {(a.subscription_id, a.article_id) for a in alerts} == {("phrase", together.id)}
    assert stats.pairs == 0 and stats.decided_pairs >= 2 and indexed == 0
