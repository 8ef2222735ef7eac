/*
 * session.c - load spec, read password, observe, plan: the sequence that
 * plan, apply, status and reconcile share. See session.h.
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "fingerprint.h"
#include "observe.h"
#include "spec_source.h"
#include "spec_trusted.h"
#include "transport.h"
#include "util.h"

/* The password of the loaded spec into s->password. 0, or -1 with the reason on `err`. */
static int read_password(struct session *s, FILE *err)
{
    char *msg = NULL;
    if (spec_read_password(s->spec, &s->password, &msg) < 0) {
        fprintf(err, "rmgr: cannot read the password: %s\n", msg ? msg : "unknown error");
        free(msg);
        return -1;
    }
    return 0;
}

int session_load(struct session *s, const struct session_options *o, FILE *err)
{
    struct diags d = {0};
    s->spec = spec_load_file(o->spec_path, &d);
    diags_sort(&d);
    diags_print(&d, err); /* warnings too: they matter before acting */
    diags_release(&d);
    if (!s->spec ||
        spec_policy_enforce(s->spec, o->spec_path, o->trusted_spec, o->allow_hosts, err) < 0 ||
        read_password(s, err) < 0) {
        session_release(s);
        return -1;
    }
    return 0;
}

int session_load_repo(struct session *s, const struct session_options *o,
                      const struct git_source_opts *git, struct spec_source *src, FILE *err)
{
    s->spec = spec_source_load_one(git, src, err);
    if (!s->spec ||
        (o && spec_policy_enforce(s->spec, src->files[0], o->trusted_spec, o->allow_hosts,
                                  err) < 0) ||
        read_password(s, err) < 0) {
        session_release(s);
        return -1;
    }
    return 0;
}

struct observe_options session_observe_options(const struct session *s,
                                               const struct session_options *o)
{
    return (struct observe_options){
        .connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                                        : SESSION_DEFAULT_CONNECT_TIMEOUT_MS,
        .command_timeout_ms = o->command_timeout_ms > 0 ? o->command_timeout_ms
                                                        : SESSION_DEFAULT_COMMAND_TIMEOUT_MS,
        .password = s->password,
        .skip_files = o->skip_files,
    };
}

void session_observe(struct session *s, const struct session_options *o)
{
    struct observe_options oo = session_observe_options(s, o);
    observed_free(s->observed);
    s->observed = observe_cluster(s->spec, &oo);
}

void session_plan(struct session *s, const struct session_options *o)
{
    plan_free(s->plan);
    free(s->fingerprint);
    s->plan = plan_compute(s->spec, s->observed);
    s->fingerprint = fingerprint_compute(s->spec, o->commit, s->observed);
}

/* ---- host keys ------------------------------------------------------------ */

/* An observed files record and the host it is on (as the spec names it). */
struct files_ref {
    const struct obs_files *f;
    const char *host;
};

/*
 * Every files record of the observation with its host. The model holds the
 * spec's instances in spec order (observe.c), then the redis nodes only the
 * sentinels named, which are known by their IP.
 */
static size_t all_files(const struct spec *sp, const struct observed *ob, struct files_ref **out)
{
    size_t n = 0, cap = ob->nredis + ob->nsentinels + ob->nproxies;
    struct files_ref *v = xcalloc(cap ? cap : 1, sizeof(*v));
    for (size_t i = 0; i < sp->nshards; i++)
        for (size_t k = 0; k <= sp->shards[i].nreplicas && n < ob->nredis; k++) {
            const struct spec_shard *sh = &sp->shards[i];
            const struct spec_addr *a = k == 0 ? &sh->master : &sh->replicas[k - 1];
            v[n] = (struct files_ref){&ob->redis[n].files, a->host};
            n++;
        }
    for (size_t i = n; i < ob->nredis; i++)
        v[n++] = (struct files_ref){&ob->redis[i].files, ob->redis[i].ip};
    for (size_t i = 0; i < ob->nsentinels; i++)
        v[n++] = (struct files_ref){&ob->sentinels[i].files,
                                    i < sp->sentinel.nnodes ? sp->sentinel.nodes[i].host
                                                            : ob->sentinels[i].ip};
    for (size_t i = 0; i < ob->nproxies; i++)
        v[n++] = (struct files_ref){&ob->proxies[i].files,
                                    i < sp->nproxies ? sp->proxies[i].host : ob->proxies[i].ip};
    *out = v;
    return n;
}

/*
 * Open a transport with accept_new to every host whose key observation did
 * not trust (each host once). Unknown keys get added; a changed or
 * revoked key fails again, as it must. Returns how many opened.
 */
static size_t accept_new_keys(const struct session *s, const struct session_options *o,
                              const struct files_ref *v, size_t n, FILE *err)
{
    struct transport_options to = {
        .connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                                        : SESSION_DEFAULT_CONNECT_TIMEOUT_MS,
        .command_timeout_ms = o->command_timeout_ms > 0 ? o->command_timeout_ms
                                                        : SESSION_DEFAULT_COMMAND_TIMEOUT_MS,
        .accept_new_host_keys = true,
    };
    size_t opened = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].f->host_key_error || !v[i].host)
            continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = v[k].f->host_key_error && str_eq(v[k].host, v[i].host);
        if (seen)
            continue;
        char *e = NULL;
        struct transport *t = transport_open(s->spec, v[i].host, &to, &e);
        if (t) {
            fprintf(err, "rmgr: added the new ssh host key of host '%s' to known_hosts "
                         "(--accept-new-host-keys)\n",
                    v[i].host);
            opened++;
        }
        transport_close(t);
        free(e); /* the observation's message says it as well */
    }
    return opened;
}

int session_check_host_keys(struct session *s, const struct session_options *o, bool accept_new,
                            FILE *err)
{
    struct files_ref *v = NULL;
    size_t n = all_files(s->spec, s->observed, &v);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += v[i].f->host_key_error;
    if (bad && accept_new && accept_new_keys(s, o, v, n, err) > 0) {
        /* what the plan was made without: look again, with the keys trusted now */
        free(v);
        session_observe(s, o);
        session_plan(s, o);
        n = all_files(s->spec, s->observed, &v);
        bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += v[i].f->host_key_error;
    }
    if (!bad) {
        free(v);
        return 0;
    }
    /* every instance of a host carries the same message: each once */
    const char **msgs = xcalloc(n, sizeof(*msgs));
    size_t nmsgs = 0;
    for (size_t i = 0; i < n; i++) {
        const char *m = v[i].f->host_key_error ? v[i].f->error : NULL;
        if (!m)
            continue;
        bool dup = false;
        for (size_t k = 0; k < nmsgs && !dup; k++)
            dup = str_eq(msgs[k], m);
        if (!dup)
            msgs[nmsgs++] = m;
    }
    fprintf(err, "Error: the ssh host key of %zu host%s is not trusted: rmgr changes nothing on "
                 "any host until this is fixed\n",
            nmsgs, nmsgs == 1 ? "" : "s");
    for (size_t k = 0; k < nmsgs; k++) {
        fputc('\n', err);
        for (const char *p = msgs[k]; *p;) {
            size_t l = strcspn(p, "\n");
            fprintf(err, "  %.*s\n", (int)l, p);
            p += l + (p[l] == '\n');
        }
    }
    fflush(err);
    free(msgs);
    free(v);
    return -1;
}

int session_open(struct session *s, const struct session_options *o, FILE *err)
{
    if (session_load(s, o, err) < 0)
        return -1;
    session_observe(s, o);
    session_plan(s, o);
    return 0;
}

void session_release(struct session *s)
{
    if (!s)
        return;
    secret_free(s->password);
    free(s->fingerprint);
    plan_free(s->plan);
    observed_free(s->observed);
    spec_free(s->spec);
    memset(s, 0, sizeof(*s));
}
