/*
 * fingerprint.c - a stable id over the spec, the commit and the slowly
 * changing facts of the observed state (see fingerprint.h).
 *
 * The canonical text is line based and sorted by spec order (observe.c
 * keeps instances in spec order; SENTINEL MASTERS entries are sorted here),
 * so the same state gives the same id on any machine. It is hashed as git
 * hashes a blob (SHA-1 of "blob <len>\0" and the text) with OpenSSL's SHA-1,
 * not by hand, and not through libgit2: git_libgit2_init parses the system's
 * CA bundle, which cost every plan several ms and ~1 MB.
 */
#include "fingerprint.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SHA1_HEX_LEN 40

/* Hex SHA-1 of `len` bytes as a git blob, into out[SHA1_HEX_LEN + 1]. */
static void hash_hex(const void *data, size_t len, char *out)
{
    char head[32];
    int hlen = snprintf(head, sizeof(head), "blob %zu", len) + 1; /* with its NUL */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) &&
              EVP_DigestUpdate(ctx, head, (size_t)hlen) && EVP_DigestUpdate(ctx, data, len) &&
              EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen * 2 == SHA1_HEX_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        /* cannot happen for bytes held in memory; keep the id well formed */
        memset(out, '0', SHA1_HEX_LEN);
        out[SHA1_HEX_LEN] = '\0';
        return;
    }
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static const char *nz(const char *s)
{
    return s && *s ? s : "-";
}

static void add_files(struct strbuf *sb, const struct obs_files *f)
{
    if (!f->checked) {
        sb_add(sb, "  files unchecked\n");
        return;
    }
    sb_addf(sb, "  files dir=%d conf=%d\n", f->dir_present, f->conf_present);
    for (size_t i = 0; i < f->nconf; i++)
        sb_addf(sb, "  file-conf %s %s\n", nz(f->conf[i].key), nz(f->conf[i].value));
}

static int cmp_master(const void *a, const void *b)
{
    const struct obs_sentinel_master *x = *(const struct obs_sentinel_master *const *)a;
    const struct obs_sentinel_master *y = *(const struct obs_sentinel_master *const *)b;
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static int cmp_peer(const void *a, const void *b)
{
    const struct obs_sentinel_peer *x = *(const struct obs_sentinel_peer *const *)a;
    const struct obs_sentinel_peer *y = *(const struct obs_sentinel_peer *const *)b;
    int c = strcmp(x->ip ? x->ip : "", y->ip ? y->ip : "");
    return c ? c : (x->port > y->port) - (x->port < y->port);
}

/*
 * The replicas a sentinel lists for one master, sorted: the planner resets
 * a sentinel for an entry outside the shard. Flags are left out (they move).
 */
static void add_sentinel_replicas(struct strbuf *sb, const struct obs_sentinel_master *m)
{
    if (!m->nreplicas)
        return;
    const struct obs_sentinel_peer **v = xcalloc(m->nreplicas, sizeof(*v));
    for (size_t i = 0; i < m->nreplicas; i++)
        v[i] = &m->replicas[i];
    qsort(v, m->nreplicas, sizeof(*v), cmp_peer);
    for (size_t i = 0; i < m->nreplicas; i++)
        sb_addf(sb, "    replica %s:%d\n", nz(v[i]->ip), v[i]->port);
    free(v);
}

static void add_sentinel(struct strbuf *sb, const struct obs_sentinel *st)
{
    sb_addf(sb, "sentinel %s:%d %s\n", nz(st->ip), st->port, reach_name(st->reach));
    if (st->nmasters) {
        const struct obs_sentinel_master **ms = xcalloc(st->nmasters, sizeof(*ms));
        for (size_t i = 0; i < st->nmasters; i++)
            ms[i] = &st->masters[i];
        qsort(ms, st->nmasters, sizeof(*ms), cmp_master);
        for (size_t i = 0; i < st->nmasters; i++) {
            const struct obs_sentinel_master *m = ms[i];
            sb_addf(sb, "  master %s epoch=%lld addr=%s:%d quorum=%d down_after=%ld "
                        "failover_timeout=%ld parallel_syncs=%d\n",
                    nz(m->name), m->config_epoch, nz(m->ip), m->port, m->quorum,
                    m->down_after_ms, m->failover_timeout_ms, m->parallel_syncs);
            add_sentinel_replicas(sb, m);
        }
        free(ms);
    }
    add_files(sb, &st->files);
}

char *fingerprint_canonical(const struct spec *s, const char *commit, const struct observed *o)
{
    struct strbuf sb = {0};
    char hex[SHA1_HEX_LEN + 1];

    sb_add(&sb, "rmgr-fingerprint 2\n");
    if (s && s->source) {
        hash_hex(s->source, s->source_len, hex);
        sb_addf(&sb, "spec %s\n", hex);
    } else {
        sb_add(&sb, "spec -\n");
    }
    sb_addf(&sb, "commit %s\n", nz(commit));
    if (!o)
        return sb_detach(&sb);

    for (size_t i = 0; i < o->nredis; i++) {
        const struct obs_redis *r = &o->redis[i];
        sb_addf(&sb, "redis %s:%d %s run_id=%s role=%s", nz(r->ip), r->port,
                reach_name(r->reach), nz(r->run_id), nz(r->role));
        if (r->master_host)
            sb_addf(&sb, " master=%s:%d", r->master_host, r->master_port);
        sb_addc(&sb, '\n');
        for (size_t k = 0; k < r->nconfig; k++)
            sb_addf(&sb, "  config %s %s\n", nz(r->config[k].key), nz(r->config[k].value));
        add_files(&sb, &r->files);
    }
    for (size_t i = 0; i < o->nsentinels; i++)
        add_sentinel(&sb, &o->sentinels[i]);
    for (size_t i = 0; i < o->nproxies; i++) {
        const struct obs_proxy *p = &o->proxies[i];
        sb_addf(&sb, "proxy %s:%d stats=%d %s config=", nz(p->ip), p->listen_port,
                p->stats_port, reach_name(p->reach));
        if (p->config_present && p->config_text) {
            hash_hex(p->config_text, strlen(p->config_text), hex);
            sb_add(&sb, hex);
        } else {
            sb_add(&sb, "-");
        }
        sb_addc(&sb, '\n');
    }
    return sb_detach(&sb);
}

char *fingerprint_spec_sha(const struct spec *s)
{
    char hex[SHA1_HEX_LEN + 1];
    hash_hex(s->source ? s->source : "", s->source_len, hex);
    return xstrdup(hex);
}

char *fingerprint_compute(const struct spec *s, const char *commit, const struct observed *o)
{
    char hex[SHA1_HEX_LEN + 1];
    char *text = fingerprint_canonical(s, commit, o);
    hash_hex(text, strlen(text), hex);
    free(text);
    return xstrdup(hex);
}
