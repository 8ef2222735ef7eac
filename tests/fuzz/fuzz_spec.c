/* fuzz_spec.c - the spec loader (YAML tree, types, checks) on any bytes. */
#include "diag.h"
#include "fuzz.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct diags d = {0};
    struct spec *s = spec_load_buffer("fuzz.yaml", (const char *)data, size, &d);
    /* a spec that does not load says why */
    FUZZ_ASSERT(s || d.n > 0);
    spec_free(s);
    diags_release(&d);
    return 0;
}
