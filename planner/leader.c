/*
 * The scheduler's leader election (see leader.h): one thread per process with a shared catalog,
 * polling on a connection of its own. Not for: the catalog's tables (catalog/store) beyond the
 * one row of duro_leader it writes when it takes over.
 */
#include "planner/leader.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/marker.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

/* The advisory lock the leader holds: pg_try_advisory_lock(LEADER_LOCK_KEY). */
#define LEADER_LOCK_KEY "4478981352331265330"

struct Leader {
    bool shared;
    char *url;   /* the catalog's, with the password: never shown */
    char *shown; /* without it */
    PGconn *conn;
    bool unreachable; /* the last connection attempt failed (said once in the log) */
    atomic_bool leads;
    atomic_llong generation;
    atomic_llong checked_us; /* monotonic time of the last check that it still leads */
    bool stopping;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* stopping, info */
    pthread_cond_t wake;
    LeaderInfo info;
};

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static Leader *current;

static void set_leads(Leader *l, bool leads, int64_t generation)
{
    bool was = atomic_exchange(&l->leads, leads);
    atomic_store(&l->generation, leads ? generation : 0);
    if (was != leads)
        metrics_gauge_add(METRICS_LEADER, leads ? 1 : -1);
}

/* Gives up the connection (and so the lock, if held); leadership first. */
static void drop(Leader *l, const char *why)
{
    if (atomic_load(&l->leads)) {
        set_leads(l, false, 0);
        log_warn("this instance no longer leads the scheduler: %s", why);
    }
    PQfinish(l->conn);
    l->conn = NULL;
}

/* One statement; its first value copied into out (may be NULL). 0, or -1 with *why. */
static int ask(Leader *l, const char *sql, int n, const char *const *params, char *out,
               size_t out_len, char **why)
{
    PGresult *r = PQexecParams(l->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        *why = xstrdup(PQerrorMessage(l->conn));
        (*why)[strcspn(*why, "\n")] = '\0';
        rc = -1;
    } else if (out) {
        snprintf(out, out_len, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    }
    PQclear(r);
    return rc;
}

static bool connect_catalog(Leader *l)
{
    char lease[64];
    snprintf(lease, sizeof lease, "-c idle_session_timeout=%ds -c statement_timeout=5s",
             LEADER_LEASE_S);
    /* Defaults before the URL (its own values win), the lease after it (it always holds). */
    const char *keys[] = {"keepalives",       "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "connect_timeout", "dbname",
                          "application_name", "options",         NULL};
    const char *vals[] = {"1", "5", "2", "3", "5", l->url, "duro-leader", lease, NULL};
    l->conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(l->conn) != CONNECTION_OK) {
        if (!l->unreachable) { /* once, not every second */
            char *why = xstrdup(PQerrorMessage(l->conn));
            why[strcspn(why, "\n")] = '\0';
            log_warn("leader election: cannot reach catalog %s: %s; trying every second", l->shown,
                     why);
            free(why);
        }
        l->unreachable = true;
        PQfinish(l->conn);
        l->conn = NULL;
        return false;
    }
    if (l->unreachable)
        log_info("leader election: catalog %s reached again", l->shown);
    l->unreachable = false;
    return true;
}

/* Reads who leads into l->info. */
static void read_info(Leader *l)
{
    PGresult *r = PQexec(l->conn, "SELECT generation, instance, host, since_us FROM duro_leader "
                                  "WHERE id = 1");
    LeaderInfo info = {.shared = true};
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        info.known = true;
        info.generation = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(info.instance, sizeof info.instance, "%s", PQgetvalue(r, 0, 1));
        snprintf(info.host, sizeof info.host, "%s", PQgetvalue(r, 0, 2));
        info.since_us = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
        info.this_one = atomic_load(&l->leads) && info.generation == atomic_load(&l->generation);
    }
    PQclear(r);
    pthread_mutex_lock(&l->lock);
    l->info = info;
    pthread_mutex_unlock(&l->lock);
}

/* This process as LeaderInfo.host names it: "host:pid". */
static void this_process(char *who, size_t size)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    snprintf(who, size, "%s:%ld", host, (long)getpid());
}

/* Takes over: the lock is ours; the generation moves on. */
static void take_over(Leader *l)
{
    char who[300], since[32], gen[32] = "";
    this_process(who, sizeof who);
    snprintf(since, sizeof since, "%lld", (long long)clock_wall_us());
    const char *params[] = {marker_instance(), who, since};
    char *why = NULL;
    if (ask(l,
            "INSERT INTO duro_leader (id, generation, instance, host, since_us)"
            " VALUES (1, 1, $1, $2, $3::bigint) ON CONFLICT (id) DO UPDATE SET"
            " generation = duro_leader.generation + 1, instance = excluded.instance,"
            " host = excluded.host, since_us = excluded.since_us RETURNING generation",
            3, params, gen, sizeof gen, &why) != 0) {
        log_warn("cannot take over the scheduler: %s", why);
        free(why);
        drop(l, "the catalog refused the takeover");
        return;
    }
    int64_t g = strtoll(gen, NULL, 10);
    atomic_store(&l->checked_us, clock_mono_us());
    set_leads(l, true, g);
    log_info("this instance leads the scheduler (generation %lld)", (long long)g);
}

static void poll_once(Leader *l)
{
    char *why = NULL;
    if (!l->conn && !connect_catalog(l))
        return;
    if (!atomic_load(&l->leads)) {
        char got[8] = "";
        if (ask(l, "SELECT pg_try_advisory_lock(" LEADER_LOCK_KEY ")", 0, NULL, got, sizeof got,
                &why) != 0) {
            drop(l, why);
            free(why);
            return;
        }
        if (strcmp(got, "t") == 0)
            take_over(l);
    } else {
        char gen[32] = "";
        if (ask(l, "SELECT generation FROM duro_leader WHERE id = 1", 0, NULL, gen, sizeof gen,
                &why) != 0) {
            drop(l, why);
            free(why);
            return;
        }
        if (strtoll(gen, NULL, 10) != atomic_load(&l->generation)) {
            drop(l, "another instance took over");
            return;
        }
        atomic_store(&l->checked_us, clock_mono_us());
    }
    if (l->conn)
        read_info(l);
}

static void *thread_main(void *arg)
{
    Leader *l = arg;
    pthread_mutex_lock(&l->lock);
    while (!l->stopping) {
        pthread_mutex_unlock(&l->lock);
        poll_once(l);
        pthread_mutex_lock(&l->lock);
        if (l->stopping)
            break;
        struct timespec ts = clock_timespec(clock_mono_us() + LEADER_POLL_MS * 1000);
        pthread_cond_timedwait(&l->wake, &l->lock, &ts);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

Leader *leader_start(const Settings *s, char **error)
{
    Leader *l = xcalloc(1, sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
    if (clock_cond_init(&l->wake) != 0) {
        *error = xstrdup("cannot set up the leader election's clock");
        pthread_mutex_destroy(&l->lock);
        free(l);
        return NULL;
    }
    l->shared = s->catalog.url && *s->catalog.url;
    if (!l->shared) {
        /* Alone on its catalog: this process leads, from its start, generation 0. */
        set_leads(l, true, 0);
        l->info.known = true;
        snprintf(l->info.instance, sizeof l->info.instance, "%s", marker_instance());
        this_process(l->info.host, sizeof l->info.host);
        l->info.since_us = clock_wall_us();
    } else {
        l->url = xstrdup(s->catalog.url);
        l->shown = settings_catalog_shown(s);
        l->info.shared = true;
        if (pthread_create(&l->thread, NULL, thread_main, l) != 0) {
            *error = xstrdup("cannot start the leader election's thread");
            free(l->url);
            free(l->shown);
            pthread_cond_destroy(&l->wake);
            pthread_mutex_destroy(&l->lock);
            free(l);
            return NULL;
        }
        l->started = true;
    }
    pthread_mutex_lock(&current_lock);
    current = l;
    pthread_mutex_unlock(&current_lock);
    return l;
}

void leader_stop(Leader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&current_lock);
    if (current == l)
        current = NULL;
    pthread_mutex_unlock(&current_lock);
    if (l->started) {
        pthread_mutex_lock(&l->lock);
        l->stopping = true;
        pthread_cond_broadcast(&l->wake);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
    }
    if (atomic_load(&l->leads))
        set_leads(l, false, 0);
    PQfinish(l->conn);
    free(l->url);
    free(l->shown);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/*
 * A leader whose last check is older than this stops counting itself as leader before the
 * server's idle timeout can end its session and let another take over (a leader cut off, or
 * frozen, and not told yet).
 */
#define LEADER_TRUST_US ((LEADER_LEASE_S - 3) * CLOCK_US_PER_SECOND)

bool leader_leads(Leader *l)
{
    if (!l || !atomic_load(&l->leads))
        return false;
    return !l->shared || clock_mono_us() - atomic_load(&l->checked_us) < LEADER_TRUST_US;
}

int64_t leader_generation(Leader *l)
{
    return l ? atomic_load(&l->generation) : 0;
}

void leader_current(LeaderInfo *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&current_lock);
    if (current) {
        pthread_mutex_lock(&current->lock);
        *out = current->info;
        pthread_mutex_unlock(&current->lock);
        out->this_one = atomic_load(&current->leads);
    }
    pthread_mutex_unlock(&current_lock);
}
