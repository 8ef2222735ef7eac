/*
 * git_fixture.h - the fixture of test_git_source.c: a harness directory with a
 * private HOME, a bare origin repository (two commits on main, tags v0.1 and
 * v1), the work clone commits are pushed from, and the default cache; git and
 * file helpers, syncs that print their error, a cache rebuilt and checked; an
 * sshd and git's http-backend (behind basic auth) serving the origin.
 * Included by that one test only; functions static inline.
 */
#ifndef RMGR_GIT_FIXTURE_H
#define RMGR_GIT_FIXTURE_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "git_source.h"
#include "harness.h"
#include "test.h"
#include "util.h"

static struct harness *h;
static const char *dir;     /* the harness directory */
static char *bare;          /* DIR/origin.git */
static char *work;          /* DIR/work: where commits are made and pushed from */
static char *url;           /* file://DIR/origin.git */
static char *cache;         /* DIR/cache */
static char c1[41], c2[41]; /* commits on main: "first: add a", "add b" */

/* ---- helpers ------------------------------------------------------------- */

/* Run git with the arguments (NULL-terminated) in `cwd`; stdout trimmed, or NULL on failure. */
static inline char *git_in(const char *cwd, ...)
{
    const char *argv[32] = {"git"};
    int n = 1;
    va_list ap;
    va_start(ap, cwd);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 31)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    int status = -1;
    if (harness_run_ex(argv, NULL, cwd, 60000, &out, &err, &status) != 0 || status != 0) {
        printf("    git %s failed (%d): %s", argv[1], status, err ? err : "");
        free(out);
        free(err);
        return NULL;
    }
    free(err);
    size_t len = strlen(out);
    while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        out[--len] = '\0';
    return out;
}

#define GIT(cwd, ...) free(git_in(cwd, __VA_ARGS__, (const char *)NULL))
#define GIT_OUT(cwd, ...) git_in(cwd, __VA_ARGS__, (const char *)NULL)

static inline void write_text(const char *path, const char *text)
{
    char *d = xstrdup(path);
    for (char *c = d + 1; *c; c++)
        if (*c == '/') {
            *c = '\0';
            mkdir(d, 0755);
            *c = '/';
        }
    free(d);
    FILE *f = fopen(path, "w");
    if (!f) {
        printf("    cannot write '%s': %s\n", path, strerror(errno));
        return;
    }
    fputs(text, f);
    fclose(f);
}

static inline void work_write(const char *rel, const char *text)
{
    char *p = xasprintf("%s/%s", work, rel);
    write_text(p, text);
    free(p);
}

/* Commit everything in work with `msg`; the new id into id (may be NULL). */
static inline void commit_all(const char *msg, char id[41])
{
    GIT(work, "add", "-A");
    GIT(work, "commit", "-q", "--allow-empty", "-m", msg);
    if (id) {
        char *h = GIT_OUT(work, "rev-parse", "HEAD");
        snprintf(id, 41, "%s", h ? h : "");
        free(h);
    }
}

static inline char *slurp_in(const char *d, const char *rel)
{
    char *p = xasprintf("%s/%s", d, rel);
    char *s = test_slurp(p);
    free(p);
    return s;
}

static inline bool exists(const char *d, const char *rel)
{
    char *p = xasprintf("%s/%s", d, rel);
    struct stat st;
    bool ok = lstat(p, &st) == 0;
    free(p);
    return ok;
}

static inline void rm_rf(const char *path)
{
    const char *argv[] = {"rm", "-rf", path, NULL};
    harness_run(argv, NULL, NULL, NULL);
}

/* Options for the main repository with the default test cache. */
static inline struct git_source_opts opts(const char *ref, const char *path)
{
    struct git_source_opts o = {.repo = url, .ref = ref, .path = path, .cache_dir = cache};
    return o;
}

/* Sync, printing the error if it fails. */
static inline int sync_ok(const struct git_source_opts *o, struct git_checkout *c)
{
    char *err = NULL;
    int rc = git_source_sync(o, c, &err);
    if (rc != 0)
        printf("    sync failed: %s\n", err ? err : "(no message)");
    free(err);
    return rc;
}

/* Sync expecting failure; returns the error (caller frees). */
static inline char *sync_err(const struct git_source_opts *o)
{
    struct git_checkout c;
    char *err = NULL;
    int rc = git_source_sync(o, &c, &err);
    if (rc == 0) {
        printf("    sync succeeded unexpectedly at %s\n", c.commit);
        git_checkout_release(&c);
    }
    CHECK(rc == -1);
    CHECK(err != NULL);
    CHECK(c.workdir == NULL && !c.locked);
    return err;
}

/* true when `git status` in the cache shows nothing at all. */
static inline bool cache_clean(const struct git_checkout *c)
{
    char *st = GIT_OUT(c->workdir, "status", "--porcelain", "--ignored", "--untracked-files=all");
    bool clean = st && !*st;
    if (!clean)
        printf("    cache not clean: %s\n", st ? st : "(git status failed)");
    free(st);
    return clean;
}

/* ---- setup ----------------------------------------------------------------- */

static inline int setup(void)
{
    h = harness_new("git-source");
    dir = harness_dir(h);
    char *home = xasprintf("%s/home", dir);
    mkdir(home, 0700);
    /* a private HOME: no user git config, known_hosts or cache leaks in or out */
    setenv("HOME", home, 1);
    free(home);
    const char *unset[] = {"XDG_CACHE_HOME", "XDG_CONFIG_HOME", "SSH_AUTH_SOCK", "RMGR_GIT_TOKEN",
                           "RMGR_GIT_USERNAME", "RMGR_GIT_PASSWORD", "RMGR_GIT_SSH_KEY",
                           "RMGR_GIT_SSH_PASSPHRASE", "RMGR_GIT_KNOWN_HOSTS", "GIT_DIR"};
    for (size_t i = 0; i < ARRAY_SIZE(unset); i++)
        unsetenv(unset[i]);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_AUTHOR_NAME", "Test", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@example.invalid", 1);
    setenv("GIT_COMMITTER_NAME", "Test", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@example.invalid", 1);

    bare = xasprintf("%s/origin.git", dir);
    work = xasprintf("%s/work", dir);
    url = xasprintf("file://%s", bare);
    cache = xasprintf("%s/cache", dir);
    GIT(dir, "init", "-q", "--bare", "-b", "main", bare);
    GIT(dir, "init", "-q", "-b", "main", work);
    GIT(work, "remote", "add", "origin", bare);

    work_write("specs/a.yaml", "name: a\nversion: 1\n");
    commit_all("first: add a", c1);
    GIT(work, "tag", "v0.1");
    work_write("specs/b.yaml", "name: b\n");
    work_write("specs/README.md", "not a spec\n");
    work_write("specs/sub/c.yaml", "name: c\n");
    work_write("specs/.hidden.yaml", "name: hidden\n");
    work_write("specs/notes.yaml.txt", "not a spec\n");
    commit_all("add b\n\nwith a body that is not the subject", c2);
    GIT(work, "tag", "-a", "v1", "-m", "release 1");
    GIT(work, "push", "-q", "origin", "main", "--tags");
    return c1[0] && c2[0] ? 0 : -1;
}

/* ---- syncing main into the default cache -------------------------------------- */

/* Sync main into the default cache and return its workdir (caller frees). */
static inline char *fresh_workdir(void)
{
    struct git_source_opts o = opts(NULL, "specs");
    struct git_checkout c;
    if (sync_ok(&o, &c) != 0)
        return NULL;
    char *wd = xstrdup(c.workdir);
    git_checkout_release(&c);
    return wd;
}

/* Sync main again and check it was rebuilt for `reason` and is clean. */
static inline void check_rebuilt(const char *reason)
{
    struct git_source_opts o = opts(NULL, "specs");
    struct git_checkout c;
    CHECK_INT_EQ(sync_ok(&o, &c), 0);
    CHECK(c.cloned);
    CHECK_CONTAINS(c.rebuilt, reason);
    if (getenv("TEST_VERBOSE"))
        printf("    (rebuilt: %s)\n", c.rebuilt ? c.rebuilt : "-");
    char *head = GIT_OUT(work, "rev-parse", "main");
    CHECK_STR_EQ(c.commit, head);
    free(head);
    char *a = slurp_in(c.spec_path, "a.yaml");
    char *want = slurp_in(work, "specs/a.yaml");
    CHECK_STR_EQ(a, want);
    free(a);
    free(want);
    CHECK(cache_clean(&c));
    git_checkout_release(&c);
    /* and the next sync is an ordinary fetch again */
    CHECK_INT_EQ(sync_ok(&o, &c), 0);
    CHECK(!c.cloned && c.rebuilt == NULL);
    git_checkout_release(&c);
}

/* ---- ssh -------------------------------------------------------------------------------- */

static struct hproc *sshd;
static char *ssh_url, *ssh_key, *ssh_bad_key, *ssh_known;

/* Start sshd on a free loopback port with an ed25519 host key; 0 or -1. */
static inline int start_sshd(void)
{
    if (access("/usr/sbin/sshd", X_OK) != 0)
        return -1;
    mkdir("/run/sshd", 0755);
    char *sd = xasprintf("%s/ssh", dir);
    mkdir(sd, 0700);
    char *hostkey = xasprintf("%s/host_ed25519", sd);
    ssh_key = xasprintf("%s/id_ed25519", sd);
    ssh_bad_key = xasprintf("%s/other_ed25519", sd);
    const char *k1[] = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostkey, NULL};
    const char *k2[] = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ssh_key, NULL};
    const char *k3[] = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ssh_bad_key, NULL};
    int st1 = -1, st2 = -1, st3 = -1;
    harness_run(k1, NULL, NULL, &st1);
    harness_run(k2, NULL, NULL, &st2);
    harness_run(k3, NULL, NULL, &st3);
    int port = harness_free_port();
    char *pub = xasprintf("%s.pub", ssh_key);
    char *auth = xasprintf("%s/authorized_keys", sd);
    char *pubtext = test_slurp(pub);
    write_text(auth, pubtext ? pubtext : "");
    char *hostpub = xasprintf("%s.pub", hostkey);
    char *hosttext = test_slurp(hostpub);
    ssh_known = xasprintf("[127.0.0.1]:%d %s", port, hosttext ? hosttext : "");
    char *conf = xasprintf("%s/sshd_config", sd);
    char *conftext = xasprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s\n"
                               "AuthorizedKeysFile %s\nStrictModes no\nUsePAM no\n"
                               "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                               "PermitRootLogin prohibit-password\nPidFile %s/sshd.pid\n"
                               "LogLevel VERBOSE\n",
                               port, hostkey, auth, sd);
    write_text(conf, conftext);
    const char *argv[] = {"/usr/sbin/sshd", "-D", "-e", "-f", conf, NULL};
    sshd = harness_start_cmd(h, "sshd", argv, port);
    const char *user = getenv("USER");
    if (!user || !*user)
        user = "root";
    ssh_url = xasprintf("ssh://%s@127.0.0.1:%d%s", user, port, bare);
    free(sd);
    free(hostkey);
    free(pub);
    free(auth);
    free(pubtext);
    free(hostpub);
    free(hosttext);
    free(conf);
    free(conftext);
    return sshd && st1 == 0 && st2 == 0 && st3 == 0 ? 0 : -1;
}

static inline void set_known_hosts(const char *text)
{
    char *d = xasprintf("%s/.ssh", getenv("HOME"));
    mkdir(d, 0700);
    char *p = xasprintf("%s/known_hosts", d);
    if (text)
        write_text(p, text);
    else
        unlink(p);
    free(p);
    free(d);
}

/* ---- http: git's own http-backend behind basic auth -------------------------------------------- */

static const char *http_server_py =
    "import base64, os, subprocess, sys\n"
    "from http.server import HTTPServer, BaseHTTPRequestHandler\n"
    "root, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]\n"
    "want = 'Basic ' + base64.b64encode((user + ':' + pw).encode()).decode()\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    def log_message(self, *a):\n"
    "        sys.stderr.write('%s %s\\n' % (self.command, self.path))\n"
    "    def do_GET(self): self.git()\n"
    "    def do_POST(self): self.git()\n"
    "    def body(self):\n"
    "        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':\n"
    "            out = b''\n"
    "            while True:\n"
    "                n = int(self.rfile.readline().split(b';')[0], 16)\n"
    "                if n == 0:\n"
    "                    self.rfile.readline(); return out\n"
    "                out += self.rfile.read(n); self.rfile.readline()\n"
    "        n = int(self.headers.get('Content-Length') or 0)\n"
    "        return self.rfile.read(n) if n else b''\n"
    "    def git(self):\n"
    "        if self.headers.get('Authorization') != want:\n"
    "            self.send_response(401)\n"
    "            self.send_header('WWW-Authenticate', 'Basic realm=\"git\"')\n"
    "            self.send_header('Content-Length', '0'); self.end_headers(); return\n"
    "        path, _, query = self.path.partition('?')\n"
    "        data = self.body()\n"
    "        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL='1',\n"
    "                   PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=self.command,\n"
    "                   CONTENT_TYPE=self.headers.get('Content-Type', ''),\n"
    "                   CONTENT_LENGTH=str(len(data)), REMOTE_USER=user,\n"
    "                   GIT_PROTOCOL=self.headers.get('Git-Protocol', ''))\n"
    "        out = subprocess.run(['git', 'http-backend'], input=data, env=env,\n"
    "                             stdout=subprocess.PIPE).stdout\n"
    "        sep = b'\\r\\n\\r\\n' if b'\\r\\n\\r\\n' in out else b'\\n\\n'\n"
    "        head, _, rest = out.partition(sep)\n"
    "        status, headers = 200, []\n"
    "        for line in head.decode().splitlines():\n"
    "            k, _, v = line.partition(':')\n"
    "            if k.lower() == 'status': status = int(v.split()[0])\n"
    "            elif k: headers.append((k, v.strip()))\n"
    "        self.send_response(status)\n"
    "        for k, v in headers: self.send_header(k, v)\n"
    "        self.send_header('Content-Length', str(len(rest)))\n"
    "        self.end_headers(); self.wfile.write(rest)\n"
    "HTTPServer(('127.0.0.1', port), H).serve_forever()\n";

static struct hproc *httpd;
static char *http_url;
#define HTTP_USER "bot"
#define HTTP_SECRET "s3cret-t0ken"

static inline int start_httpd(void)
{
    char *script = xasprintf("%s/git-http.py", dir);
    write_text(script, http_server_py);
    int port = harness_free_port();
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    const char *argv[] = {"/usr/bin/python3", script, dir, ps, HTTP_USER, HTTP_SECRET, NULL};
    httpd = harness_start_cmd(h, "git-http", argv, port);
    http_url = xasprintf("http://127.0.0.1:%d/origin.git", port);
    free(script);
    return httpd ? 0 : -1;
}

static inline void clear_http_env(void)
{
    unsetenv("RMGR_GIT_TOKEN");
    unsetenv("RMGR_GIT_USERNAME");
    unsetenv("RMGR_GIT_PASSWORD");
}

/* true when no file under `d` contains `needle` */
static inline bool secret_not_in_tree(const char *d, const char *needle)
{
    const char *argv[] = {"grep", "-r", "-l", "-F", needle, d, NULL};
    char *out = NULL;
    int st = -1;
    harness_run(argv, &out, NULL, &st);
    bool absent = st == 1;
    if (!absent)
        printf("    '%s' found in: %s\n", needle, out ? out : "?");
    free(out);
    return absent;
}

#endif
