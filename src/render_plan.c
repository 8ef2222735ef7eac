/* render_plan.c - plan rendering (stub bodies until the renderer lands) */
#include "render.h"

#include "util.h"

char *render_plan_text(const struct spec *s, const struct plan *p, bool color)
{
    (void)s, (void)p, (void)color;
    return xstrdup("");
}

char *render_plan_json(const struct spec *s, const struct plan *p, const char *fingerprint,
                       const char *commit, const char *subject)
{
    (void)s, (void)p, (void)fingerprint, (void)commit, (void)subject;
    return xstrdup("{}\n");
}

char *render_plan_markdown(const struct spec *s, const struct plan *p, const char *fingerprint,
                           const char *commit)
{
    (void)s, (void)p, (void)fingerprint, (void)commit;
    return xstrdup("");
}

char *render_plan_summary(const struct plan *p)
{
    (void)p;
    return xstrdup("");
}
