/*
 * harness_proc.c - the daemons a harness runs (redis-server, redis-sentinel,
 * nutcracker, any command): their directory and configuration, fork + exec
 * with PR_SET_PDEATHSIG, readiness, stop, signal and restart; and
 * harness_run(), a program run to completion with its output. See harness.h;
 * the tracking it relies on is in harness.c.
 */
#include "harness.h"
#include "harness_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* =============================== processes =============================== */

/* Absolute path of an executable found in PATH, or NULL. Caller frees. */
static char *find_exe(const char *name)
{
    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    /* daemons like nutcracker and sshd live in sbin, often not in a user's PATH */
    char *all = xasprintf("%s:/usr/sbin:/sbin", path);
    char *result = NULL;
    for (char *dir = all, *end; dir && !result; dir = end ? end + 1 : NULL) {
        end = strchr(dir, ':');
        if (end)
            *end = '\0';
        char *cand = xasprintf("%s/%s", *dir ? dir : ".", name);
        if (access(cand, X_OK) == 0)
            result = cand;
        else
            free(cand);
    }
    free(all);
    return result;
}

/*
 * The child side of fork(): default signal handling, die with the parent,
 * stdin from /dev/null, stdout+stderr to out_fd, no other descriptors.
 */
static void child_setup(pid_t parent, int in_fd, int out_fd, int err_fd, const char *cwd)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(126);
    if (cwd && chdir(cwd) < 0)
        _exit(126);
    if (in_fd < 0)
        in_fd = open("/dev/null", O_RDONLY);
    if (in_fd < 0 || dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(126);
    if (close_range(3, ~0U, 0) < 0)
        for (int fd = 3; fd < 4096; fd++)
            close(fd);
}

/* Print the last lines of a file on stderr, to explain a failed start. */
static void print_tail(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    if (!path || read_file(path, 16 << 20, &buf, &len) < 0 || len == 0) {
        free(buf);
        return;
    }
    size_t start = len, lines = 0;
    while (start > 0 && lines < 16)
        if (buf[--start] == '\n' && start + 1 < len)
            lines++;
    if (start > 0)
        start++;
    fprintf(stderr, "harness: --- %s\n%s%s", path, buf + start,
            buf[len - 1] == '\n' ? "" : "\n");
    free(buf);
}

static bool file_contains(const char *path, const char *needle)
{
    char *buf = NULL;
    size_t len = 0;
    bool found = path && read_file(path, 16 << 20, &buf, &len) == 0 && strstr(buf, needle);
    free(buf);
    return found;
}

static bool write_text(const char *path, const char *text)
{
    if (write_file_atomic(path, text, strlen(text), 0600) < 0) {
        fprintf(stderr, "harness: cannot write '%s': %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

/* True (and reported unless quiet) when p's ports are already taken. */
static bool ports_taken(const struct hproc *p, bool quiet)
{
    int ports[2] = { p->port, p->stats_port };
    for (int i = 0; i < 2; i++)
        if (ports[i] > 0 && hpriv_port_open(HARNESS_IP, ports[i])) {
            if (!quiet)
                fprintf(stderr, "harness: cannot start %s: port %d is already in use\n",
                        p->label, ports[i]);
            return true;
        }
    return false;
}

/* fork + exec p->argv in p->dir; records and tracks the pid. */
static bool proc_spawn(struct hproc *p)
{
    int out = open(p->out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out < 0) {
        fprintf(stderr, "harness: cannot open '%s': %s\n", p->out, strerror(errno));
        return false;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(errno));
        close(out);
        return false;
    }
    if (pid == 0) {
        child_setup(parent, -1, out, out, p->dir);
        execv(p->exe, p->argv);
        dprintf(2, "harness: cannot run '%s': %s\n", p->exe, strerror(errno));
        _exit(127);
    }
    close(out);
    /* the start time identifies this process from now on */
    char state = 0;
    unsigned long long start = 0;
    hpriv_proc_stat(pid, &state, &start, NULL);
    p->pid = pid;
    p->start = start;
    if (!hpriv_track_add(p->h, pid, start, true)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        p->pid = 0;
        return false;
    }
    if (p->write_pidfile && p->pidfile) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%d\n", (int)pid);
        write_text(p->pidfile, buf);
    }
    if (hpriv_verbose)
        fprintf(stderr, "harness: started %s pid %d port %d\n", p->label, (int)pid, p->port);
    return true;
}

struct ready_arg {
    struct hproc *p;
    bool exited;
};

static bool ready_cond(void *arg)
{
    struct ready_arg *a = arg;
    struct htrack *t = hpriv_track_find(a->p->h, a->p->pid);
    if (!t || hpriv_tracked_gone(t)) {
        a->exited = true;
        return true; /* stop waiting: it will never become ready */
    }
    if (a->p->kind == HPROC_OTHER)
        return a->p->port <= 0 || hpriv_port_open(HARNESS_IP, a->p->port);
    if (a->p->kind == HPROC_NUTCRACKER)
        return hpriv_ping_once(HARNESS_IP, a->p->port);
    return hpriv_ping_owner(HARNESS_IP, a->p->port, a->p->pid);
}

/* Wait for p to be ready. On failure: report, stop it, false. */
static bool proc_wait_ready(struct hproc *p, bool quiet_on_port_clash, bool *port_clash)
{
    struct ready_arg a = { p, false };
    bool ok;
    if (p->kind == HPROC_OTHER && p->port <= 0) {
        harness_sleep_ms(POLL_MS);
        ready_cond(&a);
        ok = !a.exited;
    } else {
        ok = harness_wait_until(ready_cond, &a, hpriv_ready_timeout_ms(), POLL_MS) && !a.exited;
    }
    if (ok)
        return true;
    bool clash = a.exited && (file_contains(p->log, "in use") || file_contains(p->out, "in use"));
    if (port_clash)
        *port_clash = clash;
    if (!(clash && quiet_on_port_clash)) {
        fprintf(stderr, "harness: %s on port %d %s\n", p->label, p->port,
                a.exited ? "exited during startup" : "not ready in time");
        print_tail(p->out);
        if (p->log && strcmp(p->log, p->out) != 0)
            print_tail(p->log);
    }
    harness_stop(p->h, p);
    return false;
}

static char **argv_dup(const char *const argv[])
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **v = xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = xstrdup(argv[i]);
    return v;
}

static void procs_add(struct harness *h, struct hproc *p)
{
    VEC_GROW(h->procs, h->nprocs, h->procs_cap);
    h->procs[h->nprocs++] = p;
}

/* A fresh hproc with its directory <h>/<label>-<port>[-N]. */
static struct hproc *proc_new(struct harness *h, enum hproc_kind kind, const char *label,
                              int port)
{
    struct hproc *p = xcalloc(1, sizeof(*p));
    p->h = h;
    p->kind = kind;
    p->label = xstrdup(label);
    p->port = port;
    for (int i = 0;; i++) {
        free(p->dir);
        p->dir = i ? xasprintf("%s/%s-%d-%d", h->dir, label, port, i)
                   : xasprintf("%s/%s-%d", h->dir, label, port);
        if (mkdir(p->dir, 0700) == 0)
            break;
        if (errno != EEXIST || i > 100) {
            fprintf(stderr, "harness: cannot create '%s': %s\n", p->dir, strerror(errno));
            hpriv_hproc_free(p);
            return NULL;
        }
    }
    p->out = xasprintf("%s/stdout", p->dir);
    return p;
}

/* Build the config and argv of one kind of daemon for p. */
typedef bool (*prepare_fn)(struct hproc *p, const void *arg);

/*
 * Start a daemon: create p with prepare(), spawn, wait for readiness. When
 * the port was picked here and the start failed on a port clash, retry.
 */
static struct hproc *start_daemon(struct harness *h, enum hproc_kind kind, const char *label,
                                  int port, prepare_fn prepare, const void *arg)
{
    bool auto_port = port == 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (auto_port && (port = harness_free_port()) < 0)
            return NULL;
        struct hproc *p = proc_new(h, kind, label, port);
        if (!p)
            return NULL;
        p->auto_port = auto_port;
        if (!prepare(p, arg)) {
            hpriv_hproc_free(p);
            return NULL;
        }
        procs_add(h, p); /* owned by h from here, even when it fails */
        if (ports_taken(p, auto_port && attempt < 2)) {
            if (auto_port)
                continue;
            return NULL;
        }
        if (!proc_spawn(p))
            return NULL;
        bool clash = false;
        if (proc_wait_ready(p, auto_port && attempt < 2, &clash))
            return p;
        if (!(auto_port && clash))
            return NULL;
    }
    return NULL;
}

static bool set_exe(struct hproc *p, const char *name)
{
    p->exe = find_exe(name);
    if (!p->exe)
        fprintf(stderr, "harness: '%s' not found in PATH\n", name);
    return p->exe != NULL;
}

static bool prepare_redis(struct hproc *p, const void *arg)
{
    const char *extra = arg;
    bool sentinel = p->kind == HPROC_SENTINEL;
    if (!set_exe(p, sentinel ? "redis-sentinel" : "redis-server"))
        return false;
    p->conf = xasprintf("%s/%s.conf", p->dir, p->label);
    p->pidfile = xasprintf("%s/%s.pid", p->dir, p->label);
    p->log = xasprintf("%s/%s.log", p->dir, p->label);
    struct strbuf sb = { 0 };
    sb_addf(&sb,
            "# written by the rmgr test harness\n"
            "port %d\n"
            "bind " HARNESS_IP "\n"
            "daemonize no\n"
            "pidfile \"%s\"\n"
            "logfile \"%s\"\n"
            "dir \"%s\"\n",
            p->port, p->pidfile, p->log, p->dir);
    if (!sentinel)
        sb_add(&sb, "save \"\"\n"
                    "appendonly no\n"
                    "repl-diskless-sync-delay 0\n");
    if (extra && *extra) {
        sb_add(&sb, extra);
        if (extra[strlen(extra) - 1] != '\n')
            sb_addc(&sb, '\n');
    }
    bool ok = write_text(p->conf, sb_str(&sb));
    sb_release(&sb);
    const char *argv[] = { sentinel ? "redis-sentinel" : "redis-server", p->conf, NULL };
    p->argv = argv_dup(argv);
    return ok;
}

struct nc_arg {
    int stats_port;
    const char *pool_body; /* or: */
    const char *conf;      /* a whole configuration */
};

static bool prepare_nutcracker(struct hproc *p, const void *arg)
{
    const struct nc_arg *a = arg;
    if (!set_exe(p, "nutcracker"))
        return false;
    p->stats_port = a->stats_port;
    if (p->stats_port <= 0 && (p->stats_port = harness_free_port()) < 0)
        return false;
    p->conf = xasprintf("%s/nutcracker.yml", p->dir);
    p->pidfile = xasprintf("%s/nutcracker.pid", p->dir);
    p->log = xasprintf("%s/nutcracker.log", p->dir);
    p->write_pidfile = true; /* nutcracker writes one only with -d */
    char *text = a->conf ? xstrdup(a->conf)
                         : xasprintf("alpha:\n  listen: " HARNESS_IP ":%d\n%s", p->port,
                                     a->pool_body ? a->pool_body : "");
    bool ok = write_text(p->conf, text);
    free(text);
    char stats[16];
    snprintf(stats, sizeof(stats), "%d", p->stats_port);
    const char *argv[] = { "nutcracker", "-c", p->conf, "-o", p->log, "-s", stats,
                           "-a", HARNESS_IP, NULL };
    p->argv = argv_dup(argv);
    return ok;
}

struct cmd_arg {
    const char *const *argv;
};

static bool prepare_cmd(struct hproc *p, const void *arg)
{
    const struct cmd_arg *a = arg;
    if (!a->argv || !a->argv[0]) {
        fprintf(stderr, "harness: empty command\n");
        return false;
    }
    if (!set_exe(p, a->argv[0]))
        return false;
    p->argv = argv_dup(a->argv);
    p->log = xstrdup(p->out);
    return true;
}

struct hproc *harness_start_redis(struct harness *h, int port, const char *extra_conf)
{
    return start_daemon(h, HPROC_REDIS, "redis", port, prepare_redis, extra_conf);
}

struct hproc *harness_start_sentinel(struct harness *h, int port, const char *extra_conf)
{
    return start_daemon(h, HPROC_SENTINEL, "sentinel", port, prepare_redis, extra_conf);
}

struct hproc *harness_start_nutcracker(struct harness *h, int listen_port, int stats_port,
                                       const char *pool_yaml_body)
{
    struct nc_arg a = { stats_port, pool_yaml_body, NULL };
    return start_daemon(h, HPROC_NUTCRACKER, "nutcracker", listen_port, prepare_nutcracker, &a);
}

struct hproc *harness_start_nutcracker_conf(struct harness *h, int listen_port, int stats_port,
                                            const char *conf_yaml)
{
    if (listen_port <= 0 || !conf_yaml) {
        fprintf(stderr, "harness: nutcracker needs its listen port and a configuration\n");
        return NULL;
    }
    struct nc_arg a = { stats_port, NULL, conf_yaml };
    return start_daemon(h, HPROC_NUTCRACKER, "nutcracker", listen_port, prepare_nutcracker, &a);
}

struct hproc *harness_start_cmd(struct harness *h, const char *label, const char *const argv[],
                                int port)
{
    struct cmd_arg a = { argv };
    if (port < 0)
        port = 0;
    /* port 0 means "no readiness port" here, not "pick one" */
    struct hproc *p = proc_new(h, HPROC_OTHER, label ? label : "cmd", port);
    if (!p)
        return NULL;
    if (!prepare_cmd(p, &a)) {
        hpriv_hproc_free(p);
        return NULL;
    }
    procs_add(h, p);
    if (ports_taken(p, false) || !proc_spawn(p) || !proc_wait_ready(p, false, NULL))
        return NULL;
    return p;
}

pid_t hproc_pid(const struct hproc *p) { return p ? p->pid : 0; }
int hproc_port(const struct hproc *p) { return p ? p->port : 0; }
int hproc_stats_port(const struct hproc *p) { return p ? p->stats_port : 0; }
enum hproc_kind hproc_kind(const struct hproc *p) { return p->kind; }
const char *hproc_dir(const struct hproc *p) { return p ? p->dir : NULL; }
const char *hproc_conf(const struct hproc *p) { return p ? p->conf : NULL; }
const char *hproc_pidfile(const struct hproc *p) { return p ? p->pidfile : NULL; }
const char *hproc_log(const struct hproc *p) { return p ? p->log : NULL; }

bool hproc_alive(const struct hproc *p)
{
    if (!p || p->pid <= 0)
        return false;
    struct htrack *t = hpriv_track_find(p->h, p->pid);
    return t && t->start == p->start && !hpriv_tracked_gone(t);
}

int harness_stop(struct harness *h, struct hproc *p)
{
    if (!p || p->pid <= 0)
        return 0;
    struct htrack *t = hpriv_track_find(h, p->pid);
    int rc = 0;
    if (t && t->start == p->start) {
        rc = hpriv_stop_one(t);
        if (rc < 0)
            fprintf(stderr, "harness: %s pid %d survived SIGKILL\n", p->label, (int)p->pid);
    }
    if (rc == 0) {
        if (hpriv_verbose)
            fprintf(stderr, "harness: stopped %s pid %d\n", p->label, (int)p->pid);
        p->pid = 0;
    }
    return rc;
}

int harness_signal(struct harness *h, struct hproc *p, int sig)
{
    if (!p || p->pid <= 0)
        return -1;
    struct htrack *t = hpriv_track_find(h, p->pid);
    if (!t || t->start != p->start)
        return -1;
    if (hpriv_tracked_gone(t) || kill(t->pid, sig) < 0)
        return -1;
    return 0;
}

int harness_restart(struct harness *h, struct hproc *p)
{
    if (!p || harness_stop(h, p) < 0)
        return -1;
    if (ports_taken(p, false) || !proc_spawn(p))
        return -1;
    return proc_wait_ready(p, false, NULL) ? 0 : -1;
}

/* ============================ running programs =========================== */

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Read what is available on *fd into sb; closes it at EOF. */
static void drain(int *fd, struct strbuf *sb)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(*fd, buf, sizeof(buf));
        if (n > 0) {
            sb_addn(sb, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            close(*fd);
            *fd = -1;
        }
        return;
    }
}

int harness_run_ex(const char *const argv[], const char *input, const char *cwd,
                   long timeout_ms, char **out, char **err, int *status)
{
    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    if (status)
        *status = -1;
    if (!argv || !argv[0])
        return -1;
    if (timeout_ms <= 0)
        timeout_ms = RUN_TIMEOUT_MS;
    char *exe = find_exe(argv[0]);
    if (!exe) {
        fprintf(stderr, "harness: '%s' not found\n", argv[0]);
        return -1;
    }
    int po[2], pe[2], pi[2] = { -1, -1 };
    if (pipe2(po, O_CLOEXEC) < 0) {
        free(exe);
        return -1;
    }
    if (pipe2(pe, O_CLOEXEC) < 0) {
        close(po[0]), close(po[1]);
        free(exe);
        return -1;
    }
    if (input && pipe2(pi, O_CLOEXEC) < 0) {
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        free(exe);
        return -1;
    }
    /* a program that closes stdin early must not kill us with SIGPIPE */
    struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old_pipe);

    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        child_setup(parent, pi[0], po[1], pe[1], cwd);
        execv(exe, (char *const *)argv);
        dprintf(2, "harness: cannot run '%s': %s\n", exe, strerror(errno));
        _exit(127);
    }
    free(exe);
    close(po[1]);
    close(pe[1]);
    if (pi[0] >= 0)
        close(pi[0]);
    if (pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(errno));
        close(po[0]), close(pe[0]);
        if (pi[1] >= 0)
            close(pi[1]);
        sigaction(SIGPIPE, &old_pipe, NULL);
        return -1;
    }
    set_nonblock(po[0]);
    set_nonblock(pe[0]);
    if (pi[1] >= 0)
        set_nonblock(pi[1]);

    struct strbuf sbo = { 0 }, sbe = { 0 };
    size_t in_len = input ? strlen(input) : 0, in_off = 0;
    int fo = po[0], fe = pe[0], fi = pi[1];
    if (fi >= 0 && in_len == 0) {
        close(fi);
        fi = -1;
    }
    long long deadline = hpriv_mono_ms() + timeout_ms;
    int wstatus = 0;
    bool exited = false, timed_out = false;
    while (!exited) {
        struct pollfd pf[3];
        int n = 0;
        if (fo >= 0)
            pf[n++] = (struct pollfd){ .fd = fo, .events = POLLIN };
        if (fe >= 0)
            pf[n++] = (struct pollfd){ .fd = fe, .events = POLLIN };
        if (fi >= 0)
            pf[n++] = (struct pollfd){ .fd = fi, .events = POLLOUT };
        /* wake up regularly to notice the exit of a program whose pipes a daemon holds */
        poll(pf, (nfds_t)n, 20);
        if (fo >= 0)
            drain(&fo, &sbo);
        if (fe >= 0)
            drain(&fe, &sbe);
        if (fi >= 0) {
            ssize_t w = write(fi, input + in_off, in_len - in_off);
            if (w > 0)
                in_off += (size_t)w;
            if (in_off >= in_len || (w < 0 && errno != EAGAIN && errno != EINTR)) {
                close(fi);
                fi = -1;
            }
        }
        pid_t r = waitpid(pid, &wstatus, WNOHANG);
        if (r == pid) {
            exited = true;
        } else if (hpriv_mono_ms() >= deadline) {
            fprintf(stderr, "harness: '%s' still runs after %ld ms: killed\n", argv[0],
                    timeout_ms);
            kill(pid, SIGKILL);
            while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
            }
            exited = timed_out = true;
        }
    }
    /* what the program wrote before it exited is in the pipes: take it */
    if (fo >= 0)
        drain(&fo, &sbo);
    if (fe >= 0)
        drain(&fe, &sbe);
    if (fo >= 0)
        close(fo);
    if (fe >= 0)
        close(fe);
    if (fi >= 0)
        close(fi);
    sigaction(SIGPIPE, &old_pipe, NULL);

    if (out)
        *out = sbo.buf ? sb_detach(&sbo) : xstrdup("");
    if (err)
        *err = sbe.buf ? sb_detach(&sbe) : xstrdup("");
    sb_release(&sbo);
    sb_release(&sbe);
    if (status)
        *status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus)
                  : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : -1;
    return timed_out ? -1 : 0;
}

int harness_run(const char *const argv[], char **out, char **err, int *status)
{
    return harness_run_ex(argv, NULL, NULL, 0, out, err, status);
}
