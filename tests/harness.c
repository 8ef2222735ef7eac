/*
 * harness.c - real daemons on loopback for integration tests (see harness.h):
 * the tracking of processes (pid + start time), cleanup at exit and on fatal
 * signals, the harness directory, free ports, waiting, and processes started
 * by others. Starting and stopping the daemons it runs is in harness_proc.c,
 * talking to redis in harness_redis.c; harness_internal.h is what they share.
 *
 * The parts that run in a signal handler (hpriv_proc_stat, hpriv_tracked_gone,
 * the term/wait/kill loop, removing directories) use only pre-recorded data and
 * async-signal-safe calls: open/read/close, kill, waitpid, nanosleep, fork,
 * execve, write. Everything else is ordinary code.
 */
#include "harness.h"
#include "harness_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define HARNESS_MAX 16        /* harnesses alive at once */

/* ================================ state ================================== */

static struct harness *volatile g_harness[HARNESS_MAX];
static bool g_handlers_installed;
static bool g_keep;
bool hpriv_verbose;
static unsigned char g_ports_used[65536 / 8];

/* HARNESS_READY_TIMEOUT_MS, or the environment's override (slow machines). */
long hpriv_ready_timeout_ms(void)
{
    static long ms;
    if (ms == 0) {
        const char *e = getenv("HARNESS_READY_TIMEOUT_MS");
        if (!e || !parse_long(e, 1, 3600 * 1000L, &ms))
            ms = HARNESS_READY_TIMEOUT_MS;
    }
    return ms;
}

/* ======================= async-signal-safe helpers ======================= */

static void safe_write(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void safe_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

long long hpriv_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe per POSIX */
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Read the state letter, start time and (threads may be NULL) thread count of
 * pid from /proc/PID/stat. False when the process does not exist (errno ENOENT
 * or ESRCH) or /proc cannot be read (other errno).
 */
bool hpriv_proc_stat(pid_t pid, char *state, unsigned long long *start, long *threads)
{
    char path[32] = "/proc/", digits[16];
    int nd = 0;
    unsigned long v = (unsigned long)pid;
    do {
        digits[nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && nd < (int)sizeof(digits));
    size_t len = 6;
    while (nd > 0)
        path[len++] = digits[--nd];
    memcpy(path + len, "/stat", 6);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* the command name may hold spaces and ')': fields start after the last ')' */
    char *p = NULL;
    for (ssize_t i = n - 1; i >= 0; i--)
        if (buf[i] == ')') {
            p = buf + i + 1;
            break;
        }
    if (!p || p[0] != ' ' || !p[1])
        return false;
    p++;
    *state = *p;
    /* the state is field 3, num_threads field 20, the start time field 22 */
    for (int field = 3; field < 22; field++) {
        while (*p && *p != ' ')
            p++;
        if (!*p)
            return false;
        p++;
        if (field + 1 == 20 && threads) {
            long t = 0;
            for (const char *q = p; *q >= '0' && *q <= '9'; q++)
                t = t * 10 + (*q - '0');
            *threads = t;
        }
    }
    unsigned long long s = 0;
    while (*p >= '0' && *p <= '9')
        s = s * 10 + (unsigned long long)(*p++ - '0');
    *start = s;
    return true;
}

/*
 * True when a process in state `state` with `threads` threads has finished
 * exiting. A zombie thread-group leader is not enough: its other threads
 * still hold the process' files (a listening socket stays open) until the
 * last one is gone, so a restart on the same port would find it taken.
 */
static bool proc_dead(char state, long threads)
{
    return (state == 'Z' || state == 'X' || state == 'x') && threads <= 1;
}

/* True when the tracked process no longer runs; frees its slot then. */
bool hpriv_tracked_gone(struct htrack *t)
{
    pid_t pid = t->pid;
    if (pid <= 0)
        return true;
    if (t->child) {
        /* a child is reapable only once all its threads are gone */
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            t->pid = 0;
            return true;
        }
    }
    char state;
    unsigned long long start;
    long threads = 1;
    errno = 0;
    if (!hpriv_proc_stat(pid, &state, &start, &threads)) {
        /* cannot look (EMFILE...): an unreaped child still holds its pid */
        if (t->child && errno != ENOENT && errno != ESRCH && errno != 0)
            return false;
        t->pid = 0;
        return true;
    }
    if (start != t->start) {
        t->pid = 0;
        return true;
    }
    if (proc_dead(state, threads)) {
        /* it exited since the waitpid above: gone once reaped (next poll) */
        if (t->child && waitpid(pid, NULL, WNOHANG) != pid)
            return false;
        t->pid = 0;
        return true;
    }
    return false;
}

/* Send sig to a tracked process only if it is still the one we recorded. */
static bool tracked_kill(struct htrack *t, int sig)
{
    if (hpriv_tracked_gone(t))
        return false;
    if (kill(t->pid, sig) < 0)
        return false;
    if (sig == SIGTERM)
        kill(t->pid, SIGCONT); /* a stopped process cannot act on TERM */
    return true;
}

/*
 * TERM every process in v, wait up to wait_ms for all to be gone, KILL the
 * rest and wait once more. Returns the number still alive at the end.
 */
static int stop_tracked(struct htrack *const *v, size_t n, long wait_ms)
{
    for (size_t i = 0; i < n; i++)
        tracked_kill(v[i], SIGTERM);
    for (int round = 0; round < 2; round++) {
        long long deadline = hpriv_mono_ms() + wait_ms;
        for (;;) {
            size_t alive = 0;
            for (size_t i = 0; i < n; i++)
                if (!hpriv_tracked_gone(v[i]))
                    alive++;
            if (alive == 0)
                return 0;
            if (hpriv_mono_ms() >= deadline)
                break;
            safe_sleep_ms(10);
        }
        if (round == 0)
            for (size_t i = 0; i < n; i++)
                tracked_kill(v[i], SIGKILL);
        wait_ms = 2000;
    }
    int left = 0;
    for (size_t i = 0; i < n; i++)
        if (!hpriv_tracked_gone(v[i]))
            left++;
    return left;
}

/* rm -rf a harness directory from a signal handler: fork + execve. */
static void safe_remove_dir(struct harness *h)
{
    pid_t pid = fork();
    if (pid == 0) {
        char *envp[] = { NULL };
        execve("/bin/rm", h->rm_argv, envp);
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
}

static void on_fatal_signal(int sig)
{
    static volatile sig_atomic_t busy;
    static struct htrack *all[HARNESS_MAX * TRACK_MAX];
    if (busy) /* a second fatal signal while cleaning: give up */
        _exit(128 + sig);
    busy = 1;
    int saved_errno = errno;

    safe_write("harness: fatal signal, stopping the processes of the test\n");
    size_t n = 0;
    pid_t self = getpid();
    for (int i = 0; i < HARNESS_MAX; i++) {
        struct harness *h = g_harness[i];
        if (!h || h->owner != self) /* a forked child owns nothing */
            continue;
        for (int j = 0; j < TRACK_MAX; j++)
            if (h->tracked[j].pid > 0)
                all[n++] = &h->tracked[j];
    }
    stop_tracked(all, n, STOP_WAIT_MS);
    for (int i = 0; i < HARNESS_MAX; i++) {
        struct harness *h = g_harness[i];
        if (!h || h->owner != self)
            continue;
        if (g_keep) {
            safe_write("harness: kept ");
            safe_write(h->dir);
            safe_write("\n");
        } else {
            safe_remove_dir(h);
        }
    }
    errno = saved_errno;
    /* re-raise with the default action so the exit status tells what happened */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    raise(sig);
}

static const int fatal_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT,
                                     SIGSEGV, SIGBUS, SIGFPE, SIGILL };

/* ============================== registry ================================= */

static void cleanup_all_at_exit(void)
{
    for (int i = 0; i < HARNESS_MAX; i++)
        if (g_harness[i])
            harness_cleanup(g_harness[i]);
}

static void install_handlers(void)
{
    if (g_handlers_installed)
        return;
    g_handlers_installed = true;
    const char *k = getenv("HARNESS_KEEP");
    g_keep = k && *k && strcmp(k, "0") != 0;
    const char *v = getenv("HARNESS_VERBOSE");
    hpriv_verbose = v && *v && strcmp(v, "0") != 0;

    /* an alternate stack, so that a stack overflow still gets cleaned up */
    static char altstack[64 * 1024];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0 };
    sigaltstack(&ss, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_ONSTACK;
    sigfillset(&sa.sa_mask); /* one handler at a time */
    for (size_t i = 0; i < ARRAY_SIZE(fatal_signals); i++) {
        struct sigaction old;
        /* keep an ignored SIGHUP/SIGINT ignored (nohup, background jobs) */
        if (sigaction(fatal_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN &&
            (fatal_signals[i] == SIGHUP || fatal_signals[i] == SIGINT))
            continue;
        sigaction(fatal_signals[i], &sa, NULL);
    }
    atexit(cleanup_all_at_exit);
}

/* Record pid in h; false when the table is full. */
bool hpriv_track_add(struct harness *h, pid_t pid, unsigned long long start, bool child)
{
    for (int i = 0; i < TRACK_MAX; i++)
        if (h->tracked[i].pid == pid && h->tracked[i].start == start)
            return true;
    for (int i = 0; i < TRACK_MAX; i++) {
        struct htrack *t = &h->tracked[i];
        if (t->pid == 0) {
            t->start = start;
            t->child = child;
            t->pid = pid; /* last: the signal path reads pid first */
            return true;
        }
    }
    fprintf(stderr, "harness: more than %d tracked processes\n", TRACK_MAX);
    return false;
}

struct htrack *hpriv_track_find(struct harness *h, pid_t pid)
{
    for (int i = 0; i < TRACK_MAX; i++)
        if (pid > 0 && h->tracked[i].pid == pid)
            return &h->tracked[i];
    return NULL;
}

/* ============================== lifecycle ================================ */

struct harness *harness_new(const char *name)
{
    install_handlers();
    struct harness *h = xcalloc(1, sizeof(*h));
    h->owner = getpid();
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    int n = snprintf(h->dir, sizeof(h->dir), "%s/rmgr-%s-XXXXXX", tmp, name ? name : "test");
    if (n < 0 || (size_t)n >= sizeof(h->dir) || !mkdtemp(h->dir)) {
        fprintf(stderr, "harness: cannot create a directory under '%s': %s\n", tmp,
                strerror(errno));
        free(h);
        exit(2);
    }
    /* mkdtemp under a relative TMPDIR gives a relative path: make it absolute */
    if (h->dir[0] != '/') {
        char *abs = realpath(h->dir, NULL);
        if (abs && strlen(abs) < sizeof(h->dir))
            memcpy(h->dir, abs, strlen(abs) + 1);
        free(abs);
    }
    h->rm_argv[0] = "rm";
    h->rm_argv[1] = "-rf";
    h->rm_argv[2] = h->dir;
    h->rm_argv[3] = NULL;

    int slot = -1;
    for (int i = 0; i < HARNESS_MAX && slot < 0; i++)
        if (!g_harness[i])
            slot = i;
    if (slot < 0) {
        fprintf(stderr, "harness: more than %d harnesses at once\n", HARNESS_MAX);
        rmdir(h->dir);
        free(h);
        exit(2);
    }
    g_harness[slot] = h;
    if (hpriv_verbose)
        fprintf(stderr, "harness: directory %s\n", h->dir);
    return h;
}

const char *harness_dir(const struct harness *h)
{
    return h->dir;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void hpriv_hproc_free(struct hproc *p)
{
    if (!p)
        return;
    free(p->label);
    free(p->dir);
    free(p->conf);
    free(p->pidfile);
    free(p->log);
    free(p->out);
    free(p->exe);
    if (p->argv)
        for (char **a = p->argv; *a; a++)
            free(*a);
    free(p->argv);
    free(p);
}

void harness_cleanup(struct harness *h)
{
    if (!h)
        return;
    /* a forked child that exits must not stop its parent's processes */
    bool owner = h->owner == getpid();
    struct htrack *v[TRACK_MAX] = { 0 };
    size_t n = 0;
    for (int i = 0; i < TRACK_MAX && owner; i++)
        if (h->tracked[i].pid > 0)
            v[n++] = &h->tracked[i];
    int left = stop_tracked(v, n, STOP_WAIT_MS);
    if (left > 0)
        fprintf(stderr, "harness: %d processes survived SIGKILL\n", left);
    if (hpriv_verbose && n > 0)
        fprintf(stderr, "harness: stopped %zu processes\n", n);

    for (int i = 0; i < HARNESS_MAX; i++)
        if (g_harness[i] == h)
            g_harness[i] = NULL;

    if (owner && g_keep)
        fprintf(stderr, "harness: kept %s\n", h->dir);
    else if (owner)
        nftw(h->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

    for (size_t i = 0; i < h->nprocs; i++)
        hpriv_hproc_free(h->procs[i]);
    free(h->procs);
    free(h);
}

/* ================================ ports ================================== */

int harness_free_port(void)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            fprintf(stderr, "harness: socket: %s\n", strerror(errno));
            return -1;
        }
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(sa);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
            fprintf(stderr, "harness: cannot bind a free port: %s\n", strerror(errno));
            close(fd);
            return -1;
        }
        close(fd);
        int port = ntohs(sa.sin_port);
        if (g_ports_used[port / 8] & (1u << (port % 8)))
            continue;
        g_ports_used[port / 8] |= (unsigned char)(1u << (port % 8));
        return port;
    }
    fprintf(stderr, "harness: no unused free port found\n");
    return -1;
}

/* ================================ waiting ================================ */

void harness_sleep_ms(long ms)
{
    if (ms > 0)
        safe_sleep_ms(ms);
}

bool harness_wait_until(bool (*cond)(void *arg), void *arg, long timeout_ms, long every_ms)
{
    if (every_ms <= 0)
        every_ms = POLL_MS;
    long long deadline = hpriv_mono_ms() + timeout_ms;
    for (;;) {
        if (cond(arg))
            return true;
        long long left = deadline - hpriv_mono_ms();
        if (left <= 0)
            return false;
        safe_sleep_ms(left < every_ms ? (long)left : every_ms);
    }
}

/* =============================== processes =============================== */

bool harness_pid_alive(pid_t pid)
{
    if (pid <= 0)
        return false;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid)
        return false;
    char state;
    unsigned long long start;
    long threads = 1;
    return hpriv_proc_stat(pid, &state, &start, &threads) && !proc_dead(state, threads);
}


/* Stop one tracked slot; 0 gone, -1 survived. */
int hpriv_stop_one(struct htrack *t)
{
    struct htrack *v[1] = { t };
    return stop_tracked(v, 1, STOP_WAIT_MS) == 0 ? 0 : -1;
}

/* ====================== processes started by others ====================== */

/* True when expect occurs in the command line, comm or exe path of pid. */
static bool proc_matches(pid_t pid, const char *expect)
{
    if (!expect || !*expect)
        return true;
    char path[64], *buf = NULL;
    size_t len = 0;
    bool found = false;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    if (read_file(path, 1 << 20, &buf, &len) == 0) {
        for (size_t i = 0; i < len; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        found = strstr(buf, expect) != NULL;
    }
    free(buf);
    buf = NULL;
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    if (!found && read_file(path, 4096, &buf, &len) == 0)
        found = strstr(buf, expect) != NULL;
    free(buf);
    char exe[PATH_MAX];
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, exe, sizeof(exe) - 1);
    if (!found && n > 0) {
        exe[n] = '\0';
        found = strstr(exe, expect) != NULL;
    }
    return found;
}

int harness_track_pid(struct harness *h, pid_t pid, const char *expect)
{
    char state;
    unsigned long long start;
    if (pid <= 0 || !hpriv_proc_stat(pid, &state, &start, NULL) || state == 'Z' || state == 'X') {
        fprintf(stderr, "harness: pid %d is not running\n", (int)pid);
        return -1;
    }
    if (!proc_matches(pid, expect)) {
        fprintf(stderr, "harness: pid %d is not '%s'\n", (int)pid, expect);
        return -1;
    }
    /* is it our child (then we must reap it)? */
    char *buf = NULL;
    size_t len = 0;
    char path[64];
    bool child = false;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_file(path, 4096, &buf, &len) == 0) {
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        if (rp && sscanf(rp + 1, " %*c %d", &ppid) == 1)
            child = ppid == (int)getpid();
    }
    free(buf);
    if (!hpriv_track_add(h, pid, start, child))
        return -1;
    if (hpriv_verbose)
        fprintf(stderr, "harness: tracking pid %d (%s)\n", (int)pid, expect ? expect : "");
    return 0;
}

struct pidfile_arg {
    const char *pidfile, *expect;
    pid_t pid;
};

static bool pidfile_cond(void *arg)
{
    struct pidfile_arg *a = arg;
    char *buf = NULL;
    size_t len = 0;
    long pid = 0;
    if (read_file(a->pidfile, 4096, &buf, &len) == 0) {
        char *nl = strchr(buf, '\n');
        if (nl)
            *nl = '\0';
        if (!parse_long(buf, 1, INT_MAX, &pid))
            pid = 0;
    }
    free(buf);
    if (pid <= 0 || !harness_pid_alive((pid_t)pid) || !proc_matches((pid_t)pid, a->expect))
        return false;
    a->pid = (pid_t)pid;
    return true;
}

pid_t harness_track_pidfile(struct harness *h, const char *pidfile, const char *expect)
{
    struct pidfile_arg a = { pidfile, expect, 0 };
    if (!harness_wait_until(pidfile_cond, &a, hpriv_ready_timeout_ms(), POLL_MS)) {
        fprintf(stderr, "harness: '%s' names no running '%s'\n", pidfile, expect ? expect : "");
        return -1;
    }
    return harness_track_pid(h, a.pid, expect) == 0 ? a.pid : -1;
}

int harness_stop_pid(struct harness *h, pid_t pid)
{
    struct htrack *t = hpriv_track_find(h, pid);
    if (!t) {
        fprintf(stderr, "harness: pid %d is not tracked\n", (int)pid);
        return -1;
    }
    int rc = hpriv_stop_one(t);
    if (rc < 0)
        fprintf(stderr, "harness: pid %d survived SIGKILL\n", (int)pid);
    /* keep hproc handles honest when a started process was stopped by pid */
    for (size_t i = 0; rc == 0 && i < h->nprocs; i++)
        if (h->procs[i]->pid == pid)
            h->procs[i]->pid = 0;
    return rc;
}
