/*
 * session.h - what plan, apply, status and reconcile do first: load the
 * spec, read its password, observe the cluster, compute the plan and its
 * fingerprint.
 *
 * Messages (spec diagnostics, password errors) go to the FILE the caller
 * passes, never to stdout, so a command's stdout holds only its result.
 * The password lives only in session.password and is wiped on release.
 */
#ifndef RMGR_SESSION_H
#define RMGR_SESSION_H

#include <stdbool.h>
#include <stdio.h>

#include "observe.h"
#include "observed.h"
#include "plan.h"
#include "spec.h"

#define SESSION_DEFAULT_CONNECT_TIMEOUT_MS 1000
#define SESSION_DEFAULT_COMMAND_TIMEOUT_MS 2000

struct session_options {
    const char *spec_path;   /* -f; borrowed */
    long connect_timeout_ms; /* 0: SESSION_DEFAULT_CONNECT_TIMEOUT_MS */
    long command_timeout_ms; /* 0: SESSION_DEFAULT_COMMAND_TIMEOUT_MS */
    bool skip_files;         /* observe servers only, not files on hosts */
    const char *commit;      /* the spec's commit, for the fingerprint; may be NULL */
    const char *trusted_spec; /* --trusted-spec REF: policy mode (spec_trusted.h); borrowed */
    const char *allow_hosts;  /* --allow-hosts FILE; borrowed */
};

struct session {
    struct spec *spec;
    char *password;          /* NULL when the spec has no auth */
    struct observed *observed;
    struct plan *plan;
    char *fingerprint;       /* 40 hex digits */
};

/*
 * Load the spec, judge it by policy mode (--trusted-spec, --allow-hosts:
 * a refused spec stops here, before the password is read or anything
 * connects) and read the password. 0, or -1 with the reasons on `err` and
 * `s` released (nothing left to free).
 */
int session_load(struct session *s, const struct session_options *o, FILE *err);

struct git_source_opts;
struct spec_source;

/*
 * session_load() for the one spec of a repository (spec_source_load_one():
 * `o` may be NULL (no policy mode); `src` keeps the commit, subject and names until released). 0, or -1 with
 * the reasons on `err` and `s` released.
 */
int session_load_repo(struct session *s, const struct session_options *o,
                      const struct git_source_opts *git, struct spec_source *src, FILE *err);

/* The observation options for these session options (timeouts, password). */
struct observe_options session_observe_options(const struct session *s,
                                               const struct session_options *o);

/* Observe the cluster the loaded spec names (never fails as a whole). */
void session_observe(struct session *s, const struct session_options *o);

/* Compute the plan and its fingerprint from the spec and what was observed. */
void session_plan(struct session *s, const struct session_options *o);

/*
 * Whether every ssh host key the observation met is trusted. A host key
 * that is unknown, changed or revoked is an error of the whole run, not an
 * unreachable host: call this after session_plan() and before anything is
 * shown as a plan or changed. With accept_new (apply's
 * --accept-new-host-keys), keys never seen are added to known_hosts first
 * (trust on first use; a changed key never is) and the cluster is observed
 * and planned again. Returns 0, or -1 after printing on `err`, once per
 * host, its problem: the host, the key type, the fingerprint known_hosts
 * has and the one the server sent, and the fix.
 */
int session_check_host_keys(struct session *s, const struct session_options *o, bool accept_new,
                            FILE *err);

/* All three in order. 0, or -1 with the reasons on `err` and `s` released. */
int session_open(struct session *s, const struct session_options *o, FILE *err);

/* Free everything, wiping the password first. A zeroed session is fine. */
void session_release(struct session *s);

#endif
