/*
 * The two clocks: wall time (microseconds since the Unix epoch, UTC) for what
 * is stored or shown, such as when a run started; monotonic time for what is
 * measured against now, such as timeouts, deadlines, backoff and sleeps, which
 * must not jump when the system clock is set. Not for: formatting timestamps.
 */
#ifndef DURO_CORE_CLOCK_H
#define DURO_CORE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define CLOCK_US_PER_SECOND 1000000LL

/* Microseconds since the Unix epoch (CLOCK_REALTIME): for timestamps that are stored or shown. */
int64_t clock_wall_us(void);
/* Microseconds on CLOCK_MONOTONIC, from an arbitrary start: for deadlines and durations. */
int64_t clock_mono_us(void);

/* The timespec of a time in microseconds, on whichever clock it was read. */
struct timespec clock_timespec(int64_t us);

/* Initializes c to time its waits on the monotonic clock (pthread_cond_timedwait with
 * clock_timespec(clock_mono_us() + ...)). Returns 0, or an errno value. */
int clock_cond_init(pthread_cond_t *c);

#endif
