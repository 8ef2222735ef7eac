/*
 * harness.c - real daemons on loopback for integration tests (see harness.h).
 *
 * The parts that run in a signal handler (proc_stat, tracked_gone, the
 * term/wait/kill loop, removing directories) use only pre-recorded data and
 * async-signal-safe calls: open/read/close, kill, waitpid, nanosleep, fork,
 * execve, write. Everything else is ordinary code.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>

#include "util.h"

#define HARNESS_MAX 16        /* harnesses alive at once */
#define TRACK_MAX 256         /* tracked pids per harness */
#define DIR_MAX 512           /* harness directory path length */
#define STOP_WAIT_MS 5000     /* TERM -> KILL grace */
#define RUN_TIMEOUT_MS 60000  /* harness_run default */
#define POLL_MS 50

/* ================================ types ================================== */

/* A pid we may signal: valid while /proc/PID/stat shows the same start time. */
struct htrack {
    volatile pid_t pid;           /* 0: free slot */
    unsigned long long start;     /* /proc/PID/stat field 22 */
    bool child;                   /* ours to reap with waitpid */
};

struct hproc {
    struct harness *h;
    enum hproc_kind kind;
    pid_t pid;                    /* 0 once stopped */
    unsigned long long start;
    int port, stats_port;
    bool auto_port;               /* port was picked by the harness */
    bool write_pidfile;           /* the program writes none itself */
    char *label;                  /* "redis", "sentinel", ... */
    char *dir, *conf, *pidfile, *log, *out;
    char *exe;                    /* resolved argv[0] */
    char **argv;                  /* NULL-terminated, owned */
};

struct harness {
    pid_t owner;                  /* the process that created it */
    char dir[DIR_MAX];
    char *rm_argv[4];             /* prepared for the signal path */
    struct htrack tracked[TRACK_MAX];
    struct hproc **procs;
    size_t nprocs, procs_cap;
};

static struct harness *volatile g_harness[HARNESS_MAX];
static bool g_handlers_installed;
static bool g_keep, g_verbose;
static unsigned char g_ports_used[65536 / 8];

/* HARNESS_READY_TIMEOUT_MS, or the environment's override (slow machines). */
static long ready_timeout_ms(void)
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

static long long mono_ms(void)
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
static bool proc_stat(pid_t pid, char *state, unsigned long long *start, long *threads)
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
static bool tracked_gone(struct htrack *t)
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
    if (!proc_stat(pid, &state, &start, &threads)) {
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
    if (tracked_gone(t))
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
        long long deadline = mono_ms() + wait_ms;
        for (;;) {
            size_t alive = 0;
            for (size_t i = 0; i < n; i++)
                if (!tracked_gone(v[i]))
                    alive++;
            if (alive == 0)
                return 0;
            if (mono_ms() >= deadline)
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
        if (!tracked_gone(v[i]))
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
    g_verbose = v && *v && strcmp(v, "0") != 0;

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
static bool track_add(struct harness *h, pid_t pid, unsigned long long start, bool child)
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

static struct htrack *track_find(struct harness *h, pid_t pid)
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
    if (g_verbose)
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

static void hproc_free(struct hproc *p)
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
    if (g_verbose && n > 0)
        fprintf(stderr, "harness: stopped %zu processes\n", n);

    for (int i = 0; i < HARNESS_MAX; i++)
        if (g_harness[i] == h)
            g_harness[i] = NULL;

    if (owner && g_keep)
        fprintf(stderr, "harness: kept %s\n", h->dir);
    else if (owner)
        nftw(h->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

    for (size_t i = 0; i < h->nprocs; i++)
        hproc_free(h->procs[i]);
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
    long long deadline = mono_ms() + timeout_ms;
    for (;;) {
        if (cond(arg))
            return true;
        long long left = deadline - mono_ms();
        if (left <= 0)
            return false;
        safe_sleep_ms(left < every_ms ? (long)left : every_ms);
    }
}

static redisContext *connect_ms(const char *ip, int port, long ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    redisContext *c = redisConnectWithTimeout(ip, port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c)
        redisSetTimeout(c, (struct timeval){ 5, 0 });
    return c;
}

/* One PING: 1 alive, 0 not (yet). */
static int ping_once(const char *ip, int port)
{
    redisContext *c = connect_ms(ip, port, 500);
    if (!c)
        return 0;
    redisSetTimeout(c, (struct timeval){ 1, 0 });
    redisReply *r = redisCommand(c, "PING");
    int alive = r && !(r->type == REDIS_REPLY_ERROR && r->str &&
                       strncmp(r->str, "LOADING", 7) == 0);
    freeReplyObject(r);
    redisFree(c);
    return alive;
}

/*
 * PING for readiness of the redis or sentinel with this pid: 1 ready, 0 not
 * yet. INFO server tells whose answer it is, so a server that already held
 * the port is not mistaken for ours (unless a password hides it).
 */
static int ping_owner(const char *ip, int port, pid_t pid)
{
    redisContext *c = connect_ms(ip, port, 500);
    if (!c)
        return 0;
    redisSetTimeout(c, (struct timeval){ 1, 0 });
    int ready = 0;
    redisReply *r = redisCommand(c, "PING");
    if (r && r->type == REDIS_REPLY_ERROR)
        ready = strncmp(r->str, "LOADING", 7) != 0;
    else if (r) {
        freeReplyObject(r);
        r = redisCommand(c, "INFO server");
        if (r && r->type == REDIS_REPLY_STRING) {
            const char *id = strstr(r->str, "process_id:");
            ready = id && strtol(id + 11, NULL, 10) == (long)pid;
        }
    }
    freeReplyObject(r);
    redisFree(c);
    return ready;
}

static bool port_open(const char *ip, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    bool ok = inet_pton(AF_INET, ip, &sa.sin_addr) == 1 &&
              connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

struct addr_arg {
    const char *ip;
    int port;
};

static bool ping_cond(void *arg)
{
    struct addr_arg *a = arg;
    return ping_once(a->ip, a->port);
}

static bool port_cond(void *arg)
{
    struct addr_arg *a = arg;
    return port_open(a->ip, a->port);
}

bool harness_wait_ping(const char *ip, int port, long timeout_ms)
{
    struct addr_arg a = { ip, port };
    return harness_wait_until(ping_cond, &a,
                              timeout_ms > 0 ? timeout_ms : ready_timeout_ms(), POLL_MS);
}

bool harness_wait_port(const char *ip, int port, long timeout_ms)
{
    struct addr_arg a = { ip, port };
    return harness_wait_until(port_cond, &a,
                              timeout_ms > 0 ? timeout_ms : ready_timeout_ms(), POLL_MS);
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
    return proc_stat(pid, &state, &start, &threads) && !proc_dead(state, threads);
}

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
        if (ports[i] > 0 && port_open(HARNESS_IP, ports[i])) {
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
    proc_stat(pid, &state, &start, NULL);
    p->pid = pid;
    p->start = start;
    if (!track_add(p->h, pid, start, true)) {
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
    if (g_verbose)
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
    struct htrack *t = track_find(a->p->h, a->p->pid);
    if (!t || tracked_gone(t)) {
        a->exited = true;
        return true; /* stop waiting: it will never become ready */
    }
    if (a->p->kind == HPROC_OTHER)
        return a->p->port <= 0 || port_open(HARNESS_IP, a->p->port);
    if (a->p->kind == HPROC_NUTCRACKER)
        return ping_once(HARNESS_IP, a->p->port);
    return ping_owner(HARNESS_IP, a->p->port, a->p->pid);
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
        ok = harness_wait_until(ready_cond, &a, ready_timeout_ms(), POLL_MS) && !a.exited;
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
            hproc_free(p);
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
            hproc_free(p);
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
        hproc_free(p);
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
    struct htrack *t = track_find(p->h, p->pid);
    return t && t->start == p->start && !tracked_gone(t);
}

/* Stop one tracked slot; 0 gone, -1 survived. */
static int stop_one(struct htrack *t)
{
    struct htrack *v[1] = { t };
    return stop_tracked(v, 1, STOP_WAIT_MS) == 0 ? 0 : -1;
}

int harness_stop(struct harness *h, struct hproc *p)
{
    if (!p || p->pid <= 0)
        return 0;
    struct htrack *t = track_find(h, p->pid);
    int rc = 0;
    if (t && t->start == p->start) {
        rc = stop_one(t);
        if (rc < 0)
            fprintf(stderr, "harness: %s pid %d survived SIGKILL\n", p->label, (int)p->pid);
    }
    if (rc == 0) {
        if (g_verbose)
            fprintf(stderr, "harness: stopped %s pid %d\n", p->label, (int)p->pid);
        p->pid = 0;
    }
    return rc;
}

int harness_signal(struct harness *h, struct hproc *p, int sig)
{
    if (!p || p->pid <= 0)
        return -1;
    struct htrack *t = track_find(h, p->pid);
    if (!t || t->start != p->start)
        return -1;
    if (tracked_gone(t) || kill(t->pid, sig) < 0)
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
    if (pid <= 0 || !proc_stat(pid, &state, &start, NULL) || state == 'Z' || state == 'X') {
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
    if (!track_add(h, pid, start, child))
        return -1;
    if (g_verbose)
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
    if (!harness_wait_until(pidfile_cond, &a, ready_timeout_ms(), POLL_MS)) {
        fprintf(stderr, "harness: '%s' names no running '%s'\n", pidfile, expect ? expect : "");
        return -1;
    }
    return harness_track_pid(h, a.pid, expect) == 0 ? a.pid : -1;
}

int harness_stop_pid(struct harness *h, pid_t pid)
{
    struct htrack *t = track_find(h, pid);
    if (!t) {
        fprintf(stderr, "harness: pid %d is not tracked\n", (int)pid);
        return -1;
    }
    int rc = stop_one(t);
    if (rc < 0)
        fprintf(stderr, "harness: pid %d survived SIGKILL\n", (int)pid);
    /* keep hproc handles honest when a started process was stopped by pid */
    for (size_t i = 0; rc == 0 && i < h->nprocs; i++)
        if (h->procs[i]->pid == pid)
            h->procs[i]->pid = 0;
    return rc;
}

/* ============================ redis commands ============================= */

static void reply_text(struct strbuf *sb, const redisReply *r)
{
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        sb_addn(sb, r->str, r->len);
        break;
    case REDIS_REPLY_ERROR:
        sb_addc(sb, '-');
        sb_addn(sb, r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
        sb_addf(sb, "%lld", r->integer);
        break;
    case REDIS_REPLY_NIL:
        sb_add(sb, "(nil)");
        break;
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < r->elements; i++) {
            if (i > 0)
                sb_addc(sb, '\n');
            reply_text(sb, r->element[i]);
        }
        break;
    default:
        sb_add(sb, "(unknown reply)");
    }
}

char *harness_redis_cmd(const char *ip, int port, const char *password, const char *fmt, ...)
{
    redisContext *c = connect_ms(ip, port, 1000);
    if (!c) {
        fprintf(stderr, "harness: cannot connect to %s:%d\n", ip, port);
        return NULL;
    }
    if (password) {
        redisReply *a = redisCommand(c, "AUTH %s", password);
        bool ok = a && a->type != REDIS_REPLY_ERROR;
        freeReplyObject(a);
        if (!ok) {
            fprintf(stderr, "harness: authentication to %s:%d failed\n", ip, port);
            redisFree(c);
            return NULL;
        }
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    char *text = NULL;
    if (r) {
        struct strbuf sb = { 0 };
        reply_text(&sb, r);
        text = sb_detach(&sb);
        if (!text)
            text = xstrdup("");
        freeReplyObject(r);
    } else {
        fprintf(stderr, "harness: %s:%d: %s\n", ip, port, c->errstr);
    }
    redisFree(c);
    return text;
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
    long long deadline = mono_ms() + timeout_ms;
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
        } else if (mono_ms() >= deadline) {
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
