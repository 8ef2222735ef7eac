/*
 * harness_redis.c - talking to the daemons a harness runs: a connection with
 * a timeout, PING (and whose PING it is), an open port, waiting for either,
 * and harness_redis_cmd() (see harness.h).
 */
#include "harness.h"
#include "harness_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis.h>

#include "util.h"

/* ================================ probes ================================= */

static redisContext *connect_ms(const char *ip, int port, long ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    redisContext *c = redisConnectWithTimeout(ip, port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c)
        redisSetTimeout(c, (struct timeval){ 5, 0 });
    return c;
}

/* One PING: 1 alive, 0 not (yet). */
int hpriv_ping_once(const char *ip, int port)
{
    redisContext *c = connect_ms(ip, port, 500);
    if (!c)
        return 0;
    redisSetTimeout(c, (struct timeval){ 1, 0 });
    redisReply *r = redisCommand(c, "PING");
    int alive = r && !(r->type == REDIS_REPLY_ERROR && r->str &&
                       strncmp(r->str, "LOADING", 7) == 0);
    freeReplyObject(r);
    redisFree(c);
    return alive;
}

/*
 * PING for readiness of the redis or sentinel with this pid: 1 ready, 0 not
 * yet. INFO server tells whose answer it is, so a server that already held
 * the port is not mistaken for ours (unless a password hides it).
 */
int hpriv_ping_owner(const char *ip, int port, pid_t pid)
{
    redisContext *c = connect_ms(ip, port, 500);
    if (!c)
        return 0;
    redisSetTimeout(c, (struct timeval){ 1, 0 });
    int ready = 0;
    redisReply *r = redisCommand(c, "PING");
    if (r && r->type == REDIS_REPLY_ERROR)
        ready = strncmp(r->str, "LOADING", 7) != 0;
    else if (r) {
        freeReplyObject(r);
        r = redisCommand(c, "INFO server");
        if (r && r->type == REDIS_REPLY_STRING) {
            const char *id = strstr(r->str, "process_id:");
            ready = id && strtol(id + 11, NULL, 10) == (long)pid;
        }
    }
    freeReplyObject(r);
    redisFree(c);
    return ready;
}

bool hpriv_port_open(const char *ip, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    bool ok = inet_pton(AF_INET, ip, &sa.sin_addr) == 1 &&
              connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

struct addr_arg {
    const char *ip;
    int port;
};

static bool ping_cond(void *arg)
{
    struct addr_arg *a = arg;
    return hpriv_ping_once(a->ip, a->port);
}

static bool port_cond(void *arg)
{
    struct addr_arg *a = arg;
    return hpriv_port_open(a->ip, a->port);
}

bool harness_wait_ping(const char *ip, int port, long timeout_ms)
{
    struct addr_arg a = { ip, port };
    return harness_wait_until(ping_cond, &a,
                              timeout_ms > 0 ? timeout_ms : hpriv_ready_timeout_ms(), POLL_MS);
}

bool harness_wait_port(const char *ip, int port, long timeout_ms)
{
    struct addr_arg a = { ip, port };
    return harness_wait_until(port_cond, &a,
                              timeout_ms > 0 ? timeout_ms : hpriv_ready_timeout_ms(), POLL_MS);
}

/* ============================ redis commands ============================= */

static void reply_text(struct strbuf *sb, const redisReply *r)
{
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        sb_addn(sb, r->str, r->len);
        break;
    case REDIS_REPLY_ERROR:
        sb_addc(sb, '-');
        sb_addn(sb, r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
        sb_addf(sb, "%lld", r->integer);
        break;
    case REDIS_REPLY_NIL:
        sb_add(sb, "(nil)");
        break;
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < r->elements; i++) {
            if (i > 0)
                sb_addc(sb, '\n');
            reply_text(sb, r->element[i]);
        }
        break;
    default:
        sb_add(sb, "(unknown reply)");
    }
}

char *harness_redis_cmd(const char *ip, int port, const char *password, const char *fmt, ...)
{
    redisContext *c = connect_ms(ip, port, 1000);
    if (!c) {
        fprintf(stderr, "harness: cannot connect to %s:%d\n", ip, port);
        return NULL;
    }
    if (password) {
        redisReply *a = redisCommand(c, "AUTH %s", password);
        /* a server without a password (a sentinel before auth:) answers on without it */
        bool ok = a && (a->type != REDIS_REPLY_ERROR ||
                        (a->str && (strstr(a->str, "without any password configured") ||
                                    strstr(a->str, "no password is set"))));
        freeReplyObject(a);
        if (!ok) {
            fprintf(stderr, "harness: authentication to %s:%d failed\n", ip, port);
            redisFree(c);
            return NULL;
        }
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    char *text = NULL;
    if (r) {
        struct strbuf sb = { 0 };
        reply_text(&sb, r);
        text = sb_detach(&sb);
        if (!text)
            text = xstrdup("");
        freeReplyObject(r);
    } else {
        fprintf(stderr, "harness: %s:%d: %s\n", ip, port, c->errstr);
    }
    redisFree(c);
    return text;
}
