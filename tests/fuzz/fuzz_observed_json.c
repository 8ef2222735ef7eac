/* fuzz_observed_json.c - the observed-JSON reader; what it accepts writes back to a document
 * it accepts again, identical (the round trip planner fixtures rely on). */
#include "fuzz.h"
#include "observed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    char *err = NULL;
    struct observed *o = observed_from_json(text, &err);
    if (!o) {
        FUZZ_ASSERT(err != NULL);
        free(err);
        free(text);
        return 0;
    }
    char *a = observed_to_json(o);
    struct observed *o2 = observed_from_json(a, &err);
    FUZZ_ASSERT(o2 != NULL);
    char *b = observed_to_json(o2);
    FUZZ_ASSERT(strcmp(a, b) == 0);
    free(a);
    free(b);
    observed_free(o);
    observed_free(o2);
    free(text);
    return 0;
}
