/*
 * rclient.h - the one Redis client: connect with timeouts, AUTH with one
 * rule, commands by argv. Used for redis-servers, sentinels and nutcracker
 * alike. Blocking calls for apply and status; non-blocking connections
 * (rclient_nb_*) for observe.c's one poll loop over every address (the
 * subscriptions of watch.c use hiredis' non-blocking API themselves, with
 * rclient_auth_tolerated for the rule).
 *
 * A failure is described by a struct rclient_err: how it ended (the same
 * classification observe records, enum reach) and a text that never holds a
 * secret. Replies come back as hiredis replies; rclient_reply_free frees
 * them (NULL too), so a caller has one thing to call on every path.
 */
#ifndef RMGR_RCLIENT_H
#define RMGR_RCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "observed.h"

struct rclient_opts {
    long connect_timeout_ms; /* <= 0: 1000 */
    long command_timeout_ms; /* <= 0: 2000 */
};

enum rclient_phase { RCLIENT_CONNECT, RCLIENT_AUTH, RCLIENT_COMMAND };

/*
 * Why a call failed. `reach` is REACH_OK when it did not. `io` is true when
 * no reply came (refused, timed out, closed); then `text` is hiredis' own
 * error text. Otherwise the server answered with an error: `text` is that
 * reply, or, for AUTH and commands sent as secret, a fixed text (a server
 * with a command renamed would echo the arguments back in "unknown command").
 */
struct rclient_err {
    enum reach reach;
    enum rclient_phase phase;
    bool io;
    bool redacted; /* text is a fixed word instead of the server's reply */
    char text[256];
};

/*
 * Connect to ip:port within the connect timeout and set the command
 * timeout; then, when `password` is not NULL, AUTH with it (see
 * rclient_auth). Returns the context, or NULL with *e set.
 */
redisContext *rclient_connect(const char *ip, int port, const struct rclient_opts *o,
                              const char *password, struct rclient_err *e);

/*
 * The message apply and status print for a failed rclient_connect:
 * "cannot connect to ip:port: text", "ip:port: AUTH: text" when AUTH got no
 * reply, "ip:port: authentication failed" when it was refused. Caller frees.
 */
char *rclient_connect_message(const struct rclient_err *e, const char *ip, int port);

/*
 * Whether an AUTH error reply only says the server has no password at all
 * (Redis: "ERR AUTH <password> called without any password configured",
 * nutcracker and older Redis: "ERR Client sent AUTH, but no password is set"):
 * the session may go on.
 */
bool rclient_auth_tolerated(const char *error_reply);

/*
 * AUTH with `password` (NULL: nothing to do). 0 when the session may go on
 * (rclient_auth_tolerated included), -1 with *e set: REACH_AUTH for NOAUTH,
 * WRONGPASS and the like ("authentication failed"), REACH_ERROR for another
 * error reply ("AUTH failed"), the I/O classification when no reply came.
 */
int rclient_auth(redisContext *c, const char *password, struct rclient_err *e);

/*
 * Send argv (argc arguments) and return the reply, error replies included;
 * NULL with *e (may be NULL) set only when no reply came.
 */
redisReply *rclient_call(redisContext *c, int argc, const char *const *argv,
                         struct rclient_err *e);

/*
 * rclient_call with the arguments as a NULL-terminated list of strings:
 * rclient_command(c, e, "SENTINEL", "REPLICAS", shard, NULL). e may be NULL.
 */
redisReply *rclient_command(redisContext *c, struct rclient_err *e, const char *arg0, ...);

/*
 * Make reader `r` refuse an array of more than 2^20 elements (hiredis would
 * allocate the vector the header announces, before any element arrives).
 * rclient_connect does it; a reader or context made elsewhere calls it.
 */
void rclient_bound_reader(redisReader *r);

/*
 * After a redisBufferRead() or redisGetReplyFromReader() of one's own
 * (non-blocking readers): true, with c->err set, when more than 8 MB are
 * buffered unparsed (the peer announced or is streaming a reply larger than
 * any rmgr reads) or the reader refused an array (rclient_bound_reader).
 * Every rclient call checks this itself.
 */
bool rclient_reply_too_large(redisContext *c);

/*
 * Start a non-blocking connect to ip:port for a caller whose own poll loop
 * keeps the connection (the watcher's subscriptions and its promotion
 * polls, and rclient_nb_start), the reader bounded as rclient_bound_reader
 * says; `keepalive` turns TCP keep-alive on. NULL with *e set (the I/O
 * classification, hiredis' text) when it could not even start; the caller
 * redisFree()s the context it gets.
 */
redisContext *rclient_connect_nonblock(const char *ip, int port, bool keepalive,
                                       struct rclient_err *e);

/*
 * Queue AUTH `password` on c (NULL: nothing queued; returns whether it was),
 * as an argument vector: the password is never part of a format string. Its
 * reply is judged with rclient_auth_tolerated like every other AUTH.
 */
bool rclient_append_auth(redisContext *c, const char *password);

/* Pipelining: queue argv without waiting, then take the replies in order. */
void rclient_append(redisContext *c, int argc, const char *const *argv);
redisReply *rclient_get_reply(redisContext *c, struct rclient_err *e);

/*
 * rclient_call, but an error reply is a failure too: NULL with *e set
 * (REACH_AUTH for NOAUTH and the like, else REACH_ERROR). With `secret`
 * (an AUTH, a CONFIG SET of requirepass/masterauth, a SENTINEL SET
 * auth-pass) the reply's text is not kept: e->text is "refused".
 */
redisReply *rclient_cmd(redisContext *c, int argc, const char *const *argv, bool secret,
                        struct rclient_err *e);

/* rclient_cmd when only success matters: 0, or -1 with *e set. */
int rclient_ok(redisContext *c, int argc, const char *const *argv, bool secret,
               struct rclient_err *e);

/*
 * "where: what: text" for a failed rclient_cmd/rclient_ok ("where: what was
 * refused" for a secret command's error reply, "where: what: no reply"
 * when hiredis said nothing). Caller frees.
 */
char *rclient_cmd_message(const struct rclient_err *e, const char *where, const char *what);

/*
 * Whether `r` is an error reply; then *e says so as rclient_cmd does
 * (REACH_AUTH for NOAUTH and the like, else REACH_ERROR; with `secret` the
 * text is "refused").
 */
bool rclient_reply_error(const redisReply *r, bool secret, struct rclient_err *e);

/* Free a reply (NULL is fine). */
void rclient_reply_free(redisReply *r);

/*
 * Close. Never sends QUIT: Sentinel 7.0 answers it with an error; closing
 * the socket is enough for every server. NULL is fine.
 */
void rclient_close(redisContext *c);

/* Whether something accepts connections on ip:port within the connect timeout. */
bool rclient_port_open(const char *ip, int port, const struct rclient_opts *o);

/*
 * Whether ip:port answers: any reply to PING except LOADING (NOAUTH means
 * alive). With `password`, AUTH first (a nutcracker with redis_auth
 * requires it). On false *why says what was seen, "ip:port: ..." (caller
 * frees); why may be NULL.
 */
bool rclient_answers(const char *ip, int port, const struct rclient_opts *o,
                     const char *password, char **why);

/* ------------------------------------------- non-blocking, one poll loop */

/*
 * One connection that a caller's poll loop drives, so that hundreds of
 * addresses are talked to at once on one thread. rclient_nb_start connects
 * without waiting and queues AUTH; commands queued with rclient_nb_append go
 * out pipelined once connected. The caller polls rclient_nb_fd for
 * rclient_nb_events (until rclient_nb_deadline), hands what poll said to
 * rclient_nb_io and takes the replies with rclient_nb_next.
 *
 * One deadline per address: connect within the connect timeout, then every
 * reply owed within the command timeout counted from the connect. A server
 * that accepts and never answers costs one command timeout, however many
 * commands were queued.
 */
struct rclient_nb {
    redisContext *c;    /* NULL once done (failed or closed) */
    bool connected;
    bool auth_pending;  /* the AUTH reply is still owed */
    bool auth_ok;       /* AUTH was accepted: the server demands the password */
    bool no_password;   /* AUTH was answered "no password configured" (tolerated) */
    size_t pending;     /* replies owed to the caller */
    long long deadline_ms;
    long command_timeout_ms;
    struct rclient_err err; /* why it failed, when failed */
    bool failed;
};

/*
 * Start connecting to ip:port; with `password`, AUTH goes first (see
 * rclient_auth for the rule). A connect that fails at once leaves nb failed.
 */
void rclient_nb_start(struct rclient_nb *nb, const char *ip, int port,
                      const struct rclient_opts *o, const char *password);

/* Queue a command (argv copied). Nothing happens on a connection that is done. */
void rclient_nb_append(struct rclient_nb *nb, int argc, const char *const *argv);

/* Whether nb still waits for the network (false once failed, closed or with nothing owed). */
bool rclient_nb_busy(const struct rclient_nb *nb);

int rclient_nb_fd(const struct rclient_nb *nb);
short rclient_nb_events(const struct rclient_nb *nb); /* POLLIN / POLLOUT */
long long rclient_nb_deadline(const struct rclient_nb *nb);

/*
 * Do what `revents` allows (0 to only check the deadline at `now_ms`):
 * finish the connect, write, read. On an I/O error or the deadline nb is
 * failed (nb->err: a timeout in the connect phase or the command phase).
 */
void rclient_nb_io(struct rclient_nb *nb, short revents, long long now_ms);

/*
 * The next reply read, error replies included (caller frees): 1 with *out,
 * 0 when none is complete yet, -1 when nb failed (nb->err; AUTH refused
 * is a failure of phase RCLIENT_AUTH, as rclient_connect reports it).
 */
int rclient_nb_next(struct rclient_nb *nb, redisReply **out);

/* Close (no QUIT). Fine on a connection that is done. */
void rclient_nb_close(struct rclient_nb *nb);

#endif
