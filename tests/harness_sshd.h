/*
 * harness_sshd.h - a private OpenSSH server for integration tests.
 *
 *   struct harness *h = harness_new("ssh");
 *   struct hsshd *s = harness_start_sshd(h, NULL);   // 127.0.0.1, free port
 *   // spec host: {address: s->ip, ssh: {port: s->port, user: s->user,
 *   //             identity: s->client_key, known_hosts: s->known_hosts}}
 *   char *yaml = hsshd_host_yaml(s, "h1");           // that host entry as YAML
 *   ...
 *   harness_stop_sshd(h, s);   // optional: the harness stops it at exit anyway
 *
 * sshd runs in the foreground (`/usr/sbin/sshd -D -f CONFIG -E LOG`) through
 * harness_start_cmd, so the harness tracks its pid, stops exactly that pid at
 * exit or on a fatal signal, and PR_SET_PDEATHSIG kills it if the test dies.
 * Everything lives in <harness dir>/sshd-<ip>-<port>/: a generated ed25519
 * host key and client key (ssh-keygen), authorized_keys, sshd_config
 * (key-only auth, PermitRootLogin prohibit-password, StrictModes no, UsePAM no,
 * internal-sftp, PidFile there), the log, and a known_hosts holding
 * "[ip]:port <host key>" (or "ip <key>" for port 22). /run/sshd is created.
 *
 * If sshd cannot run on this machine, harness_start_sshd prints why (with the
 * tail of the log) and returns NULL: the test must then FAIL, never skip.
 * Call from the main thread.
 */
#ifndef RMGR_HARNESS_SSHD_H
#define RMGR_HARNESS_SSHD_H

#include <stdbool.h>

#include "harness.h"

struct hsshd_opts {
    const char *ip;          /* listen address; NULL: 127.0.0.1 */
    int port;                /* 0: a free port (retried if taken; only without wrap) */
    /*
     * argv prefix sshd is run under, NULL-terminated, e.g.
     * {"ip", "netns", "exec", "ns1", NULL}. Each program in it must exec the
     * next (so the tracked pid is sshd's). With a wrap, readiness is the
     * "Server listening" line in the log, not a connect from here, and port
     * must be given (a free port here says nothing about another namespace).
     */
    const char *const *wrap;
    const char *client_key;  /* authorize this private key (KEY.pub must exist); NULL: generate */
    const char *host_key;    /* use this host private key (KEY.pub must exist); NULL: generate */
    const char *extra_config;/* appended to sshd_config (later lines do not override in sshd!) */
};

struct hsshd {
    struct hproc *proc;  /* the sshd process, owned by the harness */
    char *ip;
    int port;
    char *user;          /* user the client key logs in as: the current user (root in CI) */
    char *dir;           /* keys, config, log */
    char *config;        /* sshd_config */
    char *log;           /* sshd's log (-E) */
    char *host_key;      /* host private key */
    char *host_pub;      /* "ssh-ed25519 AAAA..." (no comment) */
    char *host_fp;       /* "SHA256:..." as ssh-keygen -l shows it */
    char *client_key;    /* private key in authorized_keys */
    char *known_hosts;   /* known_hosts with this server's key */
};

/* Start an sshd. NULL (and a message on stderr) when it could not be started. */
struct hsshd *harness_start_sshd(struct harness *h, const struct hsshd_opts *opts);

/* Stop the sshd (TERM, wait, KILL) and free s. 0, or -1 if it survived. NULL is fine. */
int harness_stop_sshd(struct harness *h, struct hsshd *s);

/*
 * Generate an ed25519 key pair at path (and path.pub), no passphrase.
 * *pub_line (may be NULL) gets "ssh-ed25519 AAAA...", *fp (may be NULL)
 * "SHA256:...". Caller frees. 0 or -1 (and a message).
 */
int harness_ssh_keygen(const char *path, char **pub_line, char **fp);

/* Number of successful logins in the sshd log so far ("Accepted publickey" lines). */
int hsshd_logins(const struct hsshd *s);

/*
 * The hosts: entry for this server as spec YAML, indented for a top-level
 * "hosts:" map (two spaces), e.g.
 *   "  h1:\n    address: 127.0.0.1\n    transport: ssh\n    ssh:\n      port: 40123\n ..."
 * Caller frees.
 */
char *hsshd_host_yaml(const struct hsshd *s, const char *name);

#endif
