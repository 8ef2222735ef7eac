/*
 * transport_ssh.c - the transport for remote hosts: one libssh2 session each.
 *
 * transport_open connects, verifies the host key against known_hosts and
 * authenticates once; every later call reuses that session (a connect costs
 * ~110 ms, an exec on a live session ~50 ms). Commands are sent as one sh
 * command line with every argument single-quoted. Files move over SFTP.
 *
 * The session runs in blocking mode with libssh2's per-wait timeout for
 * handshake, auth and SFTP; exec switches to non-blocking so stdout and
 * stderr are read together against one deadline. A timeout or a socket error
 * leaves the session in an unknown state: it is dropped and the next call
 * connects again.
 *
 * A host key that is not trusted (unknown, changed, revoked) is remembered:
 * the transport never connects to that address again, every later call
 * fails with the same message, and transport_host_key_failed() says so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "known_hosts.h"
#include "ssh_shell.h"
#include "transport_impl.h"
#include "util.h"

#define SFTP_CHUNK 32768

struct ssh_transport {
    struct transport base;
    char *ip;
    int port;
    char *user;
    char *identity;    /* NULL: ssh-agent */
    char *known_hosts;
    char *label;       /* "ssh 127.0.0.1:2222", the prefix of every message */
    int sock;
    LIBSSH2_SESSION *session;
    LIBSSH2_SFTP *sftp;
    struct ssh_shell *shell; /* opts.keep_shell: the remote sh commands go to */
    unsigned tmp_seq;  /* makes temp names unique within this process */
    char *host_key_err;/* why the host key is not trusted, once it was not: sticky */
};

/* ---- small helpers ------------------------------------------------------ */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void ssh_global_init(void)
{
    init_rc = libssh2_init(0);
}

/* Errors after which the session cannot be trusted to be in step with the server. */
static bool session_is_broken(int rc)
{
    switch (rc) {
    case LIBSSH2_ERROR_TIMEOUT:
    case LIBSSH2_ERROR_SOCKET_SEND:
    case LIBSSH2_ERROR_SOCKET_RECV:
    case LIBSSH2_ERROR_SOCKET_DISCONNECT:
    case LIBSSH2_ERROR_SOCKET_TIMEOUT:
    case LIBSSH2_ERROR_BAD_SOCKET:
    case LIBSSH2_ERROR_DECRYPT:
    case LIBSSH2_ERROR_PROTO:
    case LIBSSH2_ERROR_INVALID_MAC:
    case LIBSSH2_ERROR_KEX_FAILURE:
        return true;
    default:
        return false;
    }
}

static const char *sftp_status_str(unsigned long code)
{
    switch (code) {
    case LIBSSH2_FX_NO_SUCH_FILE:
    case LIBSSH2_FX_NO_SUCH_PATH:
        return "no such file or directory";
    case LIBSSH2_FX_PERMISSION_DENIED:
        return "permission denied";
    case LIBSSH2_FX_FILE_ALREADY_EXISTS:
        return "file exists";
    case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM:
        return "no space left on device";
    case LIBSSH2_FX_QUOTA_EXCEEDED:
        return "quota exceeded";
    case LIBSSH2_FX_NOT_A_DIRECTORY:
        return "not a directory";
    case LIBSSH2_FX_WRITE_PROTECT:
        return "read-only file system";
    case LIBSSH2_FX_OP_UNSUPPORTED:
        return "operation not supported by the server";
    case LIBSSH2_FX_FAILURE:
        return "failure";
    default:
        return "sftp error";
    }
}

/* ---- connection --------------------------------------------------------- */

static void ssh_drop(struct ssh_transport *st, bool graceful)
{
    if (st->session) {
        if (!graceful && st->sock >= 0)
            shutdown(st->sock, SHUT_RDWR); /* nothing more will be said: don't wait */
        libssh2_session_set_blocking(st->session, 1);
        libssh2_session_set_timeout(st->session, 1000);
        ssh_shell_close(st->shell);
        if (st->sftp)
            libssh2_sftp_shutdown(st->sftp);
        if (graceful)
            libssh2_session_disconnect(st->session, "rmgr done");
        libssh2_session_free(st->session);
    }
    st->sftp = NULL;
    st->shell = NULL;
    st->session = NULL;
    if (st->sock >= 0)
        close(st->sock);
    st->sock = -1;
}

/* TCP connect with a deadline. Returns the socket, or -1 with *err. */
static int tcp_connect(struct ssh_transport *st, char **err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port_s[16];
    snprintf(port_s, sizeof(port_s), "%d", st->port);
    int gai = getaddrinfo(st->ip, port_s, &hints, &ai);
    if (gai != 0) {
        *err = xasprintf("%s: '%s' is not an IP address: %s", st->label, st->ip, gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = xasprintf("%s: cannot create socket: %s", st->label, strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    int e = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            long long deadline = now_ms() + st->base.opts.connect_timeout_ms;
            int pr;
            do {
                long long left = deadline - now_ms();
                pr = left > 0 ? poll(&p, 1, (int)left) : 0;
            } while (pr < 0 && errno == EINTR);
            if (pr == 0) {
                *err = xasprintf("%s: timed out after %ld ms", st->label,
                                 st->base.opts.connect_timeout_ms);
                freeaddrinfo(ai);
                close(fd);
                return -1;
            }
            socklen_t sl = sizeof(e);
            if (pr < 0)
                e = errno;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
                e = errno;
        }
    }
    freeaddrinfo(ai);
    if (e) {
        const char *why = e == ECONNREFUSED   ? "connection refused"
                          : e == EHOSTUNREACH ? "host unreachable"
                          : e == ENETUNREACH  ? "network unreachable"
                          : e == ETIMEDOUT    ? "connection timed out"
                                              : strerror(e);
        *err = xasprintf("%s: %s", st->label, why);
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* ---- host keys ---------------------------------------------------------- */

/* The label with the spec's name for the host: "ssh 10.0.0.1:22 (host 'redis1')". */
static char *host_label(const struct ssh_transport *st)
{
    const char *host = st->base.host;
    if (!host || str_eq(host, st->ip))
        return xstrdup(st->label);
    return xasprintf("%s (host '%s')", st->label, host);
}

/* Record a host key failure: *err gets the message, and the transport keeps it (sticky). */
static int host_key_refused(struct ssh_transport *st, char *msg, char **err)
{
    st->base.host_key_failed = true;
    free(st->host_key_err);
    st->host_key_err = msg;
    *err = xstrdup(msg);
    return -1;
}

/* ---- authentication ----------------------------------------------------- */

/* True when the private key file (or its .pub) is an RSA key. */
static bool key_is_rsa(const char *identity)
{
    char *pub_path = xasprintf("%s.pub", identity);
    char *buf = NULL;
    size_t len = 0;
    bool rsa = false;
    if (read_file(pub_path, 64 * 1024, &buf, &len) == 0) {
        rsa = str_starts_with(buf, "ssh-rsa ");
    } else if (read_file(identity, 64 * 1024, &buf, &len) == 0) {
        if (strstr(buf, "BEGIN RSA PRIVATE KEY")) {
            rsa = true;
        } else {
            /* OpenSSH format: the key type is a string inside the base64 body */
            const char *begin = strstr(buf, "-----BEGIN OPENSSH PRIVATE KEY-----");
            if (begin) {
                begin += strlen("-----BEGIN OPENSSH PRIVATE KEY-----");
                size_t dlen = 0;
                unsigned char *d = base64_decode(begin, strlen(begin), &dlen);
                rsa = memmem(d, dlen, "ssh-rsa", 7) != NULL;
                free(d);
            }
        }
    }
    free(buf);
    free(pub_path);
    return rsa;
}

static int auth_with_key(struct ssh_transport *st, char **err)
{
    if (access(st->identity, R_OK) < 0) {
        *err = xasprintf("%s: cannot read key '%s': %s", st->label, st->identity,
                         strerror(errno));
        return -1;
    }
    int rc = libssh2_userauth_publickey_fromfile_ex(st->session, st->user,
                                                    (unsigned)strlen(st->user), NULL,
                                                    st->identity, NULL);
    if (rc == 0)
        return 0;
    if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) {
        if (key_is_rsa(st->identity))
            *err = xasprintf("%s: key %s refused for user %s (libssh2 1.10 signs RSA keys with "
                             "SHA-1, which OpenSSH 8.8 and later refuse: use an ed25519 key)",
                             st->label, st->identity, st->user);
        else
            *err = xasprintf("%s: key %s refused for user %s", st->label, st->identity, st->user);
    } else if (rc == LIBSSH2_ERROR_FILE) {
        *err = xasprintf("%s: cannot use key %s: %s (keys with a passphrase need ssh-agent: "
                         "leave identity unset)",
                         st->label, st->identity, ssh_session_error(st->session));
    } else if (rc == LIBSSH2_ERROR_TIMEOUT) {
        *err = xasprintf("%s: timed out after %ld ms during authentication", st->label,
                         st->base.opts.connect_timeout_ms);
    } else {
        *err = xasprintf("%s: authentication as %s failed: %s", st->label, st->user,
                         ssh_session_error(st->session));
    }
    return -1;
}

static int auth_with_agent(struct ssh_transport *st, char **err)
{
    const char *sock = getenv("SSH_AUTH_SOCK");
    if (!sock || !*sock) {
        *err = xasprintf("%s: no identity configured for this host and no ssh-agent "
                         "(SSH_AUTH_SOCK is not set)",
                         st->label);
        return -1;
    }
    LIBSSH2_AGENT *agent = libssh2_agent_init(st->session);
    if (!agent) {
        *err = xasprintf("%s: cannot use ssh-agent: %s", st->label, ssh_session_error(st->session));
        return -1;
    }
    int rc = -1;
    if (libssh2_agent_connect(agent) != 0) {
        *err = xasprintf("%s: cannot connect to ssh-agent at '%s': %s", st->label, sock,
                         ssh_session_error(st->session));
        goto out;
    }
    if (libssh2_agent_list_identities(agent) != 0) {
        *err = xasprintf("%s: cannot list ssh-agent keys: %s", st->label,
                         ssh_session_error(st->session));
        goto disconnect;
    }
    struct libssh2_agent_publickey *id = NULL, *prev = NULL;
    int tried = 0;
    while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
        tried++;
        if (libssh2_agent_userauth(agent, st->user, id) == 0) {
            rc = 0;
            break;
        }
        prev = id;
    }
    if (rc != 0)
        *err = tried ? xasprintf("%s: none of the %d ssh-agent keys was accepted for user %s",
                                 st->label, tried, st->user)
                     : xasprintf("%s: ssh-agent has no keys", st->label);
disconnect:
    libssh2_agent_disconnect(agent);
out:
    libssh2_agent_free(agent);
    return rc;
}

/* Connect, verify the host key and authenticate. 0, or -1 with *err and nothing left open. */
static int ssh_connect(struct ssh_transport *st, char **err)
{
    st->sock = tcp_connect(st, err);
    if (st->sock < 0)
        return -1;
    struct known_hosts kh = {0};
    st->session = libssh2_session_init();
    if (!st->session) {
        *err = xasprintf("%s: cannot create an ssh session", st->label);
        goto fail;
    }
    libssh2_session_set_blocking(st->session, 1);
    /* libssh2 1.10 measures its timeout with time(2), in whole seconds: a wait
     * that crosses a second boundary counts as a full second. Give it a second
     * of slack so a 1000 ms timeout cannot expire after a few milliseconds. */
    libssh2_session_set_timeout(st->session, st->base.opts.connect_timeout_ms + 1000);

    if (known_hosts_init(&kh, st->session, st->label, err) < 0 ||
        known_hosts_read(&kh, st->known_hosts, st->label, err) < 0)
        goto fail;
    unsigned known = known_hosts_types(&kh, st->ip, st->port);
    known_hosts_prefer_types(st->session, known);

    int rc = libssh2_session_handshake(st->session, st->sock);
    if (rc != 0) {
        if (rc == LIBSSH2_ERROR_TIMEOUT)
            *err = xasprintf("%s: timed out after %ld ms during the ssh handshake", st->label,
                             st->base.opts.connect_timeout_ms);
        else if (rc == LIBSSH2_ERROR_SOCKET_DISCONNECT || rc == LIBSSH2_ERROR_SOCKET_RECV)
            *err = xasprintf("%s: connection closed during the ssh handshake (is it an ssh "
                             "server?): %s",
                             st->label, ssh_session_error(st->session));
        else
            *err = xasprintf("%s: ssh handshake failed: %s", st->label,
                             ssh_session_error(st->session));
        goto fail;
    }
    char *label = host_label(st);
    struct host_key_peer peer = {st->ip, st->port, st->known_hosts, st->label, label,
                                 st->base.opts.accept_new_host_keys};
    rc = known_hosts_verify(&kh, &peer, known, err);
    free(label);
    if (rc == HOST_KEY_REFUSED)
        host_key_refused(st, *err, err);
    if (rc != HOST_KEY_TRUSTED)
        goto fail;
    known_hosts_release(&kh);

    if ((st->identity ? auth_with_key(st, err) : auth_with_agent(st, err)) < 0)
        goto fail;
    libssh2_session_set_timeout(st->session, st->base.opts.command_timeout_ms + 1000);
    return 0;

fail:
    known_hosts_release(&kh);
    ssh_drop(st, st->session != NULL);
    return -1;
}

/* Make sure there is a live session: reconnect after one was dropped. */
static int ssh_ready(struct ssh_transport *st, char **err)
{
    if (st->session)
        return 0;
    if (st->host_key_err) {
        /* that address failed its host key check once: never talk to it again */
        *err = xstrdup(st->host_key_err);
        return -1;
    }
    char *e = NULL;
    if (ssh_connect(st, &e) == 0)
        return 0;
    /* it answered before: say so plainly, naming the host as the spec does */
    *err = st->base.host_key_failed
               ? e
               : xasprintf("host '%s' stopped answering (the ssh connection broke and cannot be "
                           "made again): %s",
                           st->base.host, e ? e : "unknown error");
    if (*err != e)
        free(e);
    return -1;
}

/* Report a libssh2 failure and drop the session when it can no longer be trusted. */
static void ssh_fail(struct ssh_transport *st, int rc, char **err, const char *fmt, ...)
    RMGR_PRINTF(4, 5);
static void ssh_fail(struct ssh_transport *st, int rc, char **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = xvasprintf(fmt, ap);
    va_end(ap);
    if (rc == LIBSSH2_ERROR_TIMEOUT)
        *err = xasprintf("%s: %s: timed out after %ld ms", st->label, what,
                         st->base.opts.command_timeout_ms);
    else if (session_is_broken(rc) && rc != LIBSSH2_ERROR_KEX_FAILURE)
        *err = xasprintf("host '%s' stopped answering: the ssh connection (%s) broke (%s) "
                         "while: %s",
                         st->base.host, st->label, ssh_session_error(st->session), what);
    else if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && st->sftp)
        *err = xasprintf("%s: %s: %s", st->label, what,
                         sftp_status_str(libssh2_sftp_last_error(st->sftp)));
    else
        *err = xasprintf("%s: %s: %s", st->label, what, ssh_session_error(st->session));
    free(what);
    if (session_is_broken(rc))
        ssh_drop(st, false);
}

/* ---- exec --------------------------------------------------------------- */

/* Wait until the socket can move in the direction libssh2 is blocked on. -1 past the deadline. */
static int ssh_wait(struct ssh_transport *st, long long deadline)
{
    return ssh_socket_wait(st->session, st->sock, deadline);
}

static const struct {
    const char *name;
    int num;
} signals[] = {
    {"HUP", 1},   {"INT", 2},   {"QUIT", 3},  {"ILL", 4},   {"TRAP", 5},  {"ABRT", 6},
    {"BUS", 7},   {"FPE", 8},   {"KILL", 9},  {"USR1", 10}, {"SEGV", 11}, {"USR2", 12},
    {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15}, {"XCPU", 24}, {"XFSZ", 25},
};

static int signal_number(const char *name, size_t len)
{
    if (len > 3 && strncmp(name, "SIG", 3) == 0) {
        name += 3;
        len -= 3;
    }
    for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
        if (strlen(signals[i].name) == len && strncmp(signals[i].name, name, len) == 0)
            return signals[i].num;
    return 127; /* unknown: still report "killed by a signal" */
}

/* Read what stream `id` has now. 0 at EOF, LIBSSH2_ERROR_EAGAIN when drained, <0 error. */
static ssize_t drain_stream(LIBSSH2_CHANNEL *ch, int id, struct strbuf *sb)
{
    char buf[32768];
    for (;;) {
        ssize_t n = libssh2_channel_read_ex(ch, id, buf, sizeof(buf));
        if (n > 0) {
            sb_addn(sb, buf, (size_t)n);
            continue;
        }
        return n;
    }
}

/* What channel_retry() returns when the deadline passes (libssh2 codes are 0 or negative). */
#define SSH_TIMED_OUT 1

/*
 * Call `op` on `ch` again while it would block, waiting for the session's
 * socket in between: its result, or SSH_TIMED_OUT once `deadline` passes.
 */
static int channel_retry(struct ssh_transport *st, LIBSSH2_CHANNEL *ch,
                         int (*op)(LIBSSH2_CHANNEL *), long long deadline)
{
    int rc;
    while ((rc = op(ch)) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_wait(st, deadline) < 0)
            return SSH_TIMED_OUT;
    return rc;
}

/* ssh_exec through the shell kept open on the session (opts.keep_shell). */
static int ssh_exec_kept_shell(struct ssh_transport *st, const char *const *argv,
                               struct exec_result *r, char **err)
{
    long long deadline = now_ms() + st->base.opts.command_timeout_ms;
    int lrc = 0;
    char *e = NULL;
    if (!st->shell)
        st->shell = ssh_shell_open(st->session, st->sock, deadline, &lrc, &e);
    int rc = -1;
    if (st->shell) {
        char *cmd = transport_sh_quote_argv(argv);
        rc = ssh_shell_run(st->shell, cmd, deadline, r, &lrc, &e);
        free(cmd);
    }
    if (rc == 0)
        return 0;
    char *shown = transport_argv_summary(argv);
    *err = xasprintf("%s: '%s': %s", st->label, shown, e);
    free(shown);
    free(e);
    /* out of step: a new shell next time, and a new session when this one broke */
    ssh_shell_close(st->shell);
    st->shell = NULL;
    if (session_is_broken(lrc))
        ssh_drop(st, false);
    return -1;
}

static int ssh_exec(struct transport *t, const char *const *argv, struct exec_result *r,
                    char **err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    if (ssh_ready(st, err) < 0)
        return -1;
    if (t->opts.keep_shell)
        return ssh_exec_kept_shell(st, argv, r, err);
    char *cmd = transport_sh_quote_argv(argv);
    char *shown = transport_argv_summary(argv);
    struct strbuf sb[2] = {{0}, {0}};
    LIBSSH2_CHANNEL *ch = NULL;
    LIBSSH2_SESSION *s = st->session;
    long long deadline = now_ms() + t->opts.command_timeout_ms;
    int rc = 0;
    const char *stage = "cannot open a channel";

    libssh2_session_set_blocking(s, 0);
    while (!(ch = libssh2_channel_open_session(s)) &&
           libssh2_session_last_errno(s) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_wait(st, deadline) < 0)
            goto timeout;
    if (!ch) {
        rc = libssh2_session_last_errno(s);
        goto fail;
    }
    stage = "cannot start the command";
    while ((rc = libssh2_channel_exec(ch, cmd)) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_wait(st, deadline) < 0)
            goto timeout;
    if (rc)
        goto fail;
    /* the command gets an empty stdin, as locally */
    rc = channel_retry(st, ch, libssh2_channel_send_eof, deadline);
    if (rc == SSH_TIMED_OUT)
        goto timeout;
    if (rc)
        goto fail;

    stage = "cannot read the output";
    for (;;) {
        ssize_t n1 = drain_stream(ch, 0, &sb[0]);
        ssize_t n2 = drain_stream(ch, SSH_EXTENDED_DATA_STDERR, &sb[1]);
        if (n1 < 0 && n1 != LIBSSH2_ERROR_EAGAIN) {
            rc = (int)n1;
            goto fail;
        }
        if (n2 < 0 && n2 != LIBSSH2_ERROR_EAGAIN) {
            rc = (int)n2;
            goto fail;
        }
        if (libssh2_channel_eof(ch))
            break;
        if (ssh_wait(st, deadline) < 0)
            goto timeout;
    }
    stage = "cannot close the channel";
    rc = channel_retry(st, ch, libssh2_channel_close, deadline);
    if (rc == 0)
        rc = channel_retry(st, ch, libssh2_channel_wait_closed, deadline);
    if (rc == SSH_TIMED_OUT)
        goto timeout;
    if (rc)
        goto fail;

    char *sig = NULL;
    size_t sig_len = 0;
    r->status = libssh2_channel_get_exit_status(ch);
    if (libssh2_channel_get_exit_signal(ch, &sig, &sig_len, NULL, NULL, NULL, NULL) == 0 && sig) {
        r->status = 128 + signal_number(sig, sig_len);
        libssh2_free(s, sig);
    }
    /* a timeout is fine: it is freed locally anyway on session close */
    (void)channel_retry(st, ch, libssh2_channel_free, deadline);
    libssh2_session_set_blocking(s, 1);
    r->out = sb_detach(&sb[0]);
    r->err = sb_detach(&sb[1]);
    free(cmd);
    free(shown);
    return 0;

timeout:
    *err = xasprintf("%s: command '%s' timed out after %ld ms (session closed; the remote "
                     "command may still be running)",
                     st->label, shown, t->opts.command_timeout_ms);
    ssh_drop(st, false); /* frees the channel with the session */
    goto out;
fail:
    if (session_is_broken(rc) && rc != LIBSSH2_ERROR_KEX_FAILURE)
        *err = xasprintf("host '%s' stopped answering: the ssh connection (%s) broke (%s); "
                         "%s '%s'",
                         st->base.host, st->label, ssh_session_error(s), stage, shown);
    else
        *err = xasprintf("%s: %s '%s': %s", st->label, stage, shown, ssh_session_error(s));
    if (ch) {
        libssh2_session_set_blocking(s, 1);
        if (!session_is_broken(rc))
            libssh2_channel_free(ch);
    }
    if (session_is_broken(rc))
        ssh_drop(st, false);
    else
        libssh2_session_set_blocking(s, 1);
out:
    sb_release(&sb[0]);
    sb_release(&sb[1]);
    free(cmd);
    free(shown);
    return -1;
}

/* ---- files (SFTP) ------------------------------------------------------- */

static LIBSSH2_SFTP *sftp_get(struct ssh_transport *st, char **err)
{
    if (ssh_ready(st, err) < 0)
        return NULL;
    if (!st->sftp) {
        st->sftp = libssh2_sftp_init(st->session);
        if (!st->sftp) {
            ssh_fail(st, libssh2_session_last_errno(st->session), err, "cannot start sftp");
            return NULL;
        }
    }
    return st->sftp;
}

static bool sftp_absent(struct ssh_transport *st, int rc)
{
    if (rc != LIBSSH2_ERROR_SFTP_PROTOCOL || !st->sftp)
        return false;
    unsigned long e = libssh2_sftp_last_error(st->sftp);
    return e == LIBSSH2_FX_NO_SUCH_FILE || e == LIBSSH2_FX_NO_SUCH_PATH;
}

static int ssh_read_file(struct transport *t, const char *path, size_t max_size, char **out,
                         size_t *out_len, char **err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    LIBSSH2_SFTP *sftp = sftp_get(st, err);
    if (!sftp)
        return -1;
    /* never through a symbolic link (SFTP has no O_NOFOLLOW: lstat first) */
    LIBSSH2_SFTP_ATTRIBUTES a;
    int lrc = libssh2_sftp_lstat(sftp, path, &a);
    if (lrc != 0) {
        if (sftp_absent(st, lrc))
            return 1;
        ssh_fail(st, lrc, err, "cannot stat '%s'", path);
        return -1;
    }
    if ((a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) && !LIBSSH2_SFTP_S_ISREG(a.permissions)) {
        *err = xasprintf("%s: refusing to read '%s': it is %s", st->label, path,
                         LIBSSH2_SFTP_S_ISLNK(a.permissions) ? "a symbolic link"
                                                             : "not a regular file");
        return -1;
    }
    LIBSSH2_SFTP_HANDLE *h = libssh2_sftp_open(sftp, path, LIBSSH2_FXF_READ, 0);
    if (!h) {
        int rc = libssh2_session_last_errno(st->session);
        if (sftp_absent(st, rc))
            return 1;
        ssh_fail(st, rc, err, "cannot read '%s'", path);
        return -1;
    }
    struct strbuf sb = {0};
    char buf[SFTP_CHUNK];
    ssize_t n;
    while ((n = libssh2_sftp_read(h, buf, sizeof(buf))) > 0) {
        if (sb.len + (size_t)n > max_size) {
            libssh2_sftp_close(h);
            sb_release(&sb);
            *err = xasprintf("%s: cannot read '%s': larger than %zu bytes", st->label, path,
                             max_size);
            return -1;
        }
        sb_addn(&sb, buf, (size_t)n);
    }
    if (n < 0) {
        sb_release(&sb);
        ssh_fail(st, (int)n, err, "cannot read '%s'", path);
        if (st->session)
            libssh2_sftp_close(h);
        return -1;
    }
    libssh2_sftp_close(h);
    *out_len = sb.len;
    *out = sb_detach(&sb);
    return 0;
}

static int ssh_stat_mtime(struct transport *t, const char *path, long long *mtime_s, char **err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    LIBSSH2_SFTP *sftp = sftp_get(st, err);
    if (!sftp)
        return -1;
    LIBSSH2_SFTP_ATTRIBUTES a;
    int rc = libssh2_sftp_stat(sftp, path, &a);
    if (rc != 0) {
        if (sftp_absent(st, rc))
            return 1;
        ssh_fail(st, rc, err, "cannot stat '%s'", path);
        return -1;
    }
    if (!(a.flags & LIBSSH2_SFTP_ATTR_ACMODTIME)) {
        *err = xasprintf("%s: cannot stat '%s': the server sent no modification time", st->label,
                         path);
        return -1;
    }
    *mtime_s = (long long)a.mtime;
    return 0;
}

static int set_mode(struct ssh_transport *st, const char *path, int mode, char **err)
{
    LIBSSH2_SFTP_ATTRIBUTES a = {.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS,
                                 .permissions = (unsigned long)mode};
    int rc = libssh2_sftp_setstat(st->sftp, path, &a);
    if (rc != 0) {
        ssh_fail(st, rc, err, "cannot chmod '%s'", path);
        return -1;
    }
    return 0;
}

/* mkdir -p over SFTP; directories it creates get exactly `mode` (the server's umask does not apply). */
static int sftp_mkdir_p(struct ssh_transport *st, const char *path, int mode, char **err)
{
    LIBSSH2_SFTP *sftp = sftp_get(st, err);
    if (!sftp)
        return -1;
    LIBSSH2_SFTP_ATTRIBUTES a;
    if (libssh2_sftp_stat(sftp, path, &a) == 0 && (a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) &&
        LIBSSH2_SFTP_S_ISDIR(a.permissions))
        return 0; /* the common case: one round trip */
    char *buf = xstrdup(path);
    size_t len = strlen(buf);
    int rc = 0;
    for (size_t i = 1; i <= len && rc == 0; i++) {
        if ((buf[i] != '/' && buf[i] != '\0') || buf[i - 1] == '/')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        int mk = libssh2_sftp_mkdir(sftp, buf, mode);
        if (mk == 0) {
            rc = set_mode(st, buf, mode, err);
        } else if (mk != LIBSSH2_ERROR_SFTP_PROTOCOL) {
            ssh_fail(st, mk, err, "cannot create directory '%s'", buf);
            rc = -1;
        } else {
            /* OpenSSH answers FAILURE for an existing path: see what is there */
            unsigned long code = libssh2_sftp_last_error(sftp);
            int sr = libssh2_sftp_stat(sftp, buf, &a);
            if (sr == 0 && (a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) &&
                !LIBSSH2_SFTP_S_ISDIR(a.permissions)) {
                *err = xasprintf("%s: cannot create directory '%s': exists and is not a "
                                 "directory",
                                 st->label, buf);
                rc = -1;
            } else if (sr != 0) {
                *err = xasprintf("%s: cannot create directory '%s': %s", st->label, buf,
                                 sftp_status_str(code));
                rc = -1;
            }
        }
        buf[i] = saved;
    }
    free(buf);
    return rc;
}

static int ssh_mkdir(struct transport *t, const char *path, int mode, char **err)
{
    return sftp_mkdir_p((struct ssh_transport *)t, path, mode, err);
}

/* Write all of data to an open SFTP handle. 0, or the libssh2 error. */
static int sftp_write_all(LIBSSH2_SFTP_HANDLE *h, const char *data, size_t len)
{
    while (len) {
        ssize_t n = libssh2_sftp_write(h, data, len < SFTP_CHUNK ? len : SFTP_CHUNK);
        if (n < 0)
            return (int)n;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Remove what interrupted writes of base (a name in dir) left there
 * (transport_stale_temp): only regular files. Best effort.
 */
static void sftp_sweep_stale_temps(LIBSSH2_SFTP *sftp, const char *dir, const char *base)
{
    LIBSSH2_SFTP_HANDLE *d = libssh2_sftp_opendir(sftp, *dir ? dir : "/");
    if (!d)
        return;
    struct strvec stale = {0};
    char name[512];
    LIBSSH2_SFTP_ATTRIBUTES a;
    int n;
    while ((n = libssh2_sftp_readdir(d, name, sizeof(name) - 1, &a)) > 0) {
        name[n] = '\0';
        if (transport_stale_temp(name, base) && (a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) &&
            LIBSSH2_SFTP_S_ISREG(a.permissions))
            strvec_add(&stale, xasprintf("%s/%s", dir, name));
    }
    libssh2_sftp_closedir(d);
    for (size_t i = 0; i < stale.n; i++)
        libssh2_sftp_unlink(sftp, stale.v[i]);
    strvec_release(&stale);
}

static int ssh_write_file(struct transport *t, const char *path, const void *data, size_t len,
                          int mode, char **err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    const char *slash = strrchr(path, '/');
    char *dir = xstrndup(path, (size_t)(slash - path));
    if (*dir && sftp_mkdir_p(st, dir, 0755, err) < 0) {
        free(dir);
        return -1;
    }
    LIBSSH2_SFTP *sftp = sftp_get(st, err);
    if (!sftp) {
        free(dir);
        return -1;
    }
    sftp_sweep_stale_temps(sftp, dir, slash + 1); /* an interrupted run's may hold the password */
    /* a temp name in the same directory, so the final rename stays on one file system */
    char *tmp = xasprintf("%s/.%s.rmgr-tmp.%ld.%u", dir, slash + 1, (long)getpid(), ++st->tmp_seq);
    int rc = -1;
    LIBSSH2_SFTP_HANDLE *h = libssh2_sftp_open(
        sftp, tmp, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL, mode);
    if (!h) {
        ssh_fail(st, libssh2_session_last_errno(st->session), err, "cannot write '%s'", tmp);
        free(tmp);
        free(dir);
        return -1;
    }
    int wr = sftp_write_all(h, data, len);
    if (wr != 0) {
        ssh_fail(st, wr, err, "cannot write '%s'", tmp);
        goto fail_handle;
    }
    /* the server's umask applied at open: set the mode exactly */
    LIBSSH2_SFTP_ATTRIBUTES a = {.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS,
                                 .permissions = (unsigned long)mode};
    wr = libssh2_sftp_fsetstat(h, &a);
    if (wr != 0) {
        ssh_fail(st, wr, err, "cannot chmod '%s'", tmp);
        goto fail_handle;
    }
    wr = libssh2_sftp_fsync(h);
    if (wr != 0 && !(wr == LIBSSH2_ERROR_SFTP_PROTOCOL &&
                     libssh2_sftp_last_error(sftp) == LIBSSH2_FX_OP_UNSUPPORTED)) {
        ssh_fail(st, wr, err, "cannot fsync '%s'", tmp);
        goto fail_handle;
    }
    wr = libssh2_sftp_close(h);
    h = NULL;
    if (wr != 0) {
        ssh_fail(st, wr, err, "cannot write '%s'", tmp);
        goto fail_unlink;
    }
    /*
     * SFTP v3 rename refuses to replace an existing file, and libssh2 1.10 has
     * no posix-rename@openssh.com: mv(1) does rename(2), atomic within a directory.
     * Then sync(1) of the directory makes the rename durable where sync takes a
     * file (coreutils 8.24+; elsewhere the rename is as durable as the server makes it).
     */
    const char *mv[] = {"sh", "-c",
                        "mv -f -- \"$1\" \"$2\" && { sync -- \"$3\" 2>/dev/null || :; }", "sh",
                        tmp, path, *dir ? dir : "/", NULL};
    struct exec_result r;
    if (ssh_exec(t, mv, &r, err) < 0)
        goto fail_unlink;
    if (r.status != 0) {
        size_t el = strlen(r.err);
        while (el && r.err[el - 1] == '\n')
            r.err[--el] = '\0';
        *err = xasprintf("%s: cannot rename '%s' to '%s': %s", st->label, tmp, path,
                         *r.err ? r.err : "mv failed");
        exec_result_release(&r);
        goto fail_unlink;
    }
    exec_result_release(&r);
    rc = 0;
    goto out;

fail_handle:
    if (st->session && h)
        libssh2_sftp_close(h);
fail_unlink:
    if (st->session && st->sftp)
        libssh2_sftp_unlink(st->sftp, tmp);
out:
    free(tmp);
    free(dir);
    return rc;
}

/* ---- open / close ------------------------------------------------------- */

static void ssh_close(struct transport *t)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    ssh_drop(st, true);
    free(st->ip);
    free(st->user);
    free(st->identity);
    free(st->known_hosts);
    free(st->label);
    free(st->host_key_err);
    transport_base_release(t);
    free(st);
}

static const struct transport_ops ssh_ops = {
    .serial = true,
    .close = ssh_close,
    .exec = ssh_exec,
    .read_file = ssh_read_file,
    .stat_mtime = ssh_stat_mtime,
    .write_file = ssh_write_file,
    .mkdir = ssh_mkdir,
};

struct transport *transport_ssh_open(const struct spec *spec, const char *host,
                                     const struct transport_options *opts,
                                     enum transport_failure *failure, char **err)
{
    pthread_once(&init_once, ssh_global_init);
    if (init_rc != 0) {
        *err = xasprintf("ssh %s: cannot initialise libssh2", host);
        return NULL;
    }
    const struct spec_host *h = spec_find_host(spec, host);
    const char *ip = h ? h->address : host;
    unsigned char any[sizeof(struct in6_addr)];
    if (!ip || (inet_pton(AF_INET, ip, any) != 1 && inet_pton(AF_INET6, ip, any) != 1)) {
        *err = xasprintf("ssh %s: not a host of the spec nor an IP address", host);
        return NULL;
    }
    const struct spec_ssh *cfg = spec_host_ssh(spec, host);

    struct ssh_transport *st = xcalloc(1, sizeof(*st));
    transport_base_init(&st->base, &ssh_ops, host, opts);
    st->sock = -1;
    st->ip = xstrdup(ip);
    st->port = cfg && cfg->port > 0 ? cfg->port : 22;
    st->user = xstrdup(cfg && cfg->user ? cfg->user : "root");
    st->identity = xstrdup(cfg ? cfg->identity : NULL);
    if (cfg && cfg->known_hosts) {
        st->known_hosts = xstrdup(cfg->known_hosts);
    } else {
        const char *home = getenv("HOME");
        st->known_hosts = xasprintf("%s/.ssh/known_hosts", home && *home ? home : "/root");
    }
    st->label = strchr(ip, ':') ? xasprintf("ssh [%s]:%d", ip, st->port)
                                : xasprintf("ssh %s:%d", ip, st->port);
    if (ssh_connect(st, err) < 0) {
        *failure = st->base.host_key_failed ? TRANSPORT_FAILURE_HOST_KEY : TRANSPORT_FAILURE_OTHER;
        ssh_close(&st->base);
        return NULL;
    }
    return &st->base;
}
