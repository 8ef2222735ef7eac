/*
 * render.h - a plan as text for a terminal, JSON for machines, Markdown for
 * a pull-request comment.
 *
 * Pure: every function returns a newly allocated string (caller frees) and
 * does no I/O. Output is deterministic for a given spec and plan, so it is
 * tested with golden files (tests/fixtures/plan/<case>/expected.*).
 */
#ifndef RMGR_RENDER_H
#define RMGR_RENDER_H

#include <stdbool.h>

#include "plan.h"
#include "spec.h"

/*
 * Human text: steps grouped by shard (spec order), then "sentinels", then
 * "proxies"; refusals as "Error: refusing to plan shard X:"; warnings; and a
 * last summary line ("Plan: N to add, N to change, N to remove." or "No
 * changes. The cluster matches the spec."). ANSI colour only when `color`.
 */
char *render_plan_text(const struct spec *s, const struct plan *p, bool color);

/*
 * The same with provenance (`plan --explain`): under each step and refusal,
 * where it comes from, one line each: "from FILE:LINE: PATH" for a spec node
 * that asks for it ("from specs/prod.yaml:14: shards[1].replicas[0]"), "from
 * observed: WHAT" for what an instance said ("from observed: sentinel
 * 127.0.0.1:26379 SENTINEL MASTERS: ..."); observations first on "=" lines
 * and refusals. Markdown always carries these lines, JSON a "source" object.
 */
char *render_plan_text_explain(const struct spec *s, const struct plan *p, bool color);

/*
 * The plan as JSON (format in docs/plan-json.md and at the top of
 * render_plan.c). `fingerprint`, `commit` and `subject` may be NULL (null in
 * the output). Ends with a newline.
 */
char *render_plan_json(const struct spec *s, const struct plan *p, const char *fingerprint,
                       const char *commit, const char *subject);

/*
 * Markdown for a PR comment: a heading with the cluster and summary, one
 * <details> block per group with a diff-style code block, no ANSI codes.
 * `fingerprint` and `commit` may be NULL (then not shown).
 */
char *render_plan_markdown(const struct spec *s, const struct plan *p, const char *fingerprint,
                           const char *commit, const char *subject);

/* "Plan: 3 to add, 1 to change, 0 to remove." or "No changes. The cluster matches the spec." */
char *render_plan_summary(const struct plan *p);

#endif
