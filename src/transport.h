/*
 * transport.h - run commands and move files on a host: locally or over ssh.
 *
 * Every edge that touches a host goes through this interface, so apply and
 * observe do not care whether a host is this machine or a remote one.
 * Commands are argv vectors, never shell strings: the local transport
 * fork/execs them, the ssh transport quotes every argument.
 */
#ifndef RMGR_TRANSPORT_H
#define RMGR_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "spec.h"

struct transport;

struct transport_options {
    long connect_timeout_ms;  /* default 5000 */
    long command_timeout_ms;  /* default 30000 */
    bool accept_new_host_keys;/* trust-on-first-use for unknown keys; never changed ones */
    /*
     * ssh: run commands through one remote /bin/sh kept open on the session
     * instead of an exec channel each (which sshd starts through the login
     * shell and its rc files: ~0.4 s per command for root here). For the
     * latency-bound repoint; see ssh_shell.h.
     */
    bool keep_shell;
};

struct exec_result {
    int status;     /* exit status; 128+N when killed by signal N */
    char *out;      /* stdout, NUL-terminated (caller frees) */
    char *err;      /* stderr, NUL-terminated (caller frees) */
};
void exec_result_release(struct exec_result *r);

/*
 * Why a transport could not be opened, or a call on it failed. A host key
 * that is not trusted is not a host that is down: the host answers, but it
 * may not be the host it claims to be, so callers treat it as an error of
 * the whole run (nothing is changed anywhere), never as "unreachable".
 */
enum transport_failure {
    TRANSPORT_FAILURE_NONE,     /* no failure */
    TRANSPORT_FAILURE_OTHER,    /* down, refused, timed out, login refused, I/O error ... */
    TRANSPORT_FAILURE_HOST_KEY, /* the ssh host key is unknown, changed or revoked */
};

/*
 * Open a transport to `host` (a hosts: name or an IP) of `spec`. Returns NULL
 * and a message in *err (caller frees) when the host cannot be reached,
 * its host key is unknown or changed, or the key is refused.
 * A NULL spec opens the local transport (for tests and local-only commands).
 * An ssh transport holds one session, reused by every call. Several threads
 * may call one transport: an ssh transport runs their calls one at a time on
 * its session, the local one runs them side by side.
 *
 * A host key message names the host, the key type, the fingerprint the
 * server sent and the one known_hosts has (SHA256:..., as OpenSSH prints
 * them), and the fix; its first line reads on its own, detail lines follow
 * indented by two spaces.
 */
struct transport *transport_open(const struct spec *spec, const char *host,
                                 const struct transport_options *opts, char **err);

/* transport_open, and *failure (may be NULL) says why it failed (NONE when it did not). */
struct transport *transport_open_ex(const struct spec *spec, const char *host,
                                    const struct transport_options *opts,
                                    enum transport_failure *failure, char **err);
void transport_close(struct transport *t);
const char *transport_host(const struct transport *t);

/*
 * Whether the host key of t failed verification when a call reconnected
 * (a session is dropped after a timeout and opened again by the next call).
 * It stays failed: every later call on t fails at once with the same
 * message, and nothing more is sent to that address. NULL is false.
 */
bool transport_host_key_failed(const struct transport *t);

/*
 * The calls below take a transport that transport_open() returned (never
 * NULL) and non-NULL out-parameters (`out_len` of transport_read_file()
 * may be NULL); `path` is not NULL. These preconditions are ASSERTed.
 */

/*
 * Run argv[0] with arguments. Returns 0 when it ran (see r->status), -1 and *err otherwise.
 * The command gets an empty stdin. A command that cannot be found or executed
 * ran and failed: status 127 (126), as with a shell. A timeout (command_timeout_ms)
 * is -1: locally the command's process group is killed; over ssh the session is
 * closed (libssh2 1.10 cannot signal a remote process) and the next call
 * reconnects. argv appears in error messages (and in ps): never put secrets in it.
 */
int transport_exec(struct transport *t, const char *const *argv, struct exec_result *r, char **err);

/* Read a file. Returns 0, 1 when it does not exist, -1 and *err on failure. */
int transport_read_file(struct transport *t, const char *path, size_t max_size,
                        char **out, size_t *out_len, char **err);

/* Modification time (seconds) of a path. Returns 0, 1 when absent, -1 and *err. */
int transport_stat_mtime(struct transport *t, const char *path, long long *mtime_s, char **err);

/* Replace a file atomically (temp name, fsync, rename), creating parent dirs. 0 or -1 and *err. */
int transport_write_file(struct transport *t, const char *path, const void *data, size_t len,
                         int mode, char **err);

/* mkdir -p with mode. 0 or -1 and *err. */
int transport_mkdir(struct transport *t, const char *path, int mode, char **err);

/*
 * Quote one argument for POSIX sh: it becomes 'arg' with every ' written as
 * '\'' ("" becomes ''), so the shell passes it on byte for byte. Caller frees.
 */
char *transport_sh_quote(const char *arg);

/* argv (NULL-terminated) as one sh command line, each argument quoted. Caller frees. */
char *transport_sh_quote_argv(const char *const *argv);

#endif
