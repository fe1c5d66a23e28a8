/*
 * The notifier (see notify.h). notify_report copies each build into a bounded
 * event queue; the deciding thread turns events, alert_after checks and the
 * periodic summary into messages, keeping what it told in the catalog (its
 * own connection); the posting thread sends each message with libcurl, with
 * connect and total timeouts and retries after 1, 2, 4 s. A message that
 * finds its queue full, or fails every try, is counted dropped
 * (METRICS_NOTIFY_DROPPED) and logged, once until a post succeeds again.
 * Webhook URLs are credentials: they never reach the log.
 */
#include "planner/notify.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/config.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "planner/idle.h"
#include "planner/staleness.h"

#define NOTIFY_MAX_EVENTS     1000 /* builds waiting to be looked at */
#define NOTIFY_MAX_OUTBOX     200  /* messages waiting to be posted */
#define NOTIFY_MAX_ERROR      1000 /* bytes of a refresh's error in a message */
#define NOTIFY_MAX_NAMES      50   /* views named in one message of successes */
#define NOTIFY_CHECK_US       (5 * CLOCK_US_PER_SECOND) /* alert_after checks */
#define NOTIFY_CONNECT_MS     5000
#define NOTIFY_TIMEOUT_MS     10000
#define NOTIFY_TRIES          4
#define NOTIFY_FIRST_RETRY_US (1 * CLOCK_US_PER_SECOND)
#define NOTIFY_STOP_GRACE_US  (3 * CLOCK_US_PER_SECOND) /* to send what is queued at a stop */

/* A build, as the scheduler reported it. */
typedef struct Event {
    char *view;
    bool ok;
    char *error; /* when not ok */
    struct Event *next;
} Event;

/* A message for one webhook. */
typedef struct Message {
    const char *url; /* borrowed from the settings */
    char *body;      /* JSON */
    struct Message *next;
} Message;

struct Notifier {
    const Settings *settings;
    Store *store; /* the deciding thread's */
    pthread_t decider, poster;
    bool decider_started, poster_started;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* both threads wait on it */
    bool stopping;
    int64_t stop_deadline_us; /* monotonic: posts after it are given up */
    Event *events, **events_tail;
    size_t n_events;
    Message *outbox, **outbox_tail;
    size_t n_outbox;
    bool dropping; /* a drop was logged and no post succeeded since */
    /* The deciding thread's own: */
    StrVec new_views, updated_views; /* successes not told yet */
    int64_t batch_since_us;          /* monotonic: the oldest of them */
    int64_t next_check_us, next_summary_us;
    int period_ok, period_failed; /* builds since the last summary */
};

static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;
static Notifier *active; /* the running notifier, for notify_report */

/* ---- Pure parts ---- */

bool notify_failure_due(int64_t sent_us, int64_t now_us)
{
    return sent_us <= 0 || now_us - sent_us >= NOTIFY_REPEAT_US || now_us < sent_us;
}

char *notify_json(const char *text)
{
    size_t n = strlen(text);
    char *out = xmalloc(n * 6 + 16), *o = out;
    o += sprintf(o, "{\"text\": \"");
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p == '\n') {
            o += sprintf(o, "\\n");
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    strcpy(o, "\"}");
    return out;
}

/* text with every occurrence of what replaced by with. Caller frees. */
static char *replace_all(const char *text, const char *what, const char *with)
{
    size_t wl = strlen(what), n = 0;
    if (wl == 0)
        return xstrdup(text);
    for (const char *p = strstr(text, what); p; p = strstr(p + wl, what))
        n++;
    char *out = xmalloc(strlen(text) + n * strlen(with) + 1), *o = out;
    for (const char *p = text;;) {
        const char *hit = strstr(p, what);
        if (!hit) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        strcpy(o, with);
        o += strlen(with);
        p = hit + wl;
    }
    return out;
}

char *notify_redact(const char *text, const char *url)
{
    char *out = replace_all(text, url, "<webhook>");
    const char *scheme = strstr(url, "://");
    const char *path = strchr(scheme ? scheme + 3 : url, '/');
    if (path && strlen(path) > 1) {
        char *again = replace_all(out, path, "<webhook>");
        free(out);
        out = again;
    }
    return out;
}

const char *notify_split_step(const char *error, char *step, size_t size)
{
    step[0] = '\0';
    const char *colon = strstr(error, ": ");
    if (!colon || (size_t)(colon - error) >= size || colon == error)
        return error;
    for (const char *p = error; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
            return error;
    memcpy(step, error, (size_t)(colon - error));
    step[colon - error] = '\0';
    return colon + 2;
}

/* ---- Queues ---- */

/* Logs the first drop of a streak; the count is in /metrics. Called with n->lock held. */
static void note_drop(Notifier *n, const char *why)
{
    metrics_add(METRICS_NOTIFY_DROPPED, 1);
    if (n->dropping)
        return;
    n->dropping = true;
    log_warn("notifications: a message was dropped (%s); further drops are counted in "
             "duro_notifications_dropped_total and not logged until a post succeeds",
             why);
}

/* Queues text for url (may be empty: nothing to do). Called from the deciding thread. */
static void post(Notifier *n, const char *url, const char *text)
{
    if (!url || !*url)
        return;
    Message *m = xcalloc(1, sizeof *m);
    m->url = url;
    m->body = notify_json(text);
    pthread_mutex_lock(&n->lock);
    if (n->n_outbox >= NOTIFY_MAX_OUTBOX) {
        note_drop(n, "the queue of messages is full: the webhook is slow or down");
        pthread_mutex_unlock(&n->lock);
        free(m->body);
        free(m);
        return;
    }
    *n->outbox_tail = m;
    n->outbox_tail = &m->next;
    n->n_outbox++;
    pthread_cond_broadcast(&n->wake);
    pthread_mutex_unlock(&n->lock);
}

void notify_report(const RefreshReport *rep)
{
    pthread_mutex_lock(&active_lock);
    Notifier *n = active;
    if (!n) {
        pthread_mutex_unlock(&active_lock);
        return;
    }
    pthread_mutex_lock(&n->lock);
    for (size_t k = 0; k < rep->n; k++) {
        const PipelineResult *r = &rep->builds[k].result;
        /* A stop, another process's or plan's build, or a view not built because one it reads
           failed (that one's failure is told): nothing to tell. */
        if (r->outcome == RUN_CANCELLED || r->busy || r->shared ||
            (r->outcome != RUN_OK && r->retry_us <= 0))
            continue;
        if (n->n_events >= NOTIFY_MAX_EVENTS) {
            note_drop(n, "too many refreshes waiting to be looked at");
            continue;
        }
        Event *e = xcalloc(1, sizeof *e);
        e->view = xstrdup(rep->builds[k].view->name);
        e->ok = r->outcome == RUN_OK;
        if (!e->ok) {
            const char *error = r->error ? r->error : pipeline_outcome_name(r);
            e->error = xstrndup(error, strnlen(error, NOTIFY_MAX_ERROR));
        }
        *n->events_tail = e;
        n->events_tail = &e->next;
        n->n_events++;
    }
    pthread_cond_broadcast(&n->wake);
    pthread_mutex_unlock(&n->lock);
    pthread_mutex_unlock(&active_lock);
}

/* ---- Deciding ---- */

/* " <http://listen/views/name|details>" when [web] listen is set; else "". Caller frees. */
static char *view_link(const Notifier *n, const char *view)
{
    const char *listen = n->settings->web.listen;
    if (!listen || !*listen)
        return xstrdup("");
    return xasprintf("\n<http://%s/views/%s|%s in the web UI>", listen, view, view);
}

static void log_store_error(Notifier *n, const char *doing)
{
    log_error("notifications: cannot %s: %s", doing, store_error(n->store));
}

static void tell_failure(Notifier *n, const Event *e)
{
    StoreNotice st;
    if (store_notice_get(n->store, e->view, &st) != 0) {
        log_store_error(n, "read what was told");
        return;
    }
    int64_t now = clock_wall_us();
    bool due = notify_failure_due(st.failure_sent_us, now);
    if (due) {
        char step[64];
        const char *why = notify_split_step(e->error, step, sizeof step);
        char *link = view_link(n, e->view);
        char *text = xasprintf(":x: Refresh of %s failed%s%s: %s%s", e->view,
                               *step ? " at step " : "", step, why, link);
        post(n, n->settings->slack.failure_webhook, text);
        free(text);
        free(link);
        st.failure_sent_us = now;
    }
    if (!due && st.failing)
        return;
    st.failing = true;
    if (store_notice_put(n->store, e->view, &st) != 0)
        log_store_error(n, "record what was told");
}

static void tell_success(Notifier *n, const Event *e)
{
    StoreNotice st;
    if (store_notice_get(n->store, e->view, &st) != 0) {
        log_store_error(n, "read what was told");
        return;
    }
    if (st.failing || st.overdue) {
        char *link = view_link(n, e->view);
        char *text = xasprintf(":white_check_mark: %s is fresh again: its refresh succeeded%s",
                               e->view, link);
        post(n, n->settings->slack.failure_webhook, text);
        free(text);
        free(link);
        st.failing = st.overdue = false;
        if (store_notice_put(n->store, e->view, &st) != 0)
            log_store_error(n, "record what was told");
    }
    StrVec *list = st.ok_runs <= 1 ? &n->new_views : &n->updated_views;
    if (!strvec_contains(list, e->view)) {
        if (n->new_views.n + n->updated_views.n == 0)
            n->batch_since_us = clock_mono_us();
        strvec_push(list, e->view);
    }
}

/* "a, b, c" with at most NOTIFY_MAX_NAMES names and "and N more". Caller frees. */
static char *name_list(const StrVec *v)
{
    StrVec shown = {0};
    for (size_t i = 0; i < v->n && i < NOTIFY_MAX_NAMES; i++)
        strvec_push(&shown, v->items[i]);
    char *joined = strvec_join(&shown, ", ");
    strvec_free(&shown);
    if (v->n <= NOTIFY_MAX_NAMES)
        return joined;
    char *out = xasprintf("%s and %zu more", joined, v->n - NOTIFY_MAX_NAMES);
    free(joined);
    return out;
}

/* Tells the successes gathered, once success_every has passed since the first (or at a stop). */
static void flush_successes(Notifier *n, bool now)
{
    if (n->new_views.n + n->updated_views.n == 0)
        return;
    if (!now && clock_mono_us() - n->batch_since_us <
                    n->settings->slack.success_every * CLOCK_US_PER_SECOND)
        return;
    char *fresh = name_list(&n->new_views), *updated = name_list(&n->updated_views);
    char *text = xasprintf("%s%s%s%s%s", n->new_views.n ? "New views: " : "", fresh,
                           n->new_views.n && n->updated_views.n ? "\n" : "",
                           n->updated_views.n ? "Updated views: " : "", updated);
    post(n, n->settings->slack.success_webhook, text);
    free(text);
    free(fresh);
    free(updated);
    strvec_clear(&n->new_views);
    strvec_clear(&n->updated_views);
}

/*
 * The alert_after checks: a view with no successful refresh for longer than its alert_after is
 * told once; told again when it has one (unless a success event told it already). An idle view
 * is left as it is: its refreshes are withheld on purpose.
 */
static void check_overdue(Notifier *n, const StoreView *views, size_t count, int64_t now)
{
    bool *quiet = idle_quiet_all(views, count, now);
    for (size_t i = 0; i < count; i++) {
        const StoreView *v = &views[i];
        int64_t after = config_described_alert_after(v->config);
        if (after <= 0 || !v->enabled)
            continue;
        StalenessInput in = idle_staleness(views, count, i, now, quiet);
        if (staleness_idle(&in))
            continue; /* nobody reads it: no refresh is missed, nothing is told */
        int64_t since = v->last_success_us ? v->last_success_us : v->first_seen_us;
        bool overdue = now - since > after * CLOCK_US_PER_SECOND;
        StoreNotice st;
        if (store_notice_get(n->store, v->name, &st) != 0) {
            log_store_error(n, "read what was told");
            break;
        }
        if (overdue == st.overdue)
            continue;
        char *link = view_link(n, v->name), *text;
        if (overdue) {
            char *why = v->last_error
                            ? xasprintf(" Last error: %.*s", NOTIFY_MAX_ERROR, v->last_error)
                            : xstrdup("");
            text = xasprintf(":warning: %s has had no successful refresh for %lld s "
                             "(alert_after %lld s).%s%s",
                             v->name, (long long)((now - since) / CLOCK_US_PER_SECOND),
                             (long long)after, why, link);
            free(why);
        } else {
            text = xasprintf(":white_check_mark: %s is fresh again: refreshed successfully%s",
                             v->name, link);
        }
        post(n, n->settings->slack.failure_webhook, text);
        free(text);
        free(link);
        st.overdue = overdue;
        if (store_notice_put(n->store, v->name, &st) != 0)
            log_store_error(n, "record what was told");
    }
    free(quiet);
}

/* The periodic summary on log_webhook. */
static void summarize(Notifier *n, const StoreView *views, size_t count, int64_t now)
{
    size_t by_state[VIEW_STATE_COUNT] = {0};
    StrVec failing = {0};
    bool *quiet = idle_quiet_all(views, count, now);
    for (size_t i = 0; i < count; i++) {
        StalenessInput in = idle_staleness(views, count, i, now, quiet);
        ViewState s = staleness_state(&in);
        by_state[s]++;
        if (s == VIEW_STATE_FAILED)
            strvec_push(&failing, views[i].name);
    }
    free(quiet);
    char *names = name_list(&failing);
    char *text = xasprintf(
        "Duro: %d refreshes (%d failed) in the last %lld s. Views: %zu fresh, %zu stale, "
        "%zu refreshing, %zu failed, %zu never built, %zu disabled, %zu idle.%s%s",
        n->period_ok + n->period_failed, n->period_failed, (long long)n->settings->slack.log_every,
        by_state[VIEW_STATE_FRESH], by_state[VIEW_STATE_STALE], by_state[VIEW_STATE_REFRESHING],
        by_state[VIEW_STATE_FAILED], by_state[VIEW_STATE_NEVER], by_state[VIEW_STATE_DISABLED],
        by_state[VIEW_STATE_IDLE], failing.n ? " Failing: " : "", names);
    post(n, n->settings->slack.log_webhook, text);
    free(text);
    free(names);
    strvec_free(&failing);
    n->period_ok = n->period_failed = 0;
}

/* What is due by the clock: alert_after checks and the summary. */
static void periodic(Notifier *n)
{
    int64_t mono = clock_mono_us();
    bool check = *n->settings->slack.failure_webhook && mono >= n->next_check_us;
    bool summary = *n->settings->slack.log_webhook && mono >= n->next_summary_us;
    if (!check && !summary)
        return;
    StoreView *views = NULL;
    size_t count = 0;
    if (store_list_views(n->store, &views, &count) != 0) {
        log_store_error(n, "read the views");
        n->next_check_us = mono + NOTIFY_CHECK_US;
        return;
    }
    int64_t now = clock_wall_us();
    if (check) {
        check_overdue(n, views, count, now);
        n->next_check_us = mono + NOTIFY_CHECK_US;
    }
    if (summary) {
        summarize(n, views, count, now);
        n->next_summary_us = mono + n->settings->slack.log_every * CLOCK_US_PER_SECOND;
    }
    store_views_free(views, count);
}

static void *decider_main(void *arg)
{
    Notifier *n = arg;
    n->next_check_us = clock_mono_us();
    n->next_summary_us = clock_mono_us() + n->settings->slack.log_every * CLOCK_US_PER_SECOND;
    pthread_mutex_lock(&n->lock);
    for (;;) {
        Event *events = n->events;
        n->events = NULL;
        n->events_tail = &n->events;
        n->n_events = 0;
        bool stopping = n->stopping;
        pthread_mutex_unlock(&n->lock);
        while (events) {
            Event *e = events;
            events = e->next;
            if (e->ok) {
                n->period_ok++;
                tell_success(n, e);
            } else {
                n->period_failed++;
                tell_failure(n, e);
            }
            free(e->view);
            free(e->error);
            free(e);
        }
        flush_successes(n, stopping);
        if (!stopping)
            periodic(n);
        pthread_mutex_lock(&n->lock);
        if (stopping)
            break;
        if (!n->events) {
            struct timespec ts = clock_timespec(clock_mono_us() + CLOCK_US_PER_SECOND);
            pthread_cond_timedwait(&n->wake, &n->lock, &ts);
        }
    }
    pthread_mutex_unlock(&n->lock);
    return NULL;
}

/* ---- Posting ---- */

/* libcurl's progress callback: gives up a transfer past the stop's deadline. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    Notifier *n = arg;
    pthread_mutex_lock(&n->lock);
    bool late = n->stopping && clock_mono_us() >= n->stop_deadline_us;
    pthread_mutex_unlock(&n->lock);
    return late;
}

static size_t on_body(char *data, size_t size, size_t count, void *arg)
{
    (void)data;
    (void)arg;
    return size * count; /* Slack answers "ok"; nothing to keep */
}

/* Posts m once. Returns 0, or -1 with *error (without the URL; caller frees). */
static int post_once(Notifier *n, CURL *curl, const Message *m, char **error)
{
    char curl_error[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, m->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, m->body);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)NOTIFY_CONNECT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)NOTIFY_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, n);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    if (rc == CURLE_OK && status >= 200 && status < 300)
        return 0;
    char *raw = rc != CURLE_OK ? xstrdup(curl_error[0] ? curl_error : curl_easy_strerror(rc))
                               : xasprintf("HTTP %ld", status);
    *error = notify_redact(raw, m->url);
    free(raw);
    return -1;
}

/* Sleeps until mono_us, or until a stop's deadline. Called with n->lock held. */
static void sleep_until(Notifier *n, int64_t mono_us)
{
    while (clock_mono_us() < mono_us && !(n->stopping && clock_mono_us() >= n->stop_deadline_us)) {
        int64_t until = mono_us;
        if (n->stopping && n->stop_deadline_us < until)
            until = n->stop_deadline_us;
        struct timespec ts = clock_timespec(until);
        pthread_cond_timedwait(&n->wake, &n->lock, &ts);
    }
}

/* Posts m with its retries. Called with n->lock held; returns with it held. */
static void deliver(Notifier *n, CURL *curl, Message *m)
{
    int64_t delay = NOTIFY_FIRST_RETRY_US;
    char *error = NULL;
    for (int attempt = 1; attempt <= NOTIFY_TRIES; attempt++) {
        if (n->stopping && clock_mono_us() >= n->stop_deadline_us)
            break;
        pthread_mutex_unlock(&n->lock);
        free(error);
        error = NULL;
        int rc = post_once(n, curl, m, &error);
        pthread_mutex_lock(&n->lock);
        if (rc == 0) {
            metrics_add(METRICS_NOTIFY_SENT, 1);
            if (n->dropping)
                log_info("notifications: the webhook takes messages again");
            n->dropping = false;
            return;
        }
        if (attempt < NOTIFY_TRIES) {
            metrics_add(METRICS_NOTIFY_RETRIED, 1);
            sleep_until(n, clock_mono_us() + delay);
            delay *= 2;
        }
    }
    char *why = xasprintf("the webhook did not take it: %s", error ? error : "Duro is stopping");
    note_drop(n, why);
    free(why);
    free(error);
}

static void *poster_main(void *arg)
{
    Notifier *n = arg;
    CURL *curl = curl_easy_init();
    pthread_mutex_lock(&n->lock);
    for (;;) {
        Message *m = n->outbox;
        if (!m) {
            if (n->stopping && !n->decider_started)
                break; /* the decider is done: nothing more will come */
            struct timespec ts = clock_timespec(clock_mono_us() + CLOCK_US_PER_SECOND);
            pthread_cond_timedwait(&n->wake, &n->lock, &ts);
            continue;
        }
        n->outbox = m->next;
        if (!n->outbox)
            n->outbox_tail = &n->outbox;
        n->n_outbox--;
        if (curl)
            deliver(n, curl, m);
        else
            note_drop(n, "libcurl could not be initialised");
        free(m->body);
        free(m);
    }
    pthread_mutex_unlock(&n->lock);
    curl_easy_cleanup(curl);
    return NULL;
}

/* ---- Life ---- */

int notify_start(const Settings *s, Notifier **out, char **error)
{
    *out = NULL;
    if (!*s->slack.failure_webhook && !*s->slack.success_webhook && !*s->slack.log_webhook)
        return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        *error = xstrdup("notifications: libcurl could not be initialised");
        return -1;
    }
    Notifier *n = xcalloc(1, sizeof *n);
    n->settings = s;
    n->events_tail = &n->events;
    n->outbox_tail = &n->outbox;
    pthread_mutex_init(&n->lock, NULL);
    if (clock_cond_init(&n->wake) != 0) {
        *error = xstrdup("notifications: cannot set up the monotonic clock");
        pthread_mutex_destroy(&n->lock);
        free(n);
        return -1;
    }
    if (store_open(settings_catalog_target(s), &n->store, error) != 0)
        goto fail;
    if (pthread_create(&n->decider, NULL, decider_main, n) != 0) {
        *error = xstrdup("notifications: cannot start a thread");
        goto fail;
    }
    n->decider_started = true;
    if (pthread_create(&n->poster, NULL, poster_main, n) != 0) {
        *error = xstrdup("notifications: cannot start a thread");
        notify_stop(n);
        return -1;
    }
    n->poster_started = true;
    pthread_mutex_lock(&active_lock);
    active = n;
    pthread_mutex_unlock(&active_lock);
    StrVec on = {0};
    if (*s->slack.failure_webhook)
        strvec_push(&on, "failures");
    if (*s->slack.success_webhook)
        strvec_push(&on, "successes");
    if (*s->slack.log_webhook)
        strvec_push(&on, "summary");
    char *kinds = strvec_join(&on, ", ");
    log_info("notifications: on (%s)", kinds);
    free(kinds);
    strvec_free(&on);
    *out = n;
    return 0;
fail:
    store_close(n->store);
    pthread_mutex_destroy(&n->lock);
    pthread_cond_destroy(&n->wake);
    free(n);
    return -1;
}

void notify_stop(Notifier *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&active_lock);
    if (active == n)
        active = NULL;
    pthread_mutex_unlock(&active_lock);
    pthread_mutex_lock(&n->lock);
    n->stopping = true;
    n->stop_deadline_us = clock_mono_us() + NOTIFY_STOP_GRACE_US;
    pthread_cond_broadcast(&n->wake);
    pthread_mutex_unlock(&n->lock);
    if (n->decider_started)
        pthread_join(n->decider, NULL);
    pthread_mutex_lock(&n->lock);
    n->decider_started = false; /* the poster ends once the outbox is empty */
    pthread_cond_broadcast(&n->wake);
    pthread_mutex_unlock(&n->lock);
    if (n->poster_started)
        pthread_join(n->poster, NULL);
    for (Event *e = n->events, *next; e; e = next) {
        next = e->next;
        free(e->view);
        free(e->error);
        free(e);
    }
    strvec_free(&n->new_views);
    strvec_free(&n->updated_views);
    store_close(n->store);
    pthread_mutex_destroy(&n->lock);
    pthread_cond_destroy(&n->wake);
    free(n);
}
