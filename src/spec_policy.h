/*
 * spec_policy.h - policy mode for pipelines that plan specs proposed in pull
 * requests (`--trusted-spec REF`, `--allow-hosts FILE`).
 *
 * A spec decides where rmgr connects (every redis, sentinel and proxy
 * address, the ssh port of each host) and what it reads (auth's
 * password_env and password_file, base_dir, binaries, ssh identity and
 * known_hosts). A pull request that changes any of these could send the
 * pipeline's Redis password to an address of its choosing, or print a file
 * of its choosing. In policy mode those settings of the proposed spec must
 * be the trusted spec's (the same cluster at the base branch), and every
 * address rmgr would connect to must be the trusted spec's or in the
 * allow-list; otherwise the spec is refused before anything is read or any
 * connection made.
 *
 * Everything here is pure: the caller loads the specs and reads the
 * allow-list file (spec_trusted.h).
 */
#ifndef RMGR_SPEC_POLICY_H
#define RMGR_SPEC_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "spec.h"

/* ---- the allow-list: one IP address or CIDR per line, '#' comments ---------- */

struct allow_net {
    int af;                  /* AF_INET or AF_INET6 */
    unsigned char addr[16];  /* network byte order; 4 bytes used for AF_INET */
    int prefix;              /* 0..32 or 0..128 */
};

struct allow_list {
    char *name; /* the file, for messages */
    struct allow_net *v;
    size_t n, cap;
};

/*
 * Parse an allow-list: per line an IP address (10.0.0.1, ::1) or a network
 * (10.0.0.0/24, fd00::/8); '#' starts a comment; blank lines are ignored.
 * Each bad line is an error in `d` (name:line). Returns the number of
 * errors; *out holds the good lines either way (release it).
 */
size_t allow_list_parse(const char *name, const char *data, size_t len, struct allow_list *out,
                        struct diags *d);

/* Whether the IP literal `ip` is in the list (false for anything not an IP). */
bool allow_list_has(const struct allow_list *a, const char *ip);

void allow_list_release(struct allow_list *a);

/* ---- the check --------------------------------------------------------------- */

struct spec_policy {
    bool trusted_mode;             /* --trusted-spec given */
    const struct spec *trusted;    /* the same cluster in the trusted base; NULL: none there */
    const char *trusted_name;      /* "origin/main:specs/prod.yaml", for messages */
    const char *trusted_ref;       /* "origin/main", for messages */
    const struct allow_list *allow; /* --allow-hosts; NULL: none */
};

/*
 * Judge `proposed` by the policy. Every refusal is an error in `d` at the
 * proposed spec's file:line:col of the field, naming the field, the
 * proposed value and the trusted one. Returns the number of refusals (0: the
 * spec may be observed).
 *
 * - With an allow-list: every address rmgr would connect to (redis nodes,
 *   sentinels, proxies' listen and stats addresses, ssh to each host) must
 *   be in it.
 * - With a trusted spec: auth.password_env, auth.password_file,
 *   defaults.base_dir, defaults.transport, defaults.ssh.*, defaults.binaries.*
 *   and each host's address, transport and ssh settings must be the trusted
 *   ones, and every address must be one the trusted spec connects to for
 *   the same role (or, with an allow-list, in it).
 * - In trusted mode without a trusted counterpart (a cluster new in the pull
 *   request): refused unless an allow-list is given (which then decides).
 */
size_t spec_policy_check(const struct spec *proposed, const struct spec_policy *p,
                         struct diags *d);

#endif
