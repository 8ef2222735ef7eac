/*
 * spec_load_impl.h - what the spec loader's files share; private to
 * spec_load.c (fields, sections, the load), spec_alerts.c (alerts:),
 * spec_check.c (messages, suggestions, value checks) and spec_addr.c (addresses: IP literals,
 * NAME:PORT, resolution against hosts:, one instance per address).
 */
#ifndef RMGR_SPEC_LOAD_IMPL_H
#define RMGR_SPEC_LOAD_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"
#include "util.h"
#include "yaml_tree.h"

#define MAX_NAME 63 /* a DNS label: names may end up in host names and directories */

/* The state of one load. */
struct loader {
    const char *file;
    struct diags *d;
    struct spec *s;
    struct strbuf path; /* dotted path of the value being read, for messages */
    struct spec_pos *stats_pos; /* per proxy: where stats_port is written (or the proxy) */
    const struct spec_host **host_index; /* hosts sorted by name, for resolution */
    size_t errors;      /* errors reported so far, the parser's included */
    bool stopped;       /* SPEC_MAX_ERRORS reached: report and check nothing more */
    size_t suggestions; /* "did you mean" searches made: each costs edit distances */
    const struct ynode **typos; /* unknown keys reported with a suggestion, not as secrets */
    size_t ntypos, captypos;
};

/* ---- the key -> handler table (spec_load.c) ---- */

struct field;
typedef void (*field_fn)(struct loader *L, const struct field *f, const struct ynode *v,
                         void *obj);

struct field {
    const char *key;
    field_fn set;
    size_t off;
    bool required;
    long min, max;              /* integers */
    const char *const *choices; /* enumerations, NULL-terminated */
};

#define AT(obj, f, type) ((type *)(void *)((char *)(obj) + (f)->off))

const char *sl_get_string(struct loader *L, const struct ynode *v);
bool sl_expect_kind(struct loader *L, const struct ynode *v, enum ynode_kind kind);
/* How a value looks in a message ("'abc'", "a mapping"), in buf. */
const char *sl_got(const struct ynode *v, char *buf, size_t size);

/* Field handlers: a name (sl_valid_name), one of f->choices. */
void sl_set_name(struct loader *L, const struct field *f, const struct ynode *v, void *obj);
void sl_set_choice(struct loader *L, const struct field *f, const struct ynode *v, void *obj);

/*
 * Run the handlers of `fields` over the pairs of `map`. Unknown keys get a
 * suggestion; missing required keys are reported at the mapping. Returns a
 * bit per field that was present.
 */
uint32_t sl_load_map(struct loader *L, const struct ynode *map, const struct field *fields,
                     size_t n, void *obj);
#define LOAD_MAP(L, map, table, obj) sl_load_map((L), (map), (table), ARRAY_SIZE(table), (obj))

/* a name and where it is written, to find duplicates by sorting */
struct named {
    const char *name;
    const struct ynode *node;
};

/* Report every name after its first occurrence, compared ignoring case when `icase`. */
void sl_report_duplicate_names(struct loader *L, struct named *v, size_t n, const char *what,
                               bool icase);

/* ---- sections in files of their own ---- */

/* alerts: (spec_alerts.c) */
void sl_load_alerts(struct loader *L, const struct ynode *v);

/* ---- messages, suggestions and value checks (spec_check.c) ---- */

/* An error or warning at a node; the first error past SPEC_MAX_ERRORS stops the load, there. */
void sl_error_at(struct loader *L, const struct ynode *at, const char *fmt, ...)
    RMGR_PRINTF(3, 4);
void sl_warning_at(struct loader *L, const struct ynode *at, const char *fmt, ...)
    RMGR_PRINTF(3, 4);
/* An error at a position that has no node of its own (a resolved address). */
void sl_error_pos(struct loader *L, struct spec_pos pos, const char *fmt, ...)
    RMGR_PRINTF(3, 4);

/* The dotted path of the value being read: push returns what pop restores. */
size_t sl_path_push_key(struct loader *L, const char *key);
size_t sl_path_push_index(struct loader *L, size_t i);
void sl_path_pop(struct loader *L, size_t old);
const char *sl_path(const struct loader *L);
/*
 * The position of node v with the path being read (sl_path), copied into the
 * spec: what a spec object built from v records, so that the planner can name
 * the line a step comes from. Every shard, member, sentinel, proxy and
 * setting records its pos with this.
 */
struct spec_pos sl_pos(struct loader *L, const struct ynode *v);
/* The same for `key` in map `map` (where the key is written), read as path
   "<path>.key"; `dflt` when the key is not there. */
struct spec_pos sl_pos_key(struct loader *L, const struct ynode *map, const char *key,
                           struct spec_pos dflt);
/* " in sentinel" or " at top level", for unknown and missing keys. Caller frees. */
char *sl_where(const struct loader *L);

/* The candidate closest to `word` ("did you mean"), or NULL when none is close. */
const char *sl_suggest(const char *word, const char *const *cands, size_t n);
/* The candidate `word` is a prefix of, or NULL. */
const char *sl_suggest_prefix(const char *word, const char *const *cands, size_t n);

bool sl_valid_name(const char *s);
bool sl_valid_cluster_name(const char *s);
bool sl_valid_env_name(const char *s);
bool sl_has_control_chars(const struct ynode *v);
/* Keys that would hold a secret: secrets come from auth.password_env/_file only. */
bool sl_is_secret_key(const char *key);
bool sl_acl_has_password(const char *rules);
/* Expand a leading "~" or "~/" to the home directory. Caller frees. */
char *sl_expand_home(const char *p);
bool sl_has_dotdot(const char *p);

/* ---- addresses (spec_addr.c) ---- */

bool sl_is_ipv4(const char *s);
bool sl_is_ipv6(const char *s);
bool sl_is_ip(const char *s);
/* The one spelling of an IP literal; a copy of `s` when it is no IP. Caller frees. */
char *sl_canonical_ip(const char *s);
/* Digits and dots alone read as an IPv4 address, never as a name. */
bool sl_dotted_digits(const char *s);
bool sl_is_loopback_or_any(const char *ip);
/* "a.b.c.d:port" or "[v6]:port". Caller frees. */
char *sl_format_addr(const char *ip, int port);

/* Field handlers: one address, a shard's replicas, the sentinel nodes. */
void sl_set_addr(struct loader *L, const struct field *f, const struct ynode *v, void *obj);
void sl_set_replicas(struct loader *L, const struct field *f, const struct ynode *v, void *obj);
void sl_set_sentinel_nodes(struct loader *L, const struct field *f, const struct ynode *v,
                           void *obj);

/* Resolve every address against hosts: (after the sections are loaded). */
void sl_resolve_all(struct loader *L);
/* Every ip:port is bound by exactly one instance, across all roles. */
void sl_check_addresses(struct loader *L);

#endif
