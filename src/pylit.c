/*
 * pylit.c - the literal assignments of a Python file (pylit.h), read by a
 * small tokenizer and a recursive-descent parser. Nothing is executed.
 */
#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pylit.h"
#include "util.h"

#define PY_MAX_DEPTH 64 /* nesting of brackets and operators */

/* ---------------------------------------------------------------- values */

const char *py_type_name(enum py_type t)
{
    static const char *const names[] = {"None", "bool", "int",  "float", "str",
                                        "tuple", "list", "dict", "set"};
    return (unsigned)t < ARRAY_SIZE(names) ? names[t] : "?";
}

static struct py_value *val_new(enum py_type t, int line, int col)
{
    struct py_value *v = xcalloc(1, sizeof(*v));
    v->type = t;
    v->line = line;
    v->col = col;
    return v;
}

void py_value_free(struct py_value *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        py_value_free(v->items[i]);
    free(v->items);
    free(v->s);
    free(v);
}

static void val_push(struct py_value *c, struct py_value *item)
{
    c->items = xrealloc(c->items, (c->n + 1) * sizeof(*c->items));
    c->items[c->n++] = item;
}

static struct py_value *val_copy(const struct py_value *v)
{
    struct py_value *c = val_new(v->type, v->line, v->col);
    c->i = v->i;
    c->f = v->f;
    c->s = xstrdup(v->s);
    for (size_t i = 0; i < v->n; i++)
        val_push(c, val_copy(v->items[i]));
    return c;
}

static bool val_eq(const struct py_value *a, const struct py_value *b)
{
    if (a->type != b->type || a->n != b->n)
        return false;
    switch (a->type) {
    case PY_NONE: return true;
    case PY_BOOL:
    case PY_INT: return a->i == b->i;
    case PY_FLOAT: return a->f == b->f;
    case PY_STR: return !strcmp(a->s, b->s);
    case PY_TUPLE:
    case PY_LIST:
    case PY_DICT:
    case PY_SET:
        for (size_t i = 0; i < a->n; i++)
            if (!val_eq(a->items[i], b->items[i]))
                return false;
        return true;
    }
    return false;
}

const struct py_value *py_dict_get(const struct py_value *dict, const char *key)
{
    if (!dict || dict->type != PY_DICT)
        return NULL;
    for (size_t i = dict->n; i >= 2; i -= 2) /* the last one written wins */
        if (dict->items[i - 2]->type == PY_STR && !strcmp(dict->items[i - 2]->s, key))
            return dict->items[i - 1];
    return NULL;
}

/* ---------------------------------------------------------------- tokens */

enum tok { T_EOF, T_NEWLINE, T_NAME, T_NUM, T_STR, T_OP };

struct lexer {
    const char *text, *end, *p;
    int line, col, depth;
    /* the current token */
    enum tok t;
    int tline, tcol;
    const char *start; /* its first byte */
    char op[3];        /* T_OP */
    struct strbuf s;   /* T_STR: the decoded string; T_NAME, T_NUM: the text */
};

struct parser {
    struct lexer lx;
    const char *file;
    struct diags *d;
    struct py_module *m;
    bool failed; /* this statement */
    int nest;
};

static void perr(struct parser *P, int line, int col, const char *fmt, ...) RMGR_PRINTF(4, 5);

static void perr(struct parser *P, int line, int col, const char *fmt, ...)
{
    if (P->failed)
        return; /* one error per statement */
    P->failed = true;
    va_list ap;
    va_start(ap, fmt);
    diags_vadd(P->d, DIAG_ERROR, P->file, line, col, fmt, ap);
    va_end(ap);
}

static void lx_adv(struct lexer *L)
{
    if (*L->p == '\n') {
        L->line++;
        L->col = 1;
    } else if (((unsigned char)*L->p & 0xC0) != 0x80) {
        L->col++; /* count characters, not UTF-8 continuation bytes */
    }
    L->p++;
}

/* Read a string body after its opening quote(s); false on an unterminated one. */
static bool lx_string(struct lexer *L, char q, bool triple, bool raw)
{
    while (L->p < L->end) {
        char c = *L->p;
        if (c == q && (!triple || (L->end - L->p >= 3 && L->p[1] == q && L->p[2] == q))) {
            for (int i = 0; i < (triple ? 3 : 1); i++)
                lx_adv(L);
            return true;
        }
        if (c == '\n' && !triple)
            return false;
        if (c == '\\' && L->p + 1 < L->end) {
            lx_adv(L);
            char e = *L->p;
            lx_adv(L);
            if (raw) {
                sb_addc(&L->s, '\\');
                sb_addc(&L->s, e);
                continue;
            }
            switch (e) {
            case '\n': break;
            case 'n': sb_addc(&L->s, '\n'); break;
            case 't': sb_addc(&L->s, '\t'); break;
            case 'r': sb_addc(&L->s, '\r'); break;
            case '0': sb_addc(&L->s, '\0'); break;
            case '\\': case '\'': case '"': sb_addc(&L->s, e); break;
            case 'x':
                if (L->end - L->p >= 2 && isxdigit((unsigned char)L->p[0]) &&
                    isxdigit((unsigned char)L->p[1])) {
                    char hex[3] = {L->p[0], L->p[1], 0};
                    sb_addc(&L->s, (char)strtol(hex, NULL, 16));
                    lx_adv(L);
                    lx_adv(L);
                    break;
                }
                /* fall through */
            default: /* unknown escapes stay as written, as Python keeps them */
                sb_addc(&L->s, '\\');
                sb_addc(&L->s, e);
            }
            continue;
        }
        sb_addc(&L->s, c);
        lx_adv(L);
    }
    return false;
}

/* The next token into L; false (with the position in L) on a byte no token starts with. */
static bool lx_next(struct lexer *L, const char **why)
{
    L->s.len = 0;
    if (L->s.buf)
        L->s.buf[0] = '\0';
    for (;;) {
        while (L->p < L->end && (*L->p == ' ' || *L->p == '\t' || *L->p == '\r' || *L->p == '\f'))
            lx_adv(L);
        if (L->p < L->end && *L->p == '#') {
            while (L->p < L->end && *L->p != '\n')
                lx_adv(L);
        }
        if (L->p + 1 < L->end && L->p[0] == '\\' && L->p[1] == '\n') {
            lx_adv(L);
            lx_adv(L);
            continue;
        }
        if (L->p < L->end && *L->p == '\n' && L->depth > 0) {
            lx_adv(L);
            continue;
        }
        break;
    }
    L->tline = L->line;
    L->tcol = L->col;
    L->start = L->p;
    if (L->p >= L->end) {
        L->t = T_EOF;
        return true;
    }
    char c = *L->p;
    if (c == '\n' || (c == ';' && L->depth == 0)) {
        lx_adv(L);
        L->t = T_NEWLINE;
        return true;
    }
    /* a string, with an optional prefix */
    const char *q = L->p;
    while (q < L->end && q - L->p < 2 && strchr("rRuUbBfF", *q) && *q)
        q++;
    if (q < L->end && (*q == '\'' || *q == '"') && (q == L->p || !isalnum((unsigned char)q[-1]) ||
                                                    strchr("rRuUbBfF", q[-1]))) {
        bool raw = false, fmt = false;
        for (const char *x = L->p; x < q; x++) {
            raw |= *x == 'r' || *x == 'R';
            fmt |= *x == 'f' || *x == 'F';
        }
        if (fmt) {
            *why = "an f-string is not a literal";
            return false;
        }
        while (L->p < q)
            lx_adv(L);
        char qc = *L->p;
        bool triple = L->end - L->p >= 3 && L->p[1] == qc && L->p[2] == qc;
        for (int i = 0; i < (triple ? 3 : 1); i++)
            lx_adv(L);
        if (!lx_string(L, qc, triple, raw)) {
            *why = "unterminated string";
            return false;
        }
        L->t = T_STR;
        return true;
    }
    if (isalpha((unsigned char)c) || c == '_') {
        while (L->p < L->end && (isalnum((unsigned char)*L->p) || *L->p == '_')) {
            sb_addc(&L->s, *L->p);
            lx_adv(L);
        }
        L->t = T_NAME;
        return true;
    }
    if (isdigit((unsigned char)c) || (c == '.' && L->p + 1 < L->end && isdigit((unsigned char)L->p[1]))) {
        while (L->p < L->end && (isalnum((unsigned char)*L->p) || *L->p == '.' || *L->p == '_' ||
                                 ((*L->p == '+' || *L->p == '-') &&
                                  (L->p[-1] == 'e' || L->p[-1] == 'E') && !(L->s.len > 1 &&
                                  (L->s.buf[1] == 'x' || L->s.buf[1] == 'X'))))) {
            if (*L->p != '_')
                sb_addc(&L->s, *L->p);
            lx_adv(L);
        }
        L->t = T_NUM;
        return true;
    }
    static const char *const two[] = {"**", "//"};
    for (size_t i = 0; i < ARRAY_SIZE(two); i++) {
        if (L->end - L->p >= 2 && !strncmp(L->p, two[i], 2)) {
            memcpy(L->op, two[i], 3);
            lx_adv(L);
            lx_adv(L);
            L->t = T_OP;
            return true;
        }
    }
    if (strchr("()[]{},:.=+-*/%", c)) {
        if (strchr("([{", c))
            L->depth++;
        else if (strchr(")]}", c) && L->depth > 0)
            L->depth--;
        L->op[0] = c;
        L->op[1] = '\0';
        lx_adv(L);
        L->t = T_OP;
        return true;
    }
    *why = "unexpected character";
    return false;
}

/* Advance; on a lexical error report it and return false. */
static bool next(struct parser *P)
{
    const char *why = NULL;
    if (lx_next(&P->lx, &why))
        return true;
    perr(P, P->lx.line, P->lx.col, "%s", why);
    P->lx.t = T_OP; /* a token nothing matches: the statement fails and is skipped */
    P->lx.op[0] = '\0';
    return false;
}

static bool is_op(const struct parser *P, const char *op)
{
    return P->lx.t == T_OP && !strcmp(P->lx.op, op);
}

static bool expect(struct parser *P, const char *op)
{
    if (is_op(P, op))
        return next(P);
    perr(P, P->lx.tline, P->lx.tcol, "expected '%s'", op);
    return false;
}

/* ---------------------------------------------------------------- expressions */

static struct py_value *expr(struct parser *P);

static struct py_value *number(struct parser *P)
{
    const char *t = sb_str(&P->lx.s);
    struct py_value *v;
    char *end;
    errno = 0;
    size_t len = strlen(t);
    bool is_float = !(len > 1 && t[0] == '0' && strchr("xXoObB", t[1])) &&
                    strpbrk(t, ".eE") != NULL;
    if (is_float) {
        v = val_new(PY_FLOAT, P->lx.tline, P->lx.tcol);
        v->f = strtod(t, &end);
    } else {
        int base = 10;
        const char *digits = t;
        if (len > 1 && t[0] == '0' && strchr("xXoObB", t[1])) {
            base = strchr("xX", t[1]) ? 16 : strchr("oO", t[1]) ? 8 : 2;
            digits = t + 2;
        }
        v = val_new(PY_INT, P->lx.tline, P->lx.tcol);
        v->i = strtoll(digits, &end, base);
        if (*end == 'L' || *end == 'l') /* Python 2 long */
            end++;
    }
    if (errno || *end || end == t) {
        perr(P, P->lx.tline, P->lx.tcol, "bad number '%s'", t);
        py_value_free(v);
        return NULL;
    }
    next(P);
    return v;
}

/* items up to `close`, after the opening bracket; into c */
static bool items(struct parser *P, struct py_value *c, const char *close)
{
    while (!is_op(P, close)) {
        struct py_value *it = expr(P);
        if (!it)
            return false;
        val_push(c, it);
        if (is_op(P, ","))
            next(P);
        else if (!is_op(P, close)) {
            perr(P, P->lx.tline, P->lx.tcol, "expected ',' or '%s'", close);
            return false;
        }
    }
    return next(P);
}

static struct py_value *atom(struct parser *P)
{
    int line = P->lx.tline, col = P->lx.tcol;
    if (P->lx.t == T_NUM)
        return number(P);
    if (P->lx.t == T_STR) {
        struct py_value *v = val_new(PY_STR, line, col);
        struct strbuf sb = {0};
        while (P->lx.t == T_STR) { /* 'a' 'b' is 'ab' */
            sb_add(&sb, sb_str(&P->lx.s));
            if (!next(P))
                break;
        }
        v->s = sb_detach(&sb);
        if (!v->s)
            v->s = xstrdup("");
        return v;
    }
    if (P->lx.t == T_NAME) {
        char *name = xstrdup(sb_str(&P->lx.s));
        struct py_value *v = NULL;
        next(P);
        if (!strcmp(name, "True") || !strcmp(name, "False")) {
            v = val_new(PY_BOOL, line, col);
            v->i = name[0] == 'T';
        } else if (!strcmp(name, "None")) {
            v = val_new(PY_NONE, line, col);
        } else if (!strcmp(name, "set") && is_op(P, "(")) {
            next(P);
            v = val_new(PY_SET, line, col);
            if (!is_op(P, ")")) {
                struct py_value *from = expr(P);
                if (from && (from->type == PY_LIST || from->type == PY_TUPLE ||
                             from->type == PY_SET)) {
                    for (size_t i = 0; i < from->n; i++)
                        val_push(v, val_copy(from->items[i]));
                } else if (from) {
                    perr(P, from->line, from->col, "set() of a %s", py_type_name(from->type));
                }
                py_value_free(from);
            }
            if (!expect(P, ")")) {
                py_value_free(v);
                v = NULL;
            }
        } else {
            const struct py_value *known = py_module_get(P->m, name);
            if (known && !is_op(P, "("))
                v = val_copy(known);
            else if (is_op(P, "("))
                perr(P, line, col, "'%s(...)' is a call, not a literal", name);
            else
                perr(P, line, col, "name '%s' is not a literal nor assigned before", name);
        }
        free(name);
        return v;
    }
    if (is_op(P, "(")) {
        next(P);
        if (is_op(P, ")")) {
            next(P);
            return val_new(PY_TUPLE, line, col);
        }
        struct py_value *first = expr(P);
        if (!first)
            return NULL;
        if (is_op(P, ")")) {
            next(P);
            return first;
        }
        struct py_value *t = val_new(PY_TUPLE, line, col);
        val_push(t, first);
        if (!expect(P, ",") || !items(P, t, ")")) {
            py_value_free(t);
            return NULL;
        }
        return t;
    }
    if (is_op(P, "[")) {
        next(P);
        struct py_value *l = val_new(PY_LIST, line, col);
        if (!items(P, l, "]")) {
            py_value_free(l);
            return NULL;
        }
        return l;
    }
    if (is_op(P, "{")) {
        next(P);
        struct py_value *d = val_new(PY_DICT, line, col);
        if (is_op(P, "}")) {
            next(P);
            return d;
        }
        struct py_value *k = expr(P);
        if (k && !is_op(P, ":")) { /* {a, b}: a set */
            d->type = PY_SET;
            val_push(d, k);
            if (is_op(P, ","))
                next(P);
            if (!items(P, d, "}")) {
                py_value_free(d);
                return NULL;
            }
            return d;
        }
        while (k) {
            if (!expect(P, ":"))
                break;
            struct py_value *v = expr(P);
            if (!v)
                break;
            val_push(d, k);
            val_push(d, v);
            k = NULL;
            if (is_op(P, ",")) {
                next(P);
                if (!is_op(P, "}"))
                    k = expr(P);
            } else if (!is_op(P, "}")) {
                perr(P, P->lx.tline, P->lx.tcol, "expected ',' or '}'");
            }
        }
        py_value_free(k);
        if (P->failed || !expect(P, "}")) {
            py_value_free(d);
            return NULL;
        }
        return d;
    }
    if (P->lx.t == T_EOF || P->lx.t == T_NEWLINE)
        perr(P, line, col, "expected a value");
    else
        perr(P, line, col, "'%.*s' does not start a literal", (int)(P->lx.p - P->lx.start),
             P->lx.start);
    return NULL;
}

/* floor() and pow() without libm: literals need only the simple cases */
static double dfloor(double x)
{
    if (x > 9e18 || x < -9e18 || x != x)
        return x;
    double t = (double)(long long)x;
    return t > x ? t - 1 : t;
}

/* x ** y for an integer y; false for another exponent */
static bool dpow(double x, double y, double *out)
{
    if (y != dfloor(y) || y > 4096 || y < -4096)
        return false;
    double r = 1;
    for (long k = 0; k < (long)(y < 0 ? -y : y); k++)
        r *= x;
    *out = y < 0 ? 1 / r : r;
    return true;
}

/*
 * x ** y for y >= 0 by squaring: log2(y) steps, so 1 ** 2 ** 30 in a conf.py
 * does not take a billion (found by fuzzing). false on overflow.
 */
static bool ipow(long long x, long long y, long long *out)
{
    long long r = 1, b = x;
    while (y > 0) {
        if ((y & 1) && __builtin_mul_overflow(r, b, &r))
            return false;
        y >>= 1;
        /* |b| > 3e9 only for |x| >= 2, and r is then a non-zero factor still to grow */
        if (y > 0 && __builtin_mul_overflow(b, b, &b))
            return false;
    }
    *out = r;
    return true;
}

static bool numeric(const struct py_value *v)
{
    return v->type == PY_INT || v->type == PY_FLOAT || v->type == PY_BOOL;
}

static double as_double(const struct py_value *v)
{
    return v->type == PY_FLOAT ? v->f : (double)v->i;
}

/* a op b into a (b freed); false with an error */
static bool arith(struct parser *P, struct py_value *a, const char *op, struct py_value *b,
                  int line, int col)
{
    bool ok = true;
    if (!strcmp(op, "+") && a->type == b->type &&
        (a->type == PY_STR || a->type == PY_LIST || a->type == PY_TUPLE)) {
        if (a->type == PY_STR) {
            char *s = xasprintf("%s%s", a->s, b->s);
            free(a->s);
            a->s = s;
        } else {
            for (size_t i = 0; i < b->n; i++)
                val_push(a, val_copy(b->items[i]));
        }
    } else if (!numeric(a) || !numeric(b)) {
        perr(P, line, col, "'%s' of a %s and a %s is not a literal", op, py_type_name(a->type),
             py_type_name(b->type));
        ok = false;
    } else if (a->type != PY_FLOAT && b->type != PY_FLOAT && strcmp(op, "/")) {
        long long x = a->i, y = b->i, r = 0;
        bool over = false;
        if (!strcmp(op, "+"))
            over = __builtin_add_overflow(x, y, &r);
        else if (!strcmp(op, "-"))
            over = __builtin_sub_overflow(x, y, &r);
        else if (!strcmp(op, "*"))
            over = __builtin_mul_overflow(x, y, &r);
        else if (!strcmp(op, "**")) {
            if (y < 0) {
                a->type = PY_FLOAT;
                dpow((double)x, (double)y, &a->f);
                py_value_free(b);
                return true;
            }
            over = !ipow(x, y, &r);
        } else { /* // and %: floor division as Python does it */
            if (y == 0) {
                perr(P, line, col, "division by zero");
                py_value_free(b);
                return false;
            }
            long long q = x / y, m = x % y;
            if (m && ((m < 0) != (y < 0))) {
                q--;
                m += y;
            }
            r = !strcmp(op, "//") ? q : m;
        }
        if (over) {
            perr(P, line, col, "integer out of range");
            ok = false;
        }
        a->type = PY_INT;
        a->i = r;
    } else {
        double x = as_double(a), y = as_double(b), r;
        if (y == 0 && (!strcmp(op, "/") || !strcmp(op, "//") || !strcmp(op, "%"))) {
            perr(P, line, col, "division by zero");
            py_value_free(b);
            return false;
        }
        if (!strcmp(op, "+"))
            r = x + y;
        else if (!strcmp(op, "-"))
            r = x - y;
        else if (!strcmp(op, "*"))
            r = x * y;
        else if (!strcmp(op, "/"))
            r = x / y;
        else if (!strcmp(op, "//"))
            r = dfloor(x / y);
        else if (!strcmp(op, "%"))
            r = x - dfloor(x / y) * y;
        else if (!dpow(x, y, &r)) {
            perr(P, line, col, "'**' with an exponent that is not a whole number");
            py_value_free(b);
            return false;
        }
        /* 10/2 stays an int when exact (a Python 2 conf.py divided integers) */
        if (!strcmp(op, "/") && a->type != PY_FLOAT && b->type != PY_FLOAT && r == dfloor(r) &&
            r < 9e18 && r > -9e18) {
            a->type = PY_INT;
            a->i = (long long)r;
        } else {
            a->type = PY_FLOAT;
            a->f = r;
        }
    }
    py_value_free(b);
    return ok;
}

static struct py_value *unary(struct parser *P);

static struct py_value *power(struct parser *P)
{
    struct py_value *a = atom(P);
    if (a && is_op(P, "**")) {
        int line = P->lx.tline, col = P->lx.tcol;
        next(P);
        struct py_value *b = unary(P); /* right-associative, binds tighter than unary minus */
        if (!b || !arith(P, a, "**", b, line, col)) {
            py_value_free(a);
            return NULL;
        }
    }
    return a;
}

static struct py_value *unary(struct parser *P)
{
    if (is_op(P, "-") || is_op(P, "+")) {
        bool neg = is_op(P, "-");
        int line = P->lx.tline, col = P->lx.tcol;
        next(P);
        if (++P->nest > PY_MAX_DEPTH) {
            perr(P, line, col, "nested too deeply");
            return NULL;
        }
        struct py_value *v = unary(P);
        P->nest--;
        if (v && !numeric(v)) {
            perr(P, line, col, "'%c' of a %s", neg ? '-' : '+', py_type_name(v->type));
            py_value_free(v);
            return NULL;
        }
        if (v && neg) {
            if (v->type == PY_FLOAT)
                v->f = -v->f;
            else if (v->i == LLONG_MIN) {
                perr(P, line, col, "integer out of range");
                py_value_free(v);
                return NULL;
            } else {
                v->i = -v->i;
                v->type = PY_INT;
            }
        }
        return v;
    }
    return power(P);
}

static struct py_value *term(struct parser *P)
{
    struct py_value *a = unary(P);
    while (a && (is_op(P, "*") || is_op(P, "/") || is_op(P, "//") || is_op(P, "%"))) {
        char op[3];
        memcpy(op, P->lx.op, sizeof(op));
        int line = P->lx.tline, col = P->lx.tcol;
        next(P);
        struct py_value *b = unary(P);
        if (!b || !arith(P, a, op, b, line, col)) {
            py_value_free(a);
            return NULL;
        }
    }
    return a;
}

static struct py_value *expr(struct parser *P)
{
    if (++P->nest > PY_MAX_DEPTH) {
        perr(P, P->lx.tline, P->lx.tcol, "nested too deeply");
        P->nest--;
        return NULL;
    }
    struct py_value *a = term(P);
    while (a && (is_op(P, "+") || is_op(P, "-"))) {
        char op[3];
        memcpy(op, P->lx.op, sizeof(op));
        int line = P->lx.tline, col = P->lx.tcol;
        next(P);
        struct py_value *b = term(P);
        if (!b || !arith(P, a, op, b, line, col)) {
            py_value_free(a);
            a = NULL;
        }
    }
    P->nest--;
    return a;
}

/* the right-hand side of an assignment: an expression, or a, b, ... (a tuple) */
static struct py_value *rhs(struct parser *P)
{
    int line = P->lx.tline, col = P->lx.tcol;
    struct py_value *first = expr(P);
    if (!first || !is_op(P, ","))
        return first;
    struct py_value *t = val_new(PY_TUPLE, line, col);
    val_push(t, first);
    while (is_op(P, ",")) {
        next(P);
        if (P->lx.t == T_NEWLINE || P->lx.t == T_EOF)
            break;
        struct py_value *v = expr(P);
        if (!v) {
            py_value_free(t);
            return NULL;
        }
        val_push(t, v);
    }
    return t;
}

/* ---------------------------------------------------------------- statements */

static size_t module_slot(struct py_module *m, const char *name, int line)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->names[i], name))
            return i;
    if (m->n >= m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->names = xrealloc(m->names, m->cap * sizeof(*m->names));
        m->values = xrealloc(m->values, m->cap * sizeof(*m->values));
        m->lines = xrealloc(m->lines, m->cap * sizeof(*m->lines));
    }
    m->names[m->n] = xstrdup(name);
    m->values[m->n] = NULL;
    m->lines[m->n] = line;
    return m->n++;
}

const struct py_value *py_module_get(const struct py_module *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->names[i], name))
            return m->values[i];
    return NULL;
}

void py_module_release(struct py_module *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->names[i]);
        py_value_free(m->values[i]);
    }
    free(m->names);
    free(m->values);
    free(m->lines);
    memset(m, 0, sizeof(*m));
}

/* NAME[key] (the element, or where it goes: *slot is NULL when key is new) */
static struct py_value **subscript(struct parser *P, struct py_value *c, struct py_value *key,
                                   bool create)
{
    if (c->type == PY_DICT) {
        for (size_t i = 0; i + 1 < c->n; i += 2)
            if (val_eq(c->items[i], key))
                return &c->items[i + 1];
        if (!create) {
            perr(P, key->line, key->col, "no such key");
            return NULL;
        }
        val_push(c, val_copy(key));
        val_push(c, NULL);
        return &c->items[c->n - 1];
    }
    if (c->type == PY_LIST && key->type == PY_INT) {
        long long i = key->i < 0 ? key->i + (long long)c->n : key->i;
        if (i >= 0 && i < (long long)c->n)
            return &c->items[i];
        perr(P, key->line, key->col, "list index out of range");
        return NULL;
    }
    perr(P, key->line, key->col, "a %s cannot be indexed by a %s", py_type_name(c->type),
         py_type_name(key->type));
    return NULL;
}

/* Skip to the end of the statement and the indented lines of its block. */
static void skip_statement(struct parser *P)
{
    /* to the end of the line, or of the brackets opened on it */
    while (P->lx.t != T_NEWLINE && P->lx.t != T_EOF) {
        const char *why;
        if (!lx_next(&P->lx, &why) && P->lx.p < P->lx.end && *P->lx.p != '\n')
            lx_adv(&P->lx); /* a byte no token starts with: step over it */
        if (P->lx.p >= P->lx.end && P->lx.t != T_NEWLINE)
            P->lx.t = T_EOF;
    }
    /* an indented line after a skipped one belongs to its block */
    while (P->lx.p < P->lx.end && (*P->lx.p == ' ' || *P->lx.p == '\t')) {
        const char *q = P->lx.p;
        while (q < P->lx.end && (*q == ' ' || *q == '\t'))
            q++;
        if (q < P->lx.end && *q != '\n' && *q != '#') {
            P->lx.t = T_NAME; /* anything but NEWLINE: skip this line too */
            while (P->lx.p < P->lx.end && *P->lx.p != '\n')
                lx_adv(&P->lx);
        } else {
            while (P->lx.p < P->lx.end && *P->lx.p != '\n')
                lx_adv(&P->lx);
        }
        if (P->lx.p < P->lx.end)
            lx_adv(&P->lx);
    }
    P->lx.depth = 0;
    if (P->lx.t != T_EOF)
        P->lx.t = T_NEWLINE; /* at the start of the next statement's line */
}

static void statement(struct parser *P)
{
    int line = P->lx.tline, col = P->lx.tcol;
    char *name = P->lx.t == T_NAME ? xstrdup(sb_str(&P->lx.s)) : NULL;
    bool literal = false;
    if (name) {
        struct lexer peek = P->lx;
        peek.s = (struct strbuf){0};
        const char *why;
        literal = lx_next(&peek, &why) && peek.t == T_OP &&
                  (!strcmp(peek.op, "=") || !strcmp(peek.op, "["));
        sb_release(&peek.s);
    }
    if (!literal) {
        diags_add(P->d, DIAG_WARNING, P->file, line, col,
                  "skipped: not a literal assignment (only NAME = literal is read)");
        free(name);
        skip_statement(P);
        return;
    }
    next(P);
    size_t slot = module_slot(P->m, name, line);
    if (is_op(P, "=")) {
        next(P);
        struct py_value *v = rhs(P);
        if (v && P->lx.t != T_NEWLINE && P->lx.t != T_EOF)
            perr(P, P->lx.tline, P->lx.tcol, "expected the end of the statement");
        if (v && !P->failed) {
            py_value_free(P->m->values[slot]);
            P->m->values[slot] = v;
        } else {
            py_value_free(v);
        }
    } else { /* NAME[key] = value, NAME[key].append(value) */
        next(P);
        struct py_value *key = expr(P), *v = NULL;
        struct py_value *target = P->m->values[slot];
        bool append = false;
        if (key && expect(P, "]")) {
            if (is_op(P, "=")) {
                next(P);
                v = rhs(P);
            } else if (is_op(P, ".") && next(P) && P->lx.t == T_NAME &&
                       !strcmp(sb_str(&P->lx.s), "append") && next(P) && expect(P, "(")) {
                append = true;
                v = expr(P);
                if (v)
                    expect(P, ")");
            } else {
                perr(P, P->lx.tline, P->lx.tcol, "expected '=' or '.append('");
            }
        }
        if (v && !P->failed && P->lx.t != T_NEWLINE && P->lx.t != T_EOF)
            perr(P, P->lx.tline, P->lx.tcol, "expected the end of the statement");
        if (!P->failed && !target)
            perr(P, line, col, "'%s' is not assigned before", name);
        if (!P->failed) {
            struct py_value **el = subscript(P, target, key, !append);
            if (el && append) {
                if (*el && (*el)->type == PY_LIST) {
                    val_push(*el, v);
                    v = NULL;
                } else {
                    perr(P, line, col, "append to a %s", *el ? py_type_name((*el)->type) : "None");
                }
            } else if (el) {
                py_value_free(*el);
                *el = v;
                v = NULL;
            }
        }
        py_value_free(key);
        py_value_free(v);
    }
    free(name);
    if (P->failed)
        skip_statement(P);
}

int py_module_read(struct py_module *m, const char *file, const char *text, size_t len,
                   struct diags *d)
{
    struct parser P = {.file = file, .d = d, .m = m};
    P.lx.text = P.lx.p = text;
    P.lx.end = text + len;
    P.lx.line = P.lx.col = 1;
    size_t errors = diags_count(d, DIAG_ERROR);
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
        P.lx.p += 3; /* a UTF-8 byte order mark */
    next(&P);
    while (P.lx.t != T_EOF) {
        P.failed = false;
        P.nest = 0;
        if (P.lx.t == T_NEWLINE) {
            next(&P);
            continue;
        }
        statement(&P);
        if (P.lx.t == T_NEWLINE || P.failed) {
            P.failed = false;
            next(&P);
        }
    }
    sb_release(&P.lx.s);
    return diags_count(d, DIAG_ERROR) > errors ? -1 : 0;
}
