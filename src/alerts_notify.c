/*
 * alerts_notify.c - one run's alert step (alerts_check in alerts.h): the
 * state from the cluster's drift state file, the pure evaluation
 * (alerts.c), the webhooks on transitions only, the state saved back.
 */
#include "alerts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "drift_state.h"
#include "log.h"
#include "spec.h"
#include "util.h"

static void add_line(struct strbuf *sb, char *line)
{
    if (!line)
        return;
    sb_addf(sb, "%s%s", sb->len ? "\n" : "", line);
    free(line);
}

static long long wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

size_t alerts_check(const struct notify_options *o, const char *state_dir, const struct spec *s,
                    const struct observed *obs, const char *commit, bool dry,
                    struct alert_state *st_out, char **warnings)
{
    struct strbuf warn = {0};
    struct drift_state ds;
    char *w = NULL;
    drift_state_load(state_dir, s->cluster, &ds, &w);
    add_line(&warn, w);
    struct alert_state prev = {0}, next = {0};
    if (ds.alerts) {
        char *err = NULL;
        if (alert_state_from_json(ds.alerts, &prev, &err) < 0)
            add_line(&warn, xasprintf("ignoring the alert state of '%s': %s", s->cluster, err));
        free(err);
    }
    struct alert_event *ev = NULL;
    size_t nev = 0;
    long long now = wall_ms();
    alerts_evaluate(s, obs, &prev, now, &next, &ev, &nev);

    bool undelivered = false;
    for (size_t i = 0; i < nev && !dry; i++) {
        char *text = alert_event_text(&ev[i], s->cluster);
        struct log_field f[] = {{"alert", ev[i].name}, {"instance", ev[i].addr}};
        log_event(ev[i].change == ALERT_FIRING ? LOG_WARN : LOG_INFO,
                  ev[i].change == ALERT_FIRING ? "alert-firing" : "alert-resolved", s->cluster,
                  commit, f, 2, "%s", text);
        struct notify_event ne = {
            .kind = ev[i].change == ALERT_FIRING ? NOTIFY_ALERT_FIRING : NOTIFY_ALERT_RESOLVED,
            .cluster = s->cluster,
            .commit = commit,
            .summary = text,
            .timestamp = now / 1000,
        };
        char *err = NULL;
        int failed = notify_send(o, &ne, &err);
        add_line(&warn, err);
        if (o->ntargets > 0 && (size_t)failed == o->ntargets)
            undelivered = true;
        free(text);
    }
    /* nobody was told of a transition: keep the old state, the next run sends it again */
    bool changed = s->nalerts > 0 || ds.alerts; /* samples move on at every run */
    if (!dry && !undelivered && changed) {
        free(ds.alerts);
        ds.alerts = alert_state_to_json(&next);
        char *err = NULL;
        if (drift_state_save(state_dir, s->cluster, &ds, &err) < 0)
            add_line(&warn, err);
    }
    alert_events_free(ev, nev);
    alert_state_release(&prev);
    drift_state_release(&ds);
    if (st_out)
        *st_out = next;
    else
        alert_state_release(&next);
    if (warnings && warn.len)
        *warnings = sb_detach(&warn);
    sb_release(&warn);
    return nev;
}
