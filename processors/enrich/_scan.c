/* scan(text): processors.enrich.text.scan in C, the same tokens.
 *
 * The Python version walks ~600 tokens of a 3 KB article in a Python loop
 * (~130 us on the bench machine); this walks the characters once. It is an
 * optional speed-up: text.py falls back to the Python version when the module
 * was not built, and tests/unit/enrich/test_text.py checks both agree.
 *
 * Keep in step with text.py: _BREAK_CHARS, _EDGE_CHARS, _MARKS and _PIECE_RE.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

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
    PyObject *word = PyUnicode_Substring(s->text, start, end);
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

static PyMethodDef methods[] = {
    {"scan", scan, METH_O, "Surface words in order, with \"\" where punctuation or a line ends a phrase."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__scan(void)
{
    return PyModule_Create(&module);
}
