/*
 * nutcracker_yml.c - nutcracker.yml server lines (see nutcracker_yml.h).
 */
#include "nutcracker_yml.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Parse "ip:port:weight [name]" (quotes already removed) into *s. */
static bool parse_server(const char *v, struct nc_yml_server *s)
{
    const char *sp = strpbrk(v, " \t");
    size_t alen = sp ? (size_t)(sp - v) : strlen(v);
    char *addr = xstrndup(v, alen);
    char *wcolon = strrchr(addr, ':');
    char *pcolon = NULL;
    long port, weight;
    bool ok = false;
    if (wcolon) {
        *wcolon = '\0';
        pcolon = strrchr(addr, ':');
    }
    if (pcolon && pcolon > addr) {
        *pcolon = '\0';
        ok = parse_long(pcolon + 1, 1, 65535, &port) &&
             parse_long(wcolon + 1, 0, 2147483647L, &weight);
    }
    if (ok) {
        memset(s, 0, sizeof(*s));
        s->ip = xstrdup(addr);
        s->port = (int)port;
        s->weight = weight;
        s->addr = xasprintf("%s:%d", s->ip, s->port);
        while (sp && (*sp == ' ' || *sp == '\t'))
            sp++;
        if (sp && *sp)
            s->name = xstrdup(sp);
    }
    free(addr);
    return ok;
}

/* A server list item: c points after "- "; quotes around the item are removed. */
static bool parse_item(char *c, struct nc_yml_server *s)
{
    while (*c == ' ' || *c == '\t')
        c++;
    size_t l = strlen(c);
    if (l >= 2 && (c[0] == '"' || c[0] == '\'') && c[l - 1] == c[0]) {
        c[l - 1] = '\0';
        c++;
    }
    return parse_server(c, s);
}

void nc_yml_parse(struct nc_yml *y, const char *text)
{
    memset(y, 0, sizeof(*y));
    bool in_servers = false;
    int servers_indent = -1;
    const char *p = text ? text : "";
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char *line = xstrndup(p, len);
        p += len + (eol ? 1 : 0);
        char *e = line + len;
        while (e > line && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            *--e = '\0';
        char *c = line;
        while (*c == ' ' || *c == '\t')
            c++;
        int indent = (int)(c - line);
        if (!*c || *c == '#') {
            free(line);
            continue;
        }
        bool item = c[0] == '-' && (c[1] == ' ' || c[1] == '\t');
        if (in_servers && item) {
            char *copy = xstrdup(c + 2);
            struct nc_yml_server s;
            bool ok = parse_item(copy, &s);
            free(copy);
            if (ok) {
                VEC_GROW(y->servers, y->nservers, y->cservers);
                y->servers[y->nservers++] = s;
                free(line);
                continue;
            }
        } else if (!strcmp(c, "servers:")) {
            in_servers = true;
            servers_indent = indent;
        } else if (!item && indent <= servers_indent) {
            in_servers = false; /* the next key of the pool, or the next pool */
            servers_indent = -1;
        }
        VEC_GROW(y->other, y->nother, y->cother);
        y->other[y->nother++] = line;
    }
}

static void server_release(struct nc_yml_server *s)
{
    free(s->name);
    free(s->ip);
    free(s->addr);
}

void nc_yml_release(struct nc_yml *y)
{
    if (!y)
        return;
    strings_free(y->other, y->nother);
    ARRAY_FREE(y->servers, y->nservers, server_release);
    memset(y, 0, sizeof(*y));
}

const char *nc_yml_server_key(const struct nc_yml_server *s)
{
    return s->name ? s->name : s->addr;
}

const struct nc_yml_server *nc_yml_find(const struct nc_yml *y, const char *key)
{
    for (size_t i = 0; i < y->nservers; i++)
        if (str_eq(nc_yml_server_key(&y->servers[i]), key))
            return &y->servers[i];
    return NULL;
}
