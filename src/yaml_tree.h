/*
 * yaml_tree.h - one YAML document read with libyaml's event parser into a
 * small tree whose every node (keys included) knows its line and column.
 *
 * The builder enforces limits so hostile input fails fast with a clear
 * message: nesting depth, and the node count after alias expansion (aliases
 * are expanded by copying, so "billion laughs" stops at the node budget).
 * Duplicate keys in a mapping are reported and the later pair is dropped.
 */
#ifndef RMGR_YAML_TREE_H
#define RMGR_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

enum ynode_kind { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ };

struct ynode;

struct ypair {
    struct ynode *key; /* always a scalar */
    struct ynode *value;
};

struct ynode {
    enum ynode_kind kind;
    int line, col;     /* 1-based */
    char *scalar;      /* SCALAR: NUL-terminated text */
    size_t len;        /* SCALAR: length (text may hold NUL bytes) */
    bool plain;        /* SCALAR: unquoted and untagged, so it may mean null/bool/int */
    struct ypair *pairs; /* MAP */
    size_t npairs, cappairs;
    struct ynode **items; /* SEQ */
    size_t nitems, capitems;
    size_t weight;     /* nodes in this subtree, itself included */
    int height;        /* nesting levels of collections in this subtree */
};

struct ytree_limits {
    size_t max_nodes; /* after alias expansion */
    int max_depth;    /* collections nested deeper fail */
    size_t max_errors; /* more fail with "too many errors, stopping"; 0: no limit */
};

/*
 * Parse one document. Problems go to `d` with `file`:line:col. Returns the
 * root, or NULL after a syntax error, an exceeded limit, an empty input or
 * a second document. Duplicate keys are errors but still return a tree.
 */
struct ynode *ytree_parse(const char *file, const char *data, size_t len,
                          const struct ytree_limits *lim, struct diags *d);

void ynode_free(struct ynode *n);

/* The value under `key` in a mapping, or NULL (also when n is not a mapping). */
const struct ynode *ynode_get(const struct ynode *map, const char *key);
/* The key node for `key` in a mapping, or NULL. */
const struct ynode *ynode_get_key(const struct ynode *map, const char *key);

/* Plain scalar typing, the YAML 1.2 core schema: `yes`, `no`, `on`, `off` are strings. */
bool ynode_is_null(const struct ynode *n);
bool ynode_is_bool(const struct ynode *n, bool *out); /* true/false only */
bool ynode_looks_typed(const struct ynode *n);        /* plain null, bool, int or float */
/*
 * The value of a plain core-schema integer (decimal, 0o octal, 0x hex), or of a
 * number without a fraction (2.0, 5e3), which JSON Schema also counts as an
 * integer; false otherwise.
 */
bool ynode_int(const struct ynode *n, long *out);

/* "a mapping", "a sequence", "null", "a boolean", "an integer", "a number", "a string" */
const char *ynode_describe(const struct ynode *n);

#endif
