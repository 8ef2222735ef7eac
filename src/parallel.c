/*
 * parallel.c - one thread per item, then join them all.
 */
#include "parallel.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util.h"

void parallel_each(void *items, size_t n, size_t size, void *(*fn)(void *))
{
    if (n == 1) {
        fn(items);
        return;
    }
    pthread_t *th = xcalloc(n ? n : 1, sizeof(*th));
    bool *started = xcalloc(n ? n : 1, sizeof(*started));
    for (size_t i = 0; i < n; i++) {
        void *item = (char *)items + i * size;
        started[i] = pthread_create(&th[i], NULL, fn, item) == 0;
        if (!started[i])
            fn(item);
    }
    for (size_t i = 0; i < n; i++)
        if (started[i])
            pthread_join(th[i], NULL);
    free(started);
    free(th);
}
