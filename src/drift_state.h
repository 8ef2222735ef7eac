/*
 * drift_state.h - remember what drift was already announced, so a cron job
 * running `reconcile --once` every minute posts a drift once, not every minute.
 *
 * The state of a cluster is a small JSON file, <state_dir>/<cluster>.json
 * (reconcile passes <cache>/state), replaced atomically. It holds the
 * fingerprint of the last drift seen, whether drift is active and when the
 * team was last told. The caller computes the fingerprint from the plan
 * WITHOUT timestamps, durations or offsets (drift_fingerprint() hashes such a
 * canonical text), so the same drift gives the same fingerprint every run.
 *
 * drift_transition() is pure: (previous state, fingerprint or none, now,
 * reminder interval) -> what to send and the next state:
 *
 *   previous          now               action          next
 *   clean             no drift          none            clean
 *   clean             drift F           found           active F, since=now
 *   active F          drift F           none, or remind when remind_after > 0
 *                                       and now - notified_at >= remind_after
 *   active F          drift G           changed         active G (since kept)
 *   active F          no drift          resolved        clean
 *
 * Every action other than none sets notified_at = now.
 */
#ifndef RMGR_DRIFT_STATE_H
#define RMGR_DRIFT_STATE_H

#include <stdbool.h>

#include "notify.h"

enum drift_action {
    DRIFT_NONE,
    DRIFT_FOUND,
    DRIFT_CHANGED,
    DRIFT_RESOLVED,
    DRIFT_REMIND,
};

struct drift_state {
    bool active;              /* drift was present at the last run */
    char *fingerprint;        /* of that drift; NULL when !active */
    long long since;          /* unix seconds when drift was first seen; 0 when clean */
    long long notified_at;    /* unix seconds of the last message; 0 = never */
    char *alerts;             /* the alert rules' state (alerts.h) as JSON text, kept as is
                                 by drift_transition(); NULL: none */
};

void drift_state_release(struct drift_state *s);

/* "none", "found", "changed", "resolved", "remind". */
const char *drift_action_name(enum drift_action a);

/* The event an action sends; false for DRIFT_NONE. */
bool drift_action_event(enum drift_action a, enum notify_event_kind *out);

/*
 * The transition above. `prev` may be NULL (no state yet); `fingerprint` NULL
 * or "" means no drift; `remind_after_s` <= 0 means never remind. *next is
 * filled (release it) whatever the action.
 */
enum drift_action drift_transition(const struct drift_state *prev, const char *fingerprint,
                                   long long now, long long remind_after_s,
                                   struct drift_state *next);

/* 40 hex digits: SHA-1 (libgit2) of a canonical drift text. Caller frees. */
char *drift_fingerprint(const char *canonical);

/* The state file as JSON (ends with a newline), and back. Pure. */
char *drift_state_to_json(const struct drift_state *s, const char *cluster);
/* 0, or -1 with *err set (caller frees) when the text is not a valid state. */
int drift_state_from_json(const char *text, struct drift_state *out, char **err);

/* <state_dir>/<cluster>.json, with bytes other than [A-Za-z0-9._-] %-escaped. */
char *drift_state_path(const char *state_dir, const char *cluster);

/*
 * Read the state of `cluster`. A missing file is an empty state. A file that
 * cannot be read or parsed is also treated as empty, with *warning set (caller
 * frees and logs it): the worst outcome is one repeated message. Returns 0.
 */
int drift_state_load(const char *state_dir, const char *cluster, struct drift_state *out,
                     char **warning);

/* Write the state atomically, creating state_dir (and parents). 0, or -1 with *err. */
int drift_state_save(const char *state_dir, const char *cluster, const struct drift_state *s,
                     char **err);

/* One reconcile run's view of a cluster, for drift_notify(). */
struct drift_input {
    const char *cluster;
    const char *fingerprint;  /* NULL or "" = no drift now */
    const char *commit;       /* may be NULL */
    const char *subject;      /* may be NULL */
    const char *summary;      /* e.g. render_plan_summary() */
    const char *body;         /* e.g. render_plan_text(..., false); NULL for none */
    long long now;            /* unix seconds */
};

/*
 * The whole drift step: load the state, run the transition with
 * o->remind_after_s, send the event (if any) to o's webhooks, and save the
 * new state unless every webhook failed (then the next run tries again).
 * Returns the action taken; *warnings (caller frees, may be left NULL) has
 * one line per problem to log. Never fails the caller's run.
 */
enum drift_action drift_notify(const struct notify_options *o, const char *state_dir,
                               const struct drift_input *in, char **warnings);

#endif
