/* lib/anth/cp_tok.c: local input-token estimate for count_tokens. See cp_tok.h.
 *
 * Text is cut into pre-tokens the way the o200k_base tokenizer's regular expression cuts it
 * (cp_tok_text(): one linear pass over the bytes, no regex engine, no allocation), and each pre-token
 * gets a cost in hundredths of a token from tables fitted on the real tokenizer (bench/tok/fit.mjs;
 * checked by bench/tok/measure.mjs and tests/unit/test_tok.c). cp_tok_request() walks a body with
 * jansson and counts what the model reads; structured parts are counted as compact JSON, written into
 * one scratch buffer per call. The method, rule by rule, is in docs/architecture.md ("The count_tokens
 * estimate"); fixed costs are documented at their #defines below. No I/O, no global state: safe from
 * any thread or callback. */
#include "cp_tok.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_buf.h"
#include "cp_common.h"

/* Costs are in hundredths of a token, rounded to tokens once at the end. */
#define UNIT 100

/* Per-request and per-item overheads, in tokens. They follow OpenAI's chat format, which is what the
 * upstream bills: each message costs its role plus ~3 framing tokens, and the reply is primed with 3. */
#define CP_TOK_REQUEST     3  /* reply priming */
#define CP_TOK_MESSAGE     4  /* role + framing, per message and for the system prompt */
#define CP_TOK_TOOL_USE    8  /* tool call framing (id, type, "function", arguments wrapper) */
#define CP_TOK_TOOL_RESULT 4  /* a tool result becomes its own "tool" message upstream */
#define CP_TOK_TOOL        8  /* per tool definition: function wrapper, "parameters" */
#define CP_TOK_TOOLS       12 /* once when there are tools: the preamble that introduces them */

/* Images: Anthropic's documented estimate, width * height / 750 after scaling the image down to fit
 * within 1568 px on the long edge and 1.15 megapixels, i.e. at most about 1,600. The size is read from
 * the PNG, GIF, JPEG or WebP header inside the base64 data; URL sources and unreadable data cost the
 * maximum. */
#define CP_TOK_IMAGE_MAX     1600
#define CP_TOK_IMAGE_EDGE    1568
#define CP_TOK_IMAGE_PIXELS  1192464 /* 1092 x 1092 */
#define CP_TOK_IMAGE_PER_TOK 750
/* PDF documents: a page is read as its text plus an image of it, typically 1,500-3,000 tokens. With
 * the page count from the file's "/Type /Page" objects we take the low end per page; without it (pages
 * in compressed object streams, URL sources) a 1,600-token floor, or one token per 12 bytes of file, up
 * to 100,000 for a file that shows no page. */
#define CP_TOK_PDF_PAGE      1500
#define CP_TOK_PDF_MIN       1600
#define CP_TOK_PDF_MAX       100000
#define CP_TOK_PDF_BYTES_PER 12

/* Deeper nesting than this (only possible in a json_t built in memory, or a body of nested
 * tool_results) is not walked further. jansson's parser already stops at 2048. */
#define TOK_MAX_DEPTH 2048

/* ---- text ---------------------------------------------------------------------------------------- */

enum tok_class {
    TC_PUNCT = 0, /* ASCII punctuation and control characters (the zero default of ascii_class[]) */
    TC_LOWER,
    TC_UPPER,
    TC_DIGIT,
    TC_SPACE, /* horizontal whitespace, including the Unicode spaces */
    TC_NL,    /* '\r' or '\n' */
    TC_LATIN, /* accented Latin letters and combining marks */
    TC_ALPHA, /* letters of other alphabets: Greek, Cyrillic, Hebrew, Arabic, Indic, ... */
    TC_CJK,   /* Han, kana, Hangul: a letter, but about 0.7 token a character */
    TC_SYM,   /* every other non-ASCII character (quotes, dashes, arrows, emoji), and invalid bytes */
};

/* What leads a letter run: nothing, a space or tab, or one ASCII punctuation character. Punctuation
 * splits in two: "(._#[\"'" merge with the word about as well as a space does (".get", "_name"), the
 * other signs ("/pull", "-agent", "@user", "=value") cost SIGN_EXTRA more. */
enum tok_prefix {
    PFX_NONE = 0,
    PFX_SPACE,
    PFX_PUNCT,
    PFX_SIGN, /* table row PFX_PUNCT, plus SIGN_EXTRA */
};

enum tok_case {
    CASE_LOWER = 0, /* "word", also non-Latin scripts */
    CASE_CAP,       /* "Word" */
    CASE_UPPER,     /* "WORD", "HTTPServer" */
};

/* Cost of a letter run of 1..16 ASCII letters, row [leading character * 3 + case shape], column length;
 * longer runs add WORD_LONG_EXTRA per letter. Fitted (bench/tok/fit.mjs) on o200k_base over ~1 MB of
 * prose, code and JSON: a common English word led by a space is one token up to about eight letters;
 * identifiers and word pieces without a leading space split sooner; upper-case runs split about every
 * three letters. */
#define WORD_TABLE_LEN  16
#define WORD_LONG_EXTRA 28
#define SIGN_EXTRA      33
static const unsigned short word_cost[3 * 3][WORD_TABLE_LEN + 1] = {
    /* PFX_NONE, word */
    {0, 100, 100, 104, 104, 110, 116, 122, 127, 155, 159, 165, 200, 210, 220, 240, 260},
    /* PFX_NONE, Word */
    {0, 100, 109, 102, 102, 102, 108, 108, 112, 142, 142, 145, 160, 170, 175, 190, 200},
    /* PFX_NONE, WORD */
    {0, 100, 100, 106, 132, 166, 187, 217, 247, 300, 320, 333, 350, 360, 370, 380, 390},
    /* PFX_SPACE, " word" */
    {0, 100, 100, 102, 102, 103, 103, 111, 115, 115, 117, 127, 135, 140, 150, 160, 170},
    /* PFX_SPACE, " Word" */
    {0, 100, 100, 101, 101, 105, 108, 110, 125, 150, 156, 175, 185, 190, 195, 200, 210},
    /* PFX_SPACE, " WORD" */
    {0, 100, 100, 118, 118, 173, 179, 188, 191, 242, 260, 300, 320, 325, 330, 335, 340},
    /* PFX_PUNCT, ".word" */
    {0, 100, 105, 111, 111, 111, 116, 123, 150, 159, 165, 210, 230, 250, 265, 280, 300},
    /* PFX_PUNCT, ".Word" */
    {0, 101, 119, 130, 130, 135, 139, 141, 160, 166, 170, 177, 192, 200, 208, 216, 224},
    /* PFX_PUNCT, ".WORD" */
    {0, 100, 119, 121, 121, 147, 154, 177, 219, 256, 284, 287, 300, 309, 317, 330, 343},
};

/* Letter runs with few vowels (abbreviations, "strncpy", random identifiers) split more than the table
 * says: with none, by VOWELLESS_* for 3-5, 6-8 and 9+ letters; with under one letter in four a vowel,
 * by FEW_VOWELS_*. */
static const unsigned short vowelless_extra[3] = {20, 60, 110};
static const unsigned short few_vowels_extra[3] = {10, 18, 35};

/* Non-ASCII letters, per character, on top of the table. */
#define LATIN_EXTRA 60 /* "Größere" is "Gr" "ö" "ß" "ere": accents break merges */
#define ALPHA_BASE  60 /* Cyrillic, Greek, ...: a word is ALPHA_BASE plus ALPHA_UNIT per letter */
#define ALPHA_UNIT  20
#define CJK_UNIT    70 /* o200k has many two-character Han tokens */
#define SYM_UNIT    100

/* Punctuation runs of 1..8 ASCII characters; longer runs add PUNCT_LONG_EXTRA per character. Runs made
 * only of JSON and code structure ("\":\"", "\",\"", "});", "\":{\"") merge best; the others ("**`",
 * ".\\", "://") less. A run of one repeated character ("-----", "====") is one token per 16. */
#define PUNCT_TABLE_LEN  8
#define PUNCT_LONG_EXTRA 60
static const unsigned short punct_cost[2][PUNCT_TABLE_LEN + 1] = {
    {0, 100, 100, 103, 124, 180, 212, 220, 239}, /* only F_STRUCT characters */
    {0, 100, 102, 138, 168, 204, 245, 297, 365}, /* any other */
};

/* ASCII character classes, and flags: vowels, structural punctuation, cheap word leaders. */
static const unsigned char ascii_class[128] = {
    ['\t'] = TC_SPACE, ['\v'] = TC_SPACE, ['\f'] = TC_SPACE, [' '] = TC_SPACE, ['\n'] = TC_NL,
    ['\r'] = TC_NL,    ['0'] = TC_DIGIT,  ['1'] = TC_DIGIT,  ['2'] = TC_DIGIT, ['3'] = TC_DIGIT,
    ['4'] = TC_DIGIT,  ['5'] = TC_DIGIT,  ['6'] = TC_DIGIT,  ['7'] = TC_DIGIT, ['8'] = TC_DIGIT,
    ['9'] = TC_DIGIT,  ['A'] = TC_UPPER,  ['B'] = TC_UPPER,  ['C'] = TC_UPPER, ['D'] = TC_UPPER,
    ['E'] = TC_UPPER,  ['F'] = TC_UPPER,  ['G'] = TC_UPPER,  ['H'] = TC_UPPER, ['I'] = TC_UPPER,
    ['J'] = TC_UPPER,  ['K'] = TC_UPPER,  ['L'] = TC_UPPER,  ['M'] = TC_UPPER, ['N'] = TC_UPPER,
    ['O'] = TC_UPPER,  ['P'] = TC_UPPER,  ['Q'] = TC_UPPER,  ['R'] = TC_UPPER, ['S'] = TC_UPPER,
    ['T'] = TC_UPPER,  ['U'] = TC_UPPER,  ['V'] = TC_UPPER,  ['W'] = TC_UPPER, ['X'] = TC_UPPER,
    ['Y'] = TC_UPPER,  ['Z'] = TC_UPPER,  ['a'] = TC_LOWER,  ['b'] = TC_LOWER, ['c'] = TC_LOWER,
    ['d'] = TC_LOWER,  ['e'] = TC_LOWER,  ['f'] = TC_LOWER,  ['g'] = TC_LOWER, ['h'] = TC_LOWER,
    ['i'] = TC_LOWER,  ['j'] = TC_LOWER,  ['k'] = TC_LOWER,  ['l'] = TC_LOWER, ['m'] = TC_LOWER,
    ['n'] = TC_LOWER,  ['o'] = TC_LOWER,  ['p'] = TC_LOWER,  ['q'] = TC_LOWER, ['r'] = TC_LOWER,
    ['s'] = TC_LOWER,  ['t'] = TC_LOWER,  ['u'] = TC_LOWER,  ['v'] = TC_LOWER, ['w'] = TC_LOWER,
    ['x'] = TC_LOWER,  ['y'] = TC_LOWER,  ['z'] = TC_LOWER,
};

#define F_VOWEL  1u
#define F_STRUCT 2u                  /* JSON and code structure */
#define F_LEAD   4u                  /* merges into the word it leads */
#define F_OPEN   (F_STRUCT | F_LEAD) /* both: " ' ( [ */
static const unsigned char ascii_flags[128] = {
    ['a'] = F_VOWEL,  ['e'] = F_VOWEL,  ['i'] = F_VOWEL,  ['o'] = F_VOWEL,  ['u'] = F_VOWEL,
    ['y'] = F_VOWEL,  ['A'] = F_VOWEL,  ['E'] = F_VOWEL,  ['I'] = F_VOWEL,  ['O'] = F_VOWEL,
    ['U'] = F_VOWEL,  ['Y'] = F_VOWEL,  [','] = F_STRUCT, [':'] = F_STRUCT, [';'] = F_STRUCT,
    ['{'] = F_STRUCT, ['}'] = F_STRUCT, [']'] = F_STRUCT, [')'] = F_STRUCT, ['.'] = F_LEAD,
    ['_'] = F_LEAD,   ['#'] = F_LEAD,   ['"'] = F_OPEN,   ['\''] = F_OPEN,  ['('] = F_OPEN,
    ['['] = F_OPEN,
};

static enum tok_class unicode_class(uint32_t cp)
{
    if (cp == 0xA0 || cp == 0x85 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
        cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000)
        return TC_SPACE;
    if ((cp >= 0xC0 && cp < 0x2B0 && cp != 0xD7 && cp != 0xF7) || (cp >= 0x300 && cp < 0x370) ||
        (cp >= 0x1E00 && cp < 0x1F00))
        return TC_LATIN;
    if ((cp >= 0x370 && cp < 0x700 && cp != 0x37E && cp != 0x387) || (cp >= 0x900 && cp < 0xF00) ||
        (cp >= 0x10A0 && cp < 0x1100) || (cp >= 0x1F00 && cp < 0x2000))
        return TC_ALPHA;
    if ((cp >= 0x1100 && cp < 0x1200) || (cp >= 0x3040 && cp < 0x3100) || (cp >= 0x3130 && cp < 0x3190) ||
        (cp >= 0x3400 && cp < 0x4DC0) || (cp >= 0x4E00 && cp < 0xA000) || (cp >= 0xAC00 && cp < 0xD7B0) ||
        (cp >= 0xF900 && cp < 0xFB00) || (cp >= 0x20000 && cp < 0x40000))
        return TC_CJK;
    return TC_SYM;
}

/* Classifies the character at s[i] (i < len) and stores its byte length in *n. Invalid UTF-8 is one
 * TC_SYM byte at a time, so any input advances. */
static enum tok_class tok_class_of(const unsigned char *s, size_t i, size_t len, size_t *n)
{
    unsigned char c = s[i];
    uint32_t cp;
    size_t k, need;

    if (c < 0x80) {
        *n = 1;
        return (enum tok_class)ascii_class[c];
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07u;
    } else {
        *n = 1;
        return TC_SYM;
    }
    if (len - i <= need) {
        *n = 1;
        return TC_SYM;
    }
    for (k = 1; k <= need; k++) {
        if ((s[i + k] & 0xC0) != 0x80) {
            *n = 1;
            return TC_SYM;
        }
        cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    *n = need + 1;
    return unicode_class(cp);
}

static bool is_letter(enum tok_class k)
{
    return k == TC_LOWER || k == TC_UPPER || k == TC_LATIN || k == TC_ALPHA || k == TC_CJK;
}

/* Scans the letter run that starts at s[i], led by <pfx>, adds its cost and returns its end. o200k ends
 * the run before an upper-case letter that follows a lower-case one ("camel" "Case"), but not inside an
 * upper-case prefix ("HTTPServer"). */
static size_t tok_word(const unsigned char *s, size_t i, size_t len, enum tok_prefix pfx, int64_t *units)
{
    size_t n = 0, vowels = 0, latin = 0, alpha = 0, cjk = 0, w;
    bool lower_seen = false;
    enum tok_case shape = CASE_LOWER;
    int64_t cost = 0;

    while (i < len) {
        unsigned char c = s[i];
        enum tok_class k;

        if ((unsigned)(c - 'a') < 26u) { /* the common case first */
            lower_seen = true;
            n++;
            vowels += ascii_flags[c] & F_VOWEL;
            i++;
            continue;
        }
        if ((unsigned)(c - 'A') < 26u) {
            if (lower_seen)
                break;
            if (n == 0)
                shape = CASE_CAP;
            else if (n == 1 && shape == CASE_CAP)
                shape = CASE_UPPER;
            n++;
            vowels += ascii_flags[c] & F_VOWEL;
            i++;
            continue;
        }
        if (c < 0x80)
            break;
        k = tok_class_of(s, i, len, &w);
        if (k == TC_LATIN) {
            lower_seen = true;
            n++;
            vowels++;
            latin++;
        } else if (k == TC_ALPHA) {
            alpha++;
        } else if (k == TC_CJK) {
            cjk++;
        } else {
            break;
        }
        i += w;
    }
    if (n > 0) {
        size_t band = n < 6 ? 0 : n < 9 ? 1 : 2;

        cost = word_cost[(pfx == PFX_SIGN ? PFX_PUNCT : pfx) * 3 + shape]
                        [n < WORD_TABLE_LEN ? n : WORD_TABLE_LEN];
        if (n > WORD_TABLE_LEN)
            cost += (int64_t)(n - WORD_TABLE_LEN) * WORD_LONG_EXTRA;
        if (n >= 3 && vowels == 0)
            cost += vowelless_extra[band];
        else if (n >= 3 && 4 * vowels < n)
            cost += few_vowels_extra[band];
        cost += (int64_t)latin * LATIN_EXTRA + (pfx == PFX_SIGN ? SIGN_EXTRA : 0);
    }
    if (alpha > 0)
        cost += (n > 0 ? 0 : ALPHA_BASE) + (int64_t)alpha * ALPHA_UNIT;
    if (cjk > 0) /* a leading space or sign rarely merges into Han text */
        cost += (int64_t)cjk * CJK_UNIT + (n == 0 && alpha == 0 && pfx != PFX_NONE ? SYM_UNIT / 2 : 0);
    *units += cost;
    return i;
}

/* Scans the punctuation run at s[i] (led by a space when <spaced>), adds its cost and returns its end.
 * A single ASCII punctuation character right before a letter leads that word instead (".get", "_name").
 * The run swallows the newlines and slashes after it, as o200k does ("{\n", ");\n"). */
static size_t tok_punct(const unsigned char *s, size_t i, size_t len, bool spaced, int64_t *units)
{
    size_t ascii = 0, sym = 0, w, start = i;
    bool same = true, structural = true;
    enum tok_class k = TC_PUNCT;

    while (i < len) {
        unsigned char c = s[i];

        if (c < 0x80) {
            k = (enum tok_class)ascii_class[c];
            if (k != TC_PUNCT)
                break;
            same = same && c == s[start];
            structural = structural && (ascii_flags[c] & F_STRUCT) != 0;
            ascii++;
            i++;
            continue;
        }
        k = tok_class_of(s, i, len, &w);
        if (k != TC_SYM)
            break;
        same = false;
        sym++;
        i += w;
    }
    if (!spaced && ascii == 1 && sym == 0 && i < len && is_letter(k)) {
        if (s[start] != '\\' || (unsigned)(s[i] - 'a') >= 26u)
            return tok_word(s, i, len, (ascii_flags[s[start]] & F_LEAD) != 0 ? PFX_PUNCT : PFX_SIGN, units);
        /* A JSON escape ("\\n", "\\t") is a token of its own before the rest of the word. */
        *units += UNIT;
        i++;
        return i < len && is_letter(tok_class_of(s, i, len, &w)) ? tok_word(s, i, len, PFX_NONE, units) : i;
    }
    *units += (int64_t)sym * SYM_UNIT;
    if (ascii > 2 && same && sym == 0)
        *units += UNIT + (int64_t)((ascii - 1) / 16) * UNIT;
    else if (ascii > 0)
        *units += punct_cost[structural ? 0 : 1][ascii < PUNCT_TABLE_LEN ? ascii : PUNCT_TABLE_LEN] +
                  (ascii > PUNCT_TABLE_LEN ? (int64_t)(ascii - PUNCT_TABLE_LEN) * PUNCT_LONG_EXTRA : 0);
    while (i < len && (s[i] == '\n' || s[i] == '\r' || s[i] == '/'))
        i++;
    return i;
}

/* Random base64 (hashes, keys, embedded files) splits into about 0.69 token a character, far more than
 * its pre-tokens suggest. A blob is a run of at least B64_MIN_RUN characters of [A-Za-z0-9+/] (then '='
 * padding) with both cases and two separate digit groups, whose character class changes at least every
 * other character (camelCase identifiers change about every fourth, hex has one case). Scans the run at
 * s[i], returns its end and sets *blob. */
#define B64_MIN_RUN 32
#define B64_UNIT    69
static size_t tok_b64_run(const unsigned char *s, size_t i, size_t len, bool *blob)
{
    size_t start = i, changes = 0, digit_groups = 0;
    unsigned seen = 0, prev = 4;

    for (; i < len; i++) {
        unsigned c = s[i];
        unsigned k = c - 'a' < 26u ? 0 : c - 'A' < 26u ? 1 : c - '0' < 10u ? 2 : c == '+' || c == '/' ? 3 : 4;

        if (k == 4)
            break;
        seen |= 1u << k;
        changes += i > start && k != prev;
        digit_groups += k == 2 && prev != 2;
        prev = k;
    }
    while (i < len && s[i] == '=')
        i++;
    *blob = i - start >= B64_MIN_RUN && (seen & 3u) == 3u && digit_groups >= 2 && 2 * changes >= i - start;
    return i;
}

int64_t cp_tok_text(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    int64_t units = 0;
    size_t i = 0, w;
    bool quoted = false; /* the previous pre-token was a punctuation run ending in a quote */
    size_t b64_seen = 0; /* tok_b64_run() has looked at everything before this */

    if (s == NULL)
        return 0;
    while (i < len) {
        enum tok_class k = s[i] < 0x80 ? (enum tok_class)ascii_class[s[i]] : tok_class_of(s, i, len, &w);
        size_t j, last_nl, spaces;
        bool after_quote = quoted, blob;

        quoted = false;
        if ((k == TC_LOWER || k == TC_UPPER || k == TC_DIGIT) && i >= b64_seen) {
            b64_seen = tok_b64_run(s, i, len, &blob);
            if (blob) {
                units += (int64_t)(b64_seen - i) * B64_UNIT;
                i = b64_seen;
                continue;
            }
        }

        switch (k) {
        case TC_DIGIT:
            for (j = i; j < len && (unsigned)(s[j] - '0') < 10u; j++)
                ;
            units += (int64_t)((j - i + 2) / 3) * UNIT;
            i = j;
            break;
        case TC_PUNCT:
        case TC_SYM:
            i = tok_punct(s, i, len, false, &units);
            quoted = s[i - 1] == '"' || s[i - 1] == '\'';
            break;
        case TC_SPACE:
        case TC_NL:
            /* Whitespace run [i, j): up to its last newline is one pre-token. */
            last_nl = len;
            spaces = 0;
            for (j = i; j < len; j += w) {
                enum tok_class c =
                    s[j] < 0x80 ? (w = 1, (enum tok_class)ascii_class[s[j]]) : tok_class_of(s, j, len, &w);

                if (c == TC_NL) {
                    last_nl = j;
                    spaces = 0;
                } else if (c == TC_SPACE) {
                    spaces++;
                } else {
                    break;
                }
            }
            if (last_nl != len) {
                units += UNIT;
                i = last_nl + 1;
            }
            if (spaces == 0)
                break;
            if (j == len || spaces > 1) {
                units += UNIT; /* all but the last space; at the end, all of them */
                if (j == len) {
                    i = j;
                    break;
                }
            }
            /* The last space leads the word or punctuation run after it (a tab only a word: "\treturn"),
             * and digits never take a leading space. */
            k = tok_class_of(s, j, len, &w);
            if (is_letter(k)) {
                i = tok_word(s, j, len, PFX_SPACE, &units);
            } else if (s[j - 1] == ' ' && (k == TC_PUNCT || k == TC_SYM)) {
                i = tok_punct(s, j, len, true, &units);
                quoted = s[i - 1] == '"' || s[i - 1] == '\'';
            } else {
                units += UNIT;
                i = j;
            }
            break;
        default:
            /* A word opening a string (a JSON key, a quoted phrase) is as common as a space-led one. */
            i = tok_word(s, i, len, after_quote ? PFX_SPACE : PFX_NONE, &units);
            break;
        }
    }
    return (units + UNIT / 2) / UNIT;
}

/* ---- requests ------------------------------------------------------------------------------------ */

struct tok_req {
    int64_t n;    /* tokens so far */
    cp_buf_t buf; /* scratch for compact JSON; freed by cp_tok_request() */
};

static void req_put(struct tok_req *r, const char *p, size_t n)
{
    cp_buf_add(&r->buf, p, n);
}

/* Appends <s> as a JSON string, escaped as json_dumps() does (no '/' or non-ASCII escapes). */
static void req_put_string(struct tok_req *r, const char *s, size_t n)
{
    cp_buf_addc(&r->buf, '"');
    cp_buf_add_jstr(&r->buf, s, n);
    cp_buf_addc(&r->buf, '"');
}

/* Appends <v> (borrowed) as compact JSON, keys in insertion order, like json_dumps(JSON_COMPACT). */
static void req_put_json(struct tok_req *r, const json_t *v, int depth)
{
    char num[40];
    const char *key;
    json_t *val;
    size_t i;
    int n;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        req_put(r, "{", 1);
        i = 0;
        /* json_object_foreach() wants a non-const object; iterating does not modify it. */
        if (depth < TOK_MAX_DEPTH)
            json_object_foreach((json_t *)v, key, val)
            {
                if (i++ > 0)
                    req_put(r, ",", 1);
                req_put_string(r, key, strlen(key));
                req_put(r, ":", 1);
                req_put_json(r, val, depth + 1);
            }
        req_put(r, "}", 1);
        break;
    case JSON_ARRAY:
        req_put(r, "[", 1);
        for (i = 0; depth < TOK_MAX_DEPTH && i < json_array_size(v); i++) {
            if (i > 0)
                req_put(r, ",", 1);
            req_put_json(r, json_array_get(v, i), depth + 1);
        }
        req_put(r, "]", 1);
        break;
    case JSON_STRING:
        req_put_string(r, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        req_put(r, num, (size_t)n);
        break;
    case JSON_REAL:
        /* As the OpenAI translation writes tool arguments: 15 digits when they read back, else 17. */
        n = snprintf(num, sizeof(num), "%.15g", json_real_value(v));
        if (strtod(num, NULL) != json_real_value(v))
            n = snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        req_put(r, num, (size_t)n);
        break;
    case JSON_TRUE:
        req_put(r, "true", 4);
        break;
    case JSON_FALSE:
        req_put(r, "false", 5);
        break;
    case JSON_NULL:
        req_put(r, "null", 4);
        break;
    }
}

/* Counts <v> when it is a string; anything else (absent, wrong type) counts nothing. */
static void req_text(struct tok_req *r, const json_t *v)
{
    if (json_is_string(v))
        r->n += cp_tok_text(json_string_value(v), json_string_length(v));
}

/* Counts <v> as its compact JSON text. */
static void req_json(struct tok_req *r, const json_t *v)
{
    if (v == NULL)
        return;
    cp_buf_truncate(&r->buf, 0);
    req_put_json(r, v, 0);
    r->n += cp_tok_text(cp_buf_str(&r->buf), r->buf.len);
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes up to <n> bytes of the base64 text <b64> (<len> chars), starting at decoded offset <off>, into
 * <out>. Returns how many bytes it decoded: fewer at the end of the data, at padding, or at anything that
 * is not base64 (such as whitespace, which the API does not allow in image data anyway). */
static size_t b64_read(const char *b64, size_t len, size_t off, unsigned char *out, size_t n)
{
    const unsigned char *p = (const unsigned char *)b64;
    size_t q = off / 3 * 4, skip = off % 3, got = 0, k;

    while (got < n && q + 4 <= len) {
        int a = b64_value(p[q]), b = b64_value(p[q + 1]), c = b64_value(p[q + 2]), d = b64_value(p[q + 3]);
        unsigned char bytes[3];
        size_t have = 1;

        if (a < 0 || b < 0)
            break;
        bytes[0] = (unsigned char)(a << 2 | b >> 4);
        if (c >= 0) {
            bytes[1] = (unsigned char)((b & 15) << 4 | c >> 2);
            have = 2;
            if (d >= 0) {
                bytes[2] = (unsigned char)((c & 3) << 6 | d);
                have = 3;
            }
        }
        for (k = skip; k < have && got < n; k++)
            out[got++] = bytes[k];
        skip = 0;
        if (have < 3)
            break;
        q += 4;
    }
    return got;
}

static uint32_t be16(const unsigned char *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t le16(const unsigned char *p)
{
    return (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le24(const unsigned char *p)
{
    return (uint32_t)p[2] << 16 | le16(p);
}

static uint32_t be32(const unsigned char *p)
{
    return be16(p) << 16 | be16(p + 2);
}

/* Walks JPEG segments (each hop decodes a few bytes at a computed offset) to the first start-of-frame. */
static bool jpeg_size(const char *b64, size_t len, uint32_t *w, uint32_t *h)
{
    unsigned char m[9];
    size_t pos = 2;
    int hops;

    for (hops = 0; hops < 64; hops++) {
        size_t got = b64_read(b64, len, pos, m, sizeof(m));

        if (got < 4 || m[0] != 0xFF)
            return false;
        if (m[1] == 0xFF) { /* fill byte */
            pos++;
        } else if (m[1] >= 0xC0 && m[1] <= 0xCF && m[1] != 0xC4 && m[1] != 0xC8 && m[1] != 0xCC) {
            if (got < 9)
                return false;
            *h = be16(m + 5);
            *w = be16(m + 7);
            return true;
        } else if (m[1] == 0x01 || (m[1] >= 0xD0 && m[1] <= 0xD8)) { /* markers without a length */
            pos += 2;
        } else if (m[1] == 0xD9 || m[1] == 0xDA) { /* end of image, or scan data before any frame */
            return false;
        } else {
            pos += 2 + be16(m + 2);
        }
    }
    return false;
}

/* Reads the pixel size from the header of base64 PNG, GIF, WebP or JPEG data. */
static bool image_size(const char *b64, size_t len, uint32_t *w, uint32_t *h)
{
    unsigned char b[32];
    size_t n = b64_read(b64, len, 0, b, sizeof(b));

    if (n >= 24 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(b + 12, "IHDR", 4) == 0) {
        *w = be32(b + 16);
        *h = be32(b + 20);
        return true;
    }
    if (n >= 10 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) {
        *w = le16(b + 6);
        *h = le16(b + 8);
        return true;
    }
    if (n >= 30 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) {
        if (memcmp(b + 12, "VP8X", 4) == 0) {
            *w = 1 + le24(b + 24);
            *h = 1 + le24(b + 27);
            return true;
        }
        if (memcmp(b + 12, "VP8 ", 4) == 0) {
            *w = le16(b + 26) & 0x3FFF;
            *h = le16(b + 28) & 0x3FFF;
            return true;
        }
        if (memcmp(b + 12, "VP8L", 4) == 0) {
            uint32_t bits = le24(b + 21) | (uint32_t)b[24] << 24;

            *w = 1 + (bits & 0x3FFF);
            *h = 1 + (bits >> 14 & 0x3FFF);
            return true;
        }
        return false;
    }
    if (n >= 4 && b[0] == 0xFF && b[1] == 0xD8)
        return jpeg_size(b64, len, w, h);
    return false;
}

static int64_t image_tokens(const json_t *source)
{
    const char *type = json_string_value(json_object_get(source, "type"));
    const json_t *data = json_object_get(source, "data");
    uint32_t w = 0, h = 0;
    uint64_t edge, px;

    if (type == NULL || strcmp(type, "base64") != 0 || !json_is_string(data) ||
        !image_size(json_string_value(data), json_string_length(data), &w, &h) || w == 0 || h == 0)
        return CP_TOK_IMAGE_MAX;
    edge = w > h ? w : h;
    px = (uint64_t)w * h;
    if (edge > CP_TOK_IMAGE_EDGE)
        px = (uint64_t)((double)px * CP_TOK_IMAGE_EDGE / (double)edge * CP_TOK_IMAGE_EDGE / (double)edge);
    if (px > CP_TOK_IMAGE_PIXELS)
        px = CP_TOK_IMAGE_PIXELS;
    return (int64_t)((px + CP_TOK_IMAGE_PER_TOK - 1) / CP_TOK_IMAGE_PER_TOK);
}

/* Counts "/Type /Page" objects (not "/Pages") in base64 PDF data, decoding it in small chunks. */
static int64_t pdf_tokens(const char *b64, size_t len)
{
    static const char type[] = "/Type", page[] = "/Page";
    unsigned char chunk[3072];
    size_t off = 0, got, i, at = 0;
    int64_t pages = 0;
    enum { PDF_TYPE = 0, PDF_SPACE, PDF_PAGE, PDF_END } state = PDF_TYPE;

    while ((got = b64_read(b64, len, off, chunk, sizeof(chunk))) > 0) {
        for (i = 0; i < got; i++) {
            unsigned char c = chunk[i];

            if (state == PDF_SPACE && (c == ' ' || c == '\r' || c == '\n' || c == '\t'))
                continue;
            if (state == PDF_SPACE && c == '/') {
                state = PDF_PAGE;
                at = 1;
                continue;
            }
            if (state == PDF_END) {
                pages += c != 's';
            } else if (state != PDF_SPACE && c == (unsigned char)(state == PDF_TYPE ? type : page)[at]) {
                if (++at == 5)
                    state = state == PDF_TYPE ? PDF_SPACE : PDF_END;
                continue;
            }
            state = PDF_TYPE;
            at = c == '/';
        }
        off += got;
        if (got < sizeof(chunk))
            break;
    }
    if (pages > 0)
        return pages * CP_TOK_PDF_PAGE;
    off = off / CP_TOK_PDF_BYTES_PER;
    return off < CP_TOK_PDF_MIN ? CP_TOK_PDF_MIN : off > CP_TOK_PDF_MAX ? CP_TOK_PDF_MAX : (int64_t)off;
}

static void req_content(struct tok_req *r, const json_t *content, int depth);

static void req_document(struct tok_req *r, const json_t *b, int depth)
{
    const json_t *src = json_object_get(b, "source");
    const json_t *data = json_object_get(src, "data");
    const char *type = json_string_value(json_object_get(src, "type"));

    req_text(r, json_object_get(b, "title"));
    req_text(r, json_object_get(b, "context"));
    if (type != NULL && strcmp(type, "text") == 0)
        req_text(r, data);
    else if (type != NULL && strcmp(type, "content") == 0)
        req_content(r, json_object_get(src, "content"), depth + 1);
    else if (type != NULL && strcmp(type, "base64") == 0 && json_is_string(data))
        r->n += pdf_tokens(json_string_value(data), json_string_length(data));
    else
        r->n += CP_TOK_PDF_MIN;
}

/* One content block. Unknown block types (search results, server tool results, ...) count as their
 * compact JSON, which is roughly what a translation that keeps them would send. */
static void req_block(struct tok_req *r, const json_t *b, int depth)
{
    const char *type = json_string_value(json_object_get(b, "type"));

    if (json_is_string(b)) {
        req_text(r, b);
    } else if (!json_is_object(b)) {
        return;
    } else if (type == NULL) {
        req_json(r, b);
    } else if (strcmp(type, "text") == 0) {
        req_text(r, json_object_get(b, "text"));
    } else if (strcmp(type, "thinking") == 0) {
        req_text(r, json_object_get(b, "thinking"));
    } else if (strcmp(type, "redacted_thinking") == 0) {
        /* opaque to everyone but Anthropic */
    } else if (strcmp(type, "tool_use") == 0 || strcmp(type, "server_tool_use") == 0) {
        r->n += CP_TOK_TOOL_USE;
        req_text(r, json_object_get(b, "name"));
        req_json(r, json_object_get(b, "input"));
    } else if (strcmp(type, "tool_result") == 0) {
        r->n += CP_TOK_TOOL_RESULT;
        req_content(r, json_object_get(b, "content"), depth + 1);
    } else if (strcmp(type, "image") == 0) {
        r->n += image_tokens(json_object_get(b, "source"));
    } else if (strcmp(type, "document") == 0) {
        req_document(r, b, depth);
    } else {
        req_json(r, b);
    }
}

/* A message's (or the system prompt's, or a tool result's) content: a string or an array of blocks. */
static void req_content(struct tok_req *r, const json_t *content, int depth)
{
    size_t i;

    if (json_is_string(content)) {
        req_text(r, content);
        return;
    }
    for (i = 0; depth < TOK_MAX_DEPTH && i < json_array_size(content); i++)
        req_block(r, json_array_get(content, i), depth);
}

static void req_tools(struct tok_req *r, const json_t *tools)
{
    size_t i;

    if (json_array_size(tools) > 0)
        r->n += CP_TOK_TOOLS;
    for (i = 0; i < json_array_size(tools); i++) {
        const json_t *t = json_array_get(tools, i);

        if (!json_is_object(t))
            continue;
        r->n += CP_TOK_TOOL;
        req_text(r, json_object_get(t, "name"));
        req_text(r, json_object_get(t, "description"));
        req_json(r, json_object_get(t, "input_schema"));
    }
}

int64_t cp_tok_request(const json_t *body)
{
    struct tok_req r = {0};
    const json_t *system = json_object_get(body, "system");
    const json_t *messages = json_object_get(body, "messages");
    size_t i;

    if (!json_is_object(body))
        return 0;
    r.n = CP_TOK_REQUEST;
    if ((json_is_string(system) && json_string_length(system) > 0) || json_array_size(system) > 0) {
        r.n += CP_TOK_MESSAGE;
        req_content(&r, system, 0);
    }
    for (i = 0; i < json_array_size(messages); i++) {
        const json_t *m = json_array_get(messages, i);

        if (!json_is_object(m))
            continue;
        r.n += CP_TOK_MESSAGE;
        req_content(&r, json_object_get(m, "content"), 0);
    }
    req_tools(&r, json_object_get(body, "tools"));
    /* A structured-output schema is read by the model too (output_config.format.schema). */
    req_json(&r,
             json_object_get(json_object_get(json_object_get(body, "output_config"), "format"), "schema"));
    cp_buf_free(&r.buf);
    return r.n;
}
