/*
 * The statements a client parsed in the warehouse, as one session of the
 * gateway sees them: their names (a Parse of Duro's under one of them gets
 * 42P05) and the relations each reads when it may read a managed view (each
 * Bind of it is gated as its Parse was). A relayed Parse or Close changes the
 * table once the warehouse answered it, not when it discarded it: the messages
 * relayed in a batch are answered in order, one completion message each, and
 * after an error the rest of the batch is discarded. Not for: Duro's own
 * statements (answer.c), what to relay and when (inspect.c).
 */
#ifndef DURO_PROXY_WNAMES_H
#define DURO_PROXY_WNAMES_H

#include <stdbool.h>

#include "core/util.h"

typedef struct WhNames WhNames;

WhNames *whnames_new(void);
/* NULL-safe. */
void whnames_free(WhNames *w);

/* ---- what is relayed, in order ---- */

/* A relayed Parse of name (reads: the relations it reads, or NULL) or Close (add false); call
 * before whnames_sent for the same message. */
void whnames_change(WhNames *w, const char *name, bool add, const StrVec *reads);
/* A message is relayed in the open batch (the client's, or one of Duro's answered in it). */
void whnames_sent(WhNames *w);
/* The open batch ended: a Sync or a Query is relayed. */
void whnames_batch_sent(WhNames *w);
/* Changes the table at once (a Close of Duro's own). */
void whnames_apply(WhNames *w, const char *name, bool add, const StrVec *reads);

/* ---- what the warehouse answered, in order ---- */

/* The type of every message from the warehouse, at its header. */
void whnames_answer(WhNames *w, char type);
/* A ReadyForQuery that ends a batch. */
void whnames_batch_done(WhNames *w);
/* An ErrorResponse in answer to the client's messages. */
void whnames_error(WhNames *w);
/* Nothing the warehouse was sent so far failed (Duro's probe was answered). */
void whnames_checked(WhNames *w);

/* ---- the table ---- */

/* True when the client has a statement named name (not "") in the warehouse. */
bool whnames_has(const WhNames *w, const char *name);
/* The relations statement name ("" for the unnamed one) reads when it may read a managed view,
 * else NULL; valid until the next change. */
const StrVec *whnames_reads(const WhNames *w, const char *name);
/* True when some statement has reads; when there is any statement, or a change waiting for the
 * warehouse's answer (a Close after a Parse in one batch must be seen to be made after it). */
bool whnames_reading(const WhNames *w);
bool whnames_any(const WhNames *w);

#endif
