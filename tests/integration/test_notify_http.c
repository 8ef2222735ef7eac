/*
 * test_notify_http.c - webhook delivery over real HTTP on loopback.
 *
 * The receiver is a small HTTP/1.1 server in a thread of this test, listening
 * on 127.0.0.1 at a port the kernel picks. It records every request and
 * answers from a script (status + extra headers), then 200. It can also play
 * dead: "down" (nothing listening on the port) and "hang" (the connection is
 * accepted by the kernel but never answered).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "drift_state.h"
#include "notify.h"
#include "test.h"
#include "util.h"

#define SECRET_PATH "/hooks/T000/SECRETTOKEN"

/* ------------------------------------------------------------- receiver */

struct request {
    char *method, *path, *content_type, *user_agent, *body;
    long long at_ms;
};

struct reply {
    int status;
    const char *headers; /* extra header lines, each ending in \r\n */
};

struct receiver {
    int lfd, port;
    bool hang;           /* never accept: the kernel completes the handshake, nobody answers */
    pthread_t thread;
    pthread_mutex_t mu;
    bool stop;
    struct reply script[8];
    size_t nscript, next;
    struct request reqs[32];
    size_t nreqs;
};

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static char *header_value(const char *head, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *l = p + 2;
        if (!strncasecmp(l, name, n) && l[n] == ':') {
            l += n + 1;
            while (*l == ' ')
                l++;
            return xstrndup(l, strcspn(l, "\r\n"));
        }
    }
    return NULL;
}

static bool stopping(struct receiver *r)
{
    pthread_mutex_lock(&r->mu);
    bool s = r->stop;
    pthread_mutex_unlock(&r->mu);
    return s;
}

/* Read one request from fd, record it, answer from the script. */
static void serve(struct receiver *r, int fd)
{
    struct strbuf in = {0};
    char buf[4096];
    size_t head_len = 0, want = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 2000) <= 0)
            break;
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        sb_addn(&in, buf, (size_t)n);
        if (!head_len) {
            const char *end = strstr(sb_str(&in), "\r\n\r\n");
            if (!end)
                continue;
            head_len = (size_t)(end - in.buf) + 4;
            char *cl = header_value(in.buf, "Content-Length");
            want = cl ? strtoul(cl, NULL, 10) : 0;
            free(cl);
        }
        if (in.len >= head_len + want)
            break;
    }
    if (!head_len) {
        sb_release(&in);
        close(fd);
        return;
    }
    struct request q = {0};
    q.at_ms = now_ms();
    q.method = xstrndup(in.buf, strcspn(in.buf, " "));
    const char *path = strchr(in.buf, ' ');
    q.path = path ? xstrndup(path + 1, strcspn(path + 1, " ")) : xstrdup("");
    char *head = xstrndup(in.buf, head_len);
    q.content_type = header_value(head, "Content-Type");
    q.user_agent = header_value(head, "User-Agent");
    free(head);
    q.body = xstrndup(in.buf + head_len, in.len - head_len);
    sb_release(&in);

    pthread_mutex_lock(&r->mu);
    struct reply rep = {200, ""};
    if (r->next < r->nscript)
        rep = r->script[r->next++];
    if (r->nreqs < ARRAY_SIZE(r->reqs))
        r->reqs[r->nreqs++] = q;
    pthread_mutex_unlock(&r->mu);

    const char *body = rep.status == 200 ? "ok" : "no such luck";
    char *resp = xasprintf("HTTP/1.1 %d Scripted\r\nContent-Type: text/plain\r\n"
                           "Content-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
                           rep.status, strlen(body), rep.headers ? rep.headers : "", body);
    ssize_t w = write(fd, resp, strlen(resp));
    (void)w;
    free(resp);
    close(fd);
}

static void *receiver_main(void *arg)
{
    struct receiver *r = arg;
    while (!stopping(r)) {
        struct pollfd p = {r->lfd, POLLIN, 0};
        if (r->hang || poll(&p, 1, 50) <= 0) {
            if (r->hang)
                usleep(50 * 1000);
            continue;
        }
        int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            serve(r, fd);
    }
    return NULL;
}

static struct receiver *receiver_start(bool hang)
{
    struct receiver *r = xcalloc(1, sizeof(*r));
    r->hang = hang;
    pthread_mutex_init(&r->mu, NULL);
    r->lfd = listen_loopback(&r->port);
    if (r->lfd < 0 || pthread_create(&r->thread, NULL, receiver_main, r) != 0) {
        fprintf(stderr, "cannot start the receiver: %s\n", strerror(errno));
        exit(2);
    }
    return r;
}

static void receiver_script(struct receiver *r, int status, const char *headers)
{
    pthread_mutex_lock(&r->mu);
    r->script[r->nscript++] = (struct reply){status, headers};
    pthread_mutex_unlock(&r->mu);
}

static size_t receiver_count(struct receiver *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->nreqs;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void receiver_stop(struct receiver *r)
{
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    close(r->lfd);
    for (size_t i = 0; i < r->nreqs; i++) {
        free(r->reqs[i].method);
        free(r->reqs[i].path);
        free(r->reqs[i].content_type);
        free(r->reqs[i].user_agent);
        free(r->reqs[i].body);
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* A port with nothing listening: bound by us a moment ago, then closed. */
static int dead_port(void)
{
    int port;
    int fd = listen_loopback(&port);
    close(fd);
    return port;
}

/* ------------------------------------------------------------------ helpers */

static char *url_for(int port)
{
    return xasprintf("http://127.0.0.1:%d" SECRET_PATH "?token=QUERYSECRET", port);
}

/* Fast options: short timeouts, 10 ms backoff, a log we can read. */
static void fast_options(struct notify_options *o, FILE *log)
{
    notify_options_init(o);
    o->connect_timeout_ms = 1000;
    o->timeout_ms = 2000;
    o->max_attempts = 3;
    o->retry_base_ms = 10;
    o->retry_max_ms = 5000;
    o->log = log;
}

static void add_target(struct notify_options *o, int port, enum notify_format f)
{
    char *url = url_for(port);
    char *spec = xasprintf("%s=%s", notify_format_name(f), url);
    char *err = NULL;
    if (notify_options_add_webhook(o, spec, &err) < 0) {
        printf("    add_webhook: %s\n", err);
        free(err);
    }
    free(spec);
    free(url);
}

static struct notify_event event(void)
{
    struct notify_event ev = {
        .kind = NOTIFY_DRIFT_FOUND,
        .cluster = "prod",
        .commit = "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        .subject = "Raise maxmemory",
        .summary = "Plan: 0 to add, 1 to change, 0 to remove.",
        .body = "shard1:\n  ~ config maxmemory: 100mb -> 200mb\n",
        .timestamp = 1764064800,
    };
    return ev;
}

/* The log written so far (closes nothing). */
static char *log_text(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    char *s = xcalloc(1, (size_t)n + 1);
    rewind(f);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fseek(f, 0, SEEK_END);
    return s;
}

/* -------------------------------------------------------------------- tests */

TEST(each_format_posts_the_expected_json)
{
    static const enum notify_format fs[] = {NOTIFY_SLACK, NOTIFY_MATTERMOST, NOTIFY_DISCORD,
                                            NOTIFY_GENERIC};
    static const char *const keys[] = {"text", "text", "content", "event"};
    for (size_t i = 0; i < ARRAY_SIZE(fs); i++) {
        struct receiver *r = receiver_start(false);
        struct notify_options o;
        fast_options(&o, NULL);
        add_target(&o, r->port, fs[i]);
        struct notify_event ev = event();
        char *err = NULL;
        CHECK_INT_EQ(notify_send(&o, &ev, &err), 0);
        CHECK(err == NULL);
        CHECK_INT_EQ(receiver_count(r), 1);
        if (r->nreqs == 1) {
            struct request *q = &r->reqs[0];
            CHECK_STR_EQ(q->method, "POST");
            CHECK_STR_EQ(q->path, SECRET_PATH "?token=QUERYSECRET");
            CHECK_STR_EQ(q->content_type, "application/json");
            CHECK(str_starts_with(q->user_agent, "rmgr/"));
            char *want = notify_payload_build(fs[i], &ev, NULL, 0, 0);
            CHECK_STR_EQ(q->body, want);
            free(want);
            json_t *j = json_loads(q->body, 0, NULL);
            CHECK(j && json_object_get(j, keys[i]));
            json_decref(j);
        }
        free(err);
        notify_options_release(&o);
        receiver_stop(r);
    }
}

TEST(server_error_then_ok_is_delivered_after_a_retry)
{
    struct receiver *r = receiver_start(false);
    receiver_script(r, 500, NULL);
    struct notify_options o;
    FILE *log = tmpfile();
    fast_options(&o, log);
    add_target(&o, r->port, NOTIFY_SLACK);
    struct notify_delivery d;
    char *err = NULL;
    CHECK_INT_EQ(notify_post(&o, &o.targets[0], "{\"text\":\"hi\"}", &d, &err), 0);
    CHECK(d.delivered);
    CHECK_INT_EQ(d.attempts, 2);
    CHECK_INT_EQ(d.http_status, 200);
    CHECK_INT_EQ(receiver_count(r), 2);
    char *l = log_text(log);
    CHECK_CONTAINS(l, "webhook 'http://127.0.0.1:");
    CHECK_CONTAINS(l, "HTTP 500");
    CHECK_CONTAINS(l, "retrying");
    CHECK(!strstr(l, "SECRET"));
    free(l);
    fclose(log);
    free(err);
    notify_options_release(&o);
    receiver_stop(r);
}

TEST(too_many_requests_honours_retry_after)
{
    struct receiver *r = receiver_start(false);
    receiver_script(r, 429, "Retry-After: 1\r\n");
    struct notify_options o;
    fast_options(&o, NULL);
    add_target(&o, r->port, NOTIFY_DISCORD);
    struct notify_delivery d;
    char *err = NULL;
    long long t0 = now_ms();
    CHECK_INT_EQ(notify_post(&o, &o.targets[0], "{\"content\":\"hi\"}", &d, &err), 0);
    long long took = now_ms() - t0;
    CHECK_INT_EQ(d.attempts, 2);
    CHECK_INT_EQ(receiver_count(r), 2);
    if (r->nreqs == 2) {
        long long gap = r->reqs[1].at_ms - r->reqs[0].at_ms;
        printf("    gap between attempts: %lld ms\n", gap);
        CHECK(gap >= 900);  /* the 10 ms backoff alone would be far shorter */
        CHECK(gap < 3000);
    }
    CHECK(took < 4000);
    free(err);
    notify_options_release(&o);
    receiver_stop(r);
}

TEST(retry_after_is_capped)
{
    struct receiver *r = receiver_start(false);
    receiver_script(r, 503, "Retry-After: 3600\r\n");
    struct notify_options o;
    fast_options(&o, NULL);
    o.retry_max_ms = 300;
    add_target(&o, r->port, NOTIFY_GENERIC);
    struct notify_delivery d;
    long long t0 = now_ms();
    CHECK_INT_EQ(notify_post(&o, &o.targets[0], "{}", &d, NULL), 0);
    long long took = now_ms() - t0;
    printf("    delivered after %lld ms\n", took);
    CHECK_INT_EQ(d.attempts, 2);
    CHECK(took >= 250 && took < 2000);
    notify_options_release(&o);
    receiver_stop(r);
}

TEST(persistent_server_error_gives_up_after_n_attempts)
{
    struct receiver *r = receiver_start(false);
    for (int i = 0; i < 6; i++)
        receiver_script(r, 500, NULL);
    struct notify_options o;
    fast_options(&o, NULL);
    o.max_attempts = 4;
    add_target(&o, r->port, NOTIFY_SLACK);
    struct notify_delivery d;
    char *err = NULL;
    CHECK_INT_EQ(notify_post(&o, &o.targets[0], "{\"text\":\"hi\"}", &d, &err), -1);
    CHECK(!d.delivered);
    CHECK_INT_EQ(d.attempts, 4);
    CHECK_INT_EQ(d.http_status, 500);
    CHECK_INT_EQ(receiver_count(r), 4);
    CHECK_CONTAINS(err, "HTTP 500");
    CHECK_CONTAINS(err, "after 4 attempts");
    char *host = xasprintf("webhook 'http://127.0.0.1:%d'", r->port);
    CHECK_CONTAINS(err, host);
    CHECK(!strstr(err, "SECRET"));
    free(host);
    free(err);
    notify_options_release(&o);
    receiver_stop(r);
}

TEST(client_error_is_not_retried)
{
    struct receiver *r = receiver_start(false);
    receiver_script(r, 404, NULL);
    struct notify_options o;
    fast_options(&o, NULL);
    add_target(&o, r->port, NOTIFY_SLACK);
    struct notify_delivery d;
    char *err = NULL;
    CHECK_INT_EQ(notify_post(&o, &o.targets[0], "{}", &d, &err), -1);
    CHECK_INT_EQ(d.attempts, 1);
    CHECK_INT_EQ(receiver_count(r), 1);
    CHECK_CONTAINS(err, "HTTP 404 (no such luck)");
    free(err);
    notify_options_release(&o);
    receiver_stop(r);
}

TEST(receiver_down_is_an_error_without_a_hang)
{
    struct notify_options o;
    fast_options(&o, NULL);
    add_target(&o, dead_port(), NOTIFY_SLACK);
    struct notify_delivery d;
    char *err = NULL;
    long long t0 = now_ms();
    CHECK_INT_EQ(notify_post(&o, &o.targets[0], "{}", &d, &err), -1);
    long long took = now_ms() - t0;
    CHECK_INT_EQ(d.attempts, 3);
    CHECK_INT_EQ(d.http_status, 0);
    CHECK_CONTAINS(err, "after 3 attempts");
    CHECK(!strstr(err, "SECRET"));
    printf("    %s (%lld ms)\n", err, took);
    CHECK(took < 2000);
    free(err);
    notify_options_release(&o);
}

TEST(receiver_that_never_answers_times_out)
{
    struct receiver *r = receiver_start(true);
    struct notify_options o;
    fast_options(&o, NULL);
    o.timeout_ms = 500;
    o.max_attempts = 2;
    add_target(&o, r->port, NOTIFY_SLACK);
    struct notify_delivery d;
    char *err = NULL;
    long long t0 = now_ms();
    CHECK_INT_EQ(notify_post(&o, &o.targets[0], "{}", &d, &err), -1);
    long long took = now_ms() - t0;
    printf("    %s (%lld ms)\n", err, took);
    CHECK_INT_EQ(d.attempts, 2);
    CHECK(took >= 900);   /* two attempts of 500 ms */
    CHECK(took < 2500);   /* and not much more */
    CHECK_CONTAINS(err, "imed out");
    free(err);
    notify_options_release(&o);
    receiver_stop(r);
}

TEST(secret_in_body_never_reaches_the_receiver)
{
    struct receiver *r = receiver_start(false);
    struct notify_options o;
    fast_options(&o, NULL);
    notify_options_add_secret(&o, "s3cr3t-redis-pw");
    add_target(&o, r->port, NOTIFY_SLACK);
    add_target(&o, r->port, NOTIFY_GENERIC);
    struct notify_event ev = event();
    ev.body = "requirepass s3cr3t-redis-pw\nmasterauth s3cr3t-redis-pw\n";
    ev.summary = "AUTH s3cr3t-redis-pw failed";
    char *err = NULL;
    CHECK_INT_EQ(notify_send(&o, &ev, &err), 0);
    CHECK_INT_EQ(receiver_count(r), 2);
    for (size_t i = 0; i < r->nreqs; i++) {
        CHECK(!strstr(r->reqs[i].body, "s3cr3t"));
        CHECK_CONTAINS(r->reqs[i].body, "requirepass ******");
    }
    free(err);
    notify_options_release(&o);
    receiver_stop(r);
}

TEST(several_webhooks_in_parallel_one_failing)
{
    struct receiver *ok1 = receiver_start(false), *ok2 = receiver_start(false);
    struct receiver *bad = receiver_start(false);
    for (int i = 0; i < 3; i++)
        receiver_script(bad, 502, NULL);
    struct notify_options o;
    fast_options(&o, NULL);
    add_target(&o, ok1->port, NOTIFY_MATTERMOST);
    add_target(&o, bad->port, NOTIFY_DISCORD);
    add_target(&o, ok2->port, NOTIFY_GENERIC);
    struct notify_event ev = event();
    char *err = NULL;
    CHECK_INT_EQ(notify_send(&o, &ev, &err), 1);
    CHECK_INT_EQ(receiver_count(ok1), 1);
    CHECK_INT_EQ(receiver_count(ok2), 1);
    CHECK_INT_EQ(receiver_count(bad), 3);
    CHECK_CONTAINS(err, "gave up after 3 attempts: HTTP 502 (no such luck)");
    CHECK(!strchr(err, '\n')); /* one line: one failure */
    free(err);
    notify_options_release(&o);
    receiver_stop(ok1);
    receiver_stop(ok2);
    receiver_stop(bad);
}

TEST(drift_posts_once_and_retries_when_nobody_heard)
{
    char dir[] = "/tmp/rmgr-notify-state-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct receiver *r = receiver_start(false);
    struct notify_options o;
    fast_options(&o, NULL);
    o.max_attempts = 1;
    add_target(&o, r->port, NOTIFY_GENERIC);
    struct drift_input in = {.cluster = "prod", .summary = "Plan: 1 to add.",
                             .body = "+ replica\n"};
    char *warn = NULL;

    /* the first delivery fails: the state stays, the next run announces it again */
    receiver_script(r, 500, NULL);
    in.fingerprint = "f1";
    in.now = 1000;
    CHECK_INT_EQ(drift_notify(&o, dir, &in, &warn), DRIFT_FOUND);
    CHECK_CONTAINS(warn, "HTTP 500");
    free(warn);
    warn = NULL;
    in.now = 1060;
    CHECK_INT_EQ(drift_notify(&o, dir, &in, &warn), DRIFT_FOUND);
    CHECK(warn == NULL);
    /* now it was heard: the same drift is quiet */
    in.now = 1120;
    CHECK_INT_EQ(drift_notify(&o, dir, &in, &warn), DRIFT_NONE);
    in.now = 1180;
    CHECK_INT_EQ(drift_notify(&o, dir, &in, &warn), DRIFT_NONE);
    in.fingerprint = NULL;
    in.now = 1240;
    CHECK_INT_EQ(drift_notify(&o, dir, &in, &warn), DRIFT_RESOLVED);
    CHECK(warn == NULL);
    CHECK_INT_EQ(receiver_count(r), 3); /* failed found, found, resolved */
    if (r->nreqs == 3) {
        CHECK_CONTAINS(r->reqs[1].body, "\"event\":\"drift-found\"");
        CHECK_CONTAINS(r->reqs[2].body, "\"event\":\"drift-resolved\"");
        CHECK_CONTAINS(r->reqs[2].body, "\"body\":null");
    }
    free(warn);
    notify_options_release(&o);
    receiver_stop(r);
    char *cmd = xasprintf("rm -rf '%s'", dir);
    CHECK_INT_EQ(system(cmd), 0);
    free(cmd);
}

int main(void)
{
    /* loopback only: no proxy in between */
    static const char *const proxies[] = {"http_proxy", "https_proxy", "HTTP_PROXY",
                                          "HTTPS_PROXY", "ALL_PROXY", "all_proxy"};
    for (size_t i = 0; i < ARRAY_SIZE(proxies); i++)
        unsetenv(proxies[i]);
    RUN(each_format_posts_the_expected_json);
    RUN(server_error_then_ok_is_delivered_after_a_retry);
    RUN(too_many_requests_honours_retry_after);
    RUN(retry_after_is_capped);
    RUN(persistent_server_error_gives_up_after_n_attempts);
    RUN(client_error_is_not_retried);
    RUN(receiver_down_is_an_error_without_a_hang);
    RUN(receiver_that_never_answers_times_out);
    RUN(secret_in_body_never_reaches_the_receiver);
    RUN(several_webhooks_in_parallel_one_failing);
    RUN(drift_posts_once_and_retries_when_nobody_heard);
    return test_done();
}
