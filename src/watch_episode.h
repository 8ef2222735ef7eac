/*
 * watch_episode.h - one shard's failover episode as its sentinels publish it,
 * for `reconcile --watch --repoint-at promotion`. Pure: no I/O, no clock.
 *
 * Sentinel's leader runs `REPLICAOF NO ONE` on the replica it selected about
 * a second before the quorum's +switch-master: it learns of the promotion
 * only at its next INFO poll, the others from its hello messages. The
 * watcher may repoint the proxies at the promotion instead, once all of
 * these were seen in the same episode (an episode begins with +odown for a
 * master and ends with the quorum's +switch-master):
 *   1. a quorum of the shard's sentinels published +odown for that master;
 *   2. one sentinel published +elected-leader for it, and then, the same
 *      sentinel, +selected-slave or +failover-state-send-slaveof-noone naming
 *      a member of the shard (the election needs a majority: this is the
 *      failover Sentinel carries out);
 *   3. that member, polled by the watcher, answered ROLE master.
 * When the episode ends otherwise (-failover-abort-*, a new election
 * selecting another replica, a +switch-master naming another address) the
 * result says so, and the watcher follows the quorum as without the option.
 */
#ifndef RMGR_WATCH_EPISODE_H
#define RMGR_WATCH_EPISODE_H

#include <stdbool.h>
#include <stddef.h>

/* What a sentinel published (or the watcher saw), as fed to wep_feed. */
enum wep_kind {
    WEP_ODOWN,         /* +odown: `master` is objectively down for that sentinel */
    WEP_ODOWN_CLEARED, /* -odown */
    WEP_LEADER,        /* +elected-leader: that sentinel fails `master` over */
    WEP_SELECTED,      /* +selected-slave / +failover-state-send-slaveof-noone: `addr` */
    WEP_ABORT,         /* -failover-abort-*: that sentinel gave up on `master` */
    WEP_PROMOTED,      /* the watcher's poll: `addr` answered ROLE master */
    WEP_SWITCH,        /* the quorum's +switch-master: `addr` is the new master */
};

struct wep_event {
    enum wep_kind kind;
    int sentinel;       /* index of the publishing sentinel; ignored for PROMOTED and SWITCH */
    const char *master; /* "ip:port" the event is about (ODOWN … ABORT) */
    const char *addr;   /* SELECTED: the replica; PROMOTED: who answered; SWITCH: new master */
    bool member;        /* SELECTED: addr is a member of the shard in the spec */
    const char *detail; /* ABORT: the channel ("-failover-abort-slave-timeout"), for notes */
};

/* What the watcher does next. */
enum wep_action {
    WEP_NOTHING,
    WEP_POLL,      /* poll `target` for ROLE master (replaces any other poll) */
    WEP_STOP_POLL, /* stop polling */
    WEP_REPOINT,   /* repoint the proxies at `target` now */
};

/* What the result tells about an early repoint already made (log and notify). */
enum wep_outcome {
    WEP_QUIET,      /* nothing to report */
    WEP_CONFIRMED,  /* the quorum's +switch-master names what the proxies serve */
    WEP_DIVERGED,   /* the quorum names another address: follow it (repoint again) */
    WEP_ABORTED,    /* the failover was aborted after the early repoint */
    WEP_RESELECTED, /* a new election selected another replica after the early repoint */
};

struct wep_result {
    enum wep_action action;
    enum wep_outcome outcome;
    const char *target;   /* POLL, REPOINT: the member; borrowed from the episode */
    const char *previous; /* outcome != QUIET: the address repointed at early; borrowed */
};

/* One shard's episode. Fields are private to watch_episode.c (read only in tests). */
struct wep_shard {
    size_t nsentinels;
    int quorum;
    char *master;       /* the master this episode is about (first +odown), or NULL */
    bool *odown;        /* [nsentinels]: published +odown for `master` */
    int leader;         /* the sentinel elected last, -1 */
    char *selected;     /* the member the leader selected, or NULL */
    bool polling;       /* the watcher polls `selected` */
    char *repointed;    /* the proxies were repointed early at this address, or NULL */
    char *ended;        /* `repointed` of the episode the last +switch-master ended */
};

void wep_init(struct wep_shard *e, size_t nsentinels, int quorum);
void wep_release(struct wep_shard *e);

/*
 * Feed one event; returns what to do. Strings in the result are borrowed
 * from `e` and valid until the next wep_feed or wep_release.
 */
struct wep_result wep_feed(struct wep_shard *e, const struct wep_event *ev);

/* How many sentinels published +odown for the episode's master. */
int wep_odown_votes(const struct wep_shard *e);

/* "aborted", "confirmed", …: for log lines. */
const char *wep_outcome_name(enum wep_outcome o);

/*
 * Parse a sentinel event payload: "master <name> <ip> <port> …" (sets
 * *name and *master) or "slave <ip>:<port> <ip> <port> @ <name> <mip>
 * <mport>" (sets *name, *master and *addr = the slave). "ip:port" strings;
 * the caller frees them; 0, or -1 on junk (nothing set).
 */
int wep_parse_payload(const char *payload, char **name, char **master, char **addr);

#endif
