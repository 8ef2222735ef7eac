/*
 * notify.c - webhook payloads (pure, jansson) and their delivery (libcurl).
 *
 * Chat formats (slack, mattermost, discord) send one markdown message:
 *
 *   <icon> *rmgr: drift found* in cluster `prod`
 *   Plan: 1 to add, 0 to change, 0 to remove.
 *   Commit `0123456789ab`: Raise maxmemory on shard2
 *   Time: 2026-11-25 10:00:00 UTC
 *   ```
 *   <body>
 *   ```
 *   ... (truncated, 12 more lines)
 *
 * The generic format sends the event's fields as they are. Every string is
 * redacted before anything else, so a secret can neither reach the wire nor
 * be cut in half by truncation and leak its first part.
 */
#include "notify.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "json_out.h"
#include "redact.h"
#include "url.h"
#include "util.h"

#ifndef RMGR_VERSION
#define RMGR_VERSION "0"
#endif

#define PAYLOAD_VERSION 1

/* ---------------------------------------------------------------- names */

static const char *const format_names[] = {
    [NOTIFY_SLACK] = "slack",
    [NOTIFY_MATTERMOST] = "mattermost",
    [NOTIFY_DISCORD] = "discord",
    [NOTIFY_GENERIC] = "generic",
};

static const size_t format_limits[] = {
    [NOTIFY_SLACK] = 40000,
    [NOTIFY_MATTERMOST] = 16383,
    [NOTIFY_DISCORD] = 2000,
    [NOTIFY_GENERIC] = 65536,
};

static const struct {
    const char *name;
    const char *title;
    const char *icon;
} kinds[] = {
    [NOTIFY_DRIFT_FOUND] = {"drift-found", "drift found", u8"\u26A0\uFE0F"},
    [NOTIFY_DRIFT_CHANGED] = {"drift-changed", "drift changed", u8"\U0001F504"},
    [NOTIFY_DRIFT_RESOLVED] = {"drift-resolved", "drift resolved", u8"\u2705"},
    [NOTIFY_DRIFT_REMINDER] = {"drift-reminder", "drift still present", u8"\u23F0"},
    [NOTIFY_APPLY_SUCCEEDED] = {"apply-succeeded", "apply succeeded", u8"\u2705"},
    [NOTIFY_APPLY_FAILED] = {"apply-failed", "apply failed", u8"\u274C"},
    [NOTIFY_FAILOVER_OBSERVED] = {"failover-observed", "failover observed", u8"\U0001F500"},
    [NOTIFY_ALERT_FIRING] = {"alert-firing", "alert firing", u8"\U0001F6A8"},
    [NOTIFY_ALERT_RESOLVED] = {"alert-resolved", "alert resolved", u8"\u2705"},
};

const char *notify_format_name(enum notify_format f)
{
    return (size_t)f < ARRAY_SIZE(format_names) ? format_names[f] : "unknown";
}

bool notify_format_parse(const char *name, enum notify_format *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(format_names); i++) {
        if (str_ieq(name, format_names[i])) {
            *out = (enum notify_format)i;
            return true;
        }
    }
    return false;
}

const char *notify_event_name(enum notify_event_kind k)
{
    return (size_t)k < ARRAY_SIZE(kinds) ? kinds[k].name : "unknown";
}

size_t notify_format_limit(enum notify_format f)
{
    return (size_t)f < ARRAY_SIZE(format_limits) ? format_limits[f] : 2000;
}

/* ------------------------------------------------------------------ urls */

char *notify_url_display(const char *url)
{
    struct url_parts u;
    if (!url_split(url, &u))
        return xstrdup("(invalid url)");
    /* drop user:password@, the path and the query */
    struct strbuf sb = {0};
    for (size_t i = 0; i < u.scheme_len; i++)
        sb_addc(&sb, (char)tolower((unsigned char)url[i]));
    sb_add(&sb, "://");
    sb_addn(&sb, u.host, u.host_len);
    return sb_detach(&sb);
}

/* --------------------------------------------------------------- options */

void notify_options_init(struct notify_options *o)
{
    memset(o, 0, sizeof(*o));
    o->default_format = NOTIFY_SLACK;
    o->connect_timeout_ms = 5000;
    o->timeout_ms = 10000;
    o->max_attempts = 4;
    o->retry_base_ms = 1000;
    o->retry_max_ms = 30000;
    o->log = stderr;
}

void notify_options_release(struct notify_options *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->ntargets; i++)
        free(o->targets[i].url);
    free(o->targets);
    strings_free(o->secrets, o->nsecrets);
    o->targets = NULL;
    o->secrets = NULL;
    o->ntargets = o->targets_cap = o->nsecrets = o->secrets_cap = 0;
}

int notify_options_add_webhook(struct notify_options *o, const char *spec, char **err)
{
    struct notify_target t = {0};
    const char *url = spec ? spec : "";
    const char *eq = strchr(url, '=');
    struct url_parts u;
    /* FORMAT=URL: '=' cannot appear in a scheme, so a prefix before "://" is a format */
    if (eq && !url_split(url, &u)) {
        char *name = xstrndup(url, (size_t)(eq - url));
        bool ok = notify_format_parse(name, &t.format);
        if (!ok) {
            *err = xasprintf("unknown webhook format '%s' (slack, mattermost, discord, generic)",
                             name);
            free(name);
            return -1;
        }
        free(name);
        t.format_given = true;
        url = eq + 1;
    }
    if (!url_split(url, &u)) {
        *err = xstrdup("webhook is not a URL (expected http://... or https://...)");
        return -1;
    }
    if (!url_scheme_is(url, &u, "http") && !url_scheme_is(url, &u, "https")) {
        char *shown = notify_url_display(url);
        *err = xasprintf("webhook '%s': only http and https URLs are supported", shown);
        free(shown);
        return -1;
    }
    if (u.auth_len == 0) {
        *err = xstrdup("webhook URL has no host");
        return -1;
    }
    t.url = xstrdup(url);
    VEC_GROW(o->targets, o->ntargets, o->targets_cap);
    o->targets[o->ntargets++] = t;
    return 0;
}

void notify_options_add_secret(struct notify_options *o, const char *secret)
{
    if (!secret || !*secret)
        return;
    for (size_t i = 0; i < o->nsecrets; i++)
        if (!strcmp(o->secrets[i], secret))
            return;
    VEC_GROW(o->secrets, o->nsecrets, o->secrets_cap);
    o->secrets[o->nsecrets++] = xstrdup(secret);
}

int notify_options_set(struct notify_options *o, const char *name, const char *value,
                       char **err)
{
    long v;
    if (!strcmp(name, "webhook"))
        return notify_options_add_webhook(o, value, err) < 0 ? -1 : 1;
    if (!strcmp(name, "webhook-format")) {
        if (!notify_format_parse(value, &o->default_format)) {
            *err = xasprintf("--webhook-format: unknown format '%s' "
                             "(slack, mattermost, discord, generic)", value);
            return -1;
        }
        o->format_set = true;
        return 1;
    }
    if (!strcmp(name, "webhook-timeout")) {
        if (!parse_duration_ms(value, &v) || v < 100 || v > 600000) {
            *err = xasprintf("--webhook-timeout: '%s' is not a duration from 100ms to 10m",
                             value);
            return -1;
        }
        o->timeout_ms = v;
        if (o->connect_timeout_ms > v)
            o->connect_timeout_ms = v;
        return 1;
    }
    if (!strcmp(name, "webhook-retries")) {
        if (!parse_long(value, 0, 9, &v)) {
            *err = xasprintf("--webhook-retries: '%s' is not a number from 0 to 9", value);
            return -1;
        }
        o->max_attempts = (int)v + 1;
        return 1;
    }
    if (!strcmp(name, "remind-after")) {
        if (str_eq(value, "never") || str_eq(value, "off")) {
            o->remind_after_s = 0;
            return 1;
        }
        if (!parse_duration_ms(value, &v) || (v > 0 && v < 1000)) {
            *err = xasprintf("--remind-after: '%s' is not a duration (e.g. 24h, 30m; 0 = never)",
                             value);
            return -1;
        }
        o->remind_after_s = v / 1000;
        return 1;
    }
    return 0;
}

int notify_options_finish(struct notify_options *o, const char *env, char **err)
{
    if (o->ntargets == 0 && env) {
        const char *p = env;
        while (*p) {
            p += strspn(p, " \t\r\n,");
            size_t n = strcspn(p, " \t\r\n,");
            if (!n)
                break;
            char *one = xstrndup(p, n);
            char *e = NULL;
            int rc = notify_options_add_webhook(o, one, &e);
            free(one);
            if (rc < 0) {
                *err = xasprintf("RMGR_WEBHOOK_URL: %s", e);
                free(e);
                return -1;
            }
            p += n;
        }
    }
    for (size_t i = 0; i < o->ntargets; i++)
        if (!o->targets[i].format_given)
            o->targets[i].format = o->default_format;
    return 0;
}

/* ------------------------------------------------------------------ utf-8 */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Copy with each byte that is not valid UTF-8 replaced by U+FFFD. NULL gives NULL. */
static char *utf8_sanitize(const char *s)
{
    if (!s)
        return NULL;
    struct strbuf sb = {0};
    const unsigned char *p = (const unsigned char *)s;
    sb_add(&sb, "");
    while (*p) {
        size_t n = utf8_seq(p);
        if (n) {
            sb_addn(&sb, (const char *)p, n);
            p += n;
        } else {
            sb_add(&sb, u8"\uFFFD");
            p++;
        }
    }
    return sb_detach(&sb);
}

/* Code points in valid UTF-8. */
static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Bytes of the first `chars` code points of valid UTF-8 `s` (never splits one). */
static size_t utf8_prefix_bytes(const char *s, size_t chars)
{
    size_t i = 0;
    while (s[i] && chars) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        chars--;
    }
    return i;
}

/* Copy of at most `max` code points; "…" replaces the end of a longer string. */
static char *utf8_cap(const char *s, size_t max)
{
    if (!s)
        return NULL;
    if (utf8_len(s) <= max)
        return xstrdup(s);
    struct strbuf sb = {0};
    sb_addn(&sb, s, utf8_prefix_bytes(s, max - 1));
    sb_add(&sb, u8"\u2026");
    return sb_detach(&sb);
}

/* --------------------------------------------------------------- messages */

/* The event with its strings redacted, sanitized and capped; owns them. */
struct clean_event {
    enum notify_event_kind kind;
    char *cluster, *commit, *subject, *summary;
    char **lines;        /* the body, split; no trailing empty lines */
    size_t nlines;
    long long timestamp;
};

static char *clean_field(const char *s, char *const *secrets, size_t nsecrets, size_t cap)
{
    if (!s)
        return NULL;
    char *r = redact_secrets(s, secrets, nsecrets);
    char *u = utf8_sanitize(r);
    free(r);
    if (!cap)
        return u;
    /* one-line fields stay one line */
    for (char *p = u; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    char *c = utf8_cap(u, cap);
    free(u);
    return c;
}

static void clean_event_init(struct clean_event *c, const struct notify_event *ev,
                             char *const *secrets, size_t nsecrets)
{
    memset(c, 0, sizeof(*c));
    c->kind = ev->kind;
    c->timestamp = ev->timestamp;
    c->cluster = clean_field(ev->cluster ? ev->cluster : "?", secrets, nsecrets, 100);
    c->commit = clean_field(ev->commit, secrets, nsecrets, 64);
    c->subject = clean_field(ev->subject, secrets, nsecrets, 200);
    c->summary = clean_field(ev->summary ? ev->summary : "", secrets, nsecrets, 400);
    char *body = clean_field(ev->body, secrets, nsecrets, 0);
    if (body) {
        size_t len = strlen(body);
        while (len && (body[len - 1] == '\n' || body[len - 1] == '\r'))
            body[--len] = '\0';
        size_t cap = 0;
        char *p = body;
        while (len) {
            char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            if (n && p[n - 1] == '\r')
                n--;
            VEC_GROW(c->lines, c->nlines, cap);
            c->lines[c->nlines++] = xstrndup(p, n);
            if (!nl)
                break;
            p = nl + 1;
        }
        free(body);
    }
}

static void clean_event_release(struct clean_event *c)
{
    free(c->cluster);
    free(c->commit);
    free(c->subject);
    free(c->summary);
    strings_free(c->lines, c->nlines);
}

/* How much of the body a message shows: `lines` whole lines, then `chars` of the next. */
struct cut {
    size_t lines;
    size_t chars;
};

static size_t cut_hidden(const struct clean_event *c, struct cut k)
{
    return c->nlines - k.lines;
}

static void add_truncation_note(struct strbuf *sb, size_t hidden)
{
    sb_addf(sb, "... (truncated, %zu more line%s)", hidden, hidden == 1 ? "" : "s");
}

/* Slack wants &, < and > escaped everywhere; that also defuses <!channel>. */
static void add_chat_text(struct strbuf *sb, enum notify_format f, const char *s, size_t n,
                          bool in_code)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (f == NOTIFY_SLACK && ch == '&')
            sb_add(sb, "&amp;");
        else if (f == NOTIFY_SLACK && ch == '<')
            sb_add(sb, "&lt;");
        else if (f == NOTIFY_SLACK && ch == '>')
            sb_add(sb, "&gt;");
        else if (in_code && ch == '`' && i + 2 < n && s[i + 1] == '`' && s[i + 2] == '`') {
            /* a ``` inside the body would close the code block */
            sb_add(sb, u8"`\u200B");
        } else if (!in_code && f == NOTIFY_MATTERMOST && ch == '@') {
            /* no @channel / @all pings from a commit subject */
            sb_add(sb, u8"@\u200B");
        } else {
            sb_addc(sb, ch);
        }
    }
}

static void format_time(long long ts, const char *fmt, char *buf, size_t size)
{
    time_t t = (time_t)ts;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, size, fmt, &tm))
        snprintf(buf, size, "%lld", ts);
}

/* The whole chat message showing body cut `k`. */
static char *chat_text(enum notify_format f, const struct clean_event *c, struct cut k)
{
    const char *bold = f == NOTIFY_SLACK ? "*" : "**";
    struct strbuf sb = {0};
    sb_addf(&sb, "%s %srmgr: %s%s in cluster `", kinds[c->kind].icon, bold,
            kinds[c->kind].title, bold);
    add_chat_text(&sb, f, c->cluster, strlen(c->cluster), true);
    sb_add(&sb, "`");
    if (*c->summary) {
        sb_add(&sb, "\n");
        add_chat_text(&sb, f, c->summary, strlen(c->summary), false);
    }
    if (c->commit && *c->commit) {
        sb_add(&sb, "\nCommit `");
        size_t n = strlen(c->commit);
        add_chat_text(&sb, f, c->commit, n > 12 ? 12 : n, true);
        sb_add(&sb, "`");
        if (c->subject && *c->subject) {
            sb_add(&sb, ": ");
            add_chat_text(&sb, f, c->subject, strlen(c->subject), false);
        }
    } else if (c->subject && *c->subject) {
        sb_add(&sb, "\nChange: ");
        add_chat_text(&sb, f, c->subject, strlen(c->subject), false);
    }
    if (c->timestamp) {
        char when[64];
        format_time(c->timestamp, "%Y-%m-%d %H:%M:%S UTC", when, sizeof(when));
        sb_addf(&sb, "\nTime: %s", when);
    }
    bool partial = k.lines < c->nlines && k.chars > 0;
    if (k.lines > 0 || partial) {
        sb_add(&sb, "\n```\n");
        for (size_t i = 0; i < k.lines; i++) {
            add_chat_text(&sb, f, c->lines[i], strlen(c->lines[i]), true);
            sb_add(&sb, "\n");
        }
        if (partial) {
            const char *l = c->lines[k.lines];
            add_chat_text(&sb, f, l, utf8_prefix_bytes(l, k.chars), true);
            sb_add(&sb, "\n");
        }
        sb_add(&sb, "```");
    }
    if (cut_hidden(c, k)) {
        sb_add(&sb, "\n");
        add_truncation_note(&sb, cut_hidden(c, k));
    }
    return sb_detach(&sb);
}

/* The generic payload showing body cut `k`. */
static json_t *generic_json(const struct clean_event *c, struct cut k)
{
    json_t *o = json_object();
    json_object_set_new(o, "event", json_text(kinds[c->kind].name));
    json_object_set_new(o, "cluster", json_text(c->cluster));
    json_object_set_new(o, "commit", json_str_or_null(c->commit));
    json_object_set_new(o, "subject", json_str_or_null(c->subject));
    json_object_set_new(o, "summary", json_text(c->summary));
    if (c->nlines == 0) {
        json_object_set_new(o, "body", json_null());
    } else {
        struct strbuf sb = {0};
        for (size_t i = 0; i < k.lines; i++) {
            sb_add(&sb, c->lines[i]);
            sb_add(&sb, "\n");
        }
        if (k.lines < c->nlines && k.chars > 0) {
            const char *l = c->lines[k.lines];
            sb_addn(&sb, l, utf8_prefix_bytes(l, k.chars));
            sb_add(&sb, "\n");
        }
        if (cut_hidden(c, k)) {
            add_truncation_note(&sb, cut_hidden(c, k));
            sb_add(&sb, "\n");
        }
        json_object_set_new(o, "body", json_text(sb_str(&sb)));
        sb_release(&sb);
    }
    if (c->timestamp) {
        char when[64];
        format_time(c->timestamp, "%Y-%m-%dT%H:%M:%SZ", when, sizeof(when));
        json_object_set_new(o, "timestamp", json_text(when));
    } else {
        json_object_set_new(o, "timestamp", json_null());
    }
    json_object_set_new(o, "version", json_integer(PAYLOAD_VERSION));
    return o;
}

static char *dump(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return NULL;
    char *r = xstrdup(s); /* jansson's allocator is not ours: hand back an x-string */
    free(s);
    return r;
}

/* The payload for cut `k`; *size is what the format's limit is measured on. */
static char *payload_at(enum notify_format f, const struct clean_event *c, struct cut k,
                        size_t *size)
{
    if (f == NOTIFY_GENERIC) {
        char *s = dump(generic_json(c, k));
        *size = s ? strlen(s) : 0;
        return s;
    }
    char *text = chat_text(f, c, k);
    *size = utf8_len(text);
    json_t *o = json_object();
    if (f == NOTIFY_DISCORD) {
        json_object_set_new(o, "content", json_text(text));
        /* never ping @everyone, @here, users or roles from a commit subject */
        json_t *am = json_object();
        json_object_set_new(am, "parse", json_array());
        json_object_set_new(o, "allowed_mentions", am);
    } else {
        json_object_set_new(o, "text", json_text(text));
    }
    free(text);
    return dump(o);
}

static bool fits(enum notify_format f, const struct clean_event *c, struct cut k, size_t limit)
{
    size_t size;
    char *s = payload_at(f, c, k, &size);
    free(s);
    return size <= limit;
}

char *notify_payload_build(enum notify_format f, const struct notify_event *ev,
                           char *const *secrets, size_t nsecrets, size_t limit)
{
    if ((size_t)f >= ARRAY_SIZE(format_names) || (size_t)ev->kind >= ARRAY_SIZE(kinds))
        return NULL;
    if (!limit)
        limit = notify_format_limit(f);
    struct clean_event c;
    clean_event_init(&c, ev, secrets, nsecrets);

    struct cut k = {c.nlines, 0};
    if (!fits(f, &c, k, limit)) {
        /* most whole lines that fit (fits(lo) always holds once lo was accepted) */
        size_t lo = 0, hi = c.nlines; /* hi never fits */
        k.chars = 0;
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (fits(f, &c, (struct cut){mid, 0}, limit))
                lo = mid;
            else
                hi = mid;
        }
        k.lines = lo;
        if (lo == 0) {
            /* not even the first line: show as much of it as fits */
            size_t clo = 0, chi = utf8_len(c.lines[0]);
            while (chi - clo > 1) {
                size_t mid = clo + (chi - clo) / 2;
                if (fits(f, &c, (struct cut){0, mid}, limit))
                    clo = mid;
                else
                    chi = mid;
            }
            k.chars = clo;
        }
    }
    size_t size;
    char *out = payload_at(f, &c, k, &size);
    if (out && size > limit && f != NOTIFY_GENERIC) {
        /* the heading alone is too long (only with a tiny custom limit): hard cut */
        char *text = chat_text(f, &c, k);
        char *cut = utf8_cap(text, limit);
        json_t *o = json_object();
        json_object_set_new(o, f == NOTIFY_DISCORD ? "content" : "text", json_text(cut));
        free(text);
        free(cut);
        free(out);
        out = dump(o);
    }
    clean_event_release(&c);
    return out;
}

/* --------------------------------------------------------------- delivery */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ok;

static void curl_init_once(void)
{
    curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* Keep the start of a response body for the error message. */
static size_t on_response(char *data, size_t size, size_t nmemb, void *ud)
{
    struct strbuf *sb = ud;
    size_t n = size * nmemb;
    if (sb->len < 200)
        sb_addn(sb, data, n < 200 - sb->len ? n : 200 - sb->len);
    return n;
}

/* Errors worth another attempt: the network, not the request. */
static bool curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* Printable one-line copy of a response body start, with the URL's secrets removed. */
static char *body_snippet(const char *body, const char *url)
{
    struct strbuf sb = {0};
    for (const char *p = body; *p && sb.len < 120; p++)
        sb_addc(&sb, isprint((unsigned char)*p) ? *p : ' ');
    /* some services echo the URL back: never print its path */
    char *secrets[1] = {(char *)url};
    char *r = redact_secrets(sb_str(&sb), secrets, 1);
    sb_release(&sb);
    return r;
}

int notify_post(const struct notify_options *o, const struct notify_target *t,
                const char *json, struct notify_delivery *out, char **err)
{
    struct notify_delivery d = {0};
    char *shown = notify_url_display(t->url);
    char *problem = NULL;
    int max = o->max_attempts > 0 ? o->max_attempts : 1;
    pthread_once(&curl_once, curl_init_once);
    CURL *h = curl_ok ? curl_easy_init() : NULL;
    if (!h) {
        problem = xstrdup("cannot initialise libcurl");
        goto done;
    }
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    char errbuf[CURL_ERROR_SIZE];

    for (d.attempts = 1;; d.attempts++) {
        struct strbuf resp = {0};
        errbuf[0] = '\0';
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, t->url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "rmgr/" RMGR_VERSION);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms);
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_response);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);

        CURLcode rc = curl_easy_perform(h);
        bool retry;
        long wait = -1;
        free(problem);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &d.http_status);
            if (d.http_status >= 200 && d.http_status < 300) {
                d.delivered = true;
                problem = NULL;
                sb_release(&resp);
                break;
            }
            retry = d.http_status == 429 || d.http_status == 408 || d.http_status >= 500;
            char *snip = body_snippet(sb_str(&resp), t->url);
            problem = *snip ? xasprintf("HTTP %ld (%s)", d.http_status, snip)
                            : xasprintf("HTTP %ld", d.http_status);
            free(snip);
            curl_off_t ra = -1;
            /* Retry-After in seconds (or a date, which curl turns into seconds); 0 = none */
            if (retry && curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
                wait = ra > o->retry_max_ms / 1000 ? o->retry_max_ms : (long)ra * 1000;
        } else {
            d.http_status = 0;
            retry = curl_retryable(rc);
            char *secrets[1] = {t->url};
            char *msg = redact_secrets(errbuf[0] ? errbuf : curl_easy_strerror(rc), secrets, 1);
            problem = msg;
        }
        sb_release(&resp);
        if (!retry || d.attempts >= max)
            break;
        if (wait < 0) {
            wait = o->retry_base_ms;
            for (int i = 1; i < d.attempts && wait < o->retry_max_ms; i++)
                wait *= 2;
        }
        if (wait > o->retry_max_ms)
            wait = o->retry_max_ms;
        if (o->log)
            fprintf(o->log, "rmgr: webhook '%s': %s, retrying in %ld.%01lds (attempt %d of %d)\n",
                    shown, problem, wait / 1000, (wait % 1000) / 100, d.attempts, max);
        sleep_ms(wait);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);

done:
    if (!d.delivered && err) {
        if (d.attempts > 1)
            *err = xasprintf("webhook '%s': gave up after %d attempts: %s", shown, d.attempts,
                             problem);
        else
            *err = xasprintf("webhook '%s': %s", shown, problem);
    }
    free(problem);
    free(shown);
    if (out)
        *out = d;
    return d.delivered ? 0 : -1;
}

struct job {
    const struct notify_options *o;
    const struct notify_target *t;
    const char *json;
    char *err;
    int rc;
};

static void *run_job(void *arg)
{
    struct job *j = arg;
    j->rc = notify_post(j->o, j->t, j->json, NULL, &j->err);
    return NULL;
}

int notify_send(const struct notify_options *o, const struct notify_event *ev, char **err)
{
    size_t n = o->ntargets;
    if (err)
        *err = NULL;
    if (!n)
        return 0;
    char *payloads[ARRAY_SIZE(format_names)] = {0};
    struct job *jobs = xcalloc(n, sizeof(*jobs));
    pthread_t *threads = xcalloc(n, sizeof(*threads));
    bool *started = xcalloc(n, sizeof(*started));
    pthread_once(&curl_once, curl_init_once);
    for (size_t i = 0; i < n; i++) {
        enum notify_format f = o->targets[i].format;
        if ((size_t)f >= ARRAY_SIZE(format_names))
            f = NOTIFY_GENERIC;
        if (!payloads[f])
            payloads[f] = notify_payload_build(f, ev, o->secrets, o->nsecrets, 0);
        jobs[i] = (struct job){o, &o->targets[i], payloads[f], NULL, -1};
        if (!jobs[i].json) {
            jobs[i].err = xstrdup("cannot build the payload");
            continue;
        }
        /* one webhook: no thread needed */
        if (n > 1 && pthread_create(&threads[i], NULL, run_job, &jobs[i]) == 0)
            started[i] = true;
        else
            run_job(&jobs[i]);
    }
    int failed = 0;
    struct strbuf sb = {0};
    for (size_t i = 0; i < n; i++) {
        if (started[i])
            pthread_join(threads[i], NULL);
        if (jobs[i].rc != 0) {
            failed++;
            sb_addf(&sb, "%s%s", sb.len ? "\n" : "", jobs[i].err ? jobs[i].err : "failed");
        }
        free(jobs[i].err);
    }
    for (size_t i = 0; i < ARRAY_SIZE(payloads); i++)
        free(payloads[i]);
    free(jobs);
    free(threads);
    free(started);
    if (err && failed)
        *err = sb_detach(&sb);
    sb_release(&sb);
    return failed;
}
