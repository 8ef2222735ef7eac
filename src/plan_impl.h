/*
 * plan_impl.h - what the planner's files share (plan.c, plan_truth.c,
 * plan_redis.c, plan_sentinel.c, plan_proxy.c, destroy_plan.c): the
 * builder steps are added with, and small helpers over the spec and the
 * observed state. Private to the planner; pure, no I/O.
 */
#ifndef RMGR_PLAN_IMPL_H
#define RMGR_PLAN_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "plan.h"
#include "util.h"

/* ---------------------------------------------------------------- builder */

struct builder {
    const struct spec *s;
    const struct observed *o; /* NULL for a plan from the spec alone (destroy) */
    struct plan *p;
    size_t steps_cap, warnings_cap, refusals_cap;
    const char *password; /* CONF_SECRET_PLACEHOLDER when the spec has auth */
    bool *reset_late;     /* per shard: sentinel resets wait for the clean-up wave */
    struct spec_addr *move_from; /* per shard: the master a member move leaves (plan_move.c),
                                    ip NULL when the shard is not moving its master */
    size_t nauth_failed;  /* spec redis instances that refused the password */
    size_t nredis;        /* spec redis instances */
};

/* Add a warning to the plan; the text is formatted. */
void plan_warn(struct builder *b, const char *fmt, ...) RMGR_PRINTF(2, 3);

/*
 * Refuse shard `shard` (copied); takes ownership of `diagnosis` (not NULL).
 * The refusal cites the shard's spec node; the caller adds what was
 * observed to its source (plan_observed*) through the refusal returned.
 */
struct plan_refusal *plan_refuse(struct builder *b, const char *shard, char *diagnosis);

/*
 * Append a step of kind `kind` running on `at` (spec spelling for target
 * and host) and return it; the reason is formatted, everything else is
 * filled in by the caller. Preconditions (ASSERTed): b has a plan, kind
 * and wave are values of their enums, `at` has an ip and a port in
 * 1..65535, group and fmt are not NULL, and only an observed fact is
 * drawn with ACTION_NONE.
 *
 * Provenance comes with it: the step's source cites at->pos, the spec node
 * `at` was loaded from (a spec member, sentinel or proxy, or a copy of one
 * such as plan->masters[i]). An address that is not in the spec (pos.line
 * 0: a node Sentinel reports, removed from the spec) cites nothing: say
 * what observation found it with plan_observed*(&st->source, ...). A step
 * left with no source at all cites the spec's cluster line (plan_compute).
 */
struct step *plan_add_step(struct builder *b, enum step_kind kind, enum step_action action,
                           enum step_safety safety, enum step_wave wave,
                           enum instance_kind inst, const char *group,
                           const struct spec_addr *at, const char *fmt, ...)
    RMGR_PRINTF(9, 10);

/* Add the setting key=value (both copied, neither NULL) to step st. */
void plan_step_add_setting(struct step *st, const char *key, const char *value);

/* The master step st points at: m's ip (not NULL) and port. */
void plan_step_set_master(struct step *st, const struct spec_addr *m);

/*
 * Whether member k of members[0..n) is its shard's master for the order of
 * stops: its observed role when it answered; else, when no member was
 * observed as a master, whether it is `fallback` (the spec's or Sentinel's
 * master; may be NULL). b->o may be NULL (nothing observed).
 */
bool plan_member_is_master(const struct builder *b, const struct spec_addr *members, size_t n,
                           size_t k, const struct spec_addr *fallback);
/* ---------------------------------------------------------------- provenance (plan_source.c) */

/* Cite spec node `pos` (once; a generated position, line 0, is skipped). */
void plan_cite(struct plan_source *src, const struct spec_pos *pos);

/* Add an observation (formatted, once): "<kind> <ip:port> <asked>: <said>". */
void plan_observed(struct plan_source *src, const char *fmt, ...) RMGR_PRINTF(2, 3);

/* "redis IP:PORT INFO: replica of ... (link up), 10 keys, offset 5000", or why it did not answer */
void plan_observed_redis(struct plan_source *src, const char *ip, int port,
                         const struct obs_redis *r);

/*
 * "sentinels A, B SENTINEL MASTERS: <shard> master ip:port (flags F, epoch E)":
 * what the spec sentinels report for `shard`, one line per distinct answer;
 * with `ip` only the ones that name ip:port as its master.
 */
void plan_observed_sentinels(struct builder *b, struct plan_source *src, const char *shard,
                             const char *ip, int port);

/* "sentinels A, B SENTINEL REPLICAS <shard>: lists ip:port", when any spec sentinel does */
void plan_observed_sentinel_replica(struct builder *b, struct plan_source *src,
                                    const char *shard, const char *ip, int port);

/* "redis IP:PORT files: <dir> missing" (or its config file) for step st's instance */
void plan_observed_files(struct builder *b, struct step *st, const struct obs_files *f);

/* What r reports in a few words ("replica of 10.0.0.1:6379 (link up), 3 keys, offset 9"). */
void plan_describe_redis(struct strbuf *sb, const struct obs_redis *r);

/* ---------------------------------------------------------------- passes */

/* Work out shard i's master into p->masters[i]; false after a refusal. plan_truth.c */
bool plan_shard_truth(struct builder *b, size_t i);

/*
 * Whether ip:port, named by no shard of the spec, is an instance this
 * cluster deployed: on a host of the spec (into *host) with its instance
 * directory found there. plan_truth.c
 */
bool plan_deployed_here(struct builder *b, const char *ip, int port, const char **host);

/*
 * A member move of shard i's master (plan_move.c, docs/design-move.md):
 * when the master the sentinels agree on (view) has left the spec, this
 * cluster deployed it and it runs as a master, record it in b->move_from[i]
 * and return the spec member that takes over (the shard's master: entry);
 * NULL when it is not a move.
 */
const struct spec_addr *plan_move_source(struct builder *b, size_t i,
                                         const struct obs_sentinel_master *view);

/*
 * The steps a move in shard i adds to those of plan_redis_steps(): wait-sync
 * on the new member(s), the failover onto the new master, the old master's
 * stop and files. plan_move.c
 */
void plan_move_steps(struct builder *b, size_t i);

/* Steps for the members of shard i around p->masters[i]. plan_redis.c */
void plan_redis_steps(struct builder *b, size_t i);

/*
 * Steps for every sentinel; the names of shards it monitors that the spec
 * lacks go to `removed`, once each, in first-seen order. plan_sentinel.c
 */
void plan_sentinel_steps(struct builder *b, struct strvec *removed);

/* stop + remove-files for the nodes Sentinel reports for removed shard `name`. plan_sentinel.c */
void plan_removed_shard_steps(struct builder *b, const char *name);

/* Steps for every proxy. plan_proxy.c */
void plan_proxy_steps(struct builder *b);

/*
 * The rolling upgrade of the instances that run another program than the
 * spec's (WAVE_UPGRADE); after every other pass, whose steps it reads.
 * plan_upgrade.c
 */
void plan_upgrade_steps(struct builder *b);

/* ---------------------------------------------------------------- steps every pass adds */

/* "=" line and warning for an instance that could not be observed */
void plan_unreachable_step(struct builder *b, enum instance_kind inst, enum step_wave wave,
                           const char *group, const struct spec_addr *a, enum reach rc,
                           const char *detail);

/* install-files when the files were looked at and something is missing */
void plan_files_step(struct builder *b, enum instance_kind inst, enum step_wave wave,
                     const char *group, const char *shard, const struct spec_addr *a,
                     const struct obs_files *f, const char *conf_name);

/* how a masked password shows in before/after: "" is no password at all */
const char *plan_secret_shown(const char *have);

/* ---------------------------------------------------------------- helpers */

static inline bool addr_is(const struct spec_addr *a, const char *ip, int port)
{
    return a->port == port && str_eq(a->ip, ip);
}

static inline size_t shard_nmembers(const struct spec_shard *sh)
{
    return 1 + sh->nreplicas;
}

/* member 0 is the spec master, then the replicas in spec order */
static inline const struct spec_addr *shard_member(const struct spec_shard *sh, size_t k)
{
    return k == 0 ? &sh->master : &sh->replicas[k - 1];
}

static inline enum reach redis_reach(const struct obs_redis *r)
{
    return r ? r->reach : REACH_NOT_CHECKED;
}

static inline bool reach_unreachable(enum reach r)
{
    return r != REACH_OK && r != REACH_REFUSED;
}

static inline bool redis_is_master(const struct obs_redis *r)
{
    return r && r->reach == REACH_OK && str_eq(r->role, "master");
}

static inline bool redis_is_slave(const struct obs_redis *r)
{
    return r && r->reach == REACH_OK && str_eq(r->role, "slave");
}

/* keys, replicas or a replication offset: the node has served writes */
static inline bool redis_holds_data(const struct obs_redis *r)
{
    return r && (r->keys > 0 || r->connected_slaves > 0 || r->master_repl_offset > 0);
}

static inline const char *detail_or(const char *detail, const char *dflt)
{
    return detail && *detail ? detail : dflt;
}

/* the member of shard sh at ip:port, or NULL */
const struct spec_addr *plan_shard_find_member(const struct spec_shard *sh, const char *ip,
                                               int port);

/*
 * The first member of shard sh other than M that is not known to be stopped
 * (running ones first, then ones that could not be observed), or NULL when
 * every other member is down.
 */
const struct spec_addr *plan_member_not_down(const struct observed *o,
                                             const struct spec_shard *sh,
                                             const struct spec_addr *M);

/* sentinel os's entry for shard `name`, or NULL (also when os is NULL) */
const struct obs_sentinel_master *plan_sentinel_find_master(const struct obs_sentinel *os,
                                                            const char *name);

/* *dst = a copy of src (host defaults to the ip); plan_free() frees plan->masters' */
void plan_addr_copy(struct spec_addr *dst, const struct spec_addr *src);

/*
 * The hosts: name for an address the spec uses (Sentinel may report a
 * hosts: name itself), the IP when spec instances use it without a hosts:
 * entry, or NULL when the address is foreign to this cluster.
 */
const char *plan_spec_host_for_ip(const struct spec *s, const char *ip);

/* "ip:port" of a spec address, for reasons about masters. Caller frees. */
char *plan_addr_ipport(const struct spec_addr *a);

/* a set of addresses in first-seen order */
struct node_list {
    struct spec_addr *v;
    size_t n, cap;
};

void plan_node_list_add(struct node_list *nl, const char *host, const char *ip, int port);
void plan_node_list_release(struct node_list *nl);

#endif
