/*
 * The interval grammar of view file names and config values: a positive
 * integer and a unit m, h, d or w, case-insensitive ("30m", "24h", "7d", "1w").
 * Pure functions; intervals are counted in seconds.
 */
#ifndef DURO_CATALOG_INTERVAL_H
#define DURO_CATALOG_INTERVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

/* Longest interval accepted: 520 weeks (ten years). */
#define INTERVAL_MAX_SECONDS (520LL * 7 * 24 * 3600)

/* Parses s whole. Returns 0 and sets *seconds, or -1 when s is not an interval. */
int interval_parse(const char *s, int64_t *seconds) MUST_CHECK;

/* Writes the shortest exact form ("90m", "1d", "2w") of a positive interval into buf. */
void interval_format(int64_t seconds, char *buf, size_t size);

#endif
