/*
 * notify.h - tell a team's chat (or any HTTP endpoint) what reconcile saw.
 *
 * Two halves: building a payload is pure (an event in, a JSON string out,
 * tested with golden files); delivering it is libcurl POSTs with timeouts and
 * bounded retries. A webhook that fails is reported to the caller, who logs it:
 * it never changes what reconcile decided or its exit status.
 *
 * Webhook URLs are secrets (Slack, Discord and Mattermost put the token in the
 * path): nothing here prints more of a URL than scheme://host[:port].
 */
#ifndef RMGR_NOTIFY_H
#define RMGR_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum notify_format {
    NOTIFY_SLACK,      /* {"text": mrkdwn}, body in a code block, ~40000 chars */
    NOTIFY_MATTERMOST, /* {"text": markdown}, 16383 chars */
    NOTIFY_DISCORD,    /* {"content": markdown}, 2000 chars */
    NOTIFY_GENERIC,    /* {event, cluster, commit, ...}, 64 KiB of JSON */
};

enum notify_event_kind {
    NOTIFY_DRIFT_FOUND,
    NOTIFY_DRIFT_CHANGED,
    NOTIFY_DRIFT_RESOLVED,
    NOTIFY_DRIFT_REMINDER,  /* the same drift, still there after --remind-after */
    NOTIFY_APPLY_SUCCEEDED,
    NOTIFY_APPLY_FAILED,
    NOTIFY_FAILOVER_OBSERVED,
    NOTIFY_ALERT_FIRING,    /* an alert rule (alerts.h) left its range */
    NOTIFY_ALERT_RESOLVED,  /* ... and came back */
};

/* What happened. Strings are borrowed; all but cluster and summary may be NULL. */
struct notify_event {
    enum notify_event_kind kind;
    const char *cluster;
    const char *commit;     /* full id; chat formats show the first 12 digits */
    const char *subject;    /* the commit's subject line */
    const char *summary;    /* one line: "Plan: 1 to add, 2 to change, 0 to remove." */
    const char *body;       /* several lines, e.g. the plan text without colour */
    long long timestamp;    /* unix seconds, for display only; 0 = not shown */
};

struct notify_target {
    char *url;
    enum notify_format format;
    bool format_given;  /* FORMAT=URL named it; else --webhook-format applies */
};

/* Where and how to deliver. notify_options_init() fills in the defaults. */
struct notify_options {
    struct notify_target *targets;
    size_t ntargets, targets_cap;
    enum notify_format default_format; /* for webhooks that name none (slack) */
    bool format_set;                   /* --webhook-format was given */
    char **secrets;                    /* replaced by "******" in every payload */
    size_t nsecrets, secrets_cap;
    long connect_timeout_ms;           /* 5000 */
    long timeout_ms;                   /* 10000, one attempt, connect included */
    int max_attempts;                  /* 4 */
    long retry_base_ms;                /* 1000: waits 1 s, 2 s, 4 s ... */
    long retry_max_ms;                 /* 30000: cap on any wait, Retry-After too */
    long long remind_after_s;          /* --remind-after in seconds, 0 = never (default) */
    FILE *log;                         /* retry messages; stderr by default, NULL = quiet */
};

void notify_options_init(struct notify_options *o);
void notify_options_release(struct notify_options *o);

/*
 * Add a webhook. `spec` is a URL, or FORMAT=URL to give this one webhook its
 * own format (e.g. "discord=https://discord.com/api/webhooks/..."). Only http
 * and https URLs are accepted. Returns 0, or -1 with *err set (caller frees;
 * the message shows no more of the URL than its scheme and host).
 */
int notify_options_add_webhook(struct notify_options *o, const char *spec, char **err);

/* Remember a secret (e.g. the Redis password) to redact; NULL or "" is ignored. */
void notify_options_add_secret(struct notify_options *o, const char *secret);

/*
 * Take one option of the commands that notify (reconcile); `name` without
 * its dashes, the command line's parser (src/cli/opt.h) splits it:
 *   --webhook URL | --webhook=URL          (repeatable; FORMAT=URL allowed)
 *   --webhook-format slack|mattermost|discord|generic
 *   --webhook-timeout DURATION             (per attempt, e.g. 10s)
 *   --webhook-retries N                    (attempts in all, 1..10)
 *   --remind-after DURATION                (e.g. 24h; 0 = never)
 * Returns 1 when the option was one of these, 0 when it is not, -1 on a
 * usage error with *err set (caller frees).
 */
int notify_options_set(struct notify_options *o, const char *name, const char *value,
                       char **err);

/*
 * Call once after parsing: with no --webhook given, take the URLs from
 * RMGR_WEBHOOK_URL (`env`, may be NULL; several separated by spaces, commas
 * or newlines), then apply --webhook-format to webhooks that named no format.
 * Returns 0, or -1 with *err set.
 */
int notify_options_finish(struct notify_options *o, const char *env, char **err);

/* "slack" ... ; and back (false for an unknown name). */
const char *notify_format_name(enum notify_format f);
bool notify_format_parse(const char *name, enum notify_format *out);
/* "drift-found", "drift-changed", ... */
const char *notify_event_name(enum notify_event_kind k);

/* scheme://host[:port] of a URL, never its user, path or query. Caller frees. */
char *notify_url_display(const char *url);

/* The size limit of a format: characters of the message text, or JSON bytes (generic). */
size_t notify_format_limit(enum notify_format f);

/*
 * Build the JSON payload (ends without a newline). The event's strings are
 * redacted first, invalid UTF-8 is replaced by U+FFFD, and when the message
 * would exceed `limit` (0 = notify_format_limit(f)) the body is cut at a line
 * (or character) boundary with "... (truncated, N more lines)". Caller frees.
 */
char *notify_payload_build(enum notify_format f, const struct notify_event *ev,
                           char *const *secrets, size_t nsecrets, size_t limit);

/* What one delivery did, for logs and tests. */
struct notify_delivery {
    int attempts;       /* POSTs made */
    long http_status;   /* of the last attempt; 0 when there was no response */
    bool delivered;     /* a 2xx came back */
};

/*
 * POST `json` to one webhook, retrying network errors, 5xx, 408 and 429 with
 * exponential backoff (Retry-After honoured, capped at retry_max_ms) up to
 * max_attempts. Returns 0 when delivered, or -1 with *err set (caller frees):
 * "webhook 'https://hooks.slack.com': gave up after 4 attempts: HTTP 500".
 */
int notify_post(const struct notify_options *o, const struct notify_target *t,
                const char *json, struct notify_delivery *out, char **err);

/*
 * Build the payload for each target's format and deliver it to every target
 * (in parallel when there are several). Returns the number of targets that
 * failed (0 = all delivered, or no targets); *err (caller frees) then has one
 * line per failure, to be logged as a warning.
 */
int notify_send(const struct notify_options *o, const struct notify_event *ev, char **err);

#endif
