/* test_known_hosts.c - known_hosts.c: the strict reader both ssh and git use */
#include <stdlib.h>
#include <unistd.h>

#include "known_hosts.h"
#include "test.h"
#include "util.h"

static char dir[] = "/tmp/rmgr-test-known-hosts-XXXXXX";

/* An ed25519 key blob (type string, then 32 key bytes) filled with `fill`. */
static void make_key(unsigned char blob[51], unsigned char fill)
{
    static const char type[] = "ssh-ed25519";
    blob[0] = blob[1] = blob[2] = 0;
    blob[3] = 11;
    memcpy(blob + 4, type, 11);
    blob[15] = blob[16] = blob[17] = 0;
    blob[18] = 32;
    memset(blob + 19, fill, 32);
}

static char *key_line(const char *prefix, const char *host, unsigned char fill)
{
    unsigned char blob[51];
    make_key(blob, fill);
    char *b64 = base64_encode(blob, sizeof(blob), true);
    char *line = xasprintf("%s%s ssh-ed25519 %s\n", prefix, host, b64);
    free(b64);
    return line;
}

static int check(struct known_hosts *k, const char *host, int port, unsigned char fill)
{
    unsigned char blob[51];
    make_key(blob, fill);
    return known_hosts_check(k, host, port, (const char *)blob, sizeof(blob),
                             LIBSSH2_KNOWNHOST_KEY_ED25519);
}

TEST(reads_past_unparsable_lines_and_honours_revoked)
{
    char *file = xasprintf("%s/known_hosts", dir);
    struct strbuf sb = {0};
    char *l;
    sb_add(&sb, "# a comment\n\n");
    sb_add(&sb, "this line is not a known_hosts entry at all\n");
    sb_add(&sb, "@cert-authority *.example ssh-ed25519 AAAA\n");
    sb_add(&sb, "gitlab.example sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5\n");
    l = key_line("@revoked ", "*", 0x22);
    sb_add(&sb, l);
    free(l);
    l = key_line("", "10.0.0.1", 0x11);
    sb_add(&sb, l);
    free(l);
    l = key_line("", "[10.0.0.2]:2222", 0x33);
    sb_add(&sb, l);
    free(l);
    CHECK(write_file_atomic(file, sb.buf, sb.len, 0600) == 0);
    sb_release(&sb);

    struct known_hosts k;
    char *err = NULL;
    CHECK_INT_EQ(known_hosts_init(&k, NULL, "test", &err), 0);
    CHECK_INT_EQ(known_hosts_read(&k, file, "test", &err), 0);
    CHECK(err == NULL);
    /* the entries after the unparsable lines are there */
    CHECK_INT_EQ(check(&k, "10.0.0.1", 22, 0x11), LIBSSH2_KNOWNHOST_CHECK_MATCH);
    CHECK_INT_EQ(check(&k, "10.0.0.1", 22, 0x44), LIBSSH2_KNOWNHOST_CHECK_MISMATCH);
    CHECK_INT_EQ(check(&k, "10.0.0.2", 2222, 0x33), LIBSSH2_KNOWNHOST_CHECK_MATCH);
    CHECK_INT_EQ(check(&k, "10.0.0.9", 22, 0x11), LIBSSH2_KNOWNHOST_CHECK_NOTFOUND);
    CHECK(known_hosts_types(&k, "10.0.0.1", 22) != 0);
    CHECK_INT_EQ(known_hosts_types(&k, "10.0.0.9", 22), 0);
    /* @revoked keys are remembered, and only those */
    unsigned char blob[51];
    make_key(blob, 0x22);
    CHECK(known_hosts_revoked(&k, (const char *)blob, sizeof(blob)));
    make_key(blob, 0x11);
    CHECK(!known_hosts_revoked(&k, (const char *)blob, sizeof(blob)));
    known_hosts_release(&k);
    free(file);
}

TEST(missing_file_is_empty_unreadable_is_an_error)
{
    struct known_hosts k;
    char *err = NULL;
    char *missing = xasprintf("%s/nope", dir);
    CHECK_INT_EQ(known_hosts_init(&k, NULL, "test", &err), 0);
    CHECK_INT_EQ(known_hosts_read(&k, missing, "test", &err), 0);
    CHECK_INT_EQ(check(&k, "10.0.0.1", 22, 0x11), LIBSSH2_KNOWNHOST_CHECK_NOTFOUND);
    /* a path through a file cannot be opened (ENOTDIR, even for root) */
    char *file = xasprintf("%s/plain", dir), *through = xasprintf("%s/plain/known_hosts", dir);
    CHECK(write_file_atomic(file, "x\n", 2, 0600) == 0);
    CHECK_INT_EQ(known_hosts_read(&k, through, "ssh 10.0.0.1:22", &err), -1);
    CHECK_CONTAINS(err, "ssh 10.0.0.1:22: cannot read known_hosts");
    free(err);
    free(file);
    free(through);
    known_hosts_release(&k);
    known_hosts_release(&k); /* released twice: a zeroed struct is fine */
    free(missing);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(reads_past_unparsable_lines_and_honours_revoked);
    RUN(missing_file_is_empty_unreadable_is_an_error);
    char *rm = xasprintf("rm -rf '%s'", dir);
    if (system(rm) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(rm);
    return test_done();
}
