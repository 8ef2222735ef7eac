/*
 * alerts_json.c - the alert state as JSON, kept as the "alerts" member of
 * the cluster's drift state file (drift_state.c):
 *   {"samples": [{"addr": "127.0.0.1:7001", "run_id": "4c46...", "at_ms": 1764064800123,
 *                 "counters": {"used_cpu_user": 1.25, "slowlog_id": 41}}],
 *    "rows": [{"name": "connected_clients", "addr": "127.0.0.1:7001", "shard": "shard1",
 *              "role": "master", "firing": true, "pending_since_ms": 1764064800123,
 *              "since": 1764064800, "value": 5}]}
 * Pure. Entries that do not parse are dropped, not fatal: the worst outcome
 * of a damaged state is one rate unknown or one transition sent again.
 */
#include "alerts.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "util.h"

char *alert_state_to_json(const struct alert_state *st)
{
    json_t *o = json_object(), *samples = json_array(), *rows = json_array();
    for (size_t i = 0; st && i < st->nsamples; i++) {
        const struct alert_sample *s = &st->samples[i];
        json_t *c = json_object();
        for (size_t k = 0; k < s->ncounters; k++)
            json_object_set_new(c, s->counters[k].name, json_real(s->counters[k].value));
        json_array_append_new(samples,
                              json_pack("{s:o, s:o, s:I, s:o}", "addr", json_text(s->addr),
                                        "run_id", s->run_id ? json_text(s->run_id) : json_null(),
                                        "at_ms", (json_int_t)s->at_ms, "counters", c));
    }
    for (size_t i = 0; st && i < st->nrows; i++) {
        const struct alert_row *r = &st->rows[i];
        json_array_append_new(
            rows, json_pack("{s:o, s:o, s:o, s:o, s:b, s:I, s:I, s:f}", "name", json_text(r->name),
                            "addr", json_text(r->addr), "shard",
                            r->shard ? json_text(r->shard) : json_null(), "role",
                            r->role ? json_text(r->role) : json_null(), "firing", r->firing,
                            "pending_since_ms", (json_int_t)r->pending_since_ms, "since",
                            (json_int_t)r->since_s, "value", r->value));
    }
    json_object_set_new(o, "samples", samples);
    json_object_set_new(o, "rows", rows);
    char *j = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return j ? j : xstrdup("{}");
}

static char *opt_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

int alert_state_from_json(const char *json, struct alert_state *out, char **err)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    json_t *o = json_loads(json ? json : "", 0, &je);
    if (!json_is_object(o)) {
        *err = o ? xstrdup("alert state is not an object") : xasprintf("alert state: %s", je.text);
        json_decref(o);
        return -1;
    }
    json_t *samples = json_object_get(o, "samples"), *rows = json_object_get(o, "rows");
    size_t ns = json_array_size(samples), nr = json_array_size(rows);
    out->samples = xcalloc(ns ? ns : 1, sizeof(*out->samples));
    out->rows = xcalloc(nr ? nr : 1, sizeof(*out->rows));
    for (size_t i = 0; i < ns; i++) {
        json_t *s = json_array_get(samples, i), *c = json_object_get(s, "counters");
        json_t *at = json_object_get(s, "at_ms");
        char *addr = opt_str(s, "addr");
        if (!addr || !json_is_integer(at)) {
            free(addr);
            continue;
        }
        struct alert_sample *x = &out->samples[out->nsamples++];
        x->addr = addr;
        x->run_id = opt_str(s, "run_id");
        x->at_ms = json_integer_value(at);
        x->counters = xcalloc(json_object_size(c) + 1, sizeof(*x->counters));
        const char *k;
        json_t *v;
        json_object_foreach(c, k, v) {
            if (json_is_number(v))
                x->counters[x->ncounters++] =
                    (struct alert_counter){xstrdup(k), json_number_value(v)};
        }
    }
    for (size_t i = 0; i < nr; i++) {
        json_t *r = json_array_get(rows, i);
        char *name = opt_str(r, "name"), *addr = opt_str(r, "addr");
        json_t *val = json_object_get(r, "value");
        if (!name || !addr || !json_is_number(val)) {
            free(name);
            free(addr);
            continue;
        }
        struct alert_row *x = &out->rows[out->nrows++];
        x->name = name;
        x->addr = addr;
        x->shard = opt_str(r, "shard");
        x->role = opt_str(r, "role");
        x->firing = json_is_true(json_object_get(r, "firing"));
        x->pending_since_ms = json_integer_value(json_object_get(r, "pending_since_ms"));
        x->since_s = json_integer_value(json_object_get(r, "since"));
        x->value = json_number_value(val);
    }
    json_decref(o);
    return 0;
}
