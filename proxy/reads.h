/*
 * Reads of managed views through the gateway, counted in memory on the
 * gateway's thread (per view and hour: reads, last read, a bounded set of
 * roles) and handed to the catalog every few seconds, so the relay path never
 * writes to the catalog. One per gateway, used on its thread only. Not for:
 * the 24 h figures shown (catalog/store_reads.c sums the hours kept there).
 */
#ifndef DURO_PROXY_READS_H
#define DURO_PROXY_READS_H

#include <event2/event.h>

#include "catalog/store.h"

typedef struct Reads Reads;

/* How often what was counted goes to the catalog. */
#define READS_FLUSH_SECONDS 2

/*
 * Counts for the catalog store, flushed by a timer on base. With recording
 * off (DURO_RECORD_READS=off in the environment, for benchmarks), counts
 * nothing and returns a Reads that ignores every call.
 */
Reads *reads_open(struct event_base *base, Store *store);
/* Counts a statement of role that reads view ("schema.table"). */
void reads_note(Reads *r, const char *view, const char *role);
/* Hands what was counted to the catalog now; 0, or -1 (kept to try again). */
int reads_flush(Reads *r);
/* Flushes, then frees. NULL-safe. */
void reads_free(Reads *r);

#endif
