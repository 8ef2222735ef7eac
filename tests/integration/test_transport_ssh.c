/*
 * test_transport_ssh.c - the ssh transport against a real sshd on 127.0.0.1.
 *
 * If sshd cannot be started here the test fails (it never skips): an ssh
 * transport that was never exercised is not known to work.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "harness.h"
#include "harness_sshd.h"
#include "spec.h"
#include "test.h"
#include "transport.h"
#include "util.h"

static struct harness *h;
static struct hsshd *sshd;
static struct spec *spec;       /* host h1 -> the test sshd */
static struct transport *t;     /* one transport reused by most tests */

/* A spec whose hosts: section is `hosts_yaml`. NULL (and diagnostics printed) on error. */
static struct spec *make_spec(const char *hosts_yaml)
{
    char *yaml = xasprintf("cluster: t\n"
                           "hosts:\n%s"
                           "defaults:\n"
                           "  transport: ssh\n"
                           "  base_dir: /tmp/rmgr-test-ssh\n"
                           "shards:\n"
                           "  - name: s1\n"
                           "    master: h1:7001\n"
                           "sentinel:\n"
                           "  quorum: 1\n"
                           "  nodes: [h1:27001]\n",
                           hosts_yaml);
    struct diags d = {0};
    struct spec *s = spec_load_buffer("test-ssh.yaml", yaml, strlen(yaml), &d);
    if (!s) {
        printf("    spec did not load:\n%s\n", yaml);
        diags_print(&d, stdout);
    }
    diags_release(&d);
    free(yaml);
    return s;
}

/* The h1 entry with some ssh fields replaced. */
static struct spec *spec_with(const char *identity, const char *known_hosts, int port)
{
    char *hosts = xasprintf("  h1:\n"
                            "    address: %s\n"
                            "    transport: ssh\n"
                            "    ssh:\n"
                            "      port: %d\n"
                            "      user: %s\n"
                            "      identity: %s\n"
                            "      known_hosts: %s\n",
                            sshd->ip, port ? port : sshd->port, sshd->user,
                            identity ? identity : sshd->client_key,
                            known_hosts ? known_hosts : sshd->known_hosts);
    struct spec *s = make_spec(hosts);
    free(hosts);
    return s;
}

static char *in_dir(const char *name)
{
    return xasprintf("%s/%s", sshd->dir, name);
}

static int run(struct transport *tt, const char *const *argv, struct exec_result *r)
{
    char *err = NULL;
    int rc = transport_exec(tt, argv, r, &err);
    if (rc != 0)
        printf("    exec failed: %s\n", err ? err : "(no message)");
    free(err);
    return rc;
}

/* ---- exec ---------------------------------------------------------------- */

TEST(exec_status_stdout_stderr)
{
    struct exec_result r;
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    CHECK_INT_EQ(run(t, argv, &r), 0);
    CHECK_INT_EQ(r.status, 3);
    CHECK_STR_EQ(r.out, "out\n");
    CHECK_STR_EQ(r.err, "err\n");
    exec_result_release(&r);

    const char *ok[] = {"true", NULL};
    CHECK_INT_EQ(run(t, ok, &r), 0);
    CHECK_INT_EQ(r.status, 0);
    CHECK_STR_EQ(r.out, "");
    exec_result_release(&r);
}

TEST(exec_quoting_round_trip)
{
    /* every argument must arrive byte for byte: the remote shell interprets nothing */
    struct exec_result r;
    const char *argv[] = {"printf", "[%s]\\n", "it's", "a \"b\" c", "$(echo pwned)", "`id`",
                          "$HOME", "", "x\ny", "; rm -rf /tmp/nothing #", "\\", "'", "*", NULL};
    CHECK_INT_EQ(run(t, argv, &r), 0);
    CHECK_INT_EQ(r.status, 0);
    CHECK_STR_EQ(r.out, "[it's]\n[a \"b\" c]\n[$(echo pwned)]\n[`id`]\n[$HOME]\n[]\n[x\ny]\n"
                        "[; rm -rf /tmp/nothing #]\n[\\]\n[']\n[*]\n");
    CHECK_STR_EQ(r.err, "");
    exec_result_release(&r);
}

TEST(exec_signal_is_128_plus_n)
{
    struct exec_result r;
    const char *argv[] = {"sh", "-c", "kill -TERM $$", NULL};
    CHECK_INT_EQ(run(t, argv, &r), 0);
    CHECK_INT_EQ(r.status, 128 + 15);
    exec_result_release(&r);
}

TEST(exec_missing_command)
{
    struct exec_result r;
    const char *argv[] = {"rmgr-no-such-command-here", NULL};
    CHECK_INT_EQ(run(t, argv, &r), 0);
    CHECK_INT_EQ(r.status, 127);
    CHECK_CONTAINS(r.err, "not found");
    exec_result_release(&r);
}

TEST(exec_large_output_on_both_streams)
{
    struct exec_result r;
    const char *argv[] = {"sh", "-c",
                          "i=0; while [ $i -lt 32 ]; do head -c 65536 /dev/zero | tr '\\0' o; "
                          "head -c 65536 /dev/zero | tr '\\0' e >&2; i=$((i+1)); done",
                          NULL};
    CHECK_INT_EQ(run(t, argv, &r), 0);
    CHECK_INT_EQ(r.status, 0);
    CHECK_INT_EQ(strlen(r.out), 32 * 65536);
    CHECK_INT_EQ(strlen(r.err), 32 * 65536);
    exec_result_release(&r);
}

TEST(exec_stdin_is_empty)
{
    /* a command that reads stdin must see EOF, not hang */
    struct exec_result r;
    const char *argv[] = {"cat", NULL};
    CHECK_INT_EQ(run(t, argv, &r), 0);
    CHECK_INT_EQ(r.status, 0);
    CHECK_STR_EQ(r.out, "");
    exec_result_release(&r);
}

/* ---- files --------------------------------------------------------------- */

TEST(write_read_back_with_mode)
{
    char *path = in_dir("files/a/b/redis.conf");
    char *err = NULL;
    const char data[] = "port 7001\n\0binary\xff";
    CHECK_INT_EQ(transport_write_file(t, path, data, sizeof(data), 0640, &err), 0);
    if (err)
        printf("    %s\n", err);
    free(err);
    err = NULL;
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640);

    char *out = NULL;
    size_t len = 0;
    CHECK_INT_EQ(transport_read_file(t, path, 1 << 20, &out, &len, &err), 0);
    CHECK_INT_EQ(len, sizeof(data));
    CHECK(out && memcmp(out, data, sizeof(data)) == 0);
    free(out);

    /* overwrite: new content and mode, and no temp file left beside it */
    CHECK_INT_EQ(transport_write_file(t, path, "second", 6, 0600, &err), 0);
    if (err)
        printf("    %s\n", err);
    free(err);
    err = NULL;
    CHECK_INT_EQ(transport_read_file(t, path, 1 << 20, &out, &len, &err), 0);
    CHECK_STR_EQ(out, "second");
    free(out);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
    char *dir = in_dir("files/a/b");
    const char *ls[] = {"ls", "-A", dir, NULL};
    struct exec_result r;
    CHECK_INT_EQ(run(t, ls, &r), 0);
    CHECK_STR_EQ(r.out, "redis.conf\n");
    exec_result_release(&r);
    free(dir);
    free(path);
}

/* Issue 14 finding 9: the temps an interrupted SFTP write left are removed by the next one. */
TEST(stale_temps_of_a_file_are_removed_when_it_is_written)
{
    char *dir = in_dir("files/stale");
    char *target = in_dir("files/stale/nutcracker.yml");
    char *e0 = NULL;
    CHECK_INT_EQ(transport_mkdir(t, dir, 0700, &e0), 0);
    free(e0);
    /* what a rmgr killed -9 mid-write left (another pid), a live thread's temp (ours), and
     * another file's temp: only the first go when the file is written again */
    const char *names[] = {"%s/%s.rmgr-tmp.%ld.7", "%s/.%s.rmgr-tmp.%ld.8", "%s/%s.rmgr-tmp.%ld.9",
                           "%s/other.conf.rmgr-tmp.%ld.1"};
    long pids[] = {999999, 999999, (long)getpid(), 999999};
    char *paths[4];
    for (int i = 0; i < 4; i++) {
        paths[i] = i < 3 ? xasprintf(names[i], dir, "nutcracker.yml", pids[i])
                         : xasprintf(names[i], dir, pids[i]);
        FILE *f = fopen(paths[i], "w");
        CHECK(f != NULL);
        if (f) {
            fputs("redis_auth: secret\n", f);
            fclose(f);
        }
    }
    char *err = NULL;
    CHECK_INT_EQ(transport_write_file(t, target, "x\n", 2, 0600, &err), 0);
    if (err)
        printf("    %s\n", err);
    free(err);
    struct stat st;
    CHECK(stat(paths[0], &st) < 0 && errno == ENOENT);
    CHECK(stat(paths[1], &st) < 0 && errno == ENOENT);
    CHECK(stat(paths[2], &st) == 0); /* this process's own: maybe being written */
    CHECK(stat(paths[3], &st) == 0); /* another file's */
    for (int i = 0; i < 4; i++) {
        unlink(paths[i]);
        free(paths[i]);
    }
    free(target);
    free(dir);
}

TEST(write_large_file)
{
    size_t n = 3 * 1024 * 1024 + 17;
    char *data = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 7 + i / 251);
    char *path = in_dir("files/big.bin");
    char *err = NULL;
    CHECK_INT_EQ(transport_write_file(t, path, data, n, 0644, &err), 0);
    free(err);
    err = NULL;
    char *out = NULL;
    size_t len = 0;
    CHECK_INT_EQ(transport_read_file(t, path, n, &out, &len, &err), 0);
    CHECK_INT_EQ(len, n);
    CHECK(out && memcmp(out, data, n) == 0);
    free(out);
    out = NULL;
    CHECK_INT_EQ(transport_read_file(t, path, n - 1, &out, &len, &err), -1);
    CHECK_CONTAINS(err, "larger than");
    CHECK(out == NULL);
    free(err);
    free(path);
    free(data);
}

/* finding 1 of issue 14: a redis.conf symlinked to a credentials file must not be read */
TEST(symlinked_file_is_refused)
{
    char *target = in_dir("secret-target"), *link_path = in_dir("redis.conf.link");
    char *err = NULL, *out = NULL;
    size_t len = 0;
    CHECK_INT_EQ(transport_write_file(t, target, "machine github.com password ghp_x\n", 34, 0600,
                                      &err), 0);
    unlink(link_path);
    CHECK_INT_EQ(symlink(target, link_path), 0);
    CHECK_INT_EQ(transport_read_file(t, link_path, 1024, &out, &len, &err), -1);
    CHECK(out == NULL);
    CHECK_CONTAINS(err, "symbolic link");
    CHECK(!err || !strstr(err, "ghp_x"));
    free(err);
    unlink(link_path);
    unlink(target);
    free(target);
    free(link_path);
}

TEST(missing_file_is_1)
{
    char *path = in_dir("no/such/file");
    char *err = NULL, *out = NULL;
    size_t len = 0;
    long long mt = 0;
    CHECK_INT_EQ(transport_read_file(t, path, 1024, &out, &len, &err), 1);
    CHECK(out == NULL && err == NULL);
    CHECK_INT_EQ(transport_stat_mtime(t, path, &mt, &err), 1);
    CHECK(err == NULL);
    free(path);
}

TEST(stat_mtime)
{
    char *path = in_dir("files/mtime");
    char *err = NULL;
    CHECK_INT_EQ(transport_write_file(t, path, "m", 1, 0644, &err), 0);
    const char *touch[] = {"touch", "-d", "@1700000000", path, NULL};
    struct exec_result r;
    CHECK_INT_EQ(run(t, touch, &r), 0);
    CHECK_INT_EQ(r.status, 0);
    exec_result_release(&r);
    long long mt = 0;
    CHECK_INT_EQ(transport_stat_mtime(t, path, &mt, &err), 0);
    CHECK_INT_EQ(mt, 1700000000LL);
    free(path);
}

TEST(mkdir_p_with_mode)
{
    char *path = in_dir("dirs/d1/d2/d3");
    char *err = NULL;
    CHECK_INT_EQ(transport_mkdir(t, path, 0700, &err), 0);
    if (err)
        printf("    %s\n", err);
    free(err);
    err = NULL;
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
    CHECK_INT_EQ(transport_mkdir(t, path, 0700, &err), 0);
    char *f = in_dir("dirs/file");
    CHECK_INT_EQ(transport_write_file(t, f, "", 0, 0644, &err), 0);
    char *under = in_dir("dirs/file/sub");
    CHECK_INT_EQ(transport_mkdir(t, under, 0755, &err), -1);
    CHECK_CONTAINS(err, "not a directory");
    free(err);
    free(under);
    free(f);
    free(path);
}

/* ---- sessions ------------------------------------------------------------ */

TEST(one_session_for_every_operation)
{
    /* all tests so far used `t`: sshd saw exactly one login */
    CHECK_INT_EQ(hsshd_logins(sshd), 1);
    CHECK_STR_EQ(transport_host(t), "h1");
}

/*
 * A command past its timeout fails at once and drops the session (with
 * keep_shell: the shell with it); the next command connects again and works.
 */
static void timeout_then_again(bool keep_shell)
{
    /* long enough that `echo` fits even on a loaded machine */
    struct transport_options o = {.command_timeout_ms = 1500, .keep_shell = keep_shell};
    char *err = NULL;
    int before = hsshd_logins(sshd);
    struct transport *tt = transport_open(spec, "h1", &o, &err);
    CHECK(tt != NULL);
    if (!tt) {
        printf("    %s\n", err);
        free(err);
        return;
    }
    struct exec_result r;
    const char *first[] = {"echo", "first", NULL};
    CHECK_INT_EQ(run(tt, first, &r), 0);
    CHECK_STR_EQ(r.out, "first\n");
    exec_result_release(&r);
    const char *slow[] = {"sleep", "6", NULL};
    long long t0 = now_ms();
    CHECK_INT_EQ(transport_exec(tt, slow, &r, &err), -1);
    CHECK(now_ms() - t0 < 5000);
    CHECK_CONTAINS(err, keep_shell ? "timed out" : "timed out after 1500 ms");
    free(err);
    err = NULL;
    const char *ok[] = {"echo", "back", NULL};
    CHECK_INT_EQ(run(tt, ok, &r), 0);
    CHECK_STR_EQ(r.out, "back\n");
    CHECK_STR_EQ(r.err, "");
    exec_result_release(&r);
    CHECK_INT_EQ(hsshd_logins(sshd) - before, 2);
    transport_close(tt);
}

TEST(command_timeout_then_reconnect)
{
    timeout_then_again(false);
}

TEST(kept_shell_timeout_then_again)
{
    timeout_then_again(true);
}

TEST(open_by_ip_uses_defaults)
{
    /* an IP that is a hosts: address gets that host's ssh settings */
    char *err = NULL;
    struct transport *tt = transport_open(spec, "127.0.0.1", NULL, &err);
    CHECK(tt != NULL);
    if (!tt) {
        printf("    %s\n", err);
        free(err);
        return;
    }
    struct exec_result r;
    const char *argv[] = {"echo", "ip", NULL};
    CHECK_INT_EQ(run(tt, argv, &r), 0);
    CHECK_STR_EQ(r.out, "ip\n");
    exec_result_release(&r);
    transport_close(tt);
}

/* ---- host keys ------------------------------------------------------------ */

TEST(changed_host_key_refused)
{
    char *other = in_dir("other_host_key");
    char *other_pub = NULL;
    CHECK(harness_ssh_keygen(other, &other_pub, NULL) == 0);
    char *kh = in_dir("known_hosts_changed");
    char *line = xasprintf("[%s]:%d %s\n", sshd->ip, sshd->port, other_pub ? other_pub : "");
    CHECK(write_file_atomic(kh, line, strlen(line), 0600) == 0);
    struct spec *s = spec_with(NULL, kh, 0);
    CHECK(s != NULL);
    for (int accept = 0; s && accept < 2; accept++) {
        /* accept_new never replaces a changed key */
        struct transport_options o = {.accept_new_host_keys = accept};
        char *err = NULL;
        struct transport *tt = transport_open(s, "h1", &o, &err);
        CHECK(tt == NULL);
        CHECK_CONTAINS(err, "CHANGED");
        CHECK_CONTAINS(err, sshd->host_fp);
        CHECK_CONTAINS(err, "man-in-the-middle");
        free(err);
        transport_close(tt);
    }
    char *after = test_slurp(kh);
    CHECK_STR_EQ(after, line);
    free(after);
    spec_free(s);
    free(line);
    free(kh);
    free(other_pub);
    free(other);
}

TEST(unknown_host_key_refused_then_accepted)
{
    char *kh = in_dir("known_hosts_new/known_hosts"); /* directory does not exist yet */
    struct spec *s = spec_with(NULL, kh, 0);
    CHECK(s != NULL);
    if (!s)
        return;
    char *err = NULL;
    struct transport *tt = transport_open(s, "h1", NULL, &err);
    CHECK(tt == NULL);
    char *expect = xasprintf("host key for [%s]:%d is not in known_hosts (ED25519 %s)",
                             sshd->ip, sshd->port, sshd->host_fp);
    CHECK_CONTAINS(err, expect);
    CHECK_CONTAINS(err, "--accept-new-host-keys");
    free(expect);
    free(err);
    err = NULL;
    transport_close(tt);
    CHECK(access(kh, F_OK) < 0);

    struct transport_options o = {.accept_new_host_keys = true};
    tt = transport_open(s, "h1", &o, &err);
    CHECK(tt != NULL);
    if (err)
        printf("    %s\n", err);
    free(err);
    err = NULL;
    transport_close(tt);
    char *text = test_slurp(kh);
    char *line = xasprintf("[%s]:%d %s\n", sshd->ip, sshd->port, sshd->host_pub);
    CHECK_STR_EQ(text, line);
    free(line);
    free(text);

    /* now known: no flag needed, and the file is not touched again */
    tt = transport_open(s, "h1", NULL, &err);
    CHECK(tt != NULL);
    if (err)
        printf("    %s\n", err);
    free(err);
    transport_close(tt);
    text = test_slurp(kh);
    CHECK(text && strchr(text, '\n') == text + strlen(text) - 1); /* still one line */
    free(text);
    spec_free(s);
    free(kh);
}

TEST(accept_new_appends_to_existing_file)
{
    /* other entries (and a file without a final newline) are kept as they are */
    char *kh = in_dir("known_hosts_append");
    const char *before = "# my hosts\n10.9.9.9 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0ZqIL0fKGnIO2wqZMWYzUZ+4BrJwRMKSGgGwwZBFJa";
    CHECK(write_file_atomic(kh, before, strlen(before), 0600) == 0);
    struct spec *s = spec_with(NULL, kh, 0);
    struct transport_options o = {.accept_new_host_keys = true};
    char *err = NULL;
    struct transport *tt = s ? transport_open(s, "h1", &o, &err) : NULL;
    CHECK(tt != NULL);
    if (err)
        printf("    %s\n", err);
    free(err);
    transport_close(tt);
    char *text = test_slurp(kh);
    char *expect = xasprintf("%s\n[%s]:%d %s\n", before, sshd->ip, sshd->port, sshd->host_pub);
    CHECK_STR_EQ(text, expect);
    free(expect);
    free(text);
    spec_free(s);
    free(kh);
}

TEST(other_key_type_known_refused)
{
    /* known_hosts has an ECDSA key for the host, the server offers only ED25519 */
    char *key = in_dir("ecdsa_host_key");
    unlink(key);
    const char *gen[] = {"ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", key, NULL};
    int status = -1;
    CHECK(harness_run(gen, NULL, NULL, &status) == 0 && status == 0);
    char *pub_path = xasprintf("%s.pub", key);
    char *pub = test_slurp(pub_path);
    CHECK(pub != NULL);
    char *kh = in_dir("known_hosts_ecdsa");
    char *line = xasprintf("[%s]:%d %s", sshd->ip, sshd->port, pub ? pub : "");
    CHECK(write_file_atomic(kh, line, strlen(line), 0600) == 0);
    struct spec *s = spec_with(NULL, kh, 0);
    struct transport_options o = {.accept_new_host_keys = true};
    char *err = NULL;
    struct transport *tt = s ? transport_open(s, "h1", &o, &err) : NULL;
    CHECK(tt == NULL);
    CHECK_CONTAINS(err, "a key of another type");
    CHECK_CONTAINS(err, sshd->host_fp);
    free(err);
    transport_close(tt);
    char *after = test_slurp(kh);
    CHECK_STR_EQ(after, line); /* not added */
    free(after);
    spec_free(s);
    free(line);
    free(kh);
    free(pub);
    free(pub_path);
    free(key);
}

TEST(revoked_host_key_refused)
{
    char *kh = in_dir("known_hosts_revoked");
    char *text = xasprintf("@revoked * %s\n[%s]:%d %s\n", sshd->host_pub, sshd->ip, sshd->port,
                           sshd->host_pub);
    CHECK(write_file_atomic(kh, text, strlen(text), 0600) == 0);
    struct spec *s = spec_with(NULL, kh, 0);
    char *err = NULL;
    struct transport *tt = s ? transport_open(s, "h1", NULL, &err) : NULL;
    CHECK(tt == NULL);
    CHECK_CONTAINS(err, "@revoked");
    free(err);
    transport_close(tt);
    spec_free(s);
    free(text);
    free(kh);
}

/* A spec for h1 without identity: authentication goes through ssh-agent. */
static struct spec *spec_without_identity(void)
{
    char *hosts = xasprintf("  h1:\n"
                            "    address: %s\n"
                            "    transport: ssh\n"
                            "    ssh:\n"
                            "      port: %d\n"
                            "      user: %s\n"
                            "      known_hosts: %s\n",
                            sshd->ip, sshd->port, sshd->user, sshd->known_hosts);
    struct spec *s = make_spec(hosts);
    free(hosts);
    return s;
}

TEST(no_identity_and_no_agent)
{
    char *saved = getenv("SSH_AUTH_SOCK") ? xstrdup(getenv("SSH_AUTH_SOCK")) : NULL;
    unsetenv("SSH_AUTH_SOCK");
    struct spec *s = spec_without_identity();
    CHECK(s != NULL);
    char *err = NULL;
    struct transport *tt = s ? transport_open(s, "h1", NULL, &err) : NULL;
    CHECK(tt == NULL);
    CHECK_CONTAINS(err, "no ssh-agent");
    free(err);
    transport_close(tt);
    spec_free(s);
    if (saved)
        setenv("SSH_AUTH_SOCK", saved, 1);
    free(saved);
}

TEST(auth_with_ssh_agent)
{
    char *sock = in_dir("agent.sock");
    const char *agent[] = {"ssh-agent", "-D", "-a", sock, NULL};
    struct hproc *p = harness_start_cmd(h, "ssh-agent", agent, 0);
    CHECK(p != NULL);
    for (int i = 0; i < 100 && access(sock, F_OK) < 0; i++)
        harness_sleep_ms(20);
    char *saved = getenv("SSH_AUTH_SOCK") ? xstrdup(getenv("SSH_AUTH_SOCK")) : NULL;
    setenv("SSH_AUTH_SOCK", sock, 1);

    struct spec *s = spec_without_identity();
    char *err = NULL;
    /* an empty agent first */
    struct transport *tt = s ? transport_open(s, "h1", NULL, &err) : NULL;
    CHECK(tt == NULL);
    CHECK_CONTAINS(err, "ssh-agent has no keys");
    free(err);
    err = NULL;
    transport_close(tt);

    const char *add[] = {"ssh-add", "-q", sshd->client_key, NULL};
    int status = -1;
    CHECK(harness_run(add, NULL, NULL, &status) == 0 && status == 0);
    tt = s ? transport_open(s, "h1", NULL, &err) : NULL;
    CHECK(tt != NULL);
    if (err)
        printf("    %s\n", err);
    free(err);
    if (tt) {
        struct exec_result r;
        const char *argv[] = {"echo", "agent", NULL};
        CHECK_INT_EQ(run(tt, argv, &r), 0);
        CHECK_STR_EQ(r.out, "agent\n");
        exec_result_release(&r);
    }
    transport_close(tt);
    spec_free(s);
    if (saved)
        setenv("SSH_AUTH_SOCK", saved, 1);
    else
        unsetenv("SSH_AUTH_SOCK");
    free(saved);
    if (p)
        harness_stop(h, p);
    free(sock);
}

/* ---- authentication and connection errors ------------------------------------ */

TEST(refused_client_key)
{
    char *key = in_dir("stranger_key");
    CHECK(harness_ssh_keygen(key, NULL, NULL) == 0);
    struct spec *s = spec_with(key, NULL, 0);
    char *err = NULL;
    struct transport *tt = s ? transport_open(s, "h1", NULL, &err) : NULL;
    CHECK(tt == NULL);
    char *expect = xasprintf("ssh %s:%d: key %s refused for user %s", sshd->ip, sshd->port, key,
                             sshd->user);
    CHECK_CONTAINS(err, expect);
    free(expect);
    free(err);
    transport_close(tt);
    spec_free(s);
    free(key);
}

TEST(missing_client_key)
{
    struct spec *s = spec_with("/nonexistent/id_ed25519", NULL, 0);
    char *err = NULL;
    struct transport *tt = s ? transport_open(s, "h1", NULL, &err) : NULL;
    CHECK(tt == NULL);
    CHECK_CONTAINS(err, "cannot read key '/nonexistent/id_ed25519'");
    free(err);
    transport_close(tt);
    spec_free(s);
}

TEST(sshd_not_running_is_connection_refused)
{
    int port = harness_free_port();
    struct spec *s = spec_with(NULL, NULL, port);
    char *err = NULL;
    struct transport *tt = s ? transport_open(s, "h1", NULL, &err) : NULL;
    CHECK(tt == NULL);
    char *expect = xasprintf("ssh %s:%d: connection refused", sshd->ip, port);
    CHECK_STR_EQ(err, expect);
    free(expect);
    free(err);
    transport_close(tt);
    spec_free(s);
}

TEST(silent_server_times_out)
{
    /* a listener that never speaks: the kernel accepts, the ssh banner never comes */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(listen(fd, 4) == 0);
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    int port = ntohs(a.sin_port);
    struct spec *s = spec_with(NULL, NULL, port);
    struct transport_options o = {.connect_timeout_ms = 300};
    char *err = NULL;
    long long t0 = now_ms();
    struct transport *tt = s ? transport_open(s, "h1", &o, &err) : NULL;
    CHECK(now_ms() - t0 < 3000);
    CHECK(tt == NULL);
    CHECK_CONTAINS(err, "timed out after 300 ms");
    free(err);
    transport_close(tt);
    spec_free(s);
    close(fd);
}

TEST(unknown_host_name)
{
    char *err = NULL;
    struct transport *tt = transport_open(spec, "nosuchhost", NULL, &err);
    CHECK(tt == NULL);
    CHECK_CONTAINS(err, "nosuchhost");
    free(err);
    transport_close(tt);
}

int main(void)
{
    h = harness_new("transport-ssh");
    sshd = harness_start_sshd(h, NULL);
    if (!sshd) {
        printf("FAIL cannot start sshd on this machine (see the messages above): the ssh "
               "transport cannot be tested\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    char *hosts = hsshd_host_yaml(sshd, "h1");
    spec = make_spec(hosts);
    free(hosts);
    char *err = NULL;
    t = spec ? transport_open(spec, "h1", NULL, &err) : NULL;
    if (!t) {
        printf("FAIL cannot open the ssh transport: %s\n", err ? err : "(spec did not load)");
        printf("0 passed, 1 failed\n");
        free(err);
        spec_free(spec);
        harness_stop_sshd(h, sshd);
        harness_cleanup(h);
        return 1;
    }
    RUN(exec_status_stdout_stderr);
    RUN(exec_quoting_round_trip);
    RUN(exec_signal_is_128_plus_n);
    RUN(exec_missing_command);
    RUN(exec_large_output_on_both_streams);
    RUN(exec_stdin_is_empty);
    RUN(write_read_back_with_mode);
    RUN(write_large_file);
    RUN(stale_temps_of_a_file_are_removed_when_it_is_written);
    RUN(symlinked_file_is_refused);
    RUN(missing_file_is_1);
    RUN(stat_mtime);
    RUN(mkdir_p_with_mode);
    RUN(one_session_for_every_operation);
    /* the same exec contract through one remote shell kept open (keep_shell) */
    struct transport *plain = t;
    struct transport_options keep = {.keep_shell = true};
    t = transport_open(spec, "h1", &keep, &err);
    CHECK(t != NULL);
    if (t) {
        RUN(exec_status_stdout_stderr);
        RUN(exec_quoting_round_trip);
        RUN(exec_signal_is_128_plus_n);
        RUN(exec_missing_command);
        RUN(exec_large_output_on_both_streams);
        RUN(exec_stdin_is_empty);
        transport_close(t);
    } else {
        printf("    %s\n", err ? err : "");
        free(err);
        err = NULL;
    }
    t = plain;
    RUN(kept_shell_timeout_then_again);
    RUN(command_timeout_then_reconnect);
    RUN(open_by_ip_uses_defaults);
    RUN(changed_host_key_refused);
    RUN(unknown_host_key_refused_then_accepted);
    RUN(accept_new_appends_to_existing_file);
    RUN(other_key_type_known_refused);
    RUN(revoked_host_key_refused);
    RUN(no_identity_and_no_agent);
    RUN(auth_with_ssh_agent);
    RUN(refused_client_key);
    RUN(missing_client_key);
    RUN(sshd_not_running_is_connection_refused);
    RUN(silent_server_times_out);
    RUN(unknown_host_name);
    transport_close(t);
    spec_free(spec);
    harness_stop_sshd(h, sshd);
    harness_cleanup(h);
    return test_done();
}
