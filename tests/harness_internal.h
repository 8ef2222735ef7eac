/*
 * harness_internal.h - what harness.c, harness_proc.c and harness_redis.c share:
 * the harness and its processes, and the few functions one of them calls in
 * another (prefixed hpriv_). Not for tests: they use harness.h.
 */
#ifndef RMGR_HARNESS_INTERNAL_H
#define RMGR_HARNESS_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "harness.h"

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

/* ============================ shared functions =========================== */

extern bool hpriv_verbose;      /* HARNESS_VERBOSE=1: each start/stop on stderr */

/* harness.c */
long hpriv_ready_timeout_ms(void);  /* HARNESS_READY_TIMEOUT_MS or its override */
long long hpriv_mono_ms(void);
bool hpriv_proc_stat(pid_t pid, char *state, unsigned long long *start, long *threads);
bool hpriv_track_add(struct harness *h, pid_t pid, unsigned long long start, bool child);
struct htrack *hpriv_track_find(struct harness *h, pid_t pid);
bool hpriv_tracked_gone(struct htrack *t);
int hpriv_stop_one(struct htrack *t);
void hpriv_hproc_free(struct hproc *p);

/* harness_redis.c */
bool hpriv_port_open(const char *ip, int port);
int hpriv_ping_once(const char *ip, int port);
int hpriv_ping_owner(const char *ip, int port, pid_t pid);

#endif
