/*
 * parallel.h - run one function on every item of an array, each on its own
 * thread, and wait for all: the fan-out of exec, logs, top and backup.
 */
#ifndef RMGR_PARALLEL_H
#define RMGR_PARALLEL_H

#include <stddef.h>

/*
 * fn(&items[i]) for i < n, each item `size` bytes, in parallel; returns when
 * every call has returned. An item whose thread cannot be created runs on
 * the caller's thread.
 */
void parallel_each(void *items, size_t n, size_t size, void *(*fn)(void *));

#endif
