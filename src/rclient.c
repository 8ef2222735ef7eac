/*
 * rclient.c - the one blocking Redis client. See rclient.h.
 */
#include "rclient.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/*
 * The most a reply may hold, counting what is buffered unparsed: hiredis
 * keeps a bulk string until all of it has arrived, so a peer that announces
 * "$1073741824" and streams would make it hold a gigabyte (and twice that
 * while its buffer doubles). Every answer rmgr reads is a few kilobytes.
 */
#define RCLIENT_MAX_REPLY_BYTES (8u << 20)

/*
 * The most elements one array of a reply may announce: hiredis 0.14 callocs
 * the element vector as soon as it reads "*N", so "*444444442" took 3.5 GB
 * (found by tests/fuzz/fuzz_sentinel). Nested arrays are parsed one after
 * the other, so this bounds what a reply can make it hold.
 */
#define RCLIENT_MAX_ARRAY_ELEMENTS (1 << 20)

static pthread_once_t fns_once = PTHREAD_ONCE_INIT;
static const redisReplyObjectFunctions *hiredis_fns;
static redisReplyObjectFunctions bounded_fns;
static _Thread_local long long refused_elements; /* why hiredis said "Out of memory" */

static void *create_array_bounded(const redisReadTask *task, int elements)
{
    if (elements > RCLIENT_MAX_ARRAY_ELEMENTS) {
        refused_elements = elements;
        return NULL; /* hiredis: REDIS_ERR_OOM, rewritten by rclient_reply_too_large */
    }
    return hiredis_fns->createArray(task, elements);
}

static void fns_init(void)
{
    redisReader *r = redisReaderCreate(); /* the only way to reach hiredis' defaults */
    hiredis_fns = r->fn;
    bounded_fns = *hiredis_fns;
    bounded_fns.createArray = create_array_bounded;
    redisReaderFree(r);
}

void rclient_bound_reader(redisReader *r)
{
    pthread_once(&fns_once, fns_init);
    r->fn = &bounded_fns;
}

bool rclient_reply_too_large(redisContext *c)
{
    if (refused_elements) {
        c->err = REDIS_ERR_PROTOCOL;
        snprintf(c->errstr, sizeof(c->errstr),
                 "Protocol error, an array of %lld elements (at most %d)", refused_elements,
                 RCLIENT_MAX_ARRAY_ELEMENTS);
        refused_elements = 0;
        return true;
    }
    if (c->reader->len - c->reader->pos <= RCLIENT_MAX_REPLY_BYTES)
        return false;
    c->err = REDIS_ERR_PROTOCOL;
    snprintf(c->errstr, sizeof(c->errstr), "Protocol error, reply larger than %u MB",
             RCLIENT_MAX_REPLY_BYTES >> 20);
    return true;
}

/* redisGetReply() that gives up on a reply past RCLIENT_MAX_REPLY_BYTES. */
static int get_reply_bounded(redisContext *c, void **out)
{
    void *rep = NULL;
    if (redisGetReplyFromReader(c, &rep) != REDIS_OK) {
        rclient_reply_too_large(c);
        return REDIS_ERR;
    }
    if (!rep) {
        int done = 0;
        do {
            if (redisBufferWrite(c, &done) != REDIS_OK)
                return REDIS_ERR;
        } while (!done);
        while (!rep) {
            if (redisBufferRead(c) != REDIS_OK || rclient_reply_too_large(c))
                return REDIS_ERR;
            if (redisGetReplyFromReader(c, &rep) != REDIS_OK) {
                rclient_reply_too_large(c); /* names a refused array */
                return REDIS_ERR;
            }
        }
    }
    *out = rep;
    return REDIS_OK;
}

/* One command and its reply, bounded: redisCommandArgv() without the unbounded read. */
static redisReply *command_bounded(redisContext *c, int argc, const char *const *argv)
{
    void *rep = NULL;
    if (redisAppendCommandArgv(c, argc, (const char **)argv, NULL) != REDIS_OK ||
        get_reply_bounded(c, &rep) != REDIS_OK)
        return NULL;
    return rep;
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
    rclient_bound_reader(c->reader);
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

/* AUTH's reply: 0 when the session may go on, -1 with *e set. */
static int auth_reply_check(const redisReply *rep, struct rclient_err *e)
{
    /* the reply text is never kept: a renamed AUTH would echo the password */
    if (rep->type != REDIS_REPLY_ERROR || rclient_auth_tolerated(rep->str))
        return 0;
    if (redis_error_is_auth(rep->str))
        err_set(e, REACH_AUTH, RCLIENT_AUTH, false, "authentication failed");
    else
        err_set(e, REACH_ERROR, RCLIENT_AUTH, false, "AUTH failed");
    e->redacted = true;
    return -1;
}

int rclient_auth(redisContext *c, const char *password, struct rclient_err *e)
{
    if (!password)
        return 0;
    const char *argv[] = {"AUTH", password};
    redisReply *rep = command_bounded(c, 2, argv);
    if (!rep) {
        err_io(e, c, RCLIENT_AUTH);
        return -1;
    }
    int rc = auth_reply_check(rep, e);
    freeReplyObject(rep);
    return rc;
}

redisReply *rclient_call(redisContext *c, int argc, const char *const *argv,
                         struct rclient_err *e)
{
    redisReply *rep = command_bounded(c, argc, argv);
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
    if (get_reply_bounded(c, &rep) != REDIS_OK || !rep) {
        if (e)
            err_io(e, c, RCLIENT_COMMAND);
        return NULL;
    }
    return rep;
}

bool rclient_reply_error(const redisReply *r, bool secret, struct rclient_err *e)
{
    if (!r || r->type != REDIS_REPLY_ERROR)
        return false;
    err_set(e, redis_error_is_auth(r->str) ? REACH_AUTH : REACH_ERROR, RCLIENT_COMMAND, false,
            secret ? "refused" : r->str ? r->str : "error");
    e->redacted = secret;
    return true;
}

redisReply *rclient_cmd(redisContext *c, int argc, const char *const *argv, bool secret,
                        struct rclient_err *e)
{
    redisReply *rep = rclient_call(c, argc, argv, e);
    if (!rclient_reply_error(rep, secret, e))
        return rep;
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

/* ------------------------------------------- non-blocking, one poll loop */

static void nb_fail(struct rclient_nb *nb)
{
    nb->failed = true;
    redisFree(nb->c);
    nb->c = NULL;
}

void rclient_nb_start(struct rclient_nb *nb, const char *ip, int port,
                      const struct rclient_opts *o, const char *password)
{
    long cto = o && o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                              : DEFAULT_CONNECT_TIMEOUT_MS;
    memset(nb, 0, sizeof(*nb));
    nb->command_timeout_ms = o && o->command_timeout_ms > 0 ? o->command_timeout_ms
                                                            : DEFAULT_COMMAND_TIMEOUT_MS;
    nb->deadline_ms = now_ms() + cto;
    nb->c = rclient_connect_nonblock(ip, port, false, &nb->err);
    if (!nb->c) {
        nb->failed = true;
        return;
    }
    nb->auth_pending = rclient_append_auth(nb->c, password);
}

redisContext *rclient_connect_nonblock(const char *ip, int port, bool keepalive,
                                       struct rclient_err *e)
{
    err_set(e, REACH_OK, RCLIENT_CONNECT, false, NULL);
    redisContext *c = redisConnectNonBlock(ip, port);
    if (!c) {
        err_set(e, REACH_ERROR, RCLIENT_CONNECT, true, "out of memory");
        return NULL;
    }
    if (c->err) {
        err_io(e, c, RCLIENT_CONNECT);
        redisFree(c);
        return NULL;
    }
    if (keepalive)
        redisEnableKeepAlive(c);
    rclient_bound_reader(c->reader);
    return c;
}

bool rclient_append_auth(redisContext *c, const char *password)
{
    if (!password)
        return false;
    redisAppendCommandArgv(c, 2, (const char *[]){"AUTH", password}, NULL);
    return true;
}

void rclient_nb_append(struct rclient_nb *nb, int argc, const char *const *argv)
{
    if (!nb->c)
        return;
    redisAppendCommandArgv(nb->c, argc, (const char **)argv, NULL);
    nb->pending++;
}

bool rclient_nb_busy(const struct rclient_nb *nb)
{
    return nb->c && (nb->pending || nb->auth_pending);
}

int rclient_nb_fd(const struct rclient_nb *nb)
{
    return nb->c ? nb->c->fd : -1;
}

short rclient_nb_events(const struct rclient_nb *nb)
{
    if (!nb->c)
        return 0;
    if (!nb->connected)
        return POLLOUT;
    return (short)(POLLIN | (sdslen(nb->c->obuf) ? POLLOUT : 0));
}

long long rclient_nb_deadline(const struct rclient_nb *nb)
{
    return nb->deadline_ms;
}

/* The non-blocking connect ended: connected, or failed with why. */
static void nb_connect_done(struct rclient_nb *nb)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(nb->c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr) {
        char buf[128];
        const char *msg = strerror_r(soerr, buf, sizeof(buf));
        err_set(&nb->err, redis_reach_from_io(REDIS_ERR_IO, msg), RCLIENT_CONNECT, true, msg);
        nb_fail(nb);
        return;
    }
    nb->connected = true;
    nb->c->flags |= REDIS_CONNECTED;
    nb->deadline_ms = now_ms() + nb->command_timeout_ms;
}

void rclient_nb_io(struct rclient_nb *nb, short revents, long long now)
{
    if (!nb->c)
        return;
    if (!nb->connected && revents)
        nb_connect_done(nb);
    enum rclient_phase phase = !nb->connected ? RCLIENT_CONNECT
                               : nb->auth_pending ? RCLIENT_AUTH
                                                  : RCLIENT_COMMAND;
    if (nb->c && nb->connected && (revents & POLLOUT) && sdslen(nb->c->obuf)) {
        int done = 0;
        if (redisBufferWrite(nb->c, &done) != REDIS_OK) {
            err_io(&nb->err, nb->c, phase);
            nb_fail(nb);
            return;
        }
    }
    if (nb->c && nb->connected && (revents & (POLLIN | POLLHUP | POLLERR)) &&
        (redisBufferRead(nb->c) != REDIS_OK || rclient_reply_too_large(nb->c))) {
        err_io(&nb->err, nb->c, phase);
        nb_fail(nb);
        return;
    }
    if (nb->c && rclient_nb_busy(nb) && now >= nb->deadline_ms) {
        err_set(&nb->err, REACH_TIMEOUT, phase, true, "Resource temporarily unavailable");
        nb_fail(nb);
    }
}

int rclient_nb_next(struct rclient_nb *nb, redisReply **out)
{
    *out = NULL;
    while (nb->c) {
        void *rep = NULL;
        if (redisGetReplyFromReader(nb->c, &rep) != REDIS_OK) {
            rclient_reply_too_large(nb->c); /* names a refused array */
            err_io(&nb->err, nb->c, nb->auth_pending ? RCLIENT_AUTH : RCLIENT_COMMAND);
            nb_fail(nb);
            break;
        }
        if (!rep)
            return 0;
        if (!nb->auth_pending) {
            if (nb->pending)
                nb->pending--;
            *out = rep;
            return 1;
        }
        nb->auth_pending = false;
        const redisReply *ar = rep;
        nb->no_password = ar->type == REDIS_REPLY_ERROR && rclient_auth_tolerated(ar->str);
        nb->auth_ok = ar->type != REDIS_REPLY_ERROR;
        int rc = auth_reply_check(rep, &nb->err);
        freeReplyObject(rep);
        if (rc < 0)
            nb_fail(nb);
    }
    return nb->failed ? -1 : 0;
}

void rclient_nb_close(struct rclient_nb *nb)
{
    redisFree(nb->c);
    nb->c = NULL;
}
