/*
 * The two clocks (see clock.h) over clock_gettime. Not for: timers or sleeping.
 */
#include "core/clock.h"

static int64_t read_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * CLOCK_US_PER_SECOND + ts.tv_nsec / 1000;
}

int64_t clock_wall_us(void)
{
    return read_us(CLOCK_REALTIME);
}

int64_t clock_mono_us(void)
{
    return read_us(CLOCK_MONOTONIC);
}

struct timespec clock_timespec(int64_t us)
{
    if (us < 0)
        us = 0;
    return (struct timespec){.tv_sec = (time_t)(us / CLOCK_US_PER_SECOND),
                             .tv_nsec = (long)(us % CLOCK_US_PER_SECOND) * 1000};
}

int clock_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}
