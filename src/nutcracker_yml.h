/*
 * nutcracker_yml.h - the one reader of nutcracker.yml text: its server lines
 * and everything else, line by line. Pure, no I/O.
 *
 * Used by the planner (is the file the spec's?), by status (which server
 * a proxy names for a shard) and through redis_parse_nutcracker_servers().
 */
#ifndef RMGR_NUTCRACKER_YML_H
#define RMGR_NUTCRACKER_YML_H

#include <stdbool.h>
#include <stddef.h>

/* One server of a pool: "- ip:port:weight [name]", optionally quoted. */
struct nc_yml_server {
    char *name; /* NULL when the line names none */
    char *ip;   /* everything before the last two colons: "::1" is an IP */
    int port;   /* 1..65535 */
    long weight;
    char *addr; /* "ip:port" */
};

struct nc_yml {
    struct nc_yml_server *servers; /* in file order */
    size_t nservers, cservers;
    char **other; /* every other line that is not blank or a comment, trailing blanks
                     removed: keys, values, and list items that are not servers */
    size_t nother, cother;
};

/*
 * Parse `text` (NULL: empty) into *y. A server is a list item inside a
 * `servers:` block (it ends at the next key indented no deeper than
 * `servers:`) of the form ip:port:weight with an optional name, port
 * 1..65535 and a whole number as weight; quotes around the item are
 * removed. Every other line goes to y->other. Release with nc_yml_release().
 */
void nc_yml_parse(struct nc_yml *y, const char *text);
void nc_yml_release(struct nc_yml *y);

/* The key a server is known by: its name, or "ip:port" when it has none. */
const char *nc_yml_server_key(const struct nc_yml_server *s);

/* The server whose key is `key`, or NULL. */
const struct nc_yml_server *nc_yml_find(const struct nc_yml *y, const char *key);

#endif
