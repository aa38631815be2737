import subprocess
import sys

import pytest

from processors.enrich.text import _JUNK_RE, Analysis, clean, fold, fold_tokens, scan, tokenize


def test_fold_strips_latin_accents_and_case_only():
    assert fold("Nicolás MADURO Ángel") == "nicolas maduro angel"
    assert fold("नेपाल") == "नेपाल"  # Devanagari vowel signs are kept
    assert fold("한국어") == "한국어"  # Hangul is recomposed, not left as jamo


def test_tokenize_keeps_indic_words_whole_and_splits_possessives():
    assert tokenize("छन् नेपाल") == ["छन्", "नेपाल"]
    assert tokenize("López’s wife") == ["lopez", "s", "wife"]


def test_scan_marks_phrase_breaks_at_punctuation_and_lines():
    assert scan("armed forces. Next (GNB)\nline") == ["armed", "forces", "", "Next", "", "GNB", "", "line", ""]


def test_analysis_survives_junk_and_bounds_length():
    analysis = Analysis.of("\x00\x01", "\ud800" + "a" * 200_000)
    assert len(analysis.body) <= 60_000
    assert clean("a\x00b") == "a b"
    assert analysis.words  # the long run of letters is still a word


@pytest.mark.parametrize("text", ["plain ascii", "café £5 “quoted”", "a\x00b", "tab\tand\nnewline\r\n",
                                  "bell\x07", "del\x7f", "bad\ufffdbyte", "lone\ud800surrogate", "\x1f",
                                  "नेपाल\x0b", "\u2028line sep\x85"])
def test_clean_replaces_exactly_what_the_junk_pattern_matches(text):
    """clean() skips the regex when a byte-level check finds nothing: the result must not change."""
    assert clean(text) == _JUNK_RE.sub(" ", text)


def test_scan_gives_the_same_pieces_for_a_token_seen_before():
    """Tokens with inner punctuation are split once and remembered; the breaks still depend on context."""
    text = "The U.S. army, the U.S. navy and López’s U.S.-made jets."
    first, second = scan(text), scan(text)
    assert first == second == ["The", "U", "", "S", "", "army", "", "the", "U", "", "S", "", "navy", "and",
                               "López", "", "s", "U", "", "S", "", "made", "jets", ""]
    assert scan("“U.S.") == ["U", "", "S", ""]  # no break before the first word


def test_scan_keeps_very_long_tokens_whole():
    token = "a-" * 5000 + "b"
    assert scan(token) == ["a"] * 5000 + ["b", ""]


def test_folded_body_is_the_body_tokens_joined():
    analysis = Analysis.of("Title", "Nicolás MADURO said: “Yes.”\nÁngel López’s car, U.S.-made.")
    assert analysis.folded_body.split("\x01") == analysis.body_tokens
    assert analysis.body_tokens == fold_tokens(analysis.body_surfaces)
    assert "nicolas" in analysis.body_tokens and "angel" in analysis.body_tokens
    assert Analysis.of("", "").folded_body == ""


# --- the tokeniser's C loop (_ctext.c) against its Python reference -----------

_SCAN_ALPHABET = (
    "abcXYZ019_" "áÁñçøßİı" "’'‘`s S" ".,;:!?()[]{}\"“”„«»|/\\•·—–…" "*#@&%+=<>~^$€£-" "\t\r\n \xa0\u2028\x85\u3000"
    "नेपालछन्" "\u0301\u0670" "ไทย" "中文" "١٢" "😀" "\U0001d400"
)


def _random_texts(count: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words = ["".join(rng.choice(_SCAN_ALPHABET) for _ in range(rng.randint(1, 9))) for _ in range(rng.randint(0, 40))]
        texts.append(rng.choice([" ", "", "\n"]).join(words) + rng.choice(["", "'s", "’S", "\n", "."]))
    return texts + ["", " ", "\n", "\n\n", "—", "...", "a", "'s", "x's", "U.S.-made", "a" * 100 + ".b" * 40]


def _scan_c():
    from processors.enrich.text import scan_c

    from .conftest import native

    return native(scan_c)


def test_scan_in_c_gives_the_python_tokens_on_random_text():
    from processors.enrich.text import scan_python

    scan_c = _scan_c()
    for text in _random_texts(3000, seed=7):
        assert scan_c(text) == scan_python(text), repr(text)


def test_scan_in_c_gives_the_python_tokens_on_the_corpus():
    """Real text in many scripts: the multilingual set and the real-world feeds, as files."""
    from processors.enrich.text import scan_python

    from .conftest import corpus_path

    scan_c = _scan_c()
    checked = 0
    for folder in ("news-multilingual", "feeds-realworld", "news-labeled/bbc-dev/business"):
        for path in sorted(corpus_path(*folder.split("/")).rglob("*")):
            if path.is_file() and path.stat().st_size < 2_000_000:
                text = path.read_bytes().decode("utf-8", "replace")
                assert scan_c(text) == scan_python(text), path
                checked += 1
    assert checked > 100


def test_scan_in_c_refuses_what_is_not_text():
    with pytest.raises(TypeError, match="takes a str"):
        _scan_c()(b"bytes")


def test_folding_in_c_gives_the_python_tokens():
    from processors.enrich.text import _fold_joined_python, fold_joined_c, scan_python

    from .conftest import native

    native(fold_joined_c)
    for text in _random_texts(3000, seed=9) + ["ÀÉÎÕÜ Ñandú İstanbul ǅemal ΣΊΣΥΦΟΣ Straße ﬁne ǈ"]:
        tokens = scan_python(text)
        assert fold_joined_c(tokens) == _fold_joined_python(tokens), repr(text)


def test_scan_and_folding_in_c_hand_out_one_str_per_word():
    """The steps' dict lookups find a word by identity: the same word from two articles,
    whatever the width of their text, and its folded form from any casing, is one object."""
    from processors.enrich.text import fold_tokens

    scan_c = _scan_c()
    ascii_tokens = scan_c("Maduro met the GUARD. Maduro left.")
    wide_tokens = scan_c("Maduro 中文 guard Ω")  # a 2-byte-wide text: read from another layout
    assert ascii_tokens[0] is ascii_tokens[5] is wide_tokens[0]
    folded = fold_tokens(["Guard", "GUARD"]) + fold_tokens(wide_tokens)
    assert folded[0] is folded[1] is wide_tokens[2]
    long_word = "x" * 65  # junk-sized tokens are not kept
    assert scan_c(long_word)[0] is not scan_c(long_word)[0]


def test_the_shared_words_are_bounded():
    """Once the table is full, new words get a str of their own and the words shared
    so far stay shared. In a process of its own: the table lives as long as the process."""
    _scan_c()
    script = """
from processors.enrich._ctext import scan, shared_words
first = scan("earlyword")[0]
for start in range(0, 400_000, 50_000):
    scan(" ".join(f"w{i}" for i in range(start, start + 50_000)))
full = shared_words()
assert full == 1 << 18, full
assert scan("earlyword")[0] is first
assert scan("lateword")[0] is not scan("lateword")[0]
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
