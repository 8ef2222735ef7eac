/* cmd_validate.c - `rmgr validate PATH...` (placeholder until the loader lands) */
#include "cli.h"

int cmd_validate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("rmgr: validate is not implemented yet\n", stderr);
    return EXIT_FAILURE_;
}
