/*
 * rclient.c - the one blocking Redis client. See rclient.h.
 */
#include "rclient.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "redis_parse.h"
#include "util.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_COMMAND_TIMEOUT_MS 2000

static struct timeval ms_tv(long ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static void err_set(struct rclient_err *e, enum reach r, enum rclient_phase phase, bool io,
                    const char *text)
{
    e->reach = r;
    e->phase = phase;
    e->io = io;
    e->redacted = false;
    snprintf(e->text, sizeof(e->text), "%s", text && *text ? text : "");
}

/* No reply on c: hiredis' classification of its own error. */
static void err_io(struct rclient_err *e, const redisContext *c, enum rclient_phase phase)
{
    err_set(e, redis_reach_from_io(c->err, c->errstr), phase, true, c->errstr);
}

redisContext *rclient_connect(const char *ip, int port, const struct rclient_opts *o,
                              const char *password, struct rclient_err *e)
{
    long cto = o && o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                              : DEFAULT_CONNECT_TIMEOUT_MS;
    long mto = o && o->command_timeout_ms > 0 ? o->command_timeout_ms
                                              : DEFAULT_COMMAND_TIMEOUT_MS;
    err_set(e, REACH_OK, RCLIENT_CONNECT, false, NULL);
    redisContext *c = redisConnectWithTimeout(ip, port, ms_tv(cto));
    if (!c) {
        err_set(e, REACH_ERROR, RCLIENT_CONNECT, true, "out of memory");
        return NULL;
    }
    if (c->err) {
        err_io(e, c, RCLIENT_CONNECT);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, ms_tv(mto)) != REDIS_OK) {
        err_set(e, REACH_ERROR, RCLIENT_CONNECT, true,
                c->errstr[0] ? c->errstr : "cannot set timeout");
        redisFree(c);
        return NULL;
    }
    if (rclient_auth(c, password, e) < 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

char *rclient_connect_message(const struct rclient_err *e, const char *ip, int port)
{
    if (e->phase == RCLIENT_AUTH && e->io)
        return xasprintf("%s:%d: AUTH: %s", ip, port, e->text);
    if (e->phase == RCLIENT_AUTH)
        return xasprintf("%s:%d: authentication failed", ip, port);
    return xasprintf("cannot connect to %s:%d: %s", ip, port, e->text);
}

bool rclient_auth_tolerated(const char *r)
{
    return r && (strstr(r, "without any password configured") || strstr(r, "no password is set"));
}

int rclient_auth(redisContext *c, const char *password, struct rclient_err *e)
{
    if (!password)
        return 0;
    const char *argv[] = {"AUTH", password};
    redisReply *rep = redisCommandArgv(c, 2, argv, NULL);
    if (!rep) {
        err_io(e, c, RCLIENT_AUTH);
        return -1;
    }
    int rc = 0;
    /* the reply text is never kept: a renamed AUTH would echo the password */
    if (rep->type == REDIS_REPLY_ERROR && !rclient_auth_tolerated(rep->str)) {
        if (redis_error_is_auth(rep->str))
            err_set(e, REACH_AUTH, RCLIENT_AUTH, false, "authentication failed");
        else
            err_set(e, REACH_ERROR, RCLIENT_AUTH, false, "AUTH failed");
        e->redacted = true;
        rc = -1;
    }
    freeReplyObject(rep);
    return rc;
}

redisReply *rclient_call(redisContext *c, int argc, const char *const *argv,
                         struct rclient_err *e)
{
    redisReply *rep = redisCommandArgv(c, argc, (const char **)argv, NULL);
    if (!rep && e)
        err_io(e, c, RCLIENT_COMMAND);
    return rep;
}

#define MAX_LIST_ARGS 16

redisReply *rclient_command(redisContext *c, struct rclient_err *e, const char *arg0, ...)
{
    const char *argv[MAX_LIST_ARGS];
    int argc = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && argc < MAX_LIST_ARGS; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    return rclient_call(c, argc, argv, e);
}

void rclient_append(redisContext *c, int argc, const char *const *argv)
{
    redisAppendCommandArgv(c, argc, (const char **)argv, NULL);
}

redisReply *rclient_get_reply(redisContext *c, struct rclient_err *e)
{
    void *rep = NULL;
    if (redisGetReply(c, &rep) != REDIS_OK || !rep) {
        if (e)
            err_io(e, c, RCLIENT_COMMAND);
        return NULL;
    }
    return rep;
}

redisReply *rclient_cmd(redisContext *c, int argc, const char *const *argv, bool secret,
                        struct rclient_err *e)
{
    redisReply *rep = rclient_call(c, argc, argv, e);
    if (!rep || rep->type != REDIS_REPLY_ERROR)
        return rep;
    err_set(e, redis_error_is_auth(rep->str) ? REACH_AUTH : REACH_ERROR, RCLIENT_COMMAND, false,
            secret ? "refused" : rep->str ? rep->str : "error");
    e->redacted = secret;
    freeReplyObject(rep);
    return NULL;
}

int rclient_ok(redisContext *c, int argc, const char *const *argv, bool secret,
               struct rclient_err *e)
{
    redisReply *rep = rclient_cmd(c, argc, argv, secret, e);
    if (!rep)
        return -1;
    freeReplyObject(rep);
    return 0;
}

char *rclient_cmd_message(const struct rclient_err *e, const char *where, const char *what)
{
    if (e->io)
        return xasprintf("%s: %s: %s", where, what, e->text[0] ? e->text : "no reply");
    if (e->redacted)
        return xasprintf("%s: %s was refused", where, what);
    return xasprintf("%s: %s: %s", where, what, e->text);
}

void rclient_reply_free(redisReply *r)
{
    if (r)
        freeReplyObject(r);
}

void rclient_close(redisContext *c)
{
    if (c)
        redisFree(c);
}

bool rclient_port_open(const char *ip, int port, const struct rclient_opts *o)
{
    long cto = o && o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                              : DEFAULT_CONNECT_TIMEOUT_MS;
    redisContext *c = redisConnectWithTimeout(ip, port, ms_tv(cto));
    bool open = c && !c->err;
    redisFree(c);
    return open;
}

bool rclient_answers(const char *ip, int port, const struct rclient_opts *o,
                     const char *password, char **why)
{
    struct rclient_err e;
    char *msg = NULL;
    redisContext *c = rclient_connect(ip, port, o, password, &e);
    if (!c) {
        msg = rclient_connect_message(&e, ip, port);
    } else {
        const char *argv[] = {"PING"};
        redisReply *rep = rclient_call(c, 1, argv, &e);
        if (!rep)
            msg = xasprintf("%s:%d: PING: %s", ip, port, e.text);
        else if (rep->type == REDIS_REPLY_ERROR && rep->str && !strncmp(rep->str, "LOADING", 7))
            msg = xasprintf("%s:%d is loading its data", ip, port);
        rclient_reply_free(rep);
        rclient_close(c);
    }
    if (why)
        *why = msg;
    else
        free(msg);
    return !msg;
}
