/*
 * Build markers (see marker.h): this process's identity as recorded with the
 * runs it starts, whether the process a run names can still be building it,
 * and the builds of this process (in progress, or ended with their end not yet
 * in the catalog). Not for: SQL (catalog/store) or deciding what to build.
 */
#include "catalog/marker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

/* The start time (field 22 of /proc/PID/stat) is this many fields after the state (field 3). */
#define STAT_STARTTIME_AFTER_STATE (22 - 3)

typedef struct Entry {
    char *catalog;
    int64_t run_id;
    bool ended;    /* the build ended; its end waits for the catalog */
    uint64_t seq;  /* order of ending, to forget the oldest first */
    MarkerEnd end; /* when ended */
} Entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t instance_once = PTHREAD_ONCE_INIT;
static char instance[33];
static Entry *entries;
static size_t n_entries, cap_entries;
static uint64_t next_seq;

static void draw_instance(void)
{
    unsigned char bytes[16];
    ssize_t got = getrandom(bytes, sizeof bytes, 0);
    if (got != (ssize_t)sizeof bytes) {
        /* No entropy source: the time and pid still tell two starts apart. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t a = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        uint64_t b = (uint64_t)getpid() ^ ((uint64_t)clock() << 32);
        memcpy(bytes, &a, 8);
        memcpy(bytes + 8, &b, 8);
    }
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf(instance + 2 * i, 3, "%02x", bytes[i]);
}

const char *marker_instance(void)
{
    pthread_once(&instance_once, draw_instance);
    return instance;
}

/* The first line of path, without its newline, into buf; false when it cannot be read. */
static bool read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = '\0';
    return ok && *buf;
}

/*
 * Reads the state (R, S, Z...) and the start time of process pid (0 = this
 * process) from /proc, with the boot id into boot. False when /proc does not tell.
 */
static bool read_stat(int64_t pid, char *state, unsigned long long *ticks, char *boot,
                      size_t boot_size)
{
    char path[64], stat[1024];
    if (pid < 0 || pid > INT32_MAX)
        return false;
    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/stat");
    else
        snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    if (!read_line(path, stat, sizeof stat) ||
        !read_line("/proc/sys/kernel/random/boot_id", boot, boot_size))
        return false;
    /* The command, in parentheses, may hold spaces and parentheses: start after the last ')'. */
    const char *p = strrchr(stat, ')');
    if (!p || p[1] != ' ' || !p[2])
        return false;
    p++;
    *state = p[1];
    /* p is at the space before the state; step to the space before the start time. */
    for (int field = 0; field < STAT_STARTTIME_AFTER_STATE && p; field++)
        p = strchr(p + 1, ' ');
    if (!p)
        return false;
    char *end = NULL;
    errno = 0;
    *ticks = strtoull(p + 1, &end, 10);
    return errno == 0 && end != p + 1;
}

char *marker_process_start(int64_t pid)
{
    char state, boot[64];
    unsigned long long ticks;
    if (!read_stat(pid, &state, &ticks, boot, sizeof boot))
        return NULL;
    return xasprintf("%s/%llu", boot, ticks);
}

/* The entry of run_id in catalog, or NULL. Under lock. */
static Entry *find(const char *catalog, int64_t run_id)
{
    for (size_t i = 0; i < n_entries; i++)
        if (entries[i].run_id == run_id && strcmp(entries[i].catalog, catalog) == 0)
            return &entries[i];
    return NULL;
}

/* Removes entry e. Under lock. */
static void drop(Entry *e)
{
    free(e->catalog);
    marker_end_free(&e->end);
    *e = entries[--n_entries];
}

MarkerState marker_judge(const char *catalog_key, int64_t run_id, int64_t pid, const char *inst,
                         const char *start)
{
    if (pid <= 0 || pid > INT32_MAX)
        return MARKER_GONE;
    if (pid == (int64_t)getpid()) {
        /* Ours only when the instance is: else a process before us had our pid (a restart as
         * PID 1 in a container, or pids wrapped around). */
        if (!inst || strcmp(inst, marker_instance()) != 0)
            return MARKER_GONE;
        pthread_mutex_lock(&lock);
        Entry *e = find(catalog_key, run_id);
        bool building = e && !e->ended;
        pthread_mutex_unlock(&lock);
        return building ? MARKER_BUILDING : MARKER_GONE;
    }
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
        return MARKER_GONE;
    char state, boot[64];
    unsigned long long ticks;
    if (!read_stat(pid, &state, &ticks, boot, sizeof boot))
        return MARKER_BUILDING; /* no /proc to tell: the pid is alive, that is all there is */
    if (state == 'Z' || state == 'X')
        return MARKER_GONE; /* killed, not reaped yet */
    if (!start)
        return MARKER_BUILDING; /* recorded without a start: the pid is all there is */
    /* A process with that pid started at another time (or boot) is not the builder. */
    char *now = xasprintf("%s/%llu", boot, ticks);
    bool other = strcmp(now, start) != 0;
    free(now);
    return other ? MARKER_GONE : MARKER_BUILDING;
}

void marker_claimed(const char *catalog_key, int64_t run_id)
{
    pthread_mutex_lock(&lock);
    Entry *e = find(catalog_key, run_id);
    if (e) /* a stale entry of a catalog file replaced since */
        drop(e);
    grow_array((void **)&entries, &cap_entries, n_entries + 1, sizeof *entries);
    entries[n_entries++] = (Entry){.catalog = xstrdup(catalog_key), .run_id = run_id};
    pthread_mutex_unlock(&lock);
}

void marker_ended(const char *catalog_key, int64_t run_id, const MarkerEnd *end)
{
    pthread_mutex_lock(&lock);
    Entry *e = find(catalog_key, run_id);
    if (!end) {
        if (e)
            drop(e);
        pthread_mutex_unlock(&lock);
        return;
    }
    if (!e) {
        grow_array((void **)&entries, &cap_entries, n_entries + 1, sizeof *entries);
        e = &entries[n_entries++];
        *e = (Entry){.catalog = xstrdup(catalog_key), .run_id = run_id};
    }
    marker_end_free(&e->end);
    e->ended = true;
    e->seq = next_seq++;
    e->end = *end;
    e->end.error = end->error ? xstrdup(end->error) : NULL;
    e->end.built_hash = end->built_hash ? xstrdup(end->built_hash) : NULL;
    /* Bounded: the oldest end is forgotten (its run is closed as interrupted instead). */
    size_t n_ended = 0, oldest = SIZE_MAX;
    for (size_t i = 0; i < n_entries; i++) {
        if (!entries[i].ended)
            continue;
        n_ended++;
        if (oldest == SIZE_MAX || entries[i].seq < entries[oldest].seq)
            oldest = i;
    }
    if (n_ended > MARKER_MAX_ENDS)
        drop(&entries[oldest]);
    pthread_mutex_unlock(&lock);
}

bool marker_take_end(const char *catalog_key, int64_t *run_id, MarkerEnd *end)
{
    pthread_mutex_lock(&lock);
    Entry *best = NULL;
    for (size_t i = 0; i < n_entries; i++)
        if (entries[i].ended && strcmp(entries[i].catalog, catalog_key) == 0 &&
            (!best || entries[i].seq < best->seq))
            best = &entries[i];
    if (best) {
        *run_id = best->run_id;
        *end = best->end;
        best->end = (MarkerEnd){0};
        drop(best);
    }
    pthread_mutex_unlock(&lock);
    return best != NULL;
}

bool marker_is_ended(const char *catalog_key, int64_t run_id)
{
    pthread_mutex_lock(&lock);
    Entry *e = find(catalog_key, run_id);
    bool ended = e && e->ended;
    pthread_mutex_unlock(&lock);
    return ended;
}

bool marker_peek_end(const char *catalog_key, int64_t run_id, MarkerEnd *end)
{
    pthread_mutex_lock(&lock);
    Entry *e = find(catalog_key, run_id);
    bool ended = e && e->ended;
    if (ended) {
        *end = e->end;
        end->error = e->end.error ? xstrdup(e->end.error) : NULL;
        end->built_hash = e->end.built_hash ? xstrdup(e->end.built_hash) : NULL;
    }
    pthread_mutex_unlock(&lock);
    return ended;
}

void marker_end_free(MarkerEnd *end)
{
    free(end->error);
    free(end->built_hash);
    end->error = end->built_hash = NULL;
}
