/*
 * seq_info.c - the yardstick of bench/10_plan.sh: a sequential hiredis loop
 * that connects to each address in turn, sends one INFO, reads the reply
 * and closes, one after another.
 *
 *   seq_info PORTFILE        (one "ip port" a line)
 *
 * Exit 0 when every address answered, 1 otherwise (with the first failure
 * on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seq_info PORTFILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    char ip[64];
    int port, failed = 0;
    struct timeval tv = {.tv_sec = 1};
    while (fscanf(f, "%63s %d", ip, &port) == 2) {
        redisContext *c = redisConnectWithTimeout(ip, port, tv);
        redisReply *r = c && !c->err ? redisCommand(c, "INFO") : NULL;
        if (!r || r->type != REDIS_REPLY_STRING) {
            if (!failed++)
                fprintf(stderr, "%s:%d: %s\n", ip, port, c && c->err ? c->errstr : "no INFO");
        }
        if (r)
            freeReplyObject(r);
        redisFree(c);
    }
    fclose(f);
    return failed ? 1 : 0;
}
