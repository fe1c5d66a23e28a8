/*
 * duro serve: the daemon. Loads the configuration, starts the gateway, the web
 * UI, the scheduler and the publisher of duro.status/duro.runs and handles signals: SIGHUP re-scans
 * the views repository; SIGTERM or SIGINT stop accepting clients and scheduling, and let client
 * sessions and running builds finish for [worker] grace before closing and cancelling them (a
 * second signal does that at once).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/settings.h"
#include "planner/dialect.h"
#include "planner/notify.h"
#include "planner/publish.h"
#include "planner/scheduler.h"
#include "proxy/gateway.h"
#include "web/web.h"

/* After sessions were told to close, how long to wait for them before exiting anyway. */
#define SERVE_CLOSE_WAIT_US (5 * CLOCK_US_PER_SECOND)

static const char usage[] =
    "usage: duro serve [-c FILE]\n"
    "\n"
    "Runs the daemon: the gateway on [gateway] listen (none when it is empty), relaying\n"
    "clients to the warehouse, and the scheduler, refreshing stale views of the views\n"
    "repository, dependencies first, every [worker] poll; the web UI on [web] listen (none\n"
    "when it is empty). Logs one line per event to stderr.\n"
    "Signals: SIGHUP re-scans the repository; SIGTERM drains and exits.\n"
    "\n"
    "  -c, --config FILE   configuration (default: duro.conf)\n"
    "  -h, --help          show this help\n";

int cli_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conf = "duro.conf";
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1;) {
        if (c == 'c') {
            conf = optarg;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fputs(usage, stderr);
        return 2;
    }
    Settings s;
    Dialect d;
    char *error = NULL;
    if (settings_load(conf, &s, &error) != 0) {
        log_error("%s", error);
        free(error);
        return 2;
    }
    d = s.warehouse.dialect_kind;

    /* Only this thread takes the signals; every thread started from here inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char *catalog = settings_catalog_shown(&s);
    log_info("duro %s starting: views %s, catalog %s, warehouse %s:%d/%s (%s)", DURO_VERSION,
             s.views.path, catalog, s.warehouse.host, s.warehouse.port, s.warehouse.dbname,
             s.warehouse.dialect);
    free(catalog);
    for (size_t i = 0; i < s.not_in_release.n; i++)
        log_warn("%s is set, but what it configures is not in this release: it has no effect",
                 s.not_in_release.items[i]);
    /* A web UI anyone on the network could act through is refused before anything starts. */
    if (web_check_settings(&s, &error) != 0) {
        log_error("%s", error);
        free(error);
        settings_free(&s);
        return 2;
    }
    Notifier *notifier = NULL; /* before the scheduler: it tells the notifier its builds */
    Scheduler *sc =
        notify_start(&s, &notifier, &error) == 0 ? scheduler_start(&s, d, &error) : NULL;
    if (!sc) {
        log_error("%s", error);
        free(error);
        notify_stop(notifier);
        settings_free(&s);
        return 1;
    }
    Publisher *publisher = NULL; /* duro.status and duro.runs in the warehouse */
    if (publish_start(&s, &publisher, &error) != 0) {
        log_warn("%s", error); /* the gateway still answers them from the catalog */
        free(error);
        error = NULL;
    }
    /* An empty [gateway] listen runs the scheduler alone, as an empty [web] listen has no UI. */
    Gateway *gw = NULL;
    if (*s.gateway.listen == '\0')
        log_info("no gateway: [gateway] listen is empty");
    else if (!(gw = gateway_start(&s, sc, &error))) {
        log_error("%s", error);
        free(error);
        scheduler_stop(sc);
        scheduler_cancel(sc);
        scheduler_wait(sc, 30000);
        scheduler_free(sc);
        publish_stop(publisher);
        notify_stop(notifier);
        settings_free(&s);
        return 1;
    }

    Web *web = NULL;
    if (*s.web.listen == '\0')
        log_info("no web UI: [web] listen is empty");
    else if (!(web = web_start(&s, sc, &error))) {
        log_error("%s", error);
        free(error);
        if (gw)
            gateway_halt(gw);
        scheduler_stop(sc);
        scheduler_cancel(sc);
        scheduler_wait(sc, 30000);
        scheduler_free(sc);
        if (gw)
            gateway_free(gw);
        publish_stop(publisher);
        settings_free(&s);
        return 1;
    }

    int signals = 0;
    int64_t cancel_at = 0; /* when builds are cancelled and sessions closed, after a stop */
    int64_t closed_at = 0; /* when sessions were told to close */
    for (;;) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000000};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGHUP) {
            log_info("SIGHUP: re-scanning the views repository");
            scheduler_rescan(sc);
        } else if (sig == SIGTERM || sig == SIGINT) {
            if (signals++ == 0) {
                log_info("%s: stopping; running builds and %d client sessions have %llds to finish",
                         sig == SIGTERM ? "SIGTERM" : "SIGINT", gw ? gateway_sessions(gw) : 0,
                         (long long)s.worker.grace);
                if (gw)
                    gateway_stop_accepting(gw);
                scheduler_stop(sc);
                cancel_at = clock_mono_us() + s.worker.grace * CLOCK_US_PER_SECOND;
            } else if (!closed_at) {
                log_info("second signal: cancelling running builds, closing client sessions");
                scheduler_cancel(sc);
                if (gw)
                    gateway_close_sessions(gw);
                closed_at = clock_mono_us();
                cancel_at = 0;
            }
        }
        if (signals && cancel_at && clock_mono_us() >= cancel_at) {
            log_info("grace period over: cancelling running builds, closing client sessions");
            scheduler_cancel(sc);
            if (gw)
                gateway_close_sessions(gw);
            closed_at = clock_mono_us();
            cancel_at = 0;
        }
        bool sessions_done = !gw || gateway_sessions(gw) == 0 ||
                             (closed_at && clock_mono_us() >= closed_at + SERVE_CLOSE_WAIT_US);
        if (signals && sessions_done && scheduler_wait(sc, 0))
            break;
    }
    web_stop(web); /* no more refreshes asked for from the web UI */
    if (gw)
        gateway_halt(gw); /* nor from the gateway; then the scheduler ends the queued ones */
    scheduler_free(sc);
    web_free(web);
    if (gw)
        gateway_free(gw);
    publish_stop(publisher);
    notify_stop(notifier);
    settings_free(&s);
    log_info("stopped");
    return 0;
}
