/*
 * etcd.c - the v3 JSON gateway client. See etcd.h.
 */
#include "etcd.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secrets_dir.h"
#include "util.h"

#define ETCD_DEFAULT_TIMEOUT_MS 2000
#define ETCD_MAX_ANSWER (4 * 1024 * 1024)

struct etcd {
    char *url;
    char **endpoints; /* "http://h:p" or "https://h:p" */
    size_t nendpoints;
    char *cacert, *cert, *key;
    char *user, *password;
    long timeout_ms;
    pthread_mutex_t mu; /* current, token */
    size_t current;     /* the endpoint that answered last */
    char *token;        /* auth token, NULL until authenticated */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ok;

static void curl_init_once(void)
{
    curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* "user:password" from the file under the secrets directory. 0, or -1 with *err. */
static int read_user_file(struct etcd *e, const char *file, char **err)
{
    int fd = secrets_dir_open(file, err);
    if (fd < 0)
        return -1;
    char *text = NULL;
    size_t len = 0;
    int rc = read_fd(fd, 4096, &text, &len);
    close(fd);
    if (rc < 0) {
        *err = xasprintf("cannot read the etcd user file '%s'", file);
        return -1;
    }
    text[strcspn(text, "\r\n")] = '\0';
    char *colon = strchr(text, ':');
    if (!colon || colon == text) {
        secret_free(text);
        *err = xasprintf("the etcd user file '%s' must hold one line USER:PASSWORD", file);
        return -1;
    }
    *colon = '\0';
    e->user = xstrdup(text);
    e->password = xstrdup(colon + 1);
    secret_free(text);
    return 0;
}

struct etcd *etcd_new(const struct etcd_options *o, char **err)
{
    const char *url = o->url;
    if (!url || !str_starts_with(url, "etcd://") || !url[7]) {
        *err = xasprintf("a lock must be etcd://HOST:PORT[,HOST:PORT...], not '%s'",
                         url ? url : "");
        return NULL;
    }
    struct etcd *e = xcalloc(1, sizeof(*e));
    pthread_mutex_init(&e->mu, NULL);
    e->url = xstrdup(url);
    e->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : ETCD_DEFAULT_TIMEOUT_MS;
    e->cacert = xstrdup(o->cacert);
    e->cert = xstrdup(o->cert);
    e->key = xstrdup(o->key);
    bool tls = o->cacert || o->cert;
    char *list = xstrdup(url + 7);
    char *save = NULL;
    for (char *hp = strtok_r(list, ",", &save); hp; hp = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(hp, ':');
        long port = 0;
        bool ok = colon && colon != hp && parse_long(colon + 1, 1, 65535, &port) &&
                  !strpbrk(hp, "/?#@ ");
        if (!ok) {
            *err = xasprintf("'%s' in --lock is not HOST:PORT", hp);
            free(list);
            etcd_free(e);
            return NULL;
        }
        e->endpoints = xrealloc(e->endpoints, (e->nendpoints + 1) * sizeof(char *));
        e->endpoints[e->nendpoints++] = xasprintf("%s://%s", tls ? "https" : "http", hp);
    }
    free(list);
    if (!e->nendpoints) {
        *err = xasprintf("--lock '%s' names no HOST:PORT", url);
        etcd_free(e);
        return NULL;
    }
    if (o->user_file && read_user_file(e, o->user_file, err) < 0) {
        etcd_free(e);
        return NULL;
    }
    return e;
}

void etcd_free(struct etcd *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nendpoints; i++)
        free(e->endpoints[i]);
    free(e->endpoints);
    free(e->url);
    free(e->cacert);
    free(e->cert);
    free(e->key);
    free(e->user);
    secret_free(e->password);
    secret_free(e->token);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

const char *etcd_url(const struct etcd *e)
{
    return e->url;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
    struct strbuf *sb = ud;
    size_t n = size * nmemb;
    if (sb->len + n > ETCD_MAX_ANSWER)
        return 0; /* an answer this large is not etcd's: fail the transfer */
    sb_addn(sb, data, n);
    return n;
}

/*
 * One POST to one endpoint. Returns the HTTP status (the body in *answer),
 * or -1 when the member could not be reached (*err says why).
 */
static long post(struct etcd *e, const char *endpoint, const char *path, const char *json,
                 const char *token, struct strbuf *answer, char **err)
{
    pthread_once(&curl_once, curl_init_once);
    CURL *h = curl_ok ? curl_easy_init() : NULL;
    if (!h) {
        *err = xstrdup("cannot initialise libcurl");
        return -1;
    }
    char *url = xasprintf("%s%s", endpoint, path);
    char *auth = token ? xasprintf("Authorization: %s", token) : NULL;
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* etcd is reached directly, never via a proxy */
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, e->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, e->timeout_ms < 1000 ? e->timeout_ms : 1000);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, answer);
    if (e->cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, e->cacert);
    if (e->cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, e->cert);
    if (e->key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, e->key);
    /* curl's own words say which side of a TLS handshake failed ("tlsv13 alert
     * certificate required"), where curl_easy_strerror says "Failed sending data" */
    char detail[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
    CURLcode rc = curl_easy_perform(h);
    long status = -1;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else if (detail[0])
        *err = xasprintf("%s: %s (%s)", endpoint, curl_easy_strerror(rc), detail);
    else
        *err = xasprintf("%s: %s", endpoint, curl_easy_strerror(rc));
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    secret_free(auth);
    free(url);
    return status;
}

/*
 * POST to the members in turn, from the one that answered last. Returns the
 * status and body of the first that answers, or -1 with *err.
 */
static long post_any(struct etcd *e, const char *path, const char *json, const char *token,
                     struct strbuf *answer, char **err)
{
    pthread_mutex_lock(&e->mu);
    size_t first = e->current;
    pthread_mutex_unlock(&e->mu);
    struct strbuf why = {0};
    for (size_t k = 0; k < e->nendpoints; k++) {
        size_t i = (first + k) % e->nendpoints;
        char *one = NULL;
        sb_release(answer);
        long status = post(e, e->endpoints[i], path, json, token, answer, &one);
        if (status >= 0) {
            pthread_mutex_lock(&e->mu);
            e->current = i;
            pthread_mutex_unlock(&e->mu);
            sb_release(&why);
            return status;
        }
        sb_addf(&why, "%s%s", why.len ? "; " : "", one);
        free(one);
    }
    *err = xasprintf("no etcd member answers (%s)", sb_str(&why));
    sb_release(&why);
    return -1;
}

/* The answer's error text, or NULL when it is no error. */
static char *answer_error(long status, const json_t *j, const struct strbuf *raw)
{
    const char *msg = j ? json_string_value(json_object_get(j, "error")) : NULL;
    if (!msg && j)
        msg = json_string_value(json_object_get(j, "message"));
    if (status == 200 && j && !msg)
        return NULL;
    if (msg)
        return xasprintf("etcd: %s", msg);
    return xasprintf("etcd answered HTTP %ld: %.200s", status, sb_str(raw));
}

/* Authenticate: a new token in e->token. 0, or -1 with *err. */
static int authenticate(struct etcd *e, char **err)
{
    json_t *req = json_pack("{s:s, s:s}", "name", e->user, "password", e->password);
    char *json = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct strbuf ans = {0};
    long status = post_any(e, "/v3/auth/authenticate", json, NULL, &ans, err);
    secret_free(json);
    if (status < 0) {
        sb_release(&ans);
        return -1;
    }
    json_t *j = json_loads(sb_str(&ans), 0, NULL);
    char *bad = answer_error(status, j, &ans);
    const char *token = j ? json_string_value(json_object_get(j, "token")) : NULL;
    int rc = 0;
    if (bad || !token) {
        *err = xasprintf("cannot log in to etcd as '%s': %s", e->user,
                         bad ? bad : "no token in the answer");
        rc = -1;
    } else {
        pthread_mutex_lock(&e->mu);
        secret_free(e->token);
        e->token = xstrdup(token);
        pthread_mutex_unlock(&e->mu);
    }
    free(bad);
    json_decref(j);
    sb_release(&ans);
    return rc;
}

json_t *etcd_call(struct etcd *e, const char *path, json_t *body, char **err)
{
    char *json = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *out = NULL;
    for (int attempt = 0; attempt < 2 && !out; attempt++) {
        char *token = NULL;
        if (e->user) {
            pthread_mutex_lock(&e->mu);
            token = xstrdup(e->token);
            pthread_mutex_unlock(&e->mu);
            if (!token) {
                if (authenticate(e, err) < 0)
                    break;
                pthread_mutex_lock(&e->mu);
                token = xstrdup(e->token);
                pthread_mutex_unlock(&e->mu);
            }
        }
        struct strbuf ans = {0};
        long status = post_any(e, path, json, token, &ans, err);
        secret_free(token);
        if (status < 0) {
            sb_release(&ans);
            break;
        }
        json_t *j = json_loads(sb_str(&ans), 0, NULL);
        char *bad = answer_error(status, j, &ans);
        sb_release(&ans);
        if (!bad) {
            out = j;
            break;
        }
        json_decref(j);
        bool stale_token = e->user && attempt == 0 &&
                           (strstr(bad, "invalid auth token") || strstr(bad, "token"));
        if (stale_token) {
            free(bad);
            pthread_mutex_lock(&e->mu);
            secret_free(e->token);
            e->token = NULL;
            pthread_mutex_unlock(&e->mu);
            continue;
        }
        *err = bad;
        break;
    }
    free(json);
    return out;
}

json_t *etcd_b64(const char *s)
{
    char *b = base64_encode((const unsigned char *)s, strlen(s), true);
    json_t *v = json_string(b);
    free(b);
    return v;
}

char *etcd_unb64(const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s)
        return NULL;
    size_t n = 0;
    unsigned char *raw = base64_decode(s, strlen(s), &n);
    char *out = xstrndup((const char *)raw, n);
    free(raw);
    return out;
}

long long etcd_int(const json_t *obj, const char *field)
{
    const json_t *v = obj ? json_object_get(obj, field) : NULL;
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    const char *s = json_string_value(v);
    return s ? strtoll(s, NULL, 10) : 0;
}

json_t *etcd_int_json(long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    return json_string(buf);
}

char *etcd_prefix_end(const char *prefix)
{
    char *end = xstrdup(prefix);
    size_t n = strlen(end);
    if (n)
        end[n - 1]++;
    return end;
}
