/*
 * status_page.c - the status page: every cluster's shards, sentinels,
 * proxies, drift and firing alerts, and SVG charts of the last hour from the
 * ring of observations. Plain HTML with inline SVG: no JavaScript, nothing
 * fetched from elsewhere; it refreshes itself (meta refresh). Pure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

#define REFRESH_S 10
#define CHART_W 560
#define CHART_H 190
#define M_LEFT 64
#define M_RIGHT 12
#define M_TOP 22
#define M_BOTTOM 44

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#17becf"};

/* Text with &, <, >, " and ' escaped. */
static void esc(struct strbuf *out, const char *s)
{
    for (const char *c = s ? s : ""; *c; c++) {
        switch (*c) {
        case '&': sb_add(out, "&amp;"); break;
        case '<': sb_add(out, "&lt;"); break;
        case '>': sb_add(out, "&gt;"); break;
        case '"': sb_add(out, "&quot;"); break;
        case '\'': sb_add(out, "&#39;"); break;
        default: sb_addc(out, *c);
        }
    }
}

/* 1536 -> "1.5 KiB" */
static void fmt_bytes(char *buf, size_t n, double b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (fabs(b) >= 1024 && u + 1 < ARRAY_SIZE(units)) {
        b /= 1024;
        u++;
    }
    snprintf(buf, n, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
}

static void fmt_value(char *buf, size_t n, double v, const char *unit)
{
    if (v < 0)
        snprintf(buf, n, "-");
    else if (str_eq(unit, "bytes"))
        fmt_bytes(buf, n, v);
    else if (v >= 100 || v == floor(v))
        snprintf(buf, n, "%.0f%s", v, unit);
    else
        snprintf(buf, n, "%.2f%s", v, unit);
}

static void fmt_time(char *buf, size_t n, double t)
{
    if (t <= 0) {
        snprintf(buf, n, "never");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* ---------------------------------------------------------------- charts */

/* A "nice" upper bound at or above v: 1, 2 or 5 times a power of ten (of 1024 for bytes). */
static double nice_max(double v, bool bytes)
{
    if (v <= 0)
        return 1;
    double base = bytes ? 1024 : 10;
    double p = 1;
    while (p * base <= v)
        p *= base;
    static const double steps[] = {1, 2, 5, 10};
    static const double bsteps[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    if (bytes) {
        for (size_t i = 0; i < ARRAY_SIZE(bsteps); i++)
            if (p * bsteps[i] >= v)
                return p * bsteps[i];
    } else {
        for (size_t i = 0; i < ARRAY_SIZE(steps); i++)
            if (p * steps[i] >= v)
                return p * steps[i];
    }
    return v;
}

void status_render_chart(const char *title, const char *unit, const long long *t, size_t npoints,
                         char *const *names, const double *const *series, size_t nseries,
                         long long now_s, struct strbuf *out)
{
    const double pw = CHART_W - M_LEFT - M_RIGHT, ph = CHART_H - M_TOP - M_BOTTOM;
    const long long t0 = now_s - METRICS_CHART_WINDOW_S;
    bool bytes = str_eq(unit, "bytes");
    double vmax = 0;
    size_t known = 0;
    for (size_t k = 0; k < nseries; k++)
        for (size_t i = 0; i < npoints; i++)
            if (t[i] >= t0 && t[i] <= now_s && series[k][i] >= 0) {
                known++;
                if (series[k][i] > vmax)
                    vmax = series[k][i];
            }
    double ymax = nice_max(vmax, bytes);
    sb_addf(out,
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
            CHART_W, CHART_H, CHART_W, CHART_H);
    esc(out, title);
    sb_addf(out, "\" data-points=\"%zu\">\n<title>", known);
    esc(out, title);
    sb_add(out, "</title>\n");
    sb_addf(out, "<text class=\"ct\" x=\"%d\" y=\"14\">", M_LEFT);
    esc(out, title);
    sb_add(out, "</text>\n");
    /* grid and y labels */
    for (int g = 0; g <= 4; g++) {
        double y = M_TOP + ph - ph * g / 4.0;
        char label[32];
        fmt_value(label, sizeof(label), ymax * g / 4.0, bytes ? "bytes" : "");
        sb_addf(out,
                "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\"/>"
                "<text class=\"yl\" x=\"%d\" y=\"%.1f\">%s</text>\n",
                M_LEFT, y, M_LEFT + pw, y, M_LEFT - 4, y + 4, label);
    }
    /* x labels: minutes ago */
    for (int m = 0; m <= 60; m += 15) {
        double x = M_LEFT + pw * (60 - m) / 60.0;
        sb_addf(out, "<text class=\"xl\" x=\"%.1f\" y=\"%.0f\">%s", x, M_TOP + ph + 14,
                m ? "-" : "now");
        if (m)
            sb_addf(out, "%dm", m);
        sb_add(out, "</text>\n");
    }
    if (!known)
        sb_addf(out, "<text class=\"empty\" x=\"%.0f\" y=\"%.0f\">no data yet</text>\n",
                M_LEFT + pw / 2, M_TOP + ph / 2);
    for (size_t k = 0; k < nseries; k++) {
        const char *color = palette[k % ARRAY_SIZE(palette)];
        sb_add(out, "<g class=\"series\" data-name=\"");
        esc(out, names[k]);
        sb_addf(out, "\" stroke=\"%s\" fill=\"%s\">\n", color, color);
        /* one polyline per run of known values */
        bool open = false;
        for (size_t i = 0; i < npoints; i++) {
            bool ok = t[i] >= t0 && t[i] <= now_s && series[k][i] >= 0;
            if (!ok) {
                if (open)
                    sb_add(out, "\"/>\n");
                open = false;
                continue;
            }
            double x = M_LEFT + pw * (double)(t[i] - t0) / METRICS_CHART_WINDOW_S;
            double y = M_TOP + ph - ph * series[k][i] / ymax;
            if (!open)
                sb_add(out, "<polyline fill=\"none\" points=\"");
            sb_addf(out, "%s%.1f,%.1f", open ? " " : "", x, y);
            open = true;
        }
        if (open)
            sb_add(out, "\"/>\n");
        for (size_t i = 0; i < npoints; i++) {
            if (!(t[i] >= t0 && t[i] <= now_s && series[k][i] >= 0))
                continue;
            double x = M_LEFT + pw * (double)(t[i] - t0) / METRICS_CHART_WINDOW_S;
            double y = M_TOP + ph - ph * series[k][i] / ymax;
            char v[32];
            fmt_value(v, sizeof(v), series[k][i], unit);
            sb_addf(out, "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"2\"><title>", x, y);
            esc(out, names[k]);
            sb_addf(out, ": %s</title></circle>\n", v);
        }
        sb_add(out, "</g>\n");
        /* legend */
        double lx = M_LEFT + (double)(k % 3) * (pw / 3), ly = CHART_H - 16 + (double)(k / 3) * 12;
        sb_addf(out,
                "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"3\" fill=\"%s\"/>"
                "<text class=\"lg\" x=\"%.0f\" y=\"%.0f\">",
                lx, ly - 3, color, lx + 14, ly);
        esc(out, names[k]);
        sb_add(out, "</text>\n");
    }
    sb_add(out, "</svg>\n");
}

/* The ring's points as columns: times and one series per name. */
static void chart_from_ring(const struct metrics_ring *g, const char *title, const char *unit,
                            int which, long long now_s, struct strbuf *out)
{
    size_t ncols = which < 2 ? g->nshards : g->nproxies;
    char *const *names = which < 2 ? g->shards : g->proxies;
    long long *t = xcalloc(g->n + 1, sizeof(long long));
    double **series = xcalloc(ncols + 1, sizeof(double *));
    for (size_t k = 0; k < ncols; k++)
        series[k] = xcalloc(g->n + 1, sizeof(double));
    for (size_t i = 0; i < g->n; i++) {
        const struct metrics_point *p = &g->v[(g->head + i) % g->cap];
        t[i] = p->t_s;
        const double *col = which == 0 ? p->ops : which == 1 ? p->mem : which == 2 ? p->preq
                                                                                   : p->perr;
        for (size_t k = 0; k < ncols; k++)
            series[k][i] = col[k];
    }
    status_render_chart(title, unit, t, g->n, names, (const double *const *)series, ncols, now_s,
                        out);
    for (size_t k = 0; k < ncols; k++)
        free(series[k]);
    free(series);
    free(t);
}

/* ---------------------------------------------------------------- page */

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
    "h1{font-size:1.5em;margin:0 0 .2em}h2{margin:1.2em 0 .3em;font-size:1.25em}"
    "h3{font-size:1em;margin:1em 0 .3em}.meta{color:#666}"
    "section.cluster{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5em 1em 1em;"
    "margin-bottom:1.5em}"
    "table{border-collapse:collapse;margin:.3em 0}td,th{border:1px solid #ddd;padding:.2em .6em;"
    "text-align:left;vertical-align:top}th{background:#f0f0f0}"
    "ul.replicas{margin:0;padding-left:1em}"
    ".up{color:#176317}.down{color:#b00;font-weight:bold}"
    ".badge{font-size:.75em;padding:.1em .5em;border-radius:3px;background:#ddd;"
    "vertical-align:middle}"
    ".st-in-sync,.st-corrected{background:#cfc}.st-drift{background:#fe9}.st-error{background:#fbb}"
    ".alert{color:#b00;font-weight:bold}"
    ".charts{display:flex;flex-wrap:wrap;gap:8px}"
    "svg.chart{background:#fff;border:1px solid #eee}"
    "svg .grid{stroke:#eee}svg text{font-size:10px;fill:#555}svg .yl{text-anchor:end}"
    "svg .xl{text-anchor:middle}svg .ct{font-size:12px;fill:#222;font-weight:bold}"
    "svg .empty{text-anchor:middle;fill:#999}svg polyline{stroke-width:1.5}";

static void up_cell(struct strbuf *out, const char *addr, bool up)
{
    sb_addf(out, "<td class=\"%s\">", up ? "up" : "down");
    esc(out, addr);
    sb_addf(out, "%s</td>", up ? "" : " (down)");
}

static void shards_table(struct strbuf *out, const struct metrics_cluster *c)
{
    sb_add(out, "<h3>Shards</h3>\n<table class=\"shards\"><tr><th>shard</th><th>master</th>"
                "<th>ops/s</th><th>memory</th><th>clients</th>"
                "<th>replicas (link, lag)</th></tr>\n");
    for (size_t i = 0; i < c->nredis;) {
        size_t end = i;
        while (end < c->nredis && str_eq(c->redis[end].shard, c->redis[i].shard))
            end++;
        const struct metrics_instance *m = NULL;
        for (size_t k = i; k < end && !m; k++)
            if (str_eq(c->redis[k].role, "master"))
                m = &c->redis[k];
        sb_add(out, "<tr class=\"shard\" data-shard=\"");
        esc(out, c->redis[i].shard);
        sb_add(out, "\"><td>");
        esc(out, c->redis[i].shard);
        sb_add(out, "</td>");
        char ops[32], mem[32], maxm[32], cl[32];
        if (m) {
            up_cell(out, m->addr, m->up);
            fmt_value(ops, sizeof(ops), m->ops_per_sec, "");
            fmt_value(mem, sizeof(mem), (double)m->used_memory, "bytes");
            fmt_value(cl, sizeof(cl), (double)m->clients, "");
            if (m->maxmemory > 0) {
                fmt_bytes(maxm, sizeof(maxm), (double)m->maxmemory);
                sb_addf(out, "<td>%s</td><td>%s / %s</td><td>%s</td>", ops, mem, maxm, cl);
            } else {
                sb_addf(out, "<td>%s</td><td>%s</td><td>%s</td>", ops, mem, cl);
            }
        } else {
            sb_add(out, "<td class=\"down\">no master</td><td>-</td><td>-</td><td>-</td>");
        }
        sb_add(out, "<td><ul class=\"replicas\">");
        for (size_t k = i; k < end; k++) {
            const struct metrics_instance *r = &c->redis[k];
            if (r == m)
                continue;
            sb_addf(out, "<li class=\"%s\">", r->up && str_eq(r->link, "up") ? "up" : "down");
            esc(out, r->addr);
            if (!r->up) {
                sb_add(out, " down");
            } else {
                sb_add(out, " link ");
                esc(out, r->link ? r->link : "?");
                char lag[32];
                fmt_value(lag, sizeof(lag), (double)r->lag_bytes, "bytes");
                sb_addf(out, ", lag %s", lag);
                if (r->lag_s >= 0)
                    sb_addf(out, " / %ld s", r->lag_s);
            }
            sb_add(out, "</li>");
        }
        sb_add(out, "</ul></td></tr>\n");
        i = end;
    }
    sb_add(out, "</table>\n");
}

static void sentinels_table(struct strbuf *out, const struct metrics_cluster *c)
{
    sb_add(out, "<h3>Sentinels</h3>\n<table class=\"sentinels\"><tr><th>sentinel</th>"
                "<th>masters monitored</th></tr>\n");
    for (size_t i = 0; i < c->nsentinels; i++) {
        sb_add(out, "<tr class=\"sentinel\">");
        up_cell(out, c->sentinels[i].addr, c->sentinels[i].up);
        sb_addf(out, "<td>%zu</td></tr>\n", c->sentinels[i].masters);
    }
    sb_add(out, "</table>\n");
}

static void proxies_table(struct strbuf *out, const struct metrics_cluster *c)
{
    sb_add(out, "<h3>Proxies</h3>\n<table class=\"proxies\"><tr><th>proxy</th><th>requests/s</th>"
                "<th>forward errors/s</th><th>requests</th><th>forward errors</th></tr>\n");
    for (size_t i = 0; i < c->nproxies; i++) {
        const struct metrics_proxy *p = &c->proxies[i];
        char a[32], b[32], d[32], e[32];
        fmt_value(a, sizeof(a), p->requests_per_sec, "");
        fmt_value(b, sizeof(b), p->forward_errors_per_sec, "");
        fmt_value(d, sizeof(d), (double)p->requests, "");
        fmt_value(e, sizeof(e), (double)p->forward_errors, "");
        sb_add(out, "<tr class=\"proxy\">");
        up_cell(out, p->addr, p->up);
        sb_addf(out, "<td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", a, b, d, e);
    }
    sb_add(out, "</table>\n");
}

static void alerts_list(struct strbuf *out, const struct metrics_cluster *c)
{
    sb_add(out, "<h3>Alerts</h3>\n");
    size_t firing = 0;
    for (size_t i = 0; i < c->nalerts; i++)
        firing += c->alerts[i].firing;
    if (!firing) {
        sb_addf(out, "<p class=\"alerts-none\">No alert firing%s.</p>\n",
                c->nalerts ? "" : " (no alert rules)");
        return;
    }
    sb_add(out, "<ul class=\"alerts\">\n");
    for (size_t i = 0; i < c->nalerts; i++) {
        const struct metrics_alert *a = &c->alerts[i];
        if (!a->firing)
            continue;
        char since[64];
        fmt_time(since, sizeof(since), (double)a->since_s);
        sb_add(out, "<li class=\"alert\">");
        esc(out, a->name);
        if (a->instance) {
            sb_add(out, " on ");
            esc(out, a->instance);
        }
        sb_addf(out, ": %.15g, since %s</li>\n", a->value, since);
    }
    sb_add(out, "</ul>\n");
}

static void cluster_section(struct strbuf *out, const struct metrics_cluster *c, long long now_s)
{
    sb_add(out, "<section class=\"cluster\" data-cluster=\"");
    esc(out, c->name);
    sb_add(out, "\">\n<h2>");
    esc(out, c->name);
    const char *st = c->status ? c->status : "not yet run";
    sb_add(out, " <span class=\"badge st-");
    esc(out, st);
    sb_add(out, "\">");
    esc(out, st);
    sb_add(out, "</span></h2>\n<p class=\"drift\">");
    if (c->drift_steps < 0)
        sb_add(out, "Drift: unknown");
    else
        sb_addf(out, "Drift: %ld step%s", c->drift_steps, c->drift_steps == 1 ? "" : "s");
    if (c->drift_summary && c->drift_steps > 0) {
        sb_add(out, " — ");
        esc(out, c->drift_summary);
    }
    char last[64], ok[64];
    fmt_time(last, sizeof(last), c->last_reconcile_s);
    fmt_time(ok, sizeof(ok), c->last_success_s);
    sb_addf(out, "<br>Last run: %s; last success: %s; failovers: %llu; failed applies: %llu",
            last, ok, c->failovers_total, c->apply_failures_total);
    if (c->commit) {
        sb_add(out, "; commit ");
        esc(out, c->commit);
    }
    sb_add(out, "</p>\n");
    alerts_list(out, c);
    shards_table(out, c);
    sentinels_table(out, c);
    proxies_table(out, c);
    sb_add(out, "<h3>Last hour</h3>\n<div class=\"charts\">\n");
    chart_from_ring(&c->ring, "ops/s per master", "", 0, now_s, out);
    chart_from_ring(&c->ring, "memory per master", "bytes", 1, now_s, out);
    chart_from_ring(&c->ring, "proxy requests/s", "", 2, now_s, out);
    chart_from_ring(&c->ring, "proxy forward errors/s", "", 3, now_s, out);
    sb_add(out, "</div>\n</section>\n");
}

void status_render_html(const struct metrics_view *v, struct strbuf *out)
{
    char now[64];
    fmt_time(now, sizeof(now), v->now_s);
    sb_addf(out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"refresh\" content=\"%d\">\n"
            "<meta name=\"viewport\" content=\"width=device-width\">\n"
            "<title>rmgr status</title>\n<style>%s</style>\n</head>\n<body>\n"
            "<h1>rmgr status</h1>\n<p class=\"meta\">%s · refreshes every %d s · "
            "<a href=\"/metrics\">/metrics</a> · <a href=\"/api/status\">/api/status</a></p>\n",
            REFRESH_S, style, now, REFRESH_S);
    if (!v->n)
        sb_add(out, "<p>No cluster reconciled yet.</p>\n");
    for (size_t i = 0; i < v->n; i++)
        cluster_section(out, &v->clusters[i], (long long)v->now_s);
    sb_add(out, "</body>\n</html>\n");
}
