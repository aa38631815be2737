"""The story step as the story agent runs it: signed messages, the journal, and a
rebuild from stored records (what a restart or a new owner does)."""

import json

import pytest

from processors.agents.failures import PermanentError
from processors.agents.story import parse_signed, signed_message, with_story
from processors.enrich.story import StoryIndex, StoryJournal, signature, signature_from_record, signature_to_record
from processors.enrich.text import Analysis
from wirewatch.schema import Article, Enrichment

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


@pytest.mark.parametrize("record", [None, [], {"values": [1, 2]}, {"values": ["x"] * 64, "exact": ""},
                                    {"values": [], "exact": ""}, {"values": [], "exact": "../../etc"}])
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


def test_signed_message_round_trip_sets_story_fields():
    art = article("orig", FIXTURE_TITLE, FIXTURE_BODY).model_copy(update={"enrichment": Enrichment(language="en")})
    sig = sig_of(FIXTURE_TITLE, FIXTURE_BODY)
    parsed, source, parsed_sig = parse_signed(signed_message(art.to_json(), "a.example", sig))
    assert (parsed["id"], source, parsed_sig) == ("orig", "a.example", sig)
    index = StoryIndex()
    out = Article.from_json(with_story(parsed, index.assign_signature(parsed["id"], source, parsed_sig)))
    assert out.enrichment.story_id == sig.story_id() and out.enrichment.story_first
    assert out.title == art.title and out.enrichment.language == "en"


@pytest.mark.parametrize("value", [b"\x00not json", b"[]", b'{"article": {"id": "x"}, "source": "s"}',
                                   b'{"article": {"id": "x", "enrichment": {}}, "source": "s", "signature": {}}'])
def test_malformed_signed_messages_are_permanent_errors(value):
    with pytest.raises(PermanentError):
        parse_signed(value)


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
