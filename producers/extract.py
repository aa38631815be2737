"""Article page bytes -> main text, with trafilatura. Runs in a child process
(producers.isolation.BoundedExtractor): lxml and trafilatura's heuristics on
hostile HTML are bounded there in time and memory, not here.

trafilatura is imported lazily so that the feed-parsing workers, which import
this module only for its exception, never load it. It is only given bytes: it
never fetches anything itself (its download helpers are not used).
"""

from __future__ import annotations

from functools import lru_cache

from producers.text import collapse_whitespace

# Bound on the extracted text kept (as for feed text in producers.normalise).
MAX_TEXT_CHARS = 200_000
# lxml tree size above which trafilatura gives up (its own guard against huge pages).
MAX_TREE_SIZE = 200_000


class NoMainText(Exception):
    """The page has no main text trafilatura could find (or is not HTML)."""


def preload() -> None:
    """Import trafilatura now, so that the first extraction's deadline does not pay for it."""
    _config()


@lru_cache(maxsize=1)
def _config():
    from trafilatura.settings import use_config

    config = use_config()  # a copy of trafilatura's defaults
    config.set("DEFAULT", "MAX_TREE_SIZE", str(MAX_TREE_SIZE))
    return config


def main_text(html: bytes, *, url: str) -> str:
    """The readable main text of an article page: paragraphs separated by a blank
    line, boilerplate (navigation, comments, footers) left out. Raises NoMainText
    when nothing usable is found."""
    import trafilatura

    if not html or not html.strip():
        raise NoMainText("empty page")
    extracted = trafilatura.extract(
        html,
        url=url,
        output_format="txt",
        include_comments=False,  # readers' comments are not the article
        include_tables=True,
        include_images=False,
        include_links=False,
        favor_precision=True,  # a shorter clean text beats boilerplate in the index
        deduplicate=False,
        with_metadata=False,
        config=_config(),
    )
    text = collapse_whitespace(_as_paragraphs(extracted or ""))[:MAX_TEXT_CHARS]
    if not text:
        raise NoMainText("no main text found in the page")
    return text


def _as_paragraphs(text: str) -> str:
    # trafilatura's txt output has one paragraph per line; our texts separate
    # paragraphs with a blank line (as producers.text.html_to_text does).
    return "\n\n".join(line for line in text.splitlines() if line.strip())
