/*
 * Reads of managed views through the gateway, counted in memory on the
 * gateway's thread (per view and hour: reads, last read, a bounded set of
 * roles) and handed every few seconds to a thread that writes them to the
 * catalog, so neither the relay path nor the loop writes to the catalog. One per gateway, used on
 * its thread only. Not for: the 24 h figures shown (catalog/store_reads.c sums the hours kept
 * there).
 */
#ifndef DURO_PROXY_READS_H
#define DURO_PROXY_READS_H

#include <event2/event.h>

#include "catalog/store.h"

typedef struct Reads Reads;

/* How often what was counted goes to the catalog. */
#define READS_FLUSH_SECONDS 2

/*
 * Counts for the catalog at catalog_path: a timer on base hands what was
 * counted to a writer thread with its own connection; store (the gateway's
 * connection) writes what is left at reads_free and at reads_flush. With base
 * NULL there is no timer and no thread (reads_flush only). With recording off
 * (DURO_RECORD_READS=off in the environment, for benchmarks), counts nothing.
 */
Reads *reads_open(struct event_base *base, Store *store, const char *catalog_path);
/* Counts a statement of role that reads view ("schema.table"). */
void reads_note(Reads *r, const char *view, const char *role);
/* Writes what was counted to the catalog now, on store; 0, or -1 (kept to try again). */
int reads_flush(Reads *r);
/* Flushes, then frees. NULL-safe. */
void reads_free(Reads *r);

#endif
