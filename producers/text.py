"""HTML to clean text, and canonical URLs: the pure helpers of normalisation."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

# Tags whose content is never text a reader sees.
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title", "svg", "math", "object", "iframe"})
# Tags that end a paragraph: they become a paragraph break in the text.
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption", "figure",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
    "ol", "p", "pre", "section", "table", "tr", "ul", "td", "th", "caption", "details", "summary",
})
_VOID_SKIPPED = frozenset({"br"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")

# Upper bound on the HTML we turn into text: beyond this a field is cut, so that a
# hostile entry cannot make the parser work for ever.
MAX_HTML_CHARS = 2_000_000


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIPPED_TAGS:
            self.skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag == "br":
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs) -> None:
        # <br/>, <hr/>, <img/>: never opens a skipped region.
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(data)


def html_to_text(html: str | None) -> str:
    """Readable text of an HTML fragment: block elements become paragraph breaks,
    scripts and styles are dropped, entities decoded, whitespace collapsed."""
    if not html:
        return ""
    parser = _TextExtractor()
    try:
        parser.feed(html[:MAX_HTML_CHARS])
        parser.close()
    except Exception:  # html.parser raises on very broken markup in rare cases
        return collapse_whitespace(re.sub(r"<[^>]*>", " ", html[:MAX_HTML_CHARS]))
    return collapse_whitespace("".join(parser.parts))


def collapse_whitespace(text: str) -> str:
    paragraphs = []
    for block in _BLANK_LINES.split(text.replace("\r\n", "\n")):
        lines = [_SPACES.sub(" ", line).strip() for line in block.split("\n")]
        joined = "\n".join(line for line in lines if line)
        if joined:
            paragraphs.append(joined)
    return "\n\n".join(paragraphs)


# Query parameters that only track the reader: removed so that one article has one URL.
_TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "mc_cid", "mc_eid", "igshid",
    "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id",
    "wickedid", "twclid", "ttclid", "li_fat_id", "s_cid", "cmpid", "__twitter_impression",
    "ncid", "ocid", "at_medium", "at_campaign", "at_link_id", "at_link_origin", "at_link_type", "at_format",
    "at_ptr_name", "at_bbc_team", "at_custom1", "at_custom2", "at_custom3", "at_custom4",
})
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BadURL(ValueError):
    """A link that cannot be an article URL (not http/https, no host)."""


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def canonical_url(link: str, base: str | None = None) -> str:
    """The one URL of an article: resolved against ``base``, http/https only,
    scheme and host lowercased, default port, fragment and tracking parameters removed."""
    link = (link or "").strip()
    if not link:
        raise BadURL("empty link")
    absolute = urljoin(base, link) if base else link
    try:
        parts = urlsplit(absolute)
        port = parts.port
    except ValueError as exc:
        raise BadURL(f"unparseable link {link[:200]!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise BadURL(f"not an http(s) link: {link[:200]!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BadURL(f"link without a host: {link[:200]!r}")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}{':' + parts.password if parts.password else ''}@{netloc}"
    # Filter the raw pieces rather than re-encode them: the other parameters keep
    # their exact spelling, so the id of an untracked URL never changes.
    kept = [piece for piece in parts.query.split("&") if piece and not is_tracking_param(unquote_plus(piece.split("=", 1)[0]))]
    query = "&".join(kept)
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, query, ""))


def domain_of(url: str) -> str:
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host
