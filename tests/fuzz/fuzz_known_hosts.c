/*
 * fuzz_known_hosts.c - a known_hosts file: read line by line, then looked
 * up the ways the ssh transport looks hosts up. The input is written to a
 * file of this process (known_hosts_read reads files only).
 */
#include <unistd.h>

#include "fuzz.h"
#include "known_hosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/rmgr-fuzz-known-hosts.%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);

    struct known_hosts k = {0};
    char *err = NULL;
    if (known_hosts_init(&k, NULL, "fuzz", &err) == 0) {
        if (known_hosts_read(&k, path, "fuzz", &err) == 0) {
            static const char *const hosts[] = {"127.0.0.1", "10.0.0.1", "::1", "redis1"};
            for (size_t i = 0; i < sizeof(hosts) / sizeof(*hosts); i++) {
                (void)known_hosts_types(&k, hosts[i], 22);
                (void)known_hosts_types(&k, hosts[i], 2222);
                (void)known_hosts_check(&k, hosts[i], 22, "\0\0\0\x0bssh-ed25519", 15,
                                        LIBSSH2_KNOWNHOST_KEY_ED25519);
            }
            (void)known_hosts_revoked(&k, "abc", 3);
        }
    }
    free(err);
    known_hosts_release(&k);
    unlink(path);
    return 0;
}
