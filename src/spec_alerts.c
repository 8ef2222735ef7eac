/*
 * spec_alerts.c - the spec's alerts: section (threshold rules on INFO fields,
 * their rates and the derived figures), read by the spec loader.
 */
#include "spec.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "spec_load_impl.h"
#include "yaml_tree.h"

/*
 * Numeric fields of Redis 7.0's INFO (server, clients, memory, persistence,
 * stats, replication, cpu): a field outside this list is accepted (another
 * version may have it) with a warning, so a typo does not make a rule that
 * can never fire pass unnoticed.
 */
static const char *const info_numeric_fields[] = {
    "uptime_in_seconds", "uptime_in_days", "hz", "configured_hz", "lru_clock",
    "connected_clients", "cluster_connections", "maxclients", "client_recent_max_input_buffer",
    "client_recent_max_output_buffer", "blocked_clients", "tracking_clients",
    "clients_in_timeout_table", "used_memory", "used_memory_rss", "used_memory_peak",
    "used_memory_peak_perc", "used_memory_overhead", "used_memory_startup",
    "used_memory_dataset", "used_memory_dataset_perc", "allocator_allocated",
    "allocator_active", "allocator_resident", "total_system_memory", "used_memory_lua",
    "used_memory_vm_eval", "used_memory_scripts_eval", "number_of_cached_scripts",
    "used_memory_vm_functions", "used_memory_vm_total", "used_memory_functions",
    "used_memory_scripts", "maxmemory", "allocator_frag_ratio", "allocator_frag_bytes",
    "allocator_rss_ratio", "allocator_rss_bytes", "rss_overhead_ratio", "rss_overhead_bytes",
    "mem_fragmentation_ratio", "mem_fragmentation_bytes", "mem_not_counted_for_evict",
    "mem_replication_backlog", "mem_total_replication_buffers", "mem_clients_slaves",
    "mem_clients_normal", "mem_cluster_links", "mem_aof_buffer", "active_defrag_running",
    "lazyfree_pending_objects", "lazyfreed_objects", "loading", "async_loading",
    "current_cow_peak", "current_cow_size", "current_fork_perc", "current_save_keys_processed",
    "current_save_keys_total", "rdb_changes_since_last_save", "rdb_bgsave_in_progress",
    "rdb_last_save_time", "rdb_last_bgsave_time_sec", "rdb_current_bgsave_time_sec",
    "rdb_saves", "rdb_last_cow_size", "rdb_last_load_keys_expired",
    "rdb_last_load_keys_loaded", "aof_enabled", "aof_rewrite_in_progress",
    "aof_rewrite_scheduled", "aof_last_rewrite_time_sec", "aof_current_rewrite_time_sec",
    "aof_rewrites", "aof_last_cow_size", "module_fork_in_progress", "module_fork_last_cow_size",
    "total_connections_received", "total_commands_processed", "instantaneous_ops_per_sec",
    "total_net_input_bytes", "total_net_output_bytes", "total_net_repl_input_bytes",
    "total_net_repl_output_bytes", "instantaneous_input_kbps", "instantaneous_output_kbps",
    "instantaneous_input_repl_kbps", "instantaneous_output_repl_kbps",
    "rejected_connections", "sync_full", "sync_partial_ok", "sync_partial_err",
    "expired_keys", "expired_stale_perc", "expired_time_cap_reached_count",
    "expire_cycle_cpu_milliseconds", "evicted_keys", "evicted_clients",
    "total_eviction_exceeded_time", "current_eviction_exceeded_time", "keyspace_hits",
    "keyspace_misses", "pubsub_channels", "pubsub_patterns", "latest_fork_usec",
    "total_forks", "migrate_cached_sockets", "slave_expires_tracked_keys",
    "active_defrag_hits", "active_defrag_misses", "active_defrag_key_hits",
    "active_defrag_key_misses", "total_active_defrag_time", "current_active_defrag_time",
    "tracking_total_keys", "tracking_total_items", "tracking_total_prefixes",
    "unexpected_error_replies", "total_error_replies", "dump_payload_sanitizations",
    "total_reads_processed", "total_writes_processed", "io_threaded_reads_processed",
    "io_threaded_writes_processed", "reply_buffer_shrinks", "reply_buffer_expands",
    "connected_slaves", "master_failover_state", "master_repl_offset", "second_repl_offset",
    "repl_backlog_active", "repl_backlog_size", "repl_backlog_first_byte_offset",
    "repl_backlog_histlen", "master_port", "master_last_io_seconds_ago", "master_sync_in_progress",
    "slave_read_repl_offset", "slave_repl_offset", "slave_priority", "slave_read_only",
    "replica_announced", "master_link_down_since_seconds", "used_cpu_sys", "used_cpu_user",
    "used_cpu_sys_children", "used_cpu_user_children", "used_cpu_sys_main_thread",
    "used_cpu_user_main_thread",
};

static const char *const alert_on_names[] = {"all", "masters", "replicas", "proxies", NULL};

struct alert_derived {
    const char *field;
    enum alert_kind kind;
    bool proxy;
};

static const struct alert_derived alert_derived[] = {
    {"slowlog_per_sec", ALERT_SLOWLOG_PER_SEC, false},
    {"replication_lag_bytes", ALERT_REPL_LAG_BYTES, false},
    {"forward_error_per_sec", ALERT_FORWARD_ERROR_PER_SEC, true},
    {"server_ejects", ALERT_SERVER_EJECTS, true},
};

static bool valid_info_field(const char *s)
{
    if (!*s || strlen(s) > 64 || !islower((unsigned char)*s))
        return false;
    for (const char *c = s; *c; c++)
        if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '_')
            return false;
    return true;
}

/* Warn about an INFO field Redis 7.0 does not have, with the closest one it has. */
static void check_known_info_field(struct loader *L, const struct ynode *v, const char *field)
{
    for (size_t i = 0; i < ARRAY_SIZE(info_numeric_fields); i++)
        if (!strcmp(field, info_numeric_fields[i]))
            return;
    const char *s = sl_suggest(field, info_numeric_fields, ARRAY_SIZE(info_numeric_fields));
    if (s)
        sl_warning_at(L, v, "'%s': '%s' is not a numeric INFO field of Redis 7.0 (did you mean '%s'?)",
                      sl_path(L), field, s);
    else
        sl_warning_at(L, v, "'%s': '%s' is not a numeric INFO field of Redis 7.0", sl_path(L),
                      field);
}

/* field: an INFO field, rate(FIELD) or a derived one. */
static void set_alert_field(struct loader *L, const struct field *f, const struct ynode *v,
                            void *obj)
{
    (void)f;
    struct spec_alert *a = obj;
    const char *s = sl_get_string(L, v);
    if (!s)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(alert_derived); i++) {
        if (!strcmp(s, alert_derived[i].field)) {
            a->field = xstrdup(s);
            a->kind = alert_derived[i].kind;
            return;
        }
    }
    size_t n = strlen(s);
    if (!strncmp(s, "rate(", 5) && n > 6 && s[n - 1] == ')') {
        char *inner = xstrndup(s + 5, n - 6);
        if (!valid_info_field(inner)) {
            sl_error_at(L, v, "bad field '%s' for '%s': rate() takes one INFO field, like "
                        "rate(evicted_keys)", strlen(s) > 80 ? "..." : s, sl_path(L));
            free(inner);
            return;
        }
        check_known_info_field(L, v, inner);
        a->field = xstrdup(s);
        a->kind = ALERT_RATE;
        a->info_field = inner;
        return;
    }
    if (!valid_info_field(s)) {
        sl_error_at(L, v, "bad field '%s' for '%s': expected a numeric INFO field (like "
                    "used_memory), rate(FIELD), slowlog_per_sec, replication_lag_bytes, "
                    "forward_error_per_sec or server_ejects", strlen(s) > 80 ? "..." : s,
                    sl_path(L));
        return;
    }
    check_known_info_field(L, v, s);
    a->field = xstrdup(s);
    a->kind = ALERT_INFO;
    a->info_field = xstrdup(s);
}

/* min/max: any number, integer or not ("1.5", "1e9"). */
static void set_alert_bound(struct loader *L, const struct field *f, const struct ynode *v,
                            void *obj)
{
    char buf[64];
    struct spec_alert *a = obj;
    double x = 0;
    long n;
    bool ok = ynode_int(v, &n); /* 0x10 and 0o17 are integers in YAML 1.2 */
    if (ok) {
        x = (double)n;
    } else if (v->kind == YNODE_SCALAR && v->plain && !ynode_is_null(v) && v->len > 0 &&
               strlen(v->scalar) == v->len && !strpbrk(v->scalar, "xX")) {
        /* a float: digits first, so no "inf" or "nan" */
        const char *c = v->scalar + (v->scalar[0] == '-' || v->scalar[0] == '+');
        char *end = NULL;
        errno = 0;
        x = strtod(v->scalar, &end);
        ok = !errno && end && !*end && (isdigit((unsigned char)*c) || *c == '.');
    }
    if (!ok) {
        sl_error_at(L, v, "wrong type for '%s': expected a number, got %s", sl_path(L),
                    sl_got(v, buf, sizeof(buf)));
        return;
    }
    if (!strcmp(f->key, "min")) {
        a->has_min = true;
        a->min = x;
    } else {
        a->has_max = true;
        a->max = x;
    }
}

static void set_alert_for(struct loader *L, const struct field *f, const struct ynode *v,
                          void *obj)
{
    (void)f;
    struct spec_alert *a = obj;
    char buf[64];
    long ms, n;
    if (ynode_int(v, &n)) { /* plain seconds, as YAML 1.2 reads them (30, 0x1e, 3e1) */
        if (n >= 0 && n <= LONG_MAX / 1000) {
            a->for_ms = n * 1000;
            return;
        }
    } else if (v->kind == YNODE_SCALAR && !ynode_is_null(v) && parse_duration_ms(v->scalar, &ms)) {
        a->for_ms = ms;
        return;
    }
    sl_error_at(L, v, "bad duration for '%s': expected e.g. 30s, 5m or 1h, got %s", sl_path(L),
                sl_got(v, buf, sizeof(buf)));
}

static void set_alert_on(struct loader *L, const struct field *f, const struct ynode *v,
                         void *obj)
{
    struct spec_alert *a = obj;
    char *name = NULL;
    sl_set_choice(L, f, v, &name);
    for (size_t i = 0; name && alert_on_names[i]; i++)
        if (!strcmp(name, alert_on_names[i]))
            a->on = (enum alert_on)i;
    free(name);
}

static const struct field alert_fields[] = {
    {"field", set_alert_field, 0, true},
    {"min", set_alert_bound, 0},
    {"max", set_alert_bound, 0},
    {"for", set_alert_for, 0},
    {"on", set_alert_on, 0, false, 0, 0, alert_on_names},
    {"name", sl_set_name, offsetof(struct spec_alert, name)},
};

static bool alert_kind_is_proxy(enum alert_kind k)
{
    return k == ALERT_FORWARD_ERROR_PER_SEC || k == ALERT_SERVER_EJECTS;
}

void sl_load_alerts(struct loader *L, const struct ynode *v)
{
    struct spec *s = L->s;
    if (!sl_expect_kind(L, v, YNODE_SEQ))
        return;
    s->alerts = xcalloc(v->nitems ? v->nitems : 1, sizeof(*s->alerts));
    struct named *names = xcalloc(v->nitems ? v->nitems : 1, sizeof(*names));
    size_t nnames = 0;
    for (size_t i = 0; i < v->nitems && !L->stopped; i++) {
        const struct ynode *item = v->items[i];
        size_t old = sl_path_push_index(L, i);
        if (!sl_expect_kind(L, item, YNODE_MAP)) {
            sl_path_pop(L, old);
            continue;
        }
        struct spec_alert a = {0};
        a.pos = sl_pos(L, item);
        uint32_t seen = LOAD_MAP(L, item, alert_fields, &a);
        bool ok = a.field != NULL;
        if (ok && !a.has_min && !a.has_max && !(seen & 6)) {
            sl_error_at(L, item, "alert '%s' needs min, max or both", a.field);
            ok = false;
        }
        if (ok && a.has_min && a.has_max && a.min > a.max) {
            sl_error_at(L, ynode_get(item, "min"), "alert '%s': min %g is above max %g", a.field,
                        a.min, a.max);
            ok = false;
        }
        bool proxy = ok && alert_kind_is_proxy(a.kind);
        if (ok && !(seen & 16)) {
            a.on = proxy ? ALERT_ON_PROXIES : ALERT_ON_ALL;
        } else if (ok && proxy != (a.on == ALERT_ON_PROXIES)) {
            sl_error_at(L, ynode_get(item, "on"),
                        proxy ? "alert '%s' is about proxies: 'on' must be proxies"
                              : "alert '%s' is about redis servers: 'on' must be masters, "
                                "replicas or all",
                        a.field);
            ok = false;
        }
        if (ok && a.kind == ALERT_REPL_LAG_BYTES && a.on == ALERT_ON_MASTERS) {
            sl_error_at(L, ynode_get(item, "on"),
                        "alert 'replication_lag_bytes' is about replicas: 'on' must be "
                        "replicas or all");
            ok = false;
        }
        if (ok) {
            if (!a.name)
                a.name = xstrdup(a.field);
            const struct ynode *nm = ynode_get(item, "name");
            names[nnames++] = (struct named){a.name, nm ? nm : ynode_get(item, "field")};
            s->alerts[s->nalerts++] = a;
        } else {
            free(a.name);
            free(a.field);
            free(a.info_field);
        }
        sl_path_pop(L, old);
    }
    /* the name is the `alert` label: two rules of one name would be one series */
    sl_report_duplicate_names(L, names, nnames, "alert name", false);
    free(names);
}
