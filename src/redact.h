/*
 * redact.h - secrets out of text: what the log and notifications print goes
 * through here, so a password never reaches a file or a chat channel.
 */
#ifndef RMGR_REDACT_H
#define RMGR_REDACT_H

#include <stddef.h>

/* What a secret is replaced by. */
#define REDACTED "******"

/*
 * Copy of `text` with every occurrence of each secret replaced by "******"
 * (longest secrets first, so one secret inside another leaves no piece).
 * NULL and empty secrets are skipped; NULL text gives NULL. Caller frees.
 */
char *redact_secrets(const char *text, char *const *secrets, size_t nsecrets);

#endif
