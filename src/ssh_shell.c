/*
 * ssh_shell.c - one remote /bin/sh kept open on an ssh session. See ssh_shell.h.
 */
#include "ssh_shell.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "util.h"

struct ssh_shell {
    LIBSSH2_SESSION *session;
    int sock;
    LIBSSH2_CHANNEL *ch;
    char mark[40]; /* the end marker of every command: random per shell */
};

int ssh_socket_wait(LIBSSH2_SESSION *s, int sock, long long deadline)
{
    long long left = deadline - now_ms();
    if (left <= 0)
        return -1;
    int dir = libssh2_session_block_directions(s);
    struct pollfd p = {.fd = sock};
    if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
        p.events |= POLLIN;
    if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        p.events |= POLLOUT;
    if (!p.events)
        p.events = POLLIN;
    poll(&p, 1, (int)(left < 1000 ? left : 1000));
    return 0;
}

static int shell_wait(struct ssh_shell *sh, long long deadline)
{
    return ssh_socket_wait(sh->session, sh->sock, deadline);
}

/* Whether sb ends with "\n<mark>" + tail pattern; *at: where "\n<mark>" starts. */
static bool ends_with_mark(const struct strbuf *sb, const char *mark, bool with_status,
                           size_t *at, int *status)
{
    if (sb->len < 2 || sb->buf[sb->len - 1] != '\n')
        return false;
    size_t ml = strlen(mark);
    /* the last line: "<mark>\n" or "<mark> <status>\n", preceded by the '\n' we print */
    size_t start = sb->len - 1;
    while (start > 0 && sb->buf[start - 1] != '\n')
        start--;
    if (start == 0 || strncmp(sb->buf + start, mark, ml) != 0)
        return false;
    const char *rest = sb->buf + start + ml;
    if (with_status) {
        long v;
        char digits[16];
        size_t n = strcspn(rest + (*rest == ' '), "\n");
        if (*rest != ' ' || n == 0 || n >= sizeof(digits))
            return false;
        memcpy(digits, rest + 1, n);
        digits[n] = '\0';
        if (!parse_long(digits, 0, 255, &v))
            return false;
        *status = (int)v;
    } else if (*rest != '\n') {
        return false;
    }
    *at = start - 1;
    return true;
}

/* Send all of text. 0, or a libssh2 code / 1 past the deadline. */
static int send_all(struct ssh_shell *sh, const char *text, long long deadline)
{
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = libssh2_channel_write(sh->ch, text + off, len - off);
        if (n == LIBSSH2_ERROR_EAGAIN) {
            if (shell_wait(sh, deadline) < 0)
                return 1;
            continue;
        }
        if (n < 0)
            return (int)n;
        off += (size_t)n;
    }
    return 0;
}

/* Read both streams until each ends with the marker. 0, a libssh2 code, or 1 past the deadline. */
static int read_until_marks(struct ssh_shell *sh, struct strbuf *out, struct strbuf *errb,
                            long long deadline, size_t *out_at, size_t *err_at, int *status)
{
    char buf[16384];
    bool out_done = false, err_done = false;
    while (!out_done || !err_done) {
        bool got = false;
        for (int id = 0; id < 2; id++) {
            struct strbuf *sb = id ? errb : out;
            ssize_t n;
            while ((n = libssh2_channel_read_ex(sh->ch, id ? SSH_EXTENDED_DATA_STDERR : 0, buf,
                                                sizeof(buf))) > 0) {
                sb_addn(sb, buf, (size_t)n);
                got = true;
            }
            if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
                return (int)n;
        }
        int ignored = 0;
        out_done = out_done || ends_with_mark(out, sh->mark, true, out_at, status);
        err_done = err_done || ends_with_mark(errb, sh->mark, false, err_at, &ignored);
        if (out_done && err_done)
            break;
        if (libssh2_channel_eof(sh->ch))
            return LIBSSH2_ERROR_CHANNEL_CLOSED; /* the shell went away */
        if (!got && shell_wait(sh, deadline) < 0)
            return 1;
    }
    return 0;
}

/* One command through the shell; the raw outputs up to the markers. */
static int shell_command(struct ssh_shell *sh, const char *cmd, long long deadline,
                         struct strbuf *out, struct strbuf *errb, int *status)
{
    char *line = xasprintf("%s </dev/null\nprintf '\\n%%s %%d\\n' '%s' $?\n"
                           "printf '\\n%%s\\n' '%s' >&2\n",
                           cmd, sh->mark, sh->mark);
    libssh2_session_set_blocking(sh->session, 0);
    int rc = send_all(sh, line, deadline);
    free(line);
    size_t out_at = 0, err_at = 0;
    if (rc == 0)
        rc = read_until_marks(sh, out, errb, deadline, &out_at, &err_at, status);
    libssh2_session_set_blocking(sh->session, 1);
    if (rc == 0) {
        out->len = out_at;
        out->buf[out_at] = '\0';
        errb->len = err_at;
        errb->buf[err_at] = '\0';
    }
    return rc;
}

static char *shell_error(struct ssh_shell *sh, int rc, const char *what)
{
    if (rc == 1)
        return xasprintf("%s: timed out (shell closed; the remote command may still be running)",
                         what);
    char *msg = NULL;
    libssh2_session_last_error(sh->session, &msg, NULL, 0);
    return xasprintf("%s: %s", what, msg && *msg ? msg : "the remote shell went away");
}

struct ssh_shell *ssh_shell_open(LIBSSH2_SESSION *s, int sock, long long deadline, int *lrc,
                                 char **err)
{
    struct ssh_shell *sh = xcalloc(1, sizeof(*sh));
    sh->session = s;
    sh->sock = sock;
    unsigned long long nonce = 0;
    if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
        nonce = (unsigned long long)now_us() ^ ((unsigned long long)getpid() << 32);
    snprintf(sh->mark, sizeof(sh->mark), "rmgr-end-%016llx", nonce);
    *lrc = 0;
    libssh2_session_set_blocking(s, 0);
    while (!(sh->ch = libssh2_channel_open_session(s)) &&
           libssh2_session_last_errno(s) == LIBSSH2_ERROR_EAGAIN)
        if (shell_wait(sh, deadline) < 0)
            break;
    int rc = sh->ch ? 0 : libssh2_session_last_errno(s);
    if (sh->ch)
        while ((rc = libssh2_channel_exec(sh->ch, "exec /bin/sh")) == LIBSSH2_ERROR_EAGAIN)
            if (shell_wait(sh, deadline) < 0) {
                rc = 1;
                break;
            }
    libssh2_session_set_blocking(s, 1);
    struct strbuf out = {0}, errb = {0};
    int status = 0;
    /* the first command also swallows whatever the login shell's rc files printed */
    if (rc == 0)
        rc = shell_command(sh, ":", deadline, &out, &errb, &status);
    sb_release(&out);
    sb_release(&errb);
    if (rc != 0) {
        *err = shell_error(sh, rc, "cannot start a remote shell");
        *lrc = rc == 1 ? LIBSSH2_ERROR_TIMEOUT : rc;
        ssh_shell_close(sh);
        return NULL;
    }
    return sh;
}

int ssh_shell_run(struct ssh_shell *sh, const char *cmd, long long deadline,
                  struct exec_result *r, int *lrc, char **err)
{
    struct strbuf out = {0}, errb = {0};
    int status = 0;
    int rc = shell_command(sh, cmd, deadline, &out, &errb, &status);
    *lrc = rc == 1 ? LIBSSH2_ERROR_TIMEOUT : rc;
    if (rc != 0) {
        *err = shell_error(sh, rc, "the remote shell");
        sb_release(&out);
        sb_release(&errb);
        return -1;
    }
    r->status = status;
    r->out = sb_detach(&out);
    r->err = sb_detach(&errb);
    return 0;
}

void ssh_shell_close(struct ssh_shell *sh)
{
    if (!sh)
        return;
    if (sh->ch) {
        /* the session may be gone bad: free locally, without waiting for the server */
        libssh2_session_set_blocking(sh->session, 0);
        libssh2_channel_free(sh->ch);
        libssh2_session_set_blocking(sh->session, 1);
    }
    free(sh);
}
