/*
 * notify_queue.h - a background sender for notifications nobody should wait
 * for (webhooks may retry for seconds): events are queued, copied, and
 * posted in order by one thread, with the options it is given.
 */
#ifndef RMGR_NOTIFY_QUEUE_H
#define RMGR_NOTIFY_QUEUE_H

#include "notify.h"

struct notify_queue;

/* Called on the sender thread when posting `ev` failed; `err` holds one line per failed target. */
typedef void notify_queue_failed_fn(const struct notify_event *ev, const char *err, void *arg);

/*
 * Start the sender. It posts with *o (notify_send; nothing when o has no
 * targets) and reports failures to failed(ev, err, arg), which may be NULL.
 * Returns the queue; when no thread could be started, events are kept and
 * dropped by notify_queue_stop.
 */
struct notify_queue *notify_queue_start(struct notify_options *o, notify_queue_failed_fn *failed,
                                        void *arg);

/* Queue a copy of `ev`; a timestamp of 0 becomes the time of queueing. */
void notify_queue_push(struct notify_queue *q, const struct notify_event *ev);

/* Send with `o` from now on; waits while an event is being sent with the old options. */
void notify_queue_set_options(struct notify_queue *q, struct notify_options *o);

/* Add `secret` to the options' redactions unless there; waits while an event is being sent. */
void notify_queue_add_secret(struct notify_queue *q, const char *secret);

/* Deliver what is queued (bounded by retries), stop the thread and free. NULL is fine. */
void notify_queue_stop(struct notify_queue *q);

#endif
