/*
 * ssh_shell.h - one remote /bin/sh kept open on an ssh session, fed one
 * command at a time (transport_options.keep_shell; used by the repoint).
 *
 * sshd runs every exec request through the user's login shell, and bash
 * sources ~/.bashrc when sshd starts it: on this machine's root account
 * (pyenv init) that is ~0.4 s per command, more than the repoint itself.
 * A shell kept open pays it once per session. Each command runs as
 * `CMD </dev/null`, followed by a random end marker with $? on stdout and
 * one on stderr, so its stdout, stderr and exit status come back separated
 * as with an exec channel.
 *
 * Private to transport_ssh.c.
 */
#ifndef RMGR_SSH_SHELL_H
#define RMGR_SSH_SHELL_H

#include <libssh2.h>

#include "transport.h"

struct ssh_shell;

/*
 * Wait until the socket of session s can move the way libssh2 is blocked
 * on (at most 1 s). -1 once deadline (now_ms()) passed.
 */
int ssh_socket_wait(LIBSSH2_SESSION *s, int sock, long long deadline);

/*
 * Start the shell on session s (socket sock) before deadline (now_ms()).
 * NULL and *err on failure; *lrc gets the libssh2 code (0 when none), so
 * the caller can tell a broken session.
 */
struct ssh_shell *ssh_shell_open(LIBSSH2_SESSION *s, int sock, long long deadline, int *lrc,
                                 char **err);

/*
 * Run the sh command line `cmd`. 0 and *r (as transport_exec), or -1 with
 * *err and *lrc: then the shell is out of step and must be closed.
 */
int ssh_shell_run(struct ssh_shell *sh, const char *cmd, long long deadline,
                  struct exec_result *r, int *lrc, char **err);

/* Close it (before the session is freed). NULL is fine. */
void ssh_shell_close(struct ssh_shell *sh);

#endif
