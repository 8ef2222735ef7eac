/*
 * yaml_tree.c - libyaml events -> ynode tree with positions and limits.
 *
 * Collections are attached to their parent when they open, so freeing the
 * root always frees everything. Anchors point into the tree; an alias is a
 * deep copy charged against the node budget before it is made, which keeps
 * "billion laughs" input to a few milliseconds of work.
 */
#include "yaml_tree.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct frame {
    struct ynode *node;
    struct ynode *key; /* MAP: a key waiting for its value */
    char *anchor;      /* registered when the collection closes */
};

struct anchor {
    char *name; /* NULL: free slot */
    struct ynode *node;
};

struct builder {
    const char *file;
    const char *data;
    size_t len;
    struct diags *d;
    const struct ytree_limits *lim;
    struct frame *stack;
    size_t depth, cap;
    struct ynode *root;
    struct anchor *anchors; /* open addressing, power-of-two size */
    size_t nanchors, anchors_cap;
    struct ynode **graveyard; /* dropped duplicate pairs: anchors may point in */
    size_t ngrave, capgrave;
    size_t nodes;
    size_t errors; /* reported without failing (duplicate keys, tags) */
    int docs;
    bool failed;
};

/* ------------------------------------------------------------------------ */
/* nodes */

static struct ynode *node_new(enum ynode_kind kind, int line, int col)
{
    struct ynode *n = xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->line = line;
    n->col = col;
    n->weight = 1;
    return n;
}

static void ypair_release(struct ypair *pr)
{
    ynode_free(pr->key);
    ynode_free(pr->value);
}

void ynode_free(struct ynode *n)
{
    if (!n)
        return;
    free(n->scalar);
    ARRAY_FREE(n->pairs, n->npairs, ypair_release);
    for (size_t i = 0; i < n->nitems; i++)
        ynode_free(n->items[i]);
    free(n->items);
    free(n);
}

/* Deep copy; the caller has checked the budget against n->weight. */
static struct ynode *node_copy(const struct ynode *n)
{
    struct ynode *c = node_new(n->kind, n->line, n->col);
    c->weight = n->weight;
    c->height = n->height;
    if (n->kind == YNODE_SCALAR) {
        c->scalar = xmalloc(n->len + 1);
        memcpy(c->scalar, n->scalar, n->len + 1);
        c->len = n->len;
        c->plain = n->plain;
    } else if (n->kind == YNODE_MAP) {
        c->pairs = xcalloc(n->npairs ? n->npairs : 1, sizeof(*c->pairs));
        c->npairs = c->cappairs = n->npairs;
        for (size_t i = 0; i < n->npairs; i++) {
            c->pairs[i].key = node_copy(n->pairs[i].key);
            c->pairs[i].value = node_copy(n->pairs[i].value);
        }
    } else {
        c->items = xcalloc(n->nitems ? n->nitems : 1, sizeof(*c->items));
        c->nitems = c->capitems = n->nitems;
        for (size_t i = 0; i < n->nitems; i++)
            c->items[i] = node_copy(n->items[i]);
    }
    return c;
}

/* Recompute weight and height of a closed collection from its children. */
static void node_measure(struct ynode *n)
{
    size_t w = 1;
    int h = 0;
    for (size_t i = 0; i < n->npairs; i++) {
        w += n->pairs[i].key->weight + n->pairs[i].value->weight;
        if (n->pairs[i].value->height > h)
            h = n->pairs[i].value->height;
    }
    for (size_t i = 0; i < n->nitems; i++) {
        w += n->items[i]->weight;
        if (n->items[i]->height > h)
            h = n->items[i]->height;
    }
    n->weight = w;
    n->height = h + 1;
}

/* ------------------------------------------------------------------------ */
/* anchors */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct anchor *anchor_slot(struct anchor *tab, size_t cap, const char *name)
{
    size_t i = (size_t)hash_str(name) & (cap - 1);
    while (tab[i].name && strcmp(tab[i].name, name) != 0)
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

/* Define or redefine an anchor (YAML lets a later anchor shadow an earlier one). */
static void anchor_set(struct builder *b, const char *name, struct ynode *node)
{
    if ((b->nanchors + 1) * 2 > b->anchors_cap) {
        size_t ncap = b->anchors_cap ? b->anchors_cap * 2 : 16;
        struct anchor *nt = xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < b->anchors_cap; i++)
            if (b->anchors[i].name)
                *anchor_slot(nt, ncap, b->anchors[i].name) = b->anchors[i];
        free(b->anchors);
        b->anchors = nt;
        b->anchors_cap = ncap;
    }
    struct anchor *a = anchor_slot(b->anchors, b->anchors_cap, name);
    if (!a->name) {
        a->name = xstrdup(name);
        b->nanchors++;
    }
    a->node = node;
}

static struct ynode *anchor_get(struct builder *b, const char *name)
{
    if (!b->anchors_cap)
        return NULL;
    struct anchor *a = anchor_slot(b->anchors, b->anchors_cap, name);
    return a->name ? a->node : NULL;
}

/* ------------------------------------------------------------------------ */
/* building */

static void fail(struct builder *b, int line, int col, const char *fmt, ...) RMGR_PRINTF(4, 5);

static void fail(struct builder *b, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diags_vadd(b->d, DIAG_ERROR, b->file, line, col, fmt, ap);
    va_end(ap);
    b->failed = true;
}

/* Count one error that does not stop the parse; past the limit the parse stops. */
static bool within_error_limit(struct builder *b, int line, int col)
{
    if (b->failed)
        return false;
    if (b->lim->max_errors && ++b->errors > b->lim->max_errors) {
        fail(b, line, col, "too many errors, stopping");
        return false;
    }
    return true;
}

static bool charge(struct builder *b, size_t weight, int line, int col)
{
    if (b->nodes + weight > b->lim->max_nodes) {
        fail(b, line, col, "document has more than %zu nodes (after alias expansion)",
             b->lim->max_nodes);
        return false;
    }
    b->nodes += weight;
    return true;
}

/* Hang a finished or just-opened node under the current collection. */
static void attach(struct builder *b, struct ynode *n)
{
    if (b->depth == 0) {
        b->root = n;
        return;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->node->kind == YNODE_SEQ) {
        VEC_GROW(f->node->items, f->node->nitems, f->node->capitems);
        f->node->items[f->node->nitems++] = n;
    } else if (!f->key) {
        if (n->kind != YNODE_SCALAR) {
            fail(b, n->line, n->col, "mapping keys must be scalars");
            ynode_free(n);
            return;
        }
        f->key = n;
    } else {
        VEC_GROW(f->node->pairs, f->node->npairs, f->node->cappairs);
        f->node->pairs[f->node->npairs].key = f->key;
        f->node->pairs[f->node->npairs].value = n;
        f->node->npairs++;
        f->key = NULL;
    }
}

struct keyref {
    const struct ynode *key;
    size_t index;
};

static int keyref_cmp(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    size_t n = x->key->len < y->key->len ? x->key->len : y->key->len;
    int c = memcmp(x->key->scalar, y->key->scalar, n);
    if (c)
        return c;
    if (x->key->len != y->key->len)
        return x->key->len < y->key->len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Report and drop every repeated key in a closed mapping (sorting keeps it n log n). */
static void drop_duplicate_keys(struct builder *b, struct ynode *map)
{
    if (map->npairs < 2)
        return;
    struct keyref *refs = xmalloc(map->npairs * sizeof(*refs));
    bool *drop = xcalloc(map->npairs, sizeof(*drop));
    for (size_t i = 0; i < map->npairs; i++)
        refs[i] = (struct keyref){map->pairs[i].key, i};
    qsort(refs, map->npairs, sizeof(*refs), keyref_cmp);
    size_t ndrop = 0, first = 0;
    for (size_t i = 1; i < map->npairs; i++) {
        const struct ynode *a = refs[i - 1].key, *c = refs[i].key;
        if (a->len != c->len || memcmp(a->scalar, c->scalar, a->len) != 0) {
            first = i; /* a new run of equal keys starts */
            continue;
        }
        const struct ynode *k = refs[i].key, *k0 = refs[first].key;
        if (within_error_limit(b, k->line, k->col))
            diags_add(b->d, DIAG_ERROR, b->file, k->line, k->col,
                      "duplicate key '%s' (first at line %d)", k->scalar, k0->line);
        drop[refs[i].index] = true;
        ndrop++;
    }
    if (ndrop) {
        size_t j = 0;
        for (size_t i = 0; i < map->npairs; i++) {
            if (drop[i]) {
                for (int k = 0; k < 2; k++) {
                    VEC_GROW(b->graveyard, b->ngrave, b->capgrave);
                    b->graveyard[b->ngrave++] = k ? map->pairs[i].value : map->pairs[i].key;
                }
            } else {
                map->pairs[j++] = map->pairs[i];
            }
        }
        map->npairs = j;
    }
    free(refs);
    free(drop);
}

static void open_collection(struct builder *b, enum ynode_kind kind, const yaml_event_t *ev,
                            const yaml_char_t *anchor)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if ((int)b->depth + 1 > b->lim->max_depth) {
        fail(b, line, col, "nesting is deeper than %d levels", b->lim->max_depth);
        return;
    }
    if (!charge(b, 1, line, col))
        return;
    struct ynode *n = node_new(kind, line, col);
    attach(b, n);
    if (b->failed)
        return;
    VEC_GROW(b->stack, b->depth, b->cap);
    b->stack[b->depth++] = (struct frame){n, NULL, anchor ? xstrdup((const char *)anchor) : NULL};
}

static void close_collection(struct builder *b)
{
    struct frame *f = &b->stack[--b->depth];
    if (f->key) { /* cannot happen with a well-formed event stream */
        ynode_free(f->key);
        f->key = NULL;
    }
    if (f->node->kind == YNODE_MAP)
        drop_duplicate_keys(b, f->node);
    node_measure(f->node);
    if (f->anchor) {
        anchor_set(b, f->anchor, f->node);
        free(f->anchor);
    }
}

static void add_scalar(struct builder *b, const yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if (!charge(b, 1, line, col))
        return;
    struct ynode *n = node_new(YNODE_SCALAR, line, col);
    n->len = ev->data.scalar.length;
    n->scalar = xmalloc(n->len + 1);
    memcpy(n->scalar, ev->data.scalar.value, n->len);
    n->scalar[n->len] = '\0';
    const char *tag = (const char *)ev->data.scalar.tag;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag;
    if (tag && strcmp(tag, "!") != 0 && strcmp(tag, YAML_STR_TAG) != 0 &&
        within_error_limit(b, line, col))
        diags_add(b->d, DIAG_ERROR, b->file, line, col, "unsupported tag '%s'", tag);
    if (ev->data.scalar.anchor)
        anchor_set(b, (const char *)ev->data.scalar.anchor, n);
    attach(b, n);
}

static void add_alias(struct builder *b, const yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    const char *name = (const char *)ev->data.alias.anchor;
    struct ynode *target = anchor_get(b, name);
    if (!target) {
        fail(b, line, col, "undefined alias '%s'", name);
        return;
    }
    if ((int)b->depth + target->height > b->lim->max_depth) {
        fail(b, line, col, "nesting is deeper than %d levels", b->lim->max_depth);
        return;
    }
    if (!charge(b, target->weight, line, col))
        return;
    struct ynode *n = node_copy(target);
    n->line = line; /* the alias itself is where a reader looks */
    n->col = col;
    attach(b, n);
}

/* 1-based line and column of a byte offset (libyaml reader errors give only offsets). */
static void offset_pos(const char *data, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (data[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static void report_parser_error(struct builder *b, const yaml_parser_t *p)
{
    int line, col;
    if (p->error == YAML_READER_ERROR) {
        offset_pos(b->data, b->len, p->problem_offset, &line, &col);
        fail(b, line, col, "invalid input: %s", p->problem ? p->problem : "unreadable");
        return;
    }
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
    const char *problem = p->problem ? p->problem : "cannot parse";
    if (p->context)
        fail(b, line, col, "syntax error: %s (%s at line %d)", problem, p->context,
             (int)p->context_mark.line + 1);
    else
        fail(b, line, col, "syntax error: %s", problem);
}

struct ynode *ytree_parse(const char *file, const char *data, size_t len,
                          const struct ytree_limits *lim, struct diags *d)
{
    struct builder b = {.file = file, .data = data, .len = len, .d = d, .lim = lim};
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        diags_add(d, DIAG_ERROR, file, 0, 0, "cannot initialise the yaml parser");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            report_parser_error(&b, &p);
            break;
        }
        yaml_event_type_t type = ev.type;
        switch (type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++b.docs > 1)
                fail(&b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                     "a spec holds one yaml document; a second one starts here");
            break;
        case YAML_SCALAR_EVENT:
            add_scalar(&b, &ev);
            break;
        case YAML_ALIAS_EVENT:
            add_alias(&b, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            open_collection(&b, YNODE_SEQ, &ev, ev.data.sequence_start.anchor);
            break;
        case YAML_MAPPING_START_EVENT:
            open_collection(&b, YNODE_MAP, &ev, ev.data.mapping_start.anchor);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (b.depth)
                close_collection(&b);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT || b.failed)
            break;
    }
    yaml_parser_delete(&p);

    for (size_t i = 0; i < b.depth; i++) {
        ynode_free(b.stack[i].key);
        free(b.stack[i].anchor);
    }
    free(b.stack);
    for (size_t i = 0; i < b.anchors_cap; i++)
        free(b.anchors[i].name);
    free(b.anchors);
    for (size_t i = 0; i < b.ngrave; i++)
        ynode_free(b.graveyard[i]);
    free(b.graveyard);

    if (b.failed) {
        ynode_free(b.root);
        return NULL;
    }
    if (!b.root)
        diags_add(d, DIAG_ERROR, file, 1, 1, "spec is empty");
    return b.root;
}

/* ------------------------------------------------------------------------ */
/* queries */

/* The pair of `map` whose key is `key`, or NULL (also when `map` is not a map). */
static const struct ypair *find_pair(const struct ynode *map, const char *key)
{
    if (!map || map->kind != YNODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->npairs; i++)
        if (!strcmp(map->pairs[i].key->scalar, key))
            return &map->pairs[i];
    return NULL;
}

const struct ynode *ynode_get_key(const struct ynode *map, const char *key)
{
    const struct ypair *p = find_pair(map, key);
    return p ? p->key : NULL;
}

const struct ynode *ynode_get(const struct ynode *map, const char *key)
{
    const struct ypair *p = find_pair(map, key);
    return p ? p->value : NULL;
}

static bool word_in(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (!strcmp(s, *words))
            return true;
    return false;
}

bool ynode_is_null(const struct ynode *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    return n && n->kind == YNODE_SCALAR && n->plain && word_in(n->scalar, nulls);
}

bool ynode_is_bool(const struct ynode *n, bool *out)
{
    static const char *const t[] = {"true", "True", "TRUE", NULL};
    static const char *const f[] = {"false", "False", "FALSE", NULL};
    if (!n || n->kind != YNODE_SCALAR || !n->plain)
        return false;
    if (word_in(n->scalar, t)) {
        *out = true;
        return true;
    }
    if (word_in(n->scalar, f)) {
        *out = false;
        return true;
    }
    return false;
}

static bool looks_bool(const struct ynode *n)
{
    bool b;
    return ynode_is_bool(n, &b);
}

static bool all_of(const char *s, const char *set)
{
    return *s && strspn(s, set) == strlen(s);
}

/* core schema int: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ */
static bool looks_int(const struct ynode *n)
{
    const char *s = n->scalar;
    if (!n->plain)
        return false;
    if (s[0] == '0' && s[1] == 'o')
        return all_of(s + 2, "01234567");
    if (s[0] == '0' && s[1] == 'x')
        return all_of(s + 2, "0123456789abcdefABCDEF");
    if (*s == '-' || *s == '+')
        s++;
    return all_of(s, "0123456789");
}

/* core schema float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, [-+]?.inf, .nan */
static bool looks_float(const struct ynode *n)
{
    static const char *const special[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                          "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN",
                                          NULL};
    const char *s = n->scalar;
    if (!n->plain)
        return false;
    if (word_in(s, special))
        return true;
    if (*s == '-' || *s == '+')
        s++;
    size_t before = strspn(s, "0123456789"), after = 0;
    s += before;
    if (*s == '.') {
        s++;
        after = strspn(s, "0123456789");
        s += after;
    }
    if (!before && !after)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!all_of(s, "0123456789"))
            return false;
        s += strlen(s);
    }
    return !*s;
}

bool ynode_int(const struct ynode *n, long *out)
{
    if (!n || n->kind != YNODE_SCALAR || !n->plain)
        return false;
    const char *s = n->scalar;
    char *end;
    errno = 0;
    if (looks_int(n)) {
        long v;
        if (s[0] == '0' && (s[1] == 'o' || s[1] == 'x'))
            v = strtol(s + 2, &end, s[1] == 'o' ? 8 : 16);
        else
            v = strtol(s, &end, 10);
        if (errno || *end)
            return false;
        *out = v;
        return true;
    }
    if (!looks_float(n))
        return false;
    /* JSON Schema's "integer" is any number without a fraction: 2.0 is 2.
     * strtod stops at ".inf" and ".nan"; NaN fails both comparisons. */
    double d = strtod(s, &end);
    if (*end || !(d >= -9.2e18 && d <= 9.2e18) || (double)(long)d != d)
        return false;
    *out = (long)d;
    return true;
}

bool ynode_looks_typed(const struct ynode *n)
{
    return n && n->kind == YNODE_SCALAR &&
           (ynode_is_null(n) || looks_bool(n) || looks_int(n) || looks_float(n));
}

const char *ynode_describe(const struct ynode *n)
{
    if (!n)
        return "nothing";
    if (n->kind == YNODE_MAP)
        return "a mapping";
    if (n->kind == YNODE_SEQ)
        return "a sequence";
    if (ynode_is_null(n))
        return "null";
    if (looks_bool(n))
        return "a boolean";
    if (looks_int(n))
        return "an integer";
    if (looks_float(n))
        return "a number";
    return "a string";
}
