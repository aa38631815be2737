/* The enrichment's hot loops in C, each with the same results as its
 * Python reference (which runs where this module was not built):
 *
 * - scan(text): processors.enrich.text.scan_python. The Python version walks
 *   ~600 tokens of a 3 KB article in a Python loop; this walks the characters
 *   once. Keep in step with text.py: _BREAK_CHARS, _EDGE_CHARS, _MARKS, _PIECE_RE.
 * - keyword_counts(body, title, codes, with_capitals, title_weight): processors.
 *   enrich.keywords.counts_python, the candidate keys of an article counted:
 *   its runs_python finds runs with string operations over all the codes
 *   joined; this reads the codes token by token and counts each run as it is
 *   found. Keep in step with the code characters of keywords.py (_CUT, _BREAK,
 *   _SEP, _CAP_SEP, _MAYBE, _ALTERED, _FOLD).
 *
 * - keyword_scores(keys, counts, capitalised, spec, log_table): keywords.
 *   scores_python, the same floats bit for bit: the same operations in the same
 *   order, and log(count) read from a table numpy computed (built with
 *   -ffp-contract=off, so no fused multiply-add changes a rounding).
 *
 * - fold_joined(tokens, fold_word): text._fold_joined_python; ASCII tokens are
 *   lowercased here (a lowercase one is kept as it is), others go to str.lower
 *   and, when still not ASCII, to fold_word.
 *
 * - shared_counts(packed, candidates): how many 8-byte words each candidate shares
 *   with `packed`, min-hashes as story.Signature.packed holds them
 *   (story._shared_counts_python): the story index compares an article's
 *   min-hashes with dozens of stories' per article.
 *
 * - word_hits(tokens, term_words, by_first_word) and term_contributions(...):
 *   processors.enrich.topics, the topic terms found in an article and each
 *   topic's contributions, by value then term.
 *
 * - language_votes(sample, votes, languages): processors.enrich.language.
 *   votes_python, the function-word vote of the language step.
 *
 * - mention_counts(text, skipped): processors.enrich.entities._mentions_python,
 *   the entity step's capitalised sequences counted in one forward walk.
 *
 * scan() and fold_joined() return one shared str per distinct word (see "the
 * shared words" below): equal to the Python results, and faster to look up.
 *
 * tests/unit/enrich/test_text.py, test_keywords.py and test_story.py check both agree.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* text.py _BREAK_CHARS: punctuation that ends a phrase. */
static int is_break(Py_UCS4 c)
{
    switch (c) {
    case '.': case ',': case ';': case ':': case '!': case '?':
    case '(': case ')': case '[': case ']': case '{': case '}':
    case '"': case '|': case '/': case '\\':
    case 0x201C: case 0x201D: case 0x201E:   /* “ ” „ */
    case 0x00AB: case 0x00BB:                 /* « » */
    case 0x2022: case 0x00B7:                 /* • · */
    case 0x2014: case 0x2013: case 0x2026:   /* — – … */
        return 1;
    default:
        return 0;
    }
}

/* text.py _EDGE_CHARS: _BREAK_CHARS plus what is stripped from a word's edges. */
static int is_edge(Py_UCS4 c)
{
    if (is_break(c))
        return 1;
    switch (c) {
    case '\'': case 0x2019: case 0x2018: case '`': case '*': case '#': case '@':
    case '&': case '%': case '+': case '=': case '<': case '>': case '~': case '^':
    case '$': case 0x20AC: case 0x00A3: case '-': case '_':   /* € £ */
        return 1;
    default:
        return 0;
    }
}

/* text.py _MARKS: combining marks inside words of Indic, Thai, Myanmar, Hebrew and Arabic text. */
static int is_mark(Py_UCS4 c)
{
    return (c >= 0x0300 && c <= 0x036F) || (c >= 0x0591 && c <= 0x05C7) || (c >= 0x064B && c <= 0x065F) ||
           c == 0x0670 || (c >= 0x0900 && c <= 0x0963) || (c >= 0x0966 && c <= 0x0DFF) ||
           (c >= 0x0E00 && c <= 0x0EFF) || (c >= 0x1000 && c <= 0x109F);
}

/* str.isalnum() of one character; ASCII from a table (most news text is mostly ASCII). */
static inline int is_alnum(Py_UCS4 c)
{
    if (c < 128)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    return Py_UNICODE_ISALNUM(c);
}

/* ---- the shared words ------------------------------------------------------ */

/* scan() and fold_joined() hand out one str object per distinct word, the same
 * from article to article, instead of a new one per token: every later lookup
 * of a word in the steps' large dicts (token codes, lexicons, document
 * frequencies) then finds its key by identity, with the hash cached in the
 * object, instead of comparing two strings whose memory has left the CPU
 * cache (~10% of the chain). Bounded: once half full, a new word gets a str of
 * its own (clearing would cost more: the steps' dicts keep the old objects as
 * their keys, and would never be matched by identity again). */
#define WORD_TABLE_SIZE (1 << 19)
#define WORD_TABLE_MAX (WORD_TABLE_SIZE / 2)
#define MAX_SHARED_WORD 64   /* longer tokens (junk, URLs) get a str of their own */

typedef struct {
    uint64_t hash;
    PyObject *word;
} WordSlot;

static WordSlot *word_table;
static Py_ssize_t word_count;

/* FNV-1a over the code points: the same for a word whatever the width of the str it is read from. */
static uint64_t span_hash(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    uint64_t h = 1469598103934665603ULL;
    for (Py_ssize_t i = start; i < end; i++) {
        h ^= PyUnicode_READ(kind, data, i);
        h *= 1099511628211ULL;
    }
    return h;
}

static int same_chars(PyObject *word, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    Py_ssize_t n = end - start;
    if (PyUnicode_GET_LENGTH(word) != n)
        return 0;
    int word_kind = PyUnicode_KIND(word);
    const void *word_data = PyUnicode_DATA(word);
    if (word_kind == kind)
        return memcmp(word_data, (const char *)data + start * kind, (size_t)(n * kind)) == 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ(word_kind, word_data, i) != PyUnicode_READ(kind, data, start + i))
            return 0;
    return 1;
}

/* A new reference to the shared str of the characters data[start:end] (of a str of this kind). */
static PyObject *shared_word(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    if (end - start > MAX_SHARED_WORD)
        return PyUnicode_FromKindAndData(kind, (const char *)data + start * kind, end - start);
    if (word_table == NULL) {
        word_table = PyMem_Calloc(WORD_TABLE_SIZE, sizeof(WordSlot));
        if (word_table == NULL)
            return PyErr_NoMemory();
    }
    uint64_t h = span_hash(kind, data, start, end);
    size_t mask = WORD_TABLE_SIZE - 1, at = (size_t)h & mask;
    for (; word_table[at].word != NULL; at = (at + 1) & mask)
        if (word_table[at].hash == h && same_chars(word_table[at].word, kind, data, start, end)) {
            Py_INCREF(word_table[at].word);
            return word_table[at].word;
        }
    PyObject *word = PyUnicode_FromKindAndData(kind, (const char *)data + start * kind, end - start);   /* narrowest form */
    if (word == NULL || word_count >= WORD_TABLE_MAX)
        return word;
    word_table[at].hash = h;
    word_table[at].word = word;
    word_count++;
    Py_INCREF(word);
    return word;
}

static PyObject *shared_words(PyObject *module, PyObject *unused)
{
    return PyLong_FromSsize_t(word_count);
}

/* A character of _PIECE_RE's word group, [\w{_MARKS}]: re's \w is alnum or "_". */
static int is_piece_word(Py_UCS4 c)
{
    return is_alnum(c) || c == '_' || is_mark(c);
}

typedef struct {
    PyObject *out;
    PyObject *text;
    PyObject *empty;
    int last_is_word;   /* out is not empty and its last item is a word, not a break */
} Scan;

static int add_word(Scan *s, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *word = shared_word(PyUnicode_KIND(s->text), PyUnicode_DATA(s->text), start, end);
    if (word == NULL)
        return -1;
    int rc = PyList_Append(s->out, word);
    Py_DECREF(word);
    s->last_is_word = 1;
    return rc;
}

/* A break, unless the list is empty or already ends with one. */
static int add_break(Scan *s)
{
    if (!s->last_is_word)
        return 0;
    s->last_is_word = 0;
    return PyList_Append(s->out, s->empty);
}

static int all_alnum(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    if (start >= end)
        return 0;
    for (Py_ssize_t i = start; i < end; i++)
        if (!is_alnum(PyUnicode_READ(kind, data, i)))
            return 0;
    return 1;
}

/* _PIECE_RE.findall(token): each word group as a word, each break group as a break. */
static int add_pieces(Scan *s, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    Py_ssize_t j = start;
    while (j < end) {
        Py_UCS4 c = PyUnicode_READ(kind, data, j);
        if (is_piece_word(c)) {
            Py_ssize_t k = j + 1;
            while (k < end && is_piece_word(PyUnicode_READ(kind, data, k)))
                k++;
            if (add_word(s, j, k) < 0)
                return -1;
            j = k;
            continue;
        }
        /* ['’](?=[sS]$): an apostrophe before a final s ("López’s") */
        int apostrophe_s = (c == '\'' || c == 0x2019) && j + 2 == end &&
                           (PyUnicode_READ(kind, data, j + 1) == 's' || PyUnicode_READ(kind, data, j + 1) == 'S');
        if ((is_break(c) || apostrophe_s) && add_break(s) < 0)
            return -1;
        j++;
    }
    return 0;
}

static int add_token(Scan *s, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    if (all_alnum(kind, data, start, end))
        return add_word(s, start, end);
    Py_ssize_t cs = start, ce = end;
    while (cs < ce && is_edge(PyUnicode_READ(kind, data, cs)))
        cs++;
    while (ce > cs && is_edge(PyUnicode_READ(kind, data, ce - 1)))
        ce--;
    if (all_alnum(kind, data, cs, ce)) {   /* "forces," / "(GNB)": punctuation only at the edges */
        if (is_break(PyUnicode_READ(kind, data, start)) && add_break(s) < 0)
            return -1;
        if (add_word(s, cs, ce) < 0)
            return -1;
        if (is_break(PyUnicode_READ(kind, data, end - 1)))
            return add_break(s);
        return 0;
    }
    return add_pieces(s, kind, data, start, end);
}

static PyObject *scan(PyObject *module, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "scan() takes a str, not %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    if (PyUnicode_READY(text) < 0)
        return NULL;
    Scan s = {PyList_New(0), text, PyUnicode_FromStringAndSize("", 0), 0};
    if (s.out == NULL || s.empty == NULL)
        goto fail;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t i = 0;
    /* Lines end at "\n" only (text.split("\n")); tokens at any whitespace (str.split()). */
    while (i <= n) {
        Py_ssize_t line_end = i;
        while (line_end < n && PyUnicode_READ(kind, data, line_end) != '\n')
            line_end++;
        while (i < line_end) {
            while (i < line_end && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)))
                i++;
            if (i >= line_end)
                break;
            Py_ssize_t start = i;
            while (i < line_end && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)))
                i++;
            if (add_token(&s, kind, data, start, i) < 0)
                goto fail;
        }
        if (add_break(&s) < 0)
            goto fail;
        i = line_end + 1;
    }
    Py_DECREF(s.empty);
    return s.out;
fail:
    Py_XDECREF(s.out);
    Py_XDECREF(s.empty);
    return NULL;
}


/* ---- keyword_counts -------------------------------------------------------- */

#define SEP 0x04
#define CAP_SEP 0x05
#define MAYBE 0x06
#define ALTERED 0x07
#define FOLD 0x08
#define MAX_LOWERCASE_WORDS 3   /* keywords.MAX_LOWERCASE_PHRASE_WORDS */
#define MAX_NAME_WORDS 4        /* keywords.MAX_PHRASE_WORDS */

typedef struct {
    PyObject *code;                 /* borrowed from `held` */
    Py_ssize_t key_start, key_end;  /* the folded word in code */
    Py_ssize_t written_start, written_end;
    int altered;                    /* written differs from key */
    int capital;
} Word;

/* The exact widest character of code[start:end] (a str must be in its narrowest form). */
static Py_UCS4 max_char(PyObject *code, Py_ssize_t start, Py_ssize_t end)
{
    if (PyUnicode_IS_ASCII(code))
        return 0x7F;
    int kind = PyUnicode_KIND(code);
    const void *data = PyUnicode_DATA(code);
    Py_UCS4 top = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c > top)
            top = c;
    }
    return top;
}

/* The words[0:n] joined by SEP: their keys, or how they were written. */
static PyObject *join_words(Word *words, Py_ssize_t n, int written)
{
    if (n == 1) {
        Word *w = &words[0];
        return written ? PyUnicode_Substring(w->code, w->written_start, w->written_end)
                       : shared_word(PyUnicode_KIND(w->code), PyUnicode_DATA(w->code), w->key_start, w->key_end);
    }
    Py_ssize_t length = n - 1;
    Py_UCS4 top = SEP;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t a = written ? words[i].written_start : words[i].key_start;
        Py_ssize_t b = written ? words[i].written_end : words[i].key_end;
        length += b - a;
        Py_UCS4 m = max_char(words[i].code, a, b);
        if (m > top)
            top = m;
    }
    PyObject *out = PyUnicode_New(length, top);
    if (out == NULL)
        return NULL;
    /* Character by character: PyUnicode_CopyCharacters refuses to copy the ASCII part
     * of a Latin-1 string into an ASCII one. */
    int out_kind = PyUnicode_KIND(out);
    void *out_data = PyUnicode_DATA(out);
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t a = written ? words[i].written_start : words[i].key_start;
        Py_ssize_t b = written ? words[i].written_end : words[i].key_end;
        int kind = PyUnicode_KIND(words[i].code);
        const void *data = PyUnicode_DATA(words[i].code);
        if (i > 0)
            PyUnicode_WRITE(out_kind, out_data, at++, SEP);
        for (Py_ssize_t j = a; j < b; j++)
            PyUnicode_WRITE(out_kind, out_data, at++, PyUnicode_READ(kind, data, j));
    }
    return out;
}

typedef struct {
    PyObject *counts;        /* key -> count, in order of first occurrence */
    PyObject *written;       /* key -> how its first occurrence was written, when not as its key */
    PyObject *capitalised;   /* the keys first seen capitalised; NULL without capitals */
    PyObject *weight;        /* what one occurrence adds, in the stream being read */
} Runs;

/* One occurrence of a candidate key. */
static int emit(Runs *r, Word *words, Py_ssize_t n, int capital)
{
    PyObject *key = join_words(words, n, 0);
    if (key == NULL)
        return -1;
    int rc;
    PyObject *seen = PyDict_GetItemWithError(r->counts, key);   /* borrowed */
    if (seen != NULL) {
        PyObject *sum = PyNumber_Add(seen, r->weight);
        rc = sum == NULL ? -1 : PyDict_SetItem(r->counts, key, sum);
        Py_XDECREF(sum);
    } else if (PyErr_Occurred()) {
        rc = -1;
    } else {
        rc = PyDict_SetItem(r->counts, key, r->weight);
        int altered = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            altered |= words[i].altered;
        if (rc == 0 && altered) {
            PyObject *written = join_words(words, n, 1);
            rc = written == NULL ? -1 : PyDict_SetItem(r->written, key, written);
            Py_XDECREF(written);
        }
        if (rc == 0 && capital && r->capitalised != NULL)
            rc = PySet_Add(r->capitalised, key);
    }
    Py_DECREF(key);
    return rc;
}

/* A run of words of one case; a long one as its 3-word then 2-word pieces (_cut_long_runs). */
static int emit_run(Runs *r, Word *words, Py_ssize_t n)
{
    if (n == 0)
        return 0;
    int capital = words[0].capital;
    if (n <= MAX_LOWERCASE_WORDS || (capital && n <= MAX_NAME_WORDS))
        return emit(r, words, n, capital);
    for (Py_ssize_t k = 3; k >= 2; k--)
        for (Py_ssize_t a = 0; a + k <= n; a++)
            if (emit(r, words + a, k, capital) < 0)
                return -1;
    return 0;
}

/* Parse one word code: [ALTERED|MAYBE] written FOLD folded (SEP|CAP_SEP), or folded SEP. */
static void parse_word(PyObject *code, Word *w, int capital)
{
    int kind = PyUnicode_KIND(code);
    const void *data = PyUnicode_DATA(code);
    Py_ssize_t n = PyUnicode_GET_LENGTH(code);
    Py_UCS4 first = PyUnicode_READ(kind, data, 0);
    w->code = code;
    w->capital = capital;
    if (first == ALTERED || first == MAYBE) {
        Py_ssize_t fold = 1;
        while (fold < n - 1 && PyUnicode_READ(kind, data, fold) != FOLD)
            fold++;
        w->written_start = 1;
        w->written_end = fold;
        w->key_start = fold + 1;
        w->key_end = n - 1;
        w->altered = 1;
    } else {
        w->written_start = w->key_start = 0;
        w->written_end = w->key_end = n - 1;
        w->altered = 0;
    }
}

/* The runs of one token stream, each counted with r->weight. */
static int count_runs(Runs *r, PyObject *surfaces, PyObject *codes, int with_capitals)
{
    Py_ssize_t n = PyList_GET_SIZE(surfaces);
    /* The codes are held here: a lookup that misses may clear the bounded dict. */
    PyObject *held = PyList_New(0);
    Word *words = PyMem_New(Word, n > 0 ? n : 1);
    int rc = -1;
    if (held == NULL || words == NULL) {
        if (words == NULL)
            PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t run_len = 0;
    int after_break = 1;   /* a stream starts like a sentence */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *code = PyObject_GetItem(codes, PyList_GET_ITEM(surfaces, i));   /* __missing__ fills it */
        if (code == NULL)
            goto done;
        int appended = PyList_Append(held, code);
        Py_DECREF(code);
        if (appended < 0)
            goto done;
        if (!PyUnicode_Check(code) || PyUnicode_READY(code) < 0 || PyUnicode_GET_LENGTH(code) == 0) {
            PyErr_SetString(PyExc_TypeError, "a token code must be a non-empty str");
            goto done;
        }
        Py_UCS4 first = PyUnicode_READ_CHAR(code, 0);
        Py_UCS4 last = PyUnicode_READ_CHAR(code, PyUnicode_GET_LENGTH(code) - 1);
        int is_word = (last == SEP || last == CAP_SEP);
        int capital = last == CAP_SEP;
        if (first == MAYBE) {
            capital = !after_break;          /* at a sentence start: a lowercase word */
            is_word = after_break || with_capitals;  /* elsewhere: a capital, or a cut */
        }
        if (!is_word) {
            if (emit_run(r, words, run_len) < 0)
                goto done;
            run_len = 0;
            /* _BREAK is " \\n": a cut that starts a sentence */
            after_break = PyUnicode_GET_LENGTH(code) == 2 && PyUnicode_READ_CHAR(code, 1) == '\n';
            continue;
        }
        after_break = 0;
        Word w;
        parse_word(code, &w, capital);
        if (run_len > 0 && with_capitals && words[run_len - 1].capital != w.capital) {
            if (emit_run(r, words, run_len) < 0)   /* a change of case cuts a run */
                goto done;
            run_len = 0;
        }
        words[run_len++] = w;
    }
    rc = emit_run(r, words, run_len);
done:
    PyMem_Free(words);
    Py_XDECREF(held);
    return rc;
}

static PyObject *keyword_counts(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyList_Check(args[0]) || !PyList_Check(args[1]) || !PyDict_Check(args[2]) ||
        !PyLong_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "keyword_counts(body: list, title: list, codes: dict, with_capitals: bool, title_weight: int)");
        return NULL;
    }
    int with_capitals = PyObject_IsTrue(args[3]);
    if (with_capitals < 0)
        return NULL;
    PyObject *one = PyLong_FromLong(1);
    Runs r = {PyDict_New(), PyDict_New(), with_capitals ? PySet_New(NULL) : NULL, one};
    PyObject *result = NULL;
    if (one == NULL || r.counts == NULL || r.written == NULL || (with_capitals && r.capitalised == NULL))
        goto done;
    if (count_runs(&r, args[0], args[2], with_capitals) < 0)
        goto done;
    r.weight = args[4];   /* a title phrase counts extra */
    if (count_runs(&r, args[1], args[2], with_capitals) < 0)
        goto done;
    result = PyTuple_Pack(3, r.counts, r.written, with_capitals ? r.capitalised : Py_None);
done:
    Py_XDECREF(one);
    Py_XDECREF(r.counts);
    Py_XDECREF(r.written);
    Py_XDECREF(r.capitalised);
    return result;
}

/* ---- keyword_scores -------------------------------------------------------- */

#define MULTIWORD_BONUS 0.35   /* keywords.MULTIWORD_BONUS */
#define NAME_BONUS 1.15        /* keywords.NAME_BONUS */

/* spec[word] as a float (the mapping fills itself on a miss). */
static int spec_of(PyObject *spec, PyObject *word, double *out)
{
    PyObject *value = PyObject_GetItem(spec, word);
    if (value == NULL)
        return -1;
    *out = PyFloat_AsDouble(value);
    Py_DECREF(value);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* numpy's pairwise summation (DOUBLE_pairwise_sum). */
static double pairwise_sum(const double *a, Py_ssize_t n)
{
    double res = 0.;
    if (n > 128) {   /* numpy's PW_BLOCKSIZE */
        Py_ssize_t n2 = n / 2;
        n2 -= n2 % 8;
        return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
    }
    if (n < 8) {
        for (Py_ssize_t i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    double r[8];
    for (int k = 0; k < 8; k++)
        r[k] = a[k];
    Py_ssize_t i;
    for (i = 8; i < n - (n % 8); i += 8)
        for (int k = 0; k < 8; k++)
            r[k] += a[i + k];
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++)
        res += a[i];
    return res;
}

/* np.add.reduceat over one segment: its first value, plus the pairwise sum of the rest. */
static double reduceat_sum(const double *a, Py_ssize_t n)
{
    return n == 1 ? a[0] : a[0] + pairwise_sum(a + 1, n - 1);
}

#define STACK_WORDS 64   /* a longer key (a name of 64 words?) gets a buffer of its own */

static PyObject *keyword_scores(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyList_Check(args[0]) || !PyList_Check(args[1]) || !PyAnySet_Check(args[2]) ||
        !PyList_Check(args[4]) || PyList_GET_SIZE(args[0]) != PyList_GET_SIZE(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "keyword_scores(keys: list, counts: list of the same length, capitalised: set, spec, log_table: list)");
        return NULL;
    }
    PyObject *keys = args[0], *counts = args[1], *capitalised = args[2], *spec = args[3], *log_table = args[4];
    Py_ssize_t n = PyList_GET_SIZE(keys), table_size = PyList_GET_SIZE(log_table);
    PyObject *scores = PyList_New(n);
    if (scores == NULL)
        return NULL;
    double stack_values[STACK_WORDS];
    double *values = stack_values;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        if (!PyUnicode_Check(key) || PyUnicode_READY(key) < 0) {
            PyErr_SetString(PyExc_TypeError, "a key must be a str");
            goto fail;
        }
        long count = PyLong_AsLong(PyList_GET_ITEM(counts, i));
        if (count == -1 && PyErr_Occurred())
            goto fail;
        int cap = PySet_Contains(capitalised, key);
        if (cap < 0)
            goto fail;
        /* The mean specificity of the key's words. */
        int kind = PyUnicode_KIND(key);
        const void *data = PyUnicode_DATA(key);
        Py_ssize_t length = PyUnicode_GET_LENGTH(key), start = 0, words = 0, separators = 0;
        for (Py_ssize_t j = 0; j < length; j++)
            separators += PyUnicode_READ(kind, data, j) == SEP;
        if (separators >= STACK_WORDS && (values = PyMem_New(double, separators + 1)) == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        for (Py_ssize_t j = 0; j <= length; j++) {
            if (j < length && PyUnicode_READ(kind, data, j) != SEP)
                continue;
            double value;
            if (start == 0 && j == length) {
                if (spec_of(spec, key, &value) < 0)
                    goto fail;
            } else {
                PyObject *word = shared_word(kind, data, start, j);
                if (word == NULL)
                    goto fail;
                int rc = spec_of(spec, word, &value);
                Py_DECREF(word);
                if (rc < 0)
                    goto fail;
            }
            values[words++] = value;
            start = j + 1;
        }
        double mean = reduceat_sum(values, words) / (double)words;
        if (values != stack_values) {
            PyMem_Free(values);
            values = stack_values;
        }
        double log_count;
        if (count >= 1 && count <= table_size) {
            log_count = PyFloat_AsDouble(PyList_GET_ITEM(log_table, count - 1));
            if (log_count == -1.0 && PyErr_Occurred())
                goto fail;
        } else {
            log_count = log((double)count);   /* beyond the table: the C library's log */
        }
        double bonus = (count > 1 || cap) ? MULTIWORD_BONUS : MULTIWORD_BONUS / 3;
        double score = (1 + log_count) * mean * (1 + bonus * (double)(words - 1));
        if (cap)
            score *= NAME_BONUS;
        PyObject *item = PyFloat_FromDouble(score);
        if (item == NULL)
            goto fail;
        PyList_SET_ITEM(scores, i, item);
    }
    return scores;
fail:
    if (values != stack_values)
        PyMem_Free(values);
    Py_DECREF(scores);
    return NULL;
}

/* ---- fold_joined --------------------------------------------------------------- */

/* An ASCII token lowercased: itself when it has no capital. */
static PyObject *lower_ascii(PyObject *token)
{
    const Py_UCS1 *data = PyUnicode_1BYTE_DATA(token);
    Py_ssize_t n = PyUnicode_GET_LENGTH(token), i = 0;
    while (i < n && !(data[i] >= 'A' && data[i] <= 'Z'))
        i++;
    if (i == n) {
        Py_INCREF(token);
        return token;
    }
    Py_UCS1 small[MAX_SHARED_WORD];
    Py_UCS1 *to = n <= MAX_SHARED_WORD ? small : PyMem_Malloc(n);
    if (to == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t j = 0; j < n; j++)
        to[j] = (data[j] >= 'A' && data[j] <= 'Z') ? data[j] + 32 : data[j];
    PyObject *out = shared_word(PyUnicode_1BYTE_KIND, to, 0, n);
    if (to != small)
        PyMem_Free(to);
    return out;
}

static PyObject *fold_joined(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(args[0]) || !PyUnicode_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "fold_joined(tokens: list, fold_word, separator: str)");
        return NULL;
    }
    PyObject *tokens = args[0], *fold_word = args[1], *separator = args[2];
    Py_ssize_t n = PyList_GET_SIZE(tokens);
    PyObject *folded = PyList_New(n);
    if (folded == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *token = PyList_GET_ITEM(tokens, i), *out;
        if (!PyUnicode_Check(token) || PyUnicode_READY(token) < 0) {
            PyErr_SetString(PyExc_TypeError, "a token must be a str");
            goto fail;
        }
        if (PyUnicode_IS_ASCII(token)) {
            out = lower_ascii(token);
        } else {
            PyObject *lowered = PyObject_CallMethod(token, "lower", NULL);
            if (lowered == NULL)
                goto fail;
            if (PyUnicode_IS_ASCII(lowered)) {
                out = lowered;
            } else {
                out = PyObject_CallOneArg(fold_word, lowered);
                Py_DECREF(lowered);
            }
        }
        if (out == NULL)
            goto fail;
        PyList_SET_ITEM(folded, i, out);
    }
    PyObject *joined = PyUnicode_Join(separator, folded);
    if (joined == NULL)
        goto fail;
    PyObject *result = PyTuple_Pack(2, folded, joined);
    Py_DECREF(folded);
    Py_DECREF(joined);
    return result;
fail:
    Py_DECREF(folded);
    return NULL;
}

/* ---- shared_counts ---------------------------------------------------------- */

/* How many of the 8-byte words of `packed` each candidate (bytes of the same length) shares. */
static PyObject *shared_counts(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyList_Check(args[1]) || PyBytes_GET_SIZE(args[0]) % 8) {
        PyErr_SetString(PyExc_TypeError, "shared_counts(packed: bytes of uint64, candidates: list of such bytes)");
        return NULL;
    }
    const char *base = PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]), m = PyList_GET_SIZE(args[1]);
    PyObject *out = PyList_New(m);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t c = 0; c < m; c++) {
        PyObject *candidate = PyList_GET_ITEM(args[1], c);
        if (!PyBytes_Check(candidate) || PyBytes_GET_SIZE(candidate) != size) {
            PyErr_SetString(PyExc_TypeError, "a candidate must be bytes of the same length");
            Py_DECREF(out);
            return NULL;
        }
        const char *other = PyBytes_AS_STRING(candidate);
        long shared = 0;
        for (Py_ssize_t i = 0; i < size; i += 8) {
            uint64_t a, b;
            memcpy(&a, base + i, 8);
            memcpy(&b, other + i, 8);
            shared += a == b;
        }
        PyObject *count = PyLong_FromLong(shared);
        if (count == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, c, count);
    }
    return out;
}

/* ---- mention_counts ------------------------------------------------------------ */
/* entities._mentions_python: _MENTION_RE.findall(text) counted, in order of first
 * occurrence, without the mentions of `skipped` sequences right inside parentheses
 * ("Guard (GNB)"). The regex is a possessive grammar: each name word and its
 * following words are decided by looking ahead, never by backtracking, so one
 * forward walk finds the same matches. Keep in step with entities.py: _UPPER,
 * _LETTER, _BLANK, _PARTICLES, _SENTENCE_END, _name_pattern, _in_parentheses. */

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t n;
} Text;

static inline Py_UCS4 char_at(const Text *t, Py_ssize_t i)
{
    return i < t->n ? PyUnicode_READ(t->kind, t->data, i) : 0;
}

/* _UPPER: uppercase letters of Latin, Greek and Cyrillic (U+0041 to U+052F). */
static inline int is_capital(Py_UCS4 c)
{
    if (c < 128)
        return c >= 'A' && c <= 'Z';
    return c < 0x530 && Py_UNICODE_ISUPPER(c) && Py_UNICODE_ISALPHA(c);
}

/* _LETTER, [^\W\d_]: re's \w (alnum or "_") without its \d (decimal) and "_". */
static inline int is_letter(Py_UCS4 c)
{
    if (c < 128)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return Py_UNICODE_ISALNUM(c) && !Py_UNICODE_ISDECIMAL(c);
}

/* _BLANK */
static inline int is_blank(Py_UCS4 c)
{
    return c == ' ' || c == '\t' || c == 0x00A0;
}

/* _SENTENCE_END */
static int is_sentence_end(Py_UCS4 c)
{
    switch (c) {
    case '.': case '!': case '?': case ':': case ';': case '\n': case '"': case '-': case '|': case '(': case '[':
    case 0x201C: case 0x201D: case 0x00AB: case 0x00BB:   /* “ ” « » */
    case 0x2014: case 0x2013: case 0x2022:                 /* — – • */
        return 1;
    default:
        return 0;
    }
}

/* _PARTICLES, in the regex's order: the first one followed by blanks and a capital is taken. */
static const char *const particles[] = {
    "of the", "of", "de la", "de los", "de las", "del", "de", "da", "do", "dos", "das", "van der", "van",
    "von", "der", "bin", "ibn", "al", "el", "la", "le", "du", "des", "y", NULL,
};

/* ASCII characters that start a particle (the regex's lookahead): filled once, with mention_leads. */
static unsigned char particle_initials[128];

/* The end of the run of blanks at i, or i when there is none. */
static inline Py_ssize_t skip_blanks(const Text *t, Py_ssize_t i)
{
    while (i < t->n && is_blank(char_at(t, i)))
        i++;
    return i;
}

/* _NAME_WORD_REST from i: letters, then "-X…", "'X…", "’X…" pieces. */
static Py_ssize_t word_rest_end(const Text *t, Py_ssize_t i)
{
    for (;;) {
        while (i < t->n && is_letter(char_at(t, i)))
            i++;
        Py_UCS4 c = char_at(t, i);
        if ((c == '-' || c == '\'' || c == 0x2019) && is_capital(char_at(t, i + 1)))
            i += 2;
        else
            return i;
    }
}

/* Where the capital of the next name word is, after the blanks at i and maybe a
 * particle ("of the", "de") and blanks, or -1 when no name word follows. */
static Py_ssize_t next_name_word(const Text *t, Py_ssize_t i)
{
    Py_ssize_t at = skip_blanks(t, i);
    if (at == i)
        return -1;
    Py_UCS4 first = char_at(t, at);
    if (is_capital(first))
        return at;
    if (first >= 128 || !particle_initials[first])
        return -1;
    for (const char *const *p = particles; *p; p++) {
        Py_ssize_t j = at;
        const char *c = *p;
        while (*c && char_at(t, j) == (Py_UCS4)(unsigned char)*c)
            j++, c++;
        if (*c)
            continue;
        Py_ssize_t after = skip_blanks(t, j);
        if (after > j && is_capital(char_at(t, after)))
            return after;
    }
    return -1;
}

/* The end of a capitalised sequence whose first capital is at i - 1. */
static Py_ssize_t sequence_end(const Text *t, Py_ssize_t i)
{
    i = word_rest_end(t, i);
    for (Py_ssize_t capital; (capital = next_name_word(t, i)) >= 0;)
        i = word_rest_end(t, capital + 1);
    return i;
}

/* _in_parentheses: "(" and up to two spaces or tabs before the sequence at start, up
 * to two and ")" after its end. */
static int in_parentheses(const Text *t, Py_ssize_t lead, Py_ssize_t start, Py_ssize_t end)
{
    if (char_at(t, lead) != '(' || start - lead - 1 > 2)
        return 0;
    for (Py_ssize_t i = lead + 1; i < start; i++)
        if (char_at(t, i) == 0x00A0)
            return 0;
    for (int k = 0; k < 2 && (char_at(t, end) == ' ' || char_at(t, end) == '\t'); k++)
        end++;
    return char_at(t, end) == ')';
}

/* Characters below 256 that may start a mention: a capital or a sentence end (filled once). */
static unsigned char mention_leads[256];

static void fill_tables(void)
{
    for (Py_UCS4 c = 0; c < 256; c++)
        mention_leads[c] = is_capital(c) || is_sentence_end(c);
    for (const char *const *p = particles; *p; p++)
        particle_initials[(unsigned char)**p] = 1;
}

static inline int is_mention_lead(Py_UCS4 c)
{
    return c < 256 ? mention_leads[c] : is_capital(c) || is_sentence_end(c);
}

/* The first character at or after i that may start a mention, or the text's length:
 * most characters cannot, and are read here without PyUnicode_READ's switch on the kind. */
static Py_ssize_t next_lead(const Text *t, Py_ssize_t i)
{
    if (t->kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *chars = t->data;
        while (i < t->n && !mention_leads[chars[i]])
            i++;
    } else if (t->kind == PyUnicode_2BYTE_KIND) {
        const Py_UCS2 *chars = t->data;
        while (i < t->n && !is_mention_lead(chars[i]))
            i++;
    } else {
        const Py_UCS4 *chars = t->data;
        while (i < t->n && !is_mention_lead(chars[i]))
            i++;
    }
    return i;
}

static int count_mention(PyObject *counts, PyObject *text, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *mention = PyUnicode_Substring(text, start, end);
    if (mention == NULL)
        return -1;
    PyObject *count = PyDict_GetItemWithError(counts, mention);
    Py_ssize_t before = 0;
    if (count != NULL)
        before = PyLong_AsSsize_t(count);
    else if (PyErr_Occurred())
        goto fail;
    PyObject *after = PyLong_FromSsize_t(before + 1);
    if (after == NULL)
        goto fail;
    int rc = PyDict_SetItem(counts, mention, after);
    Py_DECREF(after);
    Py_DECREF(mention);
    return rc;
fail:
    Py_DECREF(mention);
    return -1;
}

/* Whether the sequence [start, end) is one of `skipped` (a set). */
static int is_skipped(PyObject *skipped, PyObject *text, Py_ssize_t start, Py_ssize_t end)
{
    if (PySet_GET_SIZE(skipped) == 0)
        return 0;
    PyObject *sequence = PyUnicode_Substring(text, start, end);
    if (sequence == NULL)
        return -1;
    int rc = PySet_Contains(skipped, sequence);
    Py_DECREF(sequence);
    return rc;
}

static PyObject *mention_counts(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyAnySet_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "mention_counts(text: str, skipped: set)");
        return NULL;
    }
    PyObject *text = args[0], *skipped = args[1];
    if (PyUnicode_READY(text) < 0)
        return NULL;
    if (!mention_leads['A'])
        fill_tables();
    Text t = {PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)};
    PyObject *counts = PyDict_New();
    if (counts == NULL)
        return NULL;
    Py_ssize_t i = 0;
    while ((i = next_lead(&t, i)) < t.n) {
        Py_UCS4 c = char_at(&t, i);
        Py_ssize_t start;   /* the sequence's first capital: after the sentence end and blanks */
        if (is_capital(c))
            start = i;
        else if (is_sentence_end(c) && is_capital(char_at(&t, start = skip_blanks(&t, i + 1))))
            ;
        else {
            i++;
            continue;
        }
        Py_ssize_t end = sequence_end(&t, start + 1);
        if (start > i && in_parentheses(&t, i, start, end)) {
            int skip = is_skipped(skipped, text, start, end);
            if (skip < 0)
                goto fail;
            if (skip) {
                i = end;
                continue;
            }
        }
        if (count_mention(counts, text, i, end) < 0)
            goto fail;
        i = end;
    }
    return counts;
fail:
    Py_DECREF(counts);
    return NULL;
}

/* ---- language_votes ---------------------------------------------------------- */

/* language.votes_python: for each language, how many words of the sample are among
 * its function words; `votes` maps a word to the bytes of its languages' indexes. */
static PyObject *language_votes(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(args[0]) || !PyDict_Check(args[1]) || !PyLong_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "language_votes(sample: list, votes: dict, languages: int)");
        return NULL;
    }
    PyObject *sample = args[0], *votes = args[1];
    Py_ssize_t languages = PyLong_AsSsize_t(args[2]);
    if (languages < 0 || languages > 256) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "languages must be 0..256");
        return NULL;
    }
    Py_ssize_t counts[256] = {0};
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(sample); i++) {
        PyObject *indexes = PyDict_GetItemWithError(votes, PyList_GET_ITEM(sample, i));   /* borrowed */
        if (indexes == NULL) {
            if (PyErr_Occurred())
                return NULL;
            continue;
        }
        if (!PyBytes_Check(indexes)) {
            PyErr_SetString(PyExc_TypeError, "a word's languages must be bytes of their indexes");
            return NULL;
        }
        const unsigned char *at = (const unsigned char *)PyBytes_AS_STRING(indexes);
        for (Py_ssize_t j = 0; j < PyBytes_GET_SIZE(indexes); j++)
            if (at[j] < languages)
                counts[at[j]]++;
    }
    PyObject *out = PyList_New(languages);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < languages; k++) {
        PyObject *count = PyLong_FromSsize_t(counts[k]);
        if (count == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, k, count);
    }
    return out;
}

/* ---- word_hits, term_contributions (topics) --------------------------------- */

/* word_hits(tokens, term_words, by_first_word): topics._word_hits_python, the topic
 * terms found in one token list. The tokens are counted in a small open-addressing
 * table of the article's term words (no dict update, no int object per hit), and
 * phrases are found by comparing lengths and bytes from their first word. Keep in
 * step with topics.Lexicon.by_first_word (word -> (entries, phrases)) and _Phrase
 * (words, later_words, entry). */
typedef struct {
    PyObject *word;   /* borrowed from term_words; NULL: an empty slot */
    Py_hash_t hash;
    Py_ssize_t count;
} Slot;

typedef struct {
    Slot *slots;
    size_t mask;
} Table;

/* Two exact str with the same characters (a str is stored in its narrowest kind,
 * so equal text has equal kinds). */
static int same_text(PyObject *a, PyObject *b)
{
    if (a == b)
        return 1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    int kind = PyUnicode_KIND(a);
    return n == PyUnicode_GET_LENGTH(b) && kind == PyUnicode_KIND(b) &&
           memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * kind) == 0;
}

/* An exact, ready str: hashing and comparing it runs no Python code. */
static int is_text(PyObject *o)
{
    return PyUnicode_CheckExact(o) && PyUnicode_READY(o) == 0;
}

/* The slot of word, or the empty slot where it would go. */
static Slot *slot_of(const Table *t, PyObject *word, Py_hash_t hash)
{
    size_t i = (size_t)hash & t->mask;
    while (t->slots[i].word != NULL && !(t->slots[i].hash == hash && same_text(t->slots[i].word, word)))
        i = (i + 1) & t->mask;
    return &t->slots[i];
}

/* A table of the words of a set (at most half full), each counted 0 times. */
static int table_of(PyObject *words, Table *t)
{
    size_t size = 8;
    while (size < 2 * (size_t)PySet_GET_SIZE(words))
        size <<= 1;
    t->mask = size - 1;
    t->slots = PyMem_Calloc(size, sizeof(Slot));
    if (t->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject *it = PyObject_GetIter(words), *word;
    if (it == NULL)
        return -1;
    while ((word = PyIter_Next(it)) != NULL) {
        Py_hash_t hash = is_text(word) ? PyObject_Hash(word) : -1;
        Py_DECREF(word);   /* the set holds it */
        if (hash == -1) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "word_hits(): a term word must be a str");
            break;
        }
        Slot *slot = slot_of(t, word, hash);
        slot->word = word;
        slot->hash = hash;
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

/* How many times a word (an exact str: its hash cannot fail) has been counted
 * (0: not a term word of the article). */
static Py_ssize_t count_of(const Table *t, PyObject *word)
{
    return slot_of(t, word, PyObject_Hash(word))->count;
}

/* The positions where tokens read the phrase's words (overlapping ones too), found from
 * its first word, which occurs first_count times. */
static Py_ssize_t phrase_count(PyObject *tokens, PyObject *words, Py_ssize_t first_count)
{
    Py_ssize_t n = PyTuple_GET_SIZE(words), size = PyList_GET_SIZE(tokens), found = 0, seen = 0;
    PyObject *first = PyTuple_GET_ITEM(words, 0);
    for (Py_ssize_t i = 0; i + n <= size && seen < first_count; i++) {
        if (!same_text(PyList_GET_ITEM(tokens, i), first))
            continue;
        seen++;
        Py_ssize_t j = 1;
        while (j < n && same_text(PyList_GET_ITEM(tokens, i + j), PyTuple_GET_ITEM(words, j)))
            j++;
        found += j == n;
    }
    return found;
}

/* found[key] = n */
static int set_count(PyObject *found, PyObject *key, Py_ssize_t n)
{
    PyObject *count = PyLong_FromSsize_t(n);
    int rc = count == NULL ? -1 : PyDict_SetItem(found, key, count);
    Py_XDECREF(count);
    return rc;
}

/* The phrase's count when its later words were all counted (else none: 0). */
static Py_ssize_t count_phrase(PyObject *tokens, const Table *t, PyObject *phrase, Py_ssize_t first_count)
{
    PyObject *words = PyTuple_GET_ITEM(phrase, 0);
    for (Py_ssize_t j = 1; j < PyTuple_GET_SIZE(words); j++)
        if (count_of(t, PyTuple_GET_ITEM(words, j)) == 0)
            return 0;
    return phrase_count(tokens, words, first_count);
}

/* (entries, phrases) of by_first_word, with every type word_hits relies on. */
static int is_index(PyObject *index)
{
    if (!PyTuple_Check(index) || PyTuple_GET_SIZE(index) != 2 || !PyTuple_Check(PyTuple_GET_ITEM(index, 0)) ||
        !PyTuple_Check(PyTuple_GET_ITEM(index, 1)))
        return 0;
    PyObject *phrases = PyTuple_GET_ITEM(index, 1);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(phrases); k++) {
        PyObject *phrase = PyTuple_GET_ITEM(phrases, k), *words;
        if (!PyTuple_Check(phrase) || PyTuple_GET_SIZE(phrase) < 3 || !PyTuple_Check(words = PyTuple_GET_ITEM(phrase, 0)) ||
            PyTuple_GET_SIZE(words) == 0)
            return 0;
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(words); j++)
            if (!is_text(PyTuple_GET_ITEM(words, j)))
                return 0;
    }
    return 1;
}

/* Each counted word's entries and phrases, in the order the words first occur. */
static int add_hits(PyObject *found, PyObject *tokens, const Table *t, const Py_ssize_t *order, Py_ssize_t n,
                    PyObject *by_first_word)
{
    for (Py_ssize_t k = 0; k < n; k++) {
        const Slot *slot = &t->slots[order[k]];
        PyObject *index = PyDict_GetItemWithError(by_first_word, slot->word);   /* borrowed */
        if (index == NULL) {
            if (PyErr_Occurred())
                return -1;
            continue;   /* a later word of a phrase only */
        }
        if (!is_index(index)) {
            PyErr_SetString(PyExc_TypeError, "word_hits(): by_first_word maps a word to (entries, phrases)");
            return -1;
        }
        PyObject *entries = PyTuple_GET_ITEM(index, 0), *phrases = PyTuple_GET_ITEM(index, 1);
        for (Py_ssize_t e = 0; e < PyTuple_GET_SIZE(entries); e++)
            if (set_count(found, PyTuple_GET_ITEM(entries, e), slot->count) < 0)
                return -1;
        for (Py_ssize_t p = 0; p < PyTuple_GET_SIZE(phrases); p++) {
            PyObject *phrase = PyTuple_GET_ITEM(phrases, p);
            Py_ssize_t c = count_phrase(tokens, t, phrase, slot->count);
            if (c && set_count(found, PyTuple_GET_ITEM(phrase, 2), c) < 0)
                return -1;
        }
    }
    return 0;
}

static PyObject *word_hits(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(args[0]) || !PyAnySet_Check(args[1]) || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "word_hits(tokens: list, term_words: set, by_first_word: dict)");
        return NULL;
    }
    PyObject *tokens = args[0], *found = NULL;
    Table t = {NULL, 0};
    Py_ssize_t *order = NULL, counted = 0;   /* slots in the order their words first occur */
    if (table_of(args[1], &t) < 0)
        goto done;
    if ((order = PyMem_New(Py_ssize_t, t.mask + 1)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* No Python code runs from here on (exact str only), so the list stays as it is. */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(tokens); i++) {
        PyObject *token = PyList_GET_ITEM(tokens, i);
        if (!is_text(token)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "word_hits(): a token must be a str");
            goto done;
        }
        Py_hash_t hash = PyObject_Hash(token);
        if (hash == -1)
            goto done;
        Slot *slot = slot_of(&t, token, hash);
        if (slot->word != NULL && slot->count++ == 0)
            order[counted++] = slot - t.slots;
    }
    found = PyDict_New();
    if (found != NULL && add_hits(found, tokens, &t, order, counted, args[2]) < 0)
        Py_CLEAR(found);
done:
    PyMem_Free(order);
    PyMem_Free(t.slots);
    return found;
}

/* term_contributions(found, gains): what each topic's terms found in an article add
 * (topics._contributions_python). found: (topic, weight, term) -> count; each adds
 * weight * gain(count), gain(n) = gains[n], or 1 + log(n) past the table. Sorted by
 * value, term and topic, all descending (a topic's parts so come by value, then
 * term), then grouped: topic -> (values, terms). */
typedef struct {
    double value;
    PyObject *term;    /* borrowed from found's keys */
    PyObject *topic;
} Part;

/* Descending by value, term, topic (str compared as Python does: by code point). */
static int part_order(const void *a, const void *b)
{
    const Part *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? 1 : -1;
    int c = PyUnicode_Compare(x->term, y->term);
    return c != 0 ? -c : -PyUnicode_Compare(x->topic, y->topic);
}

/* One entry of found as a Part; types checked here, so that part_order and the grouping
 * run no Python code while the parts borrow found's objects. */
static int part_of(PyObject *entry, PyObject *count, PyObject *gains, Part *part)
{
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 3 || !PyUnicode_Check(PyTuple_GET_ITEM(entry, 0)) ||
        !PyUnicode_Check(PyTuple_GET_ITEM(entry, 2)) || !PyLong_Check(count) ||
        !(PyFloat_CheckExact(PyTuple_GET_ITEM(entry, 1)) || PyLong_CheckExact(PyTuple_GET_ITEM(entry, 1)))) {
        PyErr_SetString(PyExc_TypeError, "term_contributions(): found maps (topic: str, weight: float, term: str) to an int");
        return -1;
    }
    Py_ssize_t n = PyLong_AsSsize_t(count);
    double weight = PyFloat_AsDouble(PyTuple_GET_ITEM(entry, 1));
    if ((n == -1 || weight == -1.0) && PyErr_Occurred())
        return -1;
    double gain;
    if (n >= 0 && n < PyList_GET_SIZE(gains)) {
        gain = PyFloat_AsDouble(PyList_GET_ITEM(gains, n));
        if (gain == -1.0 && PyErr_Occurred())
            return -1;
    } else {
        gain = 1 + log((double)n);   /* beyond the table: the C library's log, as math.log */
    }
    part->value = weight * gain;
    part->term = PyTuple_GET_ITEM(entry, 2);
    part->topic = PyTuple_GET_ITEM(entry, 0);
    return 0;
}

/* topic -> (values, terms) of the sorted parts. */
static PyObject *group_parts(const Part *parts, Py_ssize_t n)
{
    PyObject *by_topic = PyDict_New();
    if (by_topic == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyDict_GetItemWithError(by_topic, parts[i].topic);   /* borrowed */
        if (pair == NULL) {
            if (PyErr_Occurred())
                goto fail;
            PyObject *values = PyList_New(0), *terms = PyList_New(0);
            pair = (values == NULL || terms == NULL) ? NULL : PyTuple_Pack(2, values, terms);
            Py_XDECREF(values);
            Py_XDECREF(terms);
            int rc = pair == NULL ? -1 : PyDict_SetItem(by_topic, parts[i].topic, pair);
            Py_XDECREF(pair);
            if (rc < 0)
                goto fail;
        }
        PyObject *value = PyFloat_FromDouble(parts[i].value);
        int rc = value == NULL ? -1 : PyList_Append(PyTuple_GET_ITEM(pair, 0), value);
        Py_XDECREF(value);
        if (rc < 0 || PyList_Append(PyTuple_GET_ITEM(pair, 1), parts[i].term) < 0)
            goto fail;
    }
    return by_topic;
fail:
    Py_DECREF(by_topic);
    return NULL;
}

static PyObject *term_contributions(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyDict_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "term_contributions(found: dict, gains: list of float)");
        return NULL;
    }
    PyObject *found = args[0], *gains = args[1], *entry, *count, *result = NULL;
    Py_ssize_t n = PyDict_GET_SIZE(found), pos = 0, i = 0;
    Part *parts = PyMem_New(Part, n > 0 ? n : 1);
    if (parts == NULL)
        return PyErr_NoMemory();
    while (PyDict_Next(found, &pos, &entry, &count))
        if (part_of(entry, count, gains, &parts[i++]) < 0)
            goto done;
    qsort(parts, n, sizeof(Part), part_order);
    result = group_parts(parts, n);
done:
    PyMem_Free(parts);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_O, "Surface words in order, with \"\" where punctuation or a line ends a phrase."},
    {"keyword_counts", (PyCFunction)(void (*)(void))keyword_counts, METH_FASTCALL,
     "The candidate keys of body and title counted: (counts, key -> written form, capitalised keys or None)."},
    {"keyword_scores", (PyCFunction)(void (*)(void))keyword_scores, METH_FASTCALL,
     "The score of each candidate key (keywords.scores_python)."},
    {"fold_joined", (PyCFunction)(void (*)(void))fold_joined, METH_FASTCALL,
     "(the tokens folded, the same joined by separator)."},
    {"shared_counts", (PyCFunction)(void (*)(void))shared_counts, METH_FASTCALL,
     "How many 8-byte words each candidate shares with packed."},
    {"shared_words", shared_words, METH_NOARGS, "How many distinct words scan() and fold_joined() share now."},
    {"mention_counts", (PyCFunction)(void (*)(void))mention_counts, METH_FASTCALL,
     "_MENTION_RE.findall(text) counted, without the skipped sequences in parentheses."},
    {"language_votes", (PyCFunction)(void (*)(void))language_votes, METH_FASTCALL,
     "How many words of the sample are function words of each language (language.votes_python)."},
    {"word_hits", (PyCFunction)(void (*)(void))word_hits, METH_FASTCALL,
     "entry -> occurrences of the topic terms found in tokens (topics._word_hits_python)."},
    {"term_contributions", (PyCFunction)(void (*)(void))term_contributions, METH_FASTCALL,
     "topic -> (values, terms) of the terms found, by value then term."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ctext", NULL, -1, methods};

PyMODINIT_FUNC PyInit__ctext(void)
{
    return PyModule_Create(&module);
}
