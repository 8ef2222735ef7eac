/*
 * pylit.h - read the literal assignments of a Python file without running
 * it: what `rmgr convert redis-mgr` needs of a redis-mgr conf.py.
 *
 * Top-level statements of these forms are read, in order:
 *   NAME = EXPR            NAME[EXPR] = EXPR            NAME[EXPR].append(EXPR)
 * where EXPR is a literal: strings (quotes of every kind, prefixes r/u/b,
 * adjacent ones joined), integers, floats, True/False/None, tuples, lists,
 * dicts, set([...]) and {a, b}, arithmetic on numbers (+ - * / // % **,
 * parentheses), + on strings and lists, and NAME of an earlier assignment.
 * Anything else (an import, a function, a call) is skipped with a warning at
 * its position; nothing is ever executed or imported.
 */
#ifndef RMGR_PYLIT_H
#define RMGR_PYLIT_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

enum py_type { PY_NONE, PY_BOOL, PY_INT, PY_FLOAT, PY_STR, PY_TUPLE, PY_LIST, PY_DICT, PY_SET };

struct py_value {
    enum py_type type;
    int line, col;            /* where it is written */
    long long i;              /* PY_INT, PY_BOOL */
    double f;                 /* PY_FLOAT */
    char *s;                  /* PY_STR (NUL-terminated; an embedded NUL ends it) */
    struct py_value **items;  /* PY_TUPLE, PY_LIST, PY_SET; PY_DICT: keys and values alternate */
    size_t n;                 /* items (a dict has 2 * entries) */
};

struct py_module {
    char **names;             /* top-level names assigned, in first-assignment order */
    struct py_value **values;
    int *lines;               /* where each was first assigned */
    size_t n, cap;
};

/*
 * Read `text` (len bytes; `file` names it in messages) into *m (zeroed).
 * Statements that are not literal assignments are skipped with a warning in
 * `d`; a literal that is malformed is an error. Returns 0, or -1 when `d`
 * got an error (*m still holds what was read).
 */
int py_module_read(struct py_module *m, const char *file, const char *text, size_t len,
                   struct diags *d);

void py_module_release(struct py_module *m);

/* The value assigned to `name` last, or NULL. */
const struct py_value *py_module_get(const struct py_module *m, const char *name);

/* The value of key `key` (a string) in dict `dict`, or NULL. */
const struct py_value *py_dict_get(const struct py_value *dict, const char *key);

/* The type's name as Python says it: "str", "tuple", ... */
const char *py_type_name(enum py_type t);

void py_value_free(struct py_value *v);

#endif
