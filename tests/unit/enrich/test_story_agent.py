"""The story step as the story agent runs it: signed messages, the journal, and a
rebuild from stored records (what a restart or a new owner does)."""

import json

import pytest

from processors.agents.failures import PermanentError
from processors.agents.story import parse_signed, signed_message, signed_terms, with_story
from processors.enrich.story import (LAST_SEEN_PERSIST_SHARE, Assignment, StoryIndex, StoryJournal, signature,
                                     signature_from_record, signature_to_record)
from processors.enrich.text import Analysis
from processors.trends import enrichment_terms
from wirewatch.schema import Article, Enrichment, Entity, Keyword, TopicTag

from .conftest import FIXTURE_BODY, FIXTURE_TITLE
from .test_story import OTHER_BODY, article, near_copies


class RecordingJournal(StoryJournal):
    """Plays the role of the two Faust tables."""

    def __init__(self):
        self.stories, self.articles = {}, {}

    def story_saved(self, story_id, record):
        self.stories[story_id] = json.loads(json.dumps(record))  # as the JSON changelog stores it

    def story_dropped(self, story_id):
        self.stories.pop(story_id, None)

    def article_saved(self, article_id, story_id):
        self.articles[article_id] = story_id

    def article_dropped(self, article_id):
        self.articles.pop(article_id, None)


def sig_of(title, body):
    return signature(Analysis.of(title, body))


def test_signature_survives_json():
    sig = sig_of(FIXTURE_TITLE, FIXTURE_BODY)
    assert signature_from_record(json.loads(json.dumps(signature_to_record(sig)))) == sig
    short = sig_of("Short", "Too short.")
    assert signature_from_record(json.loads(json.dumps(signature_to_record(short)))) == short


def test_signature_records_of_the_earlier_format_are_read():
    """Records stored before the values were packed (a list of ints) restore the same signature."""
    sig = sig_of(FIXTURE_TITLE, FIXTURE_BODY)
    earlier = {"values": list(sig.values), "min_hash": sig.min_hash, "exact": "", "size": sig.size}
    assert signature_from_record(earlier) == sig


@pytest.mark.parametrize("record", [None, [], {"values": [1, 2]}, {"values": ["x"] * 64, "exact": ""},
                                    {"values": [], "exact": ""}, {"values": [], "exact": "../../etc"},
                                    {"values": "00" * 63}, {"values": "zz" * 512},
                                    {"values": 12}])
def test_bad_signature_records_are_refused(record):
    with pytest.raises(ValueError):
        signature_from_record(record)


def test_restored_index_continues_the_same_stories():
    clock = [1000.0]
    journal = RecordingJournal()
    live = StoryIndex(journal=journal, clock=lambda: clock[0])
    first = live.assign_signature("orig", "a.example", sig_of(FIXTURE_TITLE, FIXTURE_BODY))
    other = live.assign_signature("other", "a.example", sig_of("Council budget", OTHER_BODY))
    clock[0] += 60

    restored = StoryIndex(journal=RecordingJournal(), clock=lambda: clock[0])
    assert restored.restore(journal.stories.values(), journal.articles.items()) == 2
    title, body = near_copies(FIXTURE_TITLE, FIXTURE_BODY)["boilerplate"]
    copy = restored.assign_signature("copy", "b.example", sig_of(title, body))
    assert copy.story_id == first.story_id and not copy.first and copy.sources == 2
    again = restored.assign_signature("other", "a.example", sig_of("Council budget", OTHER_BODY))
    assert again.story_id == other.story_id and again.first and again.sources == 1


def test_redelivery_is_an_update_not_a_new_source():
    index = StoryIndex()
    sig = sig_of(FIXTURE_TITLE, FIXTURE_BODY)
    a = index.assign_signature("orig", "a.example", sig)
    b = index.assign_signature("orig", "a.example", sig)
    assert (b.story_id, b.first, b.sources) == (a.story_id, True, 1)


def test_evictions_delete_from_the_journal():
    journal = RecordingJournal()
    clock = [0.0]
    index = StoryIndex(max_stories=100, max_age_s=10, journal=journal, clock=lambda: clock[0])
    index.assign_signature("orig", "a.example", sig_of(FIXTURE_TITLE, FIXTURE_BODY))
    clock[0] = 100.0
    index.assign_signature("other", "a.example", sig_of("Council budget", OTHER_BODY))
    assert len(journal.stories) == 1 and len(index) == 1
    for i in range(500):  # more article ids than the index remembers (4 per story)
        index.assign_signature(f"a{i}", "a.example", sig_of("Council budget", OTHER_BODY))
    assert len(journal.articles) == index.max_articles == 400


def enriched_article(aid="orig"):
    enrichment = Enrichment(language="en", keywords=[Keyword(phrase="Political Prisoners", score=2.0)],
                            entities=[Entity(text="Leopoldo López", type="person")],
                            topics=[TopicTag(name="politics", score=1.0)])
    return article(aid, FIXTURE_TITLE, FIXTURE_BODY).model_copy(update={"enrichment": enrichment})


def test_signed_message_round_trip_sets_story_fields():
    art = enriched_article()
    sig = sig_of(FIXTURE_TITLE, FIXTURE_BODY)
    terms = enrichment_terms(art.enrichment, 10)
    line = signed_message(art.to_json(), art.id, "a.example", sig, terms)
    signed = parse_signed(line, max_terms=10)
    assert (signed.article_id, signed.source, signed.signature, signed.terms) == ("orig", "a.example", sig, terms)
    assert signed_terms(line, max_terms=10) == terms  # what the trends agent reads
    index = StoryIndex()
    out = Article.from_json(with_story(signed.article, index.assign_signature(signed.article_id, signed.source,
                                                                             signed.signature)))
    story = (out.enrichment.story_id, out.enrichment.story_first, out.enrichment.story_sources)
    assert story == (sig.story_id(), True, 1)
    story_fields = {"story_id", "story_first", "story_sources"}
    assert out.model_dump(exclude={"enrichment": story_fields}) == art.model_dump(exclude={"enrichment": story_fields})


def test_a_signed_line_of_the_earlier_format_is_still_read():
    """Lines written before heads (one JSON object) may be on the topic after an upgrade."""
    art = enriched_article()
    sig = sig_of(FIXTURE_TITLE, FIXTURE_BODY)
    record = {"values": list(sig.values), "min_hash": sig.min_hash, "exact": "", "size": sig.size}
    line = (json.dumps({"source": "a.example", "signature": record})[:-1].encode() + b',"article":'
            + art.to_json() + b"}")
    signed = parse_signed(line, max_terms=10)
    assert (signed.article_id, signed.source, signed.signature) == ("orig", "a.example", sig)
    assert signed.terms == ["keyword:political prisoners", "entity:Leopoldo López", "topic:politics"]
    assert signed_terms(line, max_terms=10) == signed.terms
    out = Article.from_json(with_story(signed.article, Assignment("st-1", False, 3)))
    assert (out.enrichment.story_id, out.enrichment.story_first, out.enrichment.story_sources) == ("st-1", False, 3)
    assert out.title == art.title


@pytest.mark.parametrize("story_fields", ['"story_id":null,"story_first":true,"story_sources":1',
                                          '"story_sources": 1, "story_first": true, "story_id": null',
                                          '"story_id":null,"story_first":true,"story_sources":12'])
def test_story_fields_are_set_whatever_the_serialisation(story_fields):
    """As the enrich agent writes them (spliced) or not (parsed and set); never inside a string."""
    lookalike = '"story_id":null,"story_first":true,"story_sources":1'
    article_json = ('{"id": "x", "title": ' + json.dumps(lookalike) + ', "enrichment": {"language": "en", '
                    + story_fields + "}}").encode()
    out = json.loads(with_story(article_json, Assignment("st-1", False, 3)))
    assert out["title"] == lookalike
    assert out["enrichment"] == {"language": "en", "story_id": "st-1", "story_first": False, "story_sources": 3}


def signed_line(head: dict, article: bytes = b'{"id":"x"}') -> bytes:
    return json.dumps(head).encode() + b"\t" + article


GOOD_RECORD = signature_to_record(sig_of(FIXTURE_TITLE, FIXTURE_BODY))


@pytest.mark.parametrize("value", [b"\x00not json", b"[]", b'{"article": {"id": "x"}, "source": "s"}',
                                   b'{"article": {"id": "x", "enrichment": {}}, "source": "s", "signature": {}}',
                                   b"not json\t{}", b"[]\t{}",
                                   signed_line({"source": "s", "signature": GOOD_RECORD}),
                                   signed_line({"id": "", "source": "s", "signature": GOOD_RECORD}),
                                   signed_line({"id": "x", "signature": GOOD_RECORD}),
                                   signed_line({"id": "x", "source": "s", "signature": {"values": "00"}}),
                                   signed_line({"id": "x", "source": "s", "signature": GOOD_RECORD}, b"")])
def test_malformed_signed_messages_are_permanent_errors(value):
    with pytest.raises(PermanentError):
        parse_signed(value, max_terms=10)
    if b"\t" not in value or b'"values": "00"' not in value:  # the trends agent reads no signature
        with pytest.raises(PermanentError):
            signed_terms(value, max_terms=10)


def test_a_new_story_is_one_journal_write_and_its_first_article_is_restored():
    clock = [1000.0]
    journal = RecordingJournal()
    live = StoryIndex(journal=journal, clock=lambda: clock[0])
    first = live.assign_signature("orig", "a.example", sig_of(FIXTURE_TITLE, FIXTURE_BODY))
    assert len(journal.stories) == 1 and journal.articles == {}  # the record names its first article

    restored = StoryIndex(journal=RecordingJournal(), clock=lambda: clock[0])
    restored.restore(journal.stories.values(), journal.articles.items())
    again = restored.assign_signature("orig", "a.example", sig_of(FIXTURE_TITLE, "another text entirely " * 9))
    assert (again.story_id, again.first, again.sources) == (first.story_id, True, 1)  # a re-delivery, not new


class CountingJournal(RecordingJournal):
    def __init__(self):
        super().__init__()
        self.story_writes = 0

    def story_saved(self, story_id, record):
        self.story_writes += 1
        super().story_saved(story_id, record)


def test_a_story_record_is_rewritten_for_a_new_source_or_a_much_later_last_seen():
    clock = [1000.0]
    journal = CountingJournal()
    index = StoryIndex(journal=journal, clock=lambda: clock[0], max_age_s=6400)
    sig = sig_of(FIXTURE_TITLE, FIXTURE_BODY)
    index.assign_signature("orig", "a.example", sig)
    index.assign_signature("copy-1", "a.example", sig)  # same source, a moment later: its id only
    assert journal.story_writes == 1 and journal.articles == {"copy-1": sig.story_id()}
    index.assign_signature("copy-2", "b.example", sig)  # a new source: the count must survive a restart
    assert journal.story_writes == 2
    clock[0] += 6400 * LAST_SEEN_PERSIST_SHARE + 1
    index.assign_signature("copy-3", "a.example", sig)  # last_seen moved far enough to be stored
    assert journal.story_writes == 3

    restored = StoryIndex(journal=RecordingJournal(), clock=lambda: clock[0], max_age_s=6400)
    restored.restore(journal.stories.values(), journal.articles.items())
    assert restored.stories[sig.story_id()].last_seen == clock[0]
    assert restored.assign_signature("copy-4", "b.example", sig).sources == 2


def test_signed_batches_are_bounded_and_split_back_into_articles():
    from processors.agents.story import join_signed, signed_batches, split_signed

    lines = [b'{"n":%d,"pad":"%s"}' % (i, b"x" * 300) for i in range(50)]
    batches = signed_batches(lines, max_bytes=2000)
    assert [i for batch in batches for i in batch] == list(range(50))  # every line once, in order
    assert all(len(join_signed([lines[i] for i in b])) <= 2000 for b in batches)
    assert [line for b in batches for line in split_signed(join_signed([lines[i] for i in b]))] == lines
    huge = b'{"pad":"' + b"y" * 5000 + b'"}'
    assert signed_batches([lines[0], huge, lines[1]], max_bytes=2000) == [[0], [1], [2]]  # too big: alone


def test_a_single_signed_article_is_a_batch_of_one():
    from processors.agents.story import split_signed

    one = b'{"source":"a","signature":{},"article":{"id":"x","text":"line one\\nline two"}}'
    assert split_signed(one) == [one]  # an escaped newline inside JSON is not a separator
    assert split_signed(b"") == [b""]  # parse_signed then names the problem
