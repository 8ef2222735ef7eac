/* fuzz_redismgr_conf.c - a redis-mgr conf.py through pylit and `convert redis-mgr`. */
#include "convert_redismgr.h"
#include "fuzz.h"
#include "pylit.h"
#include "util.h"

static char *no_resolve(const char *name, void *ctx)
{
    (void)name;
    (void)ctx;
    return NULL; /* nothing is looked up */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct py_module m = {0};
    struct diags d = {0};
    int rc = py_module_read(&m, "conf.py", (const char *)data, size, &d);
    FUZZ_ASSERT(rc == 0 || diags_count(&d, DIAG_ERROR) > 0);
    for (size_t i = 0; i < m.n; i++)
        FUZZ_ASSERT(m.names[i] && m.names[i][0]);
    py_module_release(&m);
    diags_release(&d);

    struct strbuf out = {0};
    struct convert_opts o = {.resolve = no_resolve};
    rc = convert_redismgr("conf.py", (const char *)data, size, &o, &out, &d);
    FUZZ_ASSERT(rc == 0 ? out.len > 0 : diags_count(&d, DIAG_ERROR) > 0);
    sb_release(&out);
    diags_release(&d);
    return 0;
}
