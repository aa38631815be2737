from processors.enrich.text import Analysis, clean, fold, scan, tokenize


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
