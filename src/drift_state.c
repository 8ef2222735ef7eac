/*
 * drift_state.c - the per-cluster drift memory (see drift_state.h).
 *
 * The state file:
 *   {"version": 1, "cluster": "prod", "active": true,
 *    "fingerprint": "3f1c...", "since": 1764064800, "notified_at": 1764064800}
 * Times are unix seconds. Unknown keys are ignored, so later versions can add
 * fields; a file that does not parse is treated as no state at all.
 */
#include "drift_state.h"
#include "json_out.h"

#include <errno.h>
#include <git2.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

#define STATE_VERSION 1
#define STATE_MAX_SIZE (4 * 1024 * 1024) /* the alert state grows with the instances */

void drift_state_release(struct drift_state *s)
{
    if (!s)
        return;
    free(s->fingerprint);
    free(s->alerts);
    memset(s, 0, sizeof(*s));
}

const char *drift_action_name(enum drift_action a)
{
    switch (a) {
    case DRIFT_NONE:
        return "none";
    case DRIFT_FOUND:
        return "found";
    case DRIFT_CHANGED:
        return "changed";
    case DRIFT_RESOLVED:
        return "resolved";
    case DRIFT_REMIND:
        return "remind";
    }
    return "unknown";
}

bool drift_action_event(enum drift_action a, enum notify_event_kind *out)
{
    switch (a) {
    case DRIFT_FOUND:
        *out = NOTIFY_DRIFT_FOUND;
        return true;
    case DRIFT_CHANGED:
        *out = NOTIFY_DRIFT_CHANGED;
        return true;
    case DRIFT_RESOLVED:
        *out = NOTIFY_DRIFT_RESOLVED;
        return true;
    case DRIFT_REMIND:
        *out = NOTIFY_DRIFT_REMINDER;
        return true;
    case DRIFT_NONE:
        break;
    }
    return false;
}

/* ------------------------------------------------------------ transition */

enum drift_action drift_transition(const struct drift_state *prev, const char *fingerprint,
                                   long long now, long long remind_after_s,
                                   struct drift_state *next)
{
    static const struct drift_state clean;
    const struct drift_state *p = prev ? prev : &clean;
    bool drift = fingerprint && *fingerprint;
    /* an active state without a fingerprint is damaged: treat it as clean */
    bool was = p->active && p->fingerprint && *p->fingerprint;

    memset(next, 0, sizeof(*next));
    next->alerts = prev && prev->alerts ? xstrdup(prev->alerts) : NULL;
    if (!drift) {
        if (!was) {
            next->notified_at = p->notified_at;
            return DRIFT_NONE;
        }
        next->notified_at = now;
        return DRIFT_RESOLVED;
    }
    next->active = true;
    next->fingerprint = xstrdup(fingerprint);
    if (!was) {
        next->since = now;
        next->notified_at = now;
        return DRIFT_FOUND;
    }
    next->since = p->since ? p->since : now;
    if (strcmp(p->fingerprint, fingerprint) != 0) {
        next->notified_at = now;
        return DRIFT_CHANGED;
    }
    /* the same drift: quiet, unless it has been quiet for remind_after_s
     * (a clock that went back counts as no time passed) */
    if (remind_after_s > 0 && now - p->notified_at >= remind_after_s) {
        next->notified_at = now;
        return DRIFT_REMIND;
    }
    next->notified_at = p->notified_at;
    return DRIFT_NONE;
}

/* ------------------------------------------------------------ fingerprint */

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_init_once(void)
{
    git_libgit2_init();
}

char *drift_fingerprint(const char *canonical)
{
    const char *s = canonical ? canonical : "";
    char hex[GIT_OID_HEXSZ + 1];
    git_oid oid;
    pthread_once(&git_once, git_init_once);
    if (git_odb_hash(&oid, s, strlen(s), GIT_OBJECT_BLOB) != 0)
        return xstrdup("0000000000000000000000000000000000000000");
    git_oid_tostr(hex, sizeof(hex), &oid);
    return xstrdup(hex);
}

/* ------------------------------------------------------------------ json */

char *drift_state_to_json(const struct drift_state *s, const char *cluster)
{
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer(STATE_VERSION));
    json_object_set_new(o, "cluster", cluster ? json_text(cluster) : json_null());
    json_object_set_new(o, "active", json_boolean(s->active));
    json_object_set_new(o, "fingerprint",
                        s->fingerprint ? json_text(s->fingerprint) : json_null());
    json_object_set_new(o, "since", json_integer(s->since));
    json_object_set_new(o, "notified_at", json_integer(s->notified_at));
    json_t *al = s->alerts ? json_loads(s->alerts, 0, NULL) : NULL;
    if (al)
        json_object_set_new(o, "alerts", al);
    char *j = json_dumps(o, JSON_INDENT(2));
    json_decref(o);
    char *out = xasprintf("%s\n", j ? j : "{}");
    free(j);
    return out;
}

/* An optional integer member: absent or null is 0. */
static bool get_time(json_t *o, const char *key, long long *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = 0;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = json_integer_value(v);
    return true;
}

int drift_state_from_json(const char *text, struct drift_state *out, char **err)
{
    json_error_t je;
    memset(out, 0, sizeof(*out));
    json_t *o = json_loads(text ? text : "", 0, &je);
    if (!o) {
        *err = xasprintf("line %d: %s", je.line, je.text);
        return -1;
    }
    const char *why = NULL;
    json_t *v;
    if (!json_is_object(o)) {
        why = "not a JSON object";
        goto bad;
    }
    v = json_object_get(o, "version");
    if (!json_is_integer(v) || json_integer_value(v) != STATE_VERSION) {
        why = "unknown or missing \"version\"";
        goto bad;
    }
    v = json_object_get(o, "active");
    if (!json_is_boolean(v)) {
        why = "\"active\" is not true or false";
        goto bad;
    }
    out->active = json_is_true(v);
    v = json_object_get(o, "fingerprint");
    if (json_is_string(v) && *json_string_value(v)) {
        out->fingerprint = xstrdup(json_string_value(v));
    } else if (v && !json_is_null(v)) {
        why = "\"fingerprint\" is not a string";
        goto bad;
    }
    if (out->active && !out->fingerprint) {
        why = "active drift without a \"fingerprint\"";
        goto bad;
    }
    if (!get_time(o, "since", &out->since) || !get_time(o, "notified_at", &out->notified_at)) {
        why = "\"since\" or \"notified_at\" is not a time";
        goto bad;
    }
    v = json_object_get(o, "alerts");
    if (json_is_object(v))
        out->alerts = json_dumps(v, JSON_COMPACT);
    if (!out->active) {
        free(out->fingerprint);
        out->fingerprint = NULL;
        out->since = 0;
    }
    json_decref(o);
    return 0;
bad:
    json_decref(o);
    drift_state_release(out);
    *err = xstrdup(why);
    return -1;
}

/* ------------------------------------------------------------------ files */

char *drift_state_path(const char *state_dir, const char *cluster)
{
    struct strbuf sb = {0};
    sb_add(&sb, state_dir && *state_dir ? state_dir : ".");
    if (sb.buf[sb.len - 1] != '/')
        sb_addc(&sb, '/');
    const unsigned char *c = (const unsigned char *)(cluster ? cluster : "");
    if (!*c)
        sb_add(&sb, "%00");
    for (size_t i = 0; c[i]; i++) {
        bool plain = (c[i] >= 'a' && c[i] <= 'z') || (c[i] >= 'A' && c[i] <= 'Z') ||
                     (c[i] >= '0' && c[i] <= '9') || c[i] == '-' || c[i] == '_' ||
                     (c[i] == '.' && i > 0); /* no hidden files, no "..": */
        if (plain)
            sb_addc(&sb, (char)c[i]);
        else
            sb_addf(&sb, "%%%02X", c[i]);
    }
    sb_add(&sb, ".json");
    return sb_detach(&sb);
}

int drift_state_load(const char *state_dir, const char *cluster, struct drift_state *out,
                     char **warning)
{
    char *path = drift_state_path(state_dir, cluster);
    char *text = NULL;
    memset(out, 0, sizeof(*out));
    if (read_file(path, STATE_MAX_SIZE, &text, NULL) < 0) {
        if (errno != ENOENT)
            *warning = xasprintf("cannot read drift state '%s': %s (starting afresh)", path,
                                 strerror(errno));
        free(path);
        return 0;
    }
    char *err = NULL;
    if (drift_state_from_json(text, out, &err) < 0) {
        *warning = xasprintf("ignoring corrupt drift state '%s': %s", path, err);
        free(err);
    }
    free(text);
    free(path);
    return 0;
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char *p = xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            errno = e;
            return -1;
        }
        *s = '/';
    }
    int rc = mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
    int e = errno;
    free(p);
    errno = e;
    return rc;
}

int drift_state_save(const char *state_dir, const char *cluster, const struct drift_state *s,
                     char **err)
{
    const char *dir = state_dir && *state_dir ? state_dir : ".";
    if (make_dirs(dir) < 0) {
        *err = xasprintf("cannot create '%s': %s", dir, strerror(errno));
        return -1;
    }
    char *path = drift_state_path(state_dir, cluster);
    char *json = drift_state_to_json(s, cluster);
    int rc = write_file_atomic(path, json, strlen(json), 0644);
    if (rc < 0)
        *err = xasprintf("cannot write drift state '%s': %s", path, strerror(errno));
    free(json);
    free(path);
    return rc;
}

/* ------------------------------------------------------------- one step */

static void add_line(struct strbuf *sb, char *line)
{
    if (!line)
        return;
    sb_addf(sb, "%s%s", sb->len ? "\n" : "", line);
    free(line);
}

enum drift_action drift_notify(const struct notify_options *o, const char *state_dir,
                               const struct drift_input *in, char **warnings)
{
    struct strbuf warn = {0};
    struct drift_state prev, next;
    char *w = NULL;
    drift_state_load(state_dir, in->cluster, &prev, &w);
    bool repair = w != NULL; /* rewrite a corrupt file even when nothing is sent */
    add_line(&warn, w);

    enum drift_action a =
        drift_transition(&prev, in->fingerprint, in->now, o->remind_after_s, &next);
    enum notify_event_kind kind;
    if (drift_action_event(a, &kind)) {
        struct notify_event ev = {
            .kind = kind,
            .cluster = in->cluster,
            .commit = in->commit,
            .subject = in->subject,
            .summary = in->summary,
            .body = a == DRIFT_RESOLVED ? NULL : in->body,
            .timestamp = in->now,
        };
        char *err = NULL;
        int failed = notify_send(o, &ev, &err);
        add_line(&warn, err);
        /* keep the old state when nobody was told, so the next run tries again */
        if (o->ntargets == 0 || (size_t)failed < o->ntargets) {
            char *e = NULL;
            if (drift_state_save(state_dir, in->cluster, &next, &e) < 0)
                add_line(&warn, e);
        }
    } else if (repair) {
        char *e = NULL;
        if (drift_state_save(state_dir, in->cluster, &next, &e) < 0)
            add_line(&warn, e);
    }
    drift_state_release(&prev);
    drift_state_release(&next);
    if (warnings && warn.len)
        *warnings = sb_detach(&warn);
    sb_release(&warn);
    return a;
}
