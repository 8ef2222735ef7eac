/*
 * git_remote.h - what git_source tells libgit2 about a remote; private to
 * git_source.c and git_remote.c.
 *
 * A URL is split into what libgit2 gets and the cache config keeps (no
 * http(s) userinfo at all), what messages show and the credentials; the
 * credentials go to libgit2 through git_remote_credentials, and ssh host
 * keys are checked by git_remote_check_cert against the same known_hosts
 * reader the ssh transport uses.
 */
#ifndef RMGR_GIT_REMOTE_H
#define RMGR_GIT_REMOTE_H

#include <git2.h>
#include <stdbool.h>

#include "util.h"

struct src_url {
    char *store;   /* given to libgit2 and kept in the cache config */
    char *display; /* shown in messages */
    char *user;    /* from the URL, percent-decoded; may be NULL */
    char *pass;    /* from the URL, percent-decoded; may be NULL; never shown */
    int port;      /* ssh port (for known_hosts), 22 by default */
    bool http, ssh, local;
};

/* Split a URL into what libgit2 gets, what users see and the credentials. 0, or -1 with *err. */
int git_url_parse(const char *in, struct src_url *u, char **err);

/* Free the strings (the password wiped) and zero *u. */
void git_url_release(struct src_url *u);

/* What the callbacks of one fetch share. */
struct remote_ctx {
    const struct src_url *u;
    bool tried_userpass, tried_key, tried_agent, tried_username;
    bool offered;   /* some credential was handed to libgit2 */
    bool exhausted; /* libgit2 asked again after every credential failed */
    bool cert_rejected;
    char *cert_error;
};

/* libgit2's credentials callback; `payload` is a struct remote_ctx. */
int git_remote_credentials(git_credential **out, const char *url, const char *user_from_url,
                           unsigned int allowed, void *payload);

/* libgit2's certificate check callback; `payload` is a struct remote_ctx. */
int git_remote_check_cert(git_cert *cert, int valid, const char *host, void *payload);

/* Replace *err (when err is not NULL) with the formatted message. */
void git_set_err(char **err, const char *fmt, ...) RMGR_PRINTF(2, 3);

#endif
