/*
 * agent_min.c - the baseline of the failover benches: the least a
 * sentinel -> twemproxy agent does (what redis-twemproxy-agent style tools
 * do), written for the bench.
 *
 *   agent_min --sentinel PORT --conf NUTCRACKER_YML --pidfile PIDFILE
 *             --proxy PORT [--password-env VAR]
 *
 * It runs next to the proxy (as such agents do), subscribes to
 * +switch-master on ONE sentinel (no quorum), and for each message
 * "<name> <old-ip> <old-port> <new-ip> <new-port>": replaces "old-ip:old-port:"
 * by "new-ip:new-port:" in the config (temp file + rename), reads the
 * running nutcracker's command line from /proc, SIGTERMs it, waits until it
 * is gone, starts the same command line again (nutcracker -d daemonizes) and
 * waits until the proxy answers PING. No config check, no lock, no
 * verification of the new master. Logs "agent: repointed NAME in X ms" per
 * message. Runs until killed. Everything on 127.0.0.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_time.h"

#define IP "127.0.0.1"

static void die(const char *msg)
{
    fprintf(stderr, "agent_min: %s\n", msg);
    exit(2);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* Replace every `from` by `to` in the config; temp file, fsync, rename. */
static int rewrite(const char *conf, const char *from, const char *to)
{
    char *text = slurp(conf, NULL);
    if (!text)
        return -1;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.agent", conf);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        free(text);
        return -1;
    }
    size_t fl = strlen(from);
    for (char *p = text, *hit; *p; p = hit + fl) {
        hit = strstr(p, from);
        if (!hit) {
            fputs(p, f);
            break;
        }
        fwrite(p, 1, (size_t)(hit - p), f);
        fputs(to, f);
    }
    free(text);
    fflush(f);
    fsync(fd);
    fclose(f);
    return rename(tmp, conf);
}

static bool answers(int port, const char *password)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout(IP, port, tv);
    bool ok = false;
    if (c && !c->err) {
        redisSetTimeout(c, tv);
        redisReply *r = password ? redisCommand(c, "AUTH %s", password) : NULL;
        freeReplyObject(r);
        r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
    }
    redisFree(c);
    return ok;
}

/* Restart the nutcracker of pidfile with the command line it runs with. */
static int restart(const char *pidfile, int proxy_port, const char *password)
{
    char *p = slurp(pidfile, NULL);
    int pid = p ? atoi(p) : 0;
    free(p);
    if (pid <= 1)
        return -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    size_t len;
    char *cmdline = slurp(path, &len);
    if (!cmdline || len == 0) {
        free(cmdline);
        return -1;
    }
    char *argv[64];
    int argc = 0;
    for (size_t i = 0; i < len && argc < 63; i += strlen(cmdline + i) + 1)
        argv[argc++] = cmdline + i;
    argv[argc] = NULL;
    kill(pid, SIGTERM);
    for (;;) { /* gone: no /proc entry, or a zombie */
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        char *s = slurp(path, NULL);
        bool gone = !s || (strrchr(s, ')') && strrchr(s, ')')[2] == 'Z');
        free(s);
        if (gone)
            break;
        sleep_us(200);
    }
    pid_t child = fork();
    if (child == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    if (child > 0)
        waitpid(child, &status, 0); /* -d: the parent exits once daemonized */
    free(cmdline);
    double give_up = now_ms() + 5000;
    while (!answers(proxy_port, password))
        if (now_ms() > give_up)
            return -1;
        else
            sleep_us(250);
    return 0;
}

int main(int argc, char **argv)
{
    int sentinel = 0, proxy = 0;
    const char *conf = NULL, *pidfile = NULL, *password = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--sentinel"))
            sentinel = atoi(v);
        else if (!strcmp(a, "--proxy"))
            proxy = atoi(v);
        else if (!strcmp(a, "--conf"))
            conf = v;
        else if (!strcmp(a, "--pidfile"))
            pidfile = v;
        else if (!strcmp(a, "--password-env"))
            password = getenv(v);
        else
            die("unknown option");
    }
    if (!sentinel || !proxy || !conf || !pidfile)
        die("usage: agent_min --sentinel PORT --conf PATH --pidfile PATH --proxy PORT "
            "[--password-env VAR]");
    signal(SIGCHLD, SIG_DFL);
    for (;;) {
        redisContext *c = redisConnect(IP, sentinel);
        /* rmgr gives the sentinels the cluster's password (one without says so: fine) */
        redisReply *r = c && !c->err && password ? redisCommand(c, "AUTH %s", password) : NULL;
        freeReplyObject(r);
        r = c && !c->err ? redisCommand(c, "SUBSCRIBE +switch-master") : NULL;
        if (!r) {
            redisFree(c);
            sleep_us(100000);
            continue;
        }
        freeReplyObject(r);
        fprintf(stderr, "agent: subscribed\n");
        while (redisGetReply(c, (void **)&r) == REDIS_OK) {
            double t0 = now_ms();
            char name[128], oip[64], nip[64];
            int oport, nport;
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                r->element[2]->type == REDIS_REPLY_STRING &&
                sscanf(r->element[2]->str, "%127s %63s %d %63s %d", name, oip, &oport, nip,
                       &nport) == 5) {
                char from[96], to[96];
                snprintf(from, sizeof(from), "%s:%d:", oip, oport);
                snprintf(to, sizeof(to), "%s:%d:", nip, nport);
                int rc = rewrite(conf, from, to);
                if (rc == 0)
                    rc = restart(pidfile, proxy, password);
                fprintf(stderr, "agent: %s %s in %.2f ms\n", rc == 0 ? "repointed" : "FAILED",
                        name, now_ms() - t0);
            }
            freeReplyObject(r);
        }
        redisFree(c);
    }
}
