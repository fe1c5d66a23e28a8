/*
 * Interception of Duro's SQL in one session (see inspect.h). A held client
 * message is decided on whole; a statement that waits stays held by the relay
 * and is decided on again once the refreshes it waits for are done.
 */
#include "proxy/inspect.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "proxy/codec.h"
#include "proxy/wnames.h"

#define INSPECT_MAX_WAITS 16 /* stale views one statement waits for at most */

typedef enum InspectWaitKind {
    WAIT_NONE,
    WAIT_READ, /* a statement reading stale views, until they are refreshed */
    WAIT_CALL, /* duro_refresh, until it is done */
    WAIT_EVAL, /* a query on duro.status / duro.runs, until the pool has evaluated it */
} InspectWaitKind;

/*
 * The extended-protocol bookkeeping: what the warehouse still owes the client.
 * The open batch is what was relayed since the last Sync or Query: the
 * warehouse runs it in one implicit transaction and, after an error, discards
 * the rest of it up to a Sync. Before Duro answers a message of its own, it
 * must know whether the batch failed (then PostgreSQL would discard the
 * message): an error the warehouse reported tells, and otherwise Duro's probe,
 * a Close of a statement nobody has and a Flush, whose CloseComplete comes
 * only when nothing before it failed. The probe leaves the batch open, as the
 * client left it.
 */
typedef struct InspectSync {
    int pending_z;    /* ReadyForQuery messages the warehouse still owes */
    bool open_batch;  /* extended-protocol messages relayed since the last Sync or Query */
    bool unchecked;   /* of those, some relayed since Duro last learned that none failed */
    bool batch_error; /* the warehouse reported an error in the open batch */
    bool probing;     /* Duro's probe is on its way */
    bool swallow_z;   /* the first pending ReadyForQuery answers a Sync of Duro's own */
    bool swallow_e;   /* the warehouse's next ErrorResponse answers Duro's failing Execute */
    bool unnamed;     /* the client parsed an unnamed statement in the warehouse since a Query */
    bool ended;       /* Duro ended the batch for the held Query (inspect_end_batch) */
    size_t closes;    /* CloseComplete messages the open batch still owes the client */
    /* > 0: a relayed Query is that many ReadyForQuery messages away, and whether it replaces
     * Duro's unnamed portal depends on it: PostgreSQL replaces the unnamed portal only when a
     * Query gets past parse analysis, so one that fails in a transaction block leaves it. */
    int portal_z;
} InspectSync;

/* The statement Duro's probe closes: a name no client uses (Close of a missing one succeeds). */
#define INSPECT_PROBE_NAME "duro probe \x01"

/* The refreshes the held client message waits for. */
typedef struct InspectWait {
    InspectWaitKind kind;
    bool cancelled; /* a cancel request ended the wait: the held message gets 57014 */
    ViewsRefresh *refreshes[INSPECT_MAX_WAITS];
    size_t n_refreshes;
    bool built[INSPECT_MAX_WAITS]; /* per refresh: its view had a live table */
    size_t n_pending;              /* of those, not finished */
    AnswerRefresh call;            /* WAIT_CALL: the refresh a statement asked for */
} InspectWait;

struct Inspect {
    const InspectEnv *env;
    const InspectOps *ops;
    void *arg;
    uint32_t id;      /* the session's, for logs */
    const char *user; /* borrowed from the session */
    char tx_status;   /* of the last ReadyForQuery: 'I', 'T' or 'E' */
    Answer *answer;   /* Duro's prepared statements and portals */
    InspectSync sync;
    InspectWait wait;
    WhNames *names;     /* statements parsed in the warehouse, for 42P05 and reads at Bind */
    CodecError err;     /* why the last message was refused */
    char *refusal;      /* why the held statement is answered with an error instead of relayed */
    bool query_portal;  /* Duro answers a Query and has an unnamed portal, which the Query replaces
                         * unless it fails (see InspectSync.portal_z) */
    bool query_of_duro; /* Duro answers a Query: it replaces the warehouse's unnamed portal too,
                         * unless it fails */
};

/* The pool evaluated the held statement's query: it is decided on again. */
static void inspect_eval_done(void *arg)
{
    Inspect *in = arg;
    in->ops->resume(in->arg);
}

Inspect *inspect_new(const InspectEnv *env, uint32_t id, const InspectOps *ops, void *arg)
{
    Inspect *in = xcalloc(1, sizeof *in);
    in->env = env;
    in->ops = ops;
    in->arg = arg;
    in->id = id;
    in->tx_status = 'I';
    in->names = whnames_new();
    in->answer = answer_new();
    answer_set_session(in->answer, NULL, inspect_eval_done, in);
    return in;
}

static void inspect_release_refreshes(Inspect *in, bool detach);

void inspect_free(Inspect *in)
{
    if (!in)
        return;
    whnames_free(in->names);
    inspect_release_refreshes(in, true);
    answer_refresh_clear(&in->wait.call);
    answer_free(in->answer);
    free(in->refusal);
    free(in);
}

void inspect_set_user(Inspect *in, const char *user)
{
    in->user = user;
    answer_set_session(in->answer, user, inspect_eval_done, in);
}

void inspect_server_parameter(Inspect *in, const uint8_t *msg, size_t len)
{
    /* 'S', length, name NUL value NUL */
    if (len < 7 || msg[len - 1] != '\0')
        return;
    const char *name = (const char *)msg + 5;
    size_t name_len = strnlen(name, len - 5);
    if (5 + name_len + 1 >= len || strcmp(name, "TimeZone") != 0)
        return;
    answer_set_timezone(in->answer, name + name_len + 1);
}

/* ---- waiting --------------------------------------------------------------------- */

/* Lets go of the refreshes of the held message: detached ones go on without us. */
static void inspect_release_refreshes(Inspect *in, bool detach)
{
    for (size_t i = 0; i < in->wait.n_refreshes; i++) {
        if (detach)
            views_refresh_detach(in->wait.refreshes[i]);
        else
            views_refresh_free(in->wait.refreshes[i]);
    }
    in->wait.n_refreshes = in->wait.n_pending = 0;
}

/* A refresh the held message waits for finished: the last one resumes it. */
static void inspect_refresh_done(void *arg, ViewsRefresh *r)
{
    (void)r;
    Inspect *in = arg;
    assert(in->wait.kind != WAIT_NONE && in->wait.n_pending > 0);
    if (--in->wait.n_pending == 0)
        in->ops->resume(in->arg);
}

bool inspect_cancel_wait(Inspect *in)
{
    if (in->wait.kind == WAIT_EVAL) {
        log_info("session %u: a query on duro.* cancelled", in->id);
        return answer_eval_cancel(in->answer);
    }
    if (in->wait.kind == WAIT_NONE || in->wait.n_pending == 0)
        return false;
    log_info("session %u: cancelled while waiting for a refresh", in->id);
    inspect_release_refreshes(in, true);
    answer_refresh_clear(&in->wait.call);
    in->wait.kind = WAIT_NONE;
    in->wait.cancelled = true;
    in->ops->resume(in->arg);
    return true;
}

/* ---- the warehouse's side -------------------------------------------------------- */

void inspect_server_header(Inspect *in, char type)
{
    whnames_answer(in->names, type);
    /* In a failed block only COMMIT, ROLLBACK (TO SAVEPOINT) and PREPARE TRANSACTION complete:
     * the block is no longer failed, and what the batch sends next runs (its implicit
     * transaction, or the block a savepoint goes on with; the next ReadyForQuery tells which). */
    if (type == 'C' && in->tx_status == 'E' && in->sync.open_batch && in->sync.pending_z == 0)
        in->tx_status = 'T';
}

bool inspect_server_ready_is_ours(const Inspect *in)
{
    return in->sync.swallow_z;
}

bool inspect_server_ready(Inspect *in, char tx_status)
{
    in->tx_status = tx_status;
    if (in->sync.pending_z > 0) { /* it ends a batch (not the authentication) */
        in->sync.pending_z--;
        whnames_batch_done(in->names);
        if (in->sync.portal_z > 0 && --in->sync.portal_z == 0 && tx_status != 'E')
            answer_forget_unnamed(in->answer, false, true); /* the Query ran: it replaced it */
    }
    /* Duro sends a Sync of its own only when the warehouse owes nothing: its answer is first. */
    bool ours = in->sync.swallow_z;
    in->sync.swallow_z = false;
    if (!ours && tx_status == 'I')
        answer_end_transaction(in->answer); /* the client's transaction ended */
    if (in->sync.pending_z == 0)
        in->ops->resume(in->arg);
    return ours;
}

bool inspect_server_error(Inspect *in)
{
    if (in->sync.swallow_e) {
        in->sync.swallow_e = false; /* Duro's, sent when the warehouse owed nothing */
        return true;
    }
    whnames_error(in->names);
    if (in->sync.pending_z > 0 || !in->sync.open_batch)
        return false; /* in a batch that ended: the client's Sync or Query ended its skipping */
    in->sync.batch_error = true;
    if (in->sync.probing) {
        in->sync.probing = false; /* the warehouse discards the probe */
        in->ops->resume(in->arg);
    }
    return false;
}

bool inspect_server_close_complete(Inspect *in)
{
    if (in->sync.swallow_z)
        return true; /* Duro's Close of the unnamed statement, before its Sync */
    if (in->sync.pending_z > 0 || !in->sync.open_batch)
        return false;
    if (in->sync.closes > 0) {
        in->sync.closes--; /* a client's Close */
        return false;
    }
    if (!in->sync.probing)
        return false;
    in->sync.probing = false; /* Duro's probe: nothing before it failed */
    whnames_checked(in->names);
    in->ops->resume(in->arg);
    return true;
}

/* ---- the client's side ----------------------------------------------------------- */

/* An extended-protocol message of the client's is relayed: the batch is open. */
static void inspect_relayed(Inspect *in, char type)
{
    whnames_sent(in->names);
    in->sync.open_batch = true;
    in->sync.unchecked = true;
    if (type == 'C')
        in->sync.closes++;
}

/* Messages of Duro's ending in a Sync, whose answers and ReadyForQuery are not relayed: a batch
 * of Duro's, counted as the client's are so that the warehouse's answers stay matched to theirs. */
static void inspect_send_sync_of_duro(Inspect *in, const uint8_t *msgs, size_t len)
{
    in->ops->to_server(in->arg, msgs, len);
    whnames_batch_sent(in->names);
    in->sync.pending_z++;
    in->sync.swallow_z = true;
}

/* A Sync, Query or FunctionCall of the client's is relayed: it ends the batch, and a
 * ReadyForQuery is owed for it. */
static void inspect_relayed_end(Inspect *in)
{
    whnames_batch_sent(in->names);
    in->sync.pending_z++;
    in->sync.open_batch = in->sync.unchecked = in->sync.batch_error = false;
    in->sync.closes = 0;
}

/* A Query relayed: it replaces the unnamed statement at once, the unnamed portal only if it runs
 * (decided at its ReadyForQuery; until then Duro's messages wait for the warehouse anyway). */
static void inspect_relayed_query(Inspect *in)
{
    inspect_relayed_end(in);
    in->sync.unnamed = false;
    answer_forget_unnamed(in->answer, true, false);
    if (answer_has_portal(in->answer, ""))
        in->sync.portal_z = in->sync.pending_z;
}

/* A Query or Parse too large to hold: relayed unexamined, as inspect_query/parse relay one. */
static RelayVerdict inspect_unexamined(Inspect *in, char type)
{
    if (type == 'Q') {
        inspect_relayed_query(in);
    } else {
        /* Its name is not known: were it unnamed, it would replace an unnamed one of Duro's. */
        answer_forget_unnamed(in->answer, true, false);
        inspect_relayed(in, type);
        in->sync.unnamed = true;
    }
    return RELAY_PASS;
}

RelayVerdict inspect_header(Inspect *in, char type, size_t size)
{
    /*
     * A Query or FunctionCall in an open batch: were the batch in error, the warehouse would
     * discard it without a ReadyForQuery. It is held (whatever its size) for inspect_statement
     * to learn that first; after an error it is discarded.
     */
    if ((type == 'Q' || type == 'F') && (in->sync.open_batch || answer_skipping(in->answer)))
        return RELAY_HOLD;
    switch (type) {
    case 'Q':
    case 'P':
        if (size > in->env->limit)
            return inspect_unexamined(in, type);
        return RELAY_HOLD; /* looked at: Duro's, or reading a stale view? */
    case 'B':
    case 'D':
    case 'E':
    case 'C':
    case 'S':
    case 'H':
        if (answer_active(in->answer) || (type == 'C' && whnames_any(in->names)) ||
            (type == 'B' && whnames_reading(in->names)))
            return RELAY_HOLD; /* may be for a statement or portal of Duro's */
        if (type == 'S')
            inspect_relayed_end(in);
        else if (type != 'H')
            inspect_relayed(in, type);
        return RELAY_PASS;
    case 'F':
        inspect_relayed_end(in);
        return RELAY_PASS;
    default:
        return RELAY_PASS;
    }
}

/*
 * True when the warehouse owes nothing and the open batch did not fail, so an
 * answer of Duro's comes in order; false to wait (the probe is sent when the
 * batch is unchecked). After a failure Duro discards messages up to the Sync,
 * as the warehouse does.
 */
static bool inspect_warehouse_idle(Inspect *in)
{
    if (in->sync.unchecked && !in->sync.batch_error && !in->sync.probing) {
        /* Close (statement INSPECT_PROBE_NAME), then Flush. */
        uint8_t probe[5 + 1 + sizeof INSPECT_PROBE_NAME + 5] = {
            'C', 0, 0, 0, 4 + 1 + sizeof INSPECT_PROBE_NAME, 'S'};
        memcpy(probe + 6, INSPECT_PROBE_NAME, sizeof INSPECT_PROBE_NAME);
        memcpy(probe + 6 + sizeof INSPECT_PROBE_NAME, "H\0\0\0\4", 5);
        in->ops->to_server(in->arg, probe, sizeof probe);
        whnames_sent(in->names); /* answered in the batch like the client's messages */
        in->sync.probing = true;
        in->sync.unchecked = false;
    }
    if (in->sync.pending_z > 0 || in->sync.probing)
        return false;
    if (in->sync.batch_error)
        answer_skip(in->answer);
    return true;
}

/*
 * Ends the open batch with a Sync of Duro's before Duro answers a Query itself,
 * as the Query would have ended it in the warehouse; false to wait for its
 * ReadyForQuery (not relayed), which tells the transaction's status.
 */
static bool inspect_end_batch(Inspect *in)
{
    if (in->sync.pending_z > 0)
        return false; /* Duro's Sync must be the only one pending: its answer is not relayed */
    if (in->sync.ended) {
        in->sync.ended = false; /* answered: the Query goes on */
        return true;
    }
    if (in->sync.open_batch || in->sync.unnamed || in->tx_status != 'I') {
        /* A Query drops the unnamed statement before it is parsed: Close (statement ""), then
         * Sync. The unnamed portal (which outlives a Sync in a transaction block) goes only if
         * the Query gets past parse analysis (inspect_put_ready). */
        static const uint8_t close_sync[] = {'C', 0, 0, 0, 6, 'S', 0, 'S', 0, 0, 0, 4};
        in->sync.unnamed = false;
        in->ops->to_server(in->arg, close_sync, sizeof close_sync);
        inspect_relayed_end(in);
        in->sync.swallow_z = in->sync.ended = true;
        return false;
    }
    return true;
}

/* A NOTICE or WARNING of Duro's for the client, when it can go whole. */
static void inspect_notice(Inspect *in, const char *severity, const char *message)
{
    if (!in->ops->client_at_boundary(in->arg))
        return; /* the warehouse is mid-message towards the client */
    CodecBuf b;
    codec_buf_init(&b, 64 * 1024);
    codec_put_notice(&b, severity, severity[0] == 'W' ? "01000" : "00000", message, NULL, NULL);
    if (codec_buf_ok(&b))
        in->ops->to_client(in->arg, b.data, b.len);
    codec_buf_free(&b);
}

/*
 * An error of Duro's inside a transaction block, or in a batch with messages
 * relayed (its implicit transaction, or a BEGIN it ran), fails the transaction,
 * as one of PostgreSQL's would: Duro makes the warehouse's fail too, with an Execute
 * of a portal nobody has (its error is not relayed), so that what the client
 * sends next gets 25P02 and a COMMIT rolls back. A simple Query's ends with a
 * Sync of Duro's; in the extended protocol the client's Sync ends the batch.
 */
static void inspect_fail_transaction(Inspect *in, bool extended)
{
    if (!answer_take_error(in->answer))
        return;
    /* Also the batch's implicit transaction, or a BEGIN the batch ran (no ReadyForQuery told). */
    if (in->tx_status != 'T' && !(extended && in->sync.open_batch))
        return;
    uint8_t fail[5 + sizeof INSPECT_PROBE_NAME + 4 + 5] = {'E', 0, 0, 0,
                                                           4 + sizeof INSPECT_PROBE_NAME + 4};
    memcpy(fail + 5, INSPECT_PROBE_NAME, sizeof INSPECT_PROBE_NAME);
    memcpy(fail + 5 + sizeof INSPECT_PROBE_NAME + 4, extended ? "H\0\0\0\4" : "S\0\0\0\4", 5);
    in->sync.swallow_e = true;
    if (extended) {
        in->ops->to_server(in->arg, fail, sizeof fail);
        in->sync.open_batch = in->sync.batch_error = true; /* the client's Sync goes on */
    } else {
        inspect_send_sync_of_duro(in, fail, sizeof fail);
        in->tx_status = 'E';
    }
}

/* In a failed transaction block, PostgreSQL answers a statement that does not end it with 25P02:
 * Duro's statements get the same (queued into out: true). */
static bool inspect_aborted(Inspect *in, CodecBuf *out, bool extended)
{
    if (in->tx_status != 'E')
        return false;
    answer_aborted(in->answer, out, extended);
    return true;
}

/* A ReadyForQuery of Duro's; outside a transaction block, Duro's portals are gone with the
 * transaction that held them, as PostgreSQL's are. */
static void inspect_put_ready(Inspect *in, CodecBuf *out)
{
    inspect_fail_transaction(in, false);
    if (in->query_of_duro && in->tx_status == 'T') {
        /* It ran in a transaction block without an error: PostgreSQL's would have replaced the
         * unnamed portal, so the warehouse's goes: Close (portal ""), then Sync, not relayed. */
        static const uint8_t close_sync[] = {'C', 0, 0, 0, 6, 'P', 0, 'S', 0, 0, 0, 4};
        inspect_send_sync_of_duro(in, close_sync, sizeof close_sync);
    }
    in->query_of_duro = false;
    if (in->query_portal && in->tx_status != 'E')
        answer_forget_unnamed(in->answer, false, true);
    in->query_portal = false;
    codec_put_ready(out, in->tx_status);
    if (in->tx_status == 'I')
        answer_end_transaction(in->answer);
}

/* Sends b (answers of Duro's) to the client. */
static void inspect_answer(Inspect *in, CodecBuf *b)
{
    inspect_fail_transaction(in, true); /* a simple Query's went with its ReadyForQuery */
    if (codec_buf_ok(b))
        in->ops->to_client(in->arg, b->data, b->len);
    codec_buf_free(b);
}

/* A WARNING for every waited refresh that failed, or the refusal of a view never built. */
static int inspect_read_outcome(Inspect *in)
{
    StrVec warnings = {0};
    for (size_t i = 0; i < in->wait.n_refreshes && !in->refusal; i++) {
        const SchedulerRequest *req = views_refresh_result(in->wait.refreshes[i]);
        if (req->status != SCHEDULER_FAILED)
            continue;
        char *m = views_failure_message(req->view, in->wait.built[i], req->failed_view, req->error,
                                        req->next_try_us);
        if (in->wait.built[i])
            strvec_push_owned(&warnings, m);
        else
            in->refusal = m;
    }
    for (size_t i = 0; i < warnings.n && !in->refusal; i++)
        inspect_notice(in, "WARNING", warnings.items[i]);
    strvec_free(&warnings);
    inspect_release_refreshes(in, false);
    in->wait.kind = WAIT_NONE;
    return in->refusal ? -1 : 0;
}

/*
 * A statement that reads relations: holds it while a stale managed view it
 * reads (stale_read = wait, or never built) is refreshed. A view whose
 * refresh a backoff holds back is read as it is, with a WARNING; one never
 * built is an error. Returns 1 to wait, 0 to relay it now, -1 to answer it
 * with the error in in->refusal. count: the statement runs now (a Query, an
 * unnamed Parse, a Bind of a named statement), so its reads are counted.
 */
static int inspect_read_gate(Inspect *in, const StrVec *relations, bool count)
{
    if (in->wait.kind == WAIT_READ) {
        if (in->wait.n_pending > 0)
            return 1;
        return inspect_read_outcome(in);
    }
    if (in->refusal)
        return -1; /* decided already: the warehouse still owed answers */
    ViewsReadInfo v;
    for (size_t i = 0; i < relations->n; i++) {
        ViewsRead how = views_read(in->env->views, relations->items[i], &v);
        if (v.view && count)
            views_note_read(in->env->views, v.view, in->user);
        if (how == VIEWS_READ_REFUSE) {
            in->refusal = views_failure_message(v.view, false, v.failed, v.error, v.next_try_us);
            return -1;
        }
    }
    for (size_t i = 0; i < relations->n && in->wait.n_refreshes < INSPECT_MAX_WAITS; i++) {
        ViewsRead how = views_read(in->env->views, relations->items[i], &v);
        if (how == VIEWS_READ_NOW)
            continue;
        bool seen = false;
        for (size_t k = 0; k < in->wait.n_refreshes && !seen; k++)
            seen = strcmp(views_refresh_result(in->wait.refreshes[k])->view, v.view) == 0;
        if (seen)
            continue;
        if (how == VIEWS_READ_HELD) {
            char *m = views_failure_message(v.view, true, v.failed, v.error, v.next_try_us);
            inspect_notice(in, "WARNING", m);
            free(m);
            continue;
        }
        if (how == VIEWS_READ_BACKGROUND) {
            (void)views_refresh(in->env->views, NULL, NULL, v.view, false, true, RUN_TRIGGER_READ);
            continue;
        }
        char *m = xasprintf("duro: %s is stale; waiting for its refresh", v.view);
        inspect_notice(in, "NOTICE", m);
        free(m);
        in->wait.built[in->wait.n_refreshes] = v.built;
        in->wait.refreshes[in->wait.n_refreshes++] = views_refresh(
            in->env->views, inspect_refresh_done, in, v.view, false, true, RUN_TRIGGER_READ);
        in->wait.n_pending++;
    }
    if (in->wait.n_refreshes == 0)
        return 0;
    in->wait.kind = WAIT_READ;
    return 1;
}

/* Answers the held statement with in->refusal once the warehouse owes nothing; false to wait. */
static bool inspect_refuse_read(Inspect *in, bool extended)
{
    if (!inspect_warehouse_idle(in))
        return false;
    if (extended && answer_skipping(in->answer)) {
        free(in->refusal); /* the batch failed in the warehouse: discarded */
        in->refusal = NULL;
        return true;
    }
    CodecBuf out;
    codec_buf_init(&out, 64 * 1024);
    if (extended) {
        answer_error(in->answer, &out, VIEWS_NEVER_BUILT_SQLSTATE, in->refusal, true);
    } else {
        answer_error(in->answer, &out, VIEWS_NEVER_BUILT_SQLSTATE, in->refusal, false);
        inspect_put_ready(in, &out);
    }
    inspect_answer(in, &out);
    free(in->refusal);
    in->refusal = NULL;
    return true;
}

/* True when the client may call duro_refresh. */
static bool inspect_is_admin(const Inspect *in)
{
    const StrVec *admins = in->env->admins;
    if (!admins || admins->n == 0)
        return true;
    for (size_t i = 0; i < admins->n; i++)
        if (strcmp(admins->items[i], in->user) == 0)
            return true;
    return false;
}

/*
 * A duro_refresh asked for by a statement (in->wait.call filled): starts it, or
 * answers 42501 when the caller may not. Returns 1 to wait, 0 when answered.
 */
static int inspect_start_call(Inspect *in, CodecBuf *out, bool extended)
{
    assert(in->wait.kind == WAIT_NONE && in->wait.n_refreshes == 0);
    if (!inspect_is_admin(in)) {
        char *m = xasprintf("permission denied: %s is not in [worker] admins, who may call "
                            "duro_refresh",
                            in->user);
        answer_error(in->answer, out, "42501", m, extended);
        free(m);
        answer_refresh_clear(&in->wait.call);
        return 0;
    }
    log_info("session %u: %s calls duro_refresh('%s'%s)", in->id, in->user, in->wait.call.view,
             in->wait.call.force ? ", true" : "");
    in->wait.refreshes[0] =
        views_refresh(in->env->views, inspect_refresh_done, in, in->wait.call.view,
                      in->wait.call.force, false, RUN_TRIGGER_CALL);
    in->wait.n_refreshes = in->wait.n_pending = 1;
    in->wait.kind = WAIT_CALL;
    return 1;
}

/* The held statement's duro_refresh finished: its answer into out. */
static void inspect_finish_call(Inspect *in, const char *portal, CodecBuf *out)
{
    assert(in->wait.kind == WAIT_CALL && in->wait.n_refreshes == 1 && in->wait.n_pending == 0);
    answer_refresh_result(in->answer, portal, &in->wait.call,
                          views_refresh_result(in->wait.refreshes[0]), out);
    inspect_release_refreshes(in, false);
    answer_refresh_clear(&in->wait.call);
    in->wait.kind = WAIT_NONE;
}

/* The statement's classification; the pre-filter spares most statements the parser. */
static const InterceptInfo *inspect_classify(Inspect *in, const char *sql, size_t len)
{
    static const InterceptInfo pass = {.kind = INTERCEPT_PASS};
    if (!views_may_concern(in->env->views, sql, len))
        return &pass;
    return views_classify(in->env->views, sql);
}

/* Whether a statement Duro would refuse with 0A000 goes to the published copies instead. */
static bool inspect_to_copy(Inspect *in, const InterceptInfo *info)
{
    return info->kind != INTERCEPT_PASS && in->env->copy_age > 0 &&
           answer_copy_answers(in->env->answer, info);
}

/* The NOTICE of a statement relayed to the published copies. */
static void inspect_copy_notice(Inspect *in)
{
    char *m = xasprintf("duro.status and duro.runs: this query is answered by their copies in the "
                        "warehouse, which may be up to %llds old",
                        (long long)in->env->copy_age);
    inspect_notice(in, "NOTICE", m);
    free(m);
}

/*
 * A Query or FunctionCall: after extended-protocol messages without a Sync,
 * Duro's Sync tells first whether one of them was in error (INSPECT_WAIT until
 * the warehouse answers it); after an error it is discarded up to the client's
 * Sync, as PostgreSQL does (INSPECT_ANSWER). INSPECT_PASS: go on with it.
 */
static InspectVerdict inspect_after_extended(Inspect *in)
{
    if (in->sync.open_batch && !inspect_warehouse_idle(in))
        return INSPECT_WAIT;
    return answer_skipping(in->answer) ? INSPECT_ANSWER : INSPECT_PASS;
}

/* A FunctionCall, held because it came after extended-protocol messages without a Sync. */
static InspectVerdict inspect_function_call(Inspect *in)
{
    InspectVerdict v = inspect_after_extended(in);
    if (v == INSPECT_PASS)
        inspect_relayed_end(in);
    return v;
}

/* A simple Query. */
static InspectVerdict inspect_query(Inspect *in, const uint8_t *msg, size_t len)
{
    CodecQuery q;
    if (codec_read_query(msg, len, &q, &in->err) != CODEC_OK) {
        return INSPECT_REFUSE;
    }
    CodecBuf out;
    codec_buf_init(&out, (size_t)1 << 30);
    if (in->wait.cancelled) {
        in->wait.cancelled = false;
        answer_error(in->answer, &out, "57014", "canceling statement due to user request", false);
        inspect_put_ready(in, &out);
        inspect_answer(in, &out);
        return INSPECT_ANSWER;
    }
    if (in->wait.kind == WAIT_EVAL) {
        if (answer_evaluating(in->answer)) {
            codec_buf_free(&out);
            return INSPECT_WAIT;
        }
        answer_eval_result(in->answer, NULL, &out);
        in->wait.kind = WAIT_NONE;
        inspect_put_ready(in, &out);
        inspect_answer(in, &out);
        return INSPECT_ANSWER;
    }
    if (in->wait.kind == WAIT_CALL) {
        if (in->wait.n_pending > 0) {
            codec_buf_free(&out);
            return INSPECT_WAIT;
        }
        inspect_finish_call(in, NULL, &out);
        inspect_put_ready(in, &out);
        inspect_answer(in, &out);
        return INSPECT_ANSWER;
    }
    if (in->wait.kind == WAIT_NONE && !in->refusal) {
        InspectVerdict v = inspect_after_extended(in);
        if (v == INSPECT_PASS && len > in->env->limit)
            (void)inspect_unexamined(in, 'Q');
        if (v != INSPECT_PASS || len > in->env->limit) {
            codec_buf_free(&out);
            return v;
        }
    }
    const InterceptInfo *info = inspect_classify(in, q.sql, q.sql_len);
    bool to_copy = inspect_to_copy(in, info);
    if (info->kind == INTERCEPT_PASS || to_copy) {
        codec_buf_free(&out);
        int gate = info->relations.n ? inspect_read_gate(in, &info->relations, true) : 0;
        if (gate > 0)
            return INSPECT_WAIT;
        if (gate < 0)
            return inspect_refuse_read(in, false) ? INSPECT_ANSWER : INSPECT_WAIT;
        if (to_copy)
            inspect_copy_notice(in);
        inspect_relayed_query(in);
        return INSPECT_PASS;
    }
    if (!inspect_end_batch(in)) {
        codec_buf_free(&out);
        return INSPECT_WAIT;
    }
    answer_forget_unnamed(in->answer, true, false);
    in->query_portal = answer_has_portal(in->answer, "");
    in->query_of_duro = true;
    if (inspect_aborted(in, &out, false)) {
        inspect_put_ready(in, &out);
        inspect_answer(in, &out);
        return INSPECT_ANSWER;
    }
    int r = answer_query(in->answer, in->env->answer, q.sql, info, &out, &in->wait.call);
    if (r == 2 || (r == 1 && inspect_start_call(in, &out, false) == 1)) {
        if (r == 2)
            in->wait.kind = WAIT_EVAL;
        codec_buf_free(&out);
        return INSPECT_WAIT;
    }
    inspect_put_ready(in, &out);
    inspect_answer(in, &out);
    return INSPECT_ANSWER;
}

/* Parse. */
static InspectVerdict inspect_parse(Inspect *in, const uint8_t *msg, size_t len)
{
    CodecParse p;
    if (codec_read_parse(msg, len, &p, &in->err) != CODEC_OK) {
        return INSPECT_REFUSE;
    }
    if (in->wait.cancelled) {
        in->wait.cancelled = false;
        CodecBuf out;
        codec_buf_init(&out, 64 * 1024);
        answer_error(in->answer, &out, "57014", "canceling statement due to user request", true);
        inspect_answer(in, &out);
        return INSPECT_ANSWER;
    }
    if (answer_skipping(in->answer))
        return INSPECT_ANSWER;
    const InterceptInfo *info = inspect_classify(in, p.query, strlen(p.query));
    bool to_copy = inspect_to_copy(in, info);
    bool pass = info->kind == INTERCEPT_PASS || to_copy;
    if (pass && *p.name && answer_has_statement(in->answer, p.name)) {
        if (!inspect_warehouse_idle(in))
            return INSPECT_WAIT;
        if (answer_skipping(in->answer))
            return INSPECT_ANSWER;
        CodecBuf out;
        codec_buf_init(&out, 64 * 1024);
        char *m = xasprintf("prepared statement \"%s\" already exists", p.name);
        answer_error(in->answer, &out, "42P05", m, true);
        free(m);
        inspect_answer(in, &out);
        return INSPECT_ANSWER;
    }
    if (pass && !*p.name && answer_has_statement(in->answer, "")) {
        /* It replaces Duro's unnamed statement only if the warehouse does not discard it. */
        if (!inspect_warehouse_idle(in))
            return INSPECT_WAIT;
        if (answer_skipping(in->answer))
            return INSPECT_ANSWER;
    }
    if (pass) {
        int gate = info->relations.n ? inspect_read_gate(in, &info->relations, !*p.name) : 0;
        if (gate > 0)
            return INSPECT_WAIT;
        if (gate < 0)
            return inspect_refuse_read(in, true) ? INSPECT_ANSWER : INSPECT_WAIT;
        if (to_copy)
            inspect_copy_notice(in);
        if (!*p.name) {
            answer_forget_unnamed(in->answer, true, false);
            in->sync.unnamed = true;
        }
        whnames_change(in->names, p.name, true, &info->relations);
        inspect_relayed(in, 'P');
        return INSPECT_PASS;
    }
    if (!inspect_warehouse_idle(in))
        return INSPECT_WAIT;
    if (answer_skipping(in->answer))
        return INSPECT_ANSWER; /* the batch failed in the warehouse */
    if (!*p.name && in->sync.unnamed) {
        /* PostgreSQL drops the unnamed statement before it parses the new one, valid or not: the
         * warehouse's is closed (Close, Flush), its CloseComplete awaited as a probe's. */
        static const uint8_t close_flush[] = {'C', 0, 0, 0, 6, 'S', 0, 'H', 0, 0, 0, 4};
        in->ops->to_server(in->arg, close_flush, sizeof close_flush);
        in->sync.unnamed = false;
        in->sync.open_batch = in->sync.probing = true;
        whnames_sent(in->names);
        whnames_apply(in->names, "", false, NULL);
        return INSPECT_WAIT;
    }
    if (!*p.name) /* PostgreSQL drops it before parsing, valid or not */
        answer_forget_unnamed(in->answer, true, false);
    CodecBuf out;
    codec_buf_init(&out, (size_t)1 << 30);
    if (!inspect_aborted(in, &out, true))
        answer_parse(in->answer, in->env->answer, &p, info, whnames_has(in->names, p.name), &out);
    inspect_answer(in, &out);
    return INSPECT_ANSWER;
}

/* Bind, Describe, Execute, Close, Sync and Flush while Duro has statements or portals. */
static InspectVerdict inspect_extended(Inspect *in, const uint8_t *msg, size_t len)
{
    char type = (char)msg[0];
    CodecBuf out;
    if (type == 'S') {
        if (in->sync.open_batch) {
            answer_sync(in->answer);
            inspect_relayed_end(in);
            return INSPECT_PASS;
        }
        if (!inspect_warehouse_idle(in))
            return INSPECT_WAIT;
        answer_sync(in->answer);
        codec_buf_init(&out, 64);
        inspect_put_ready(in, &out);
        inspect_answer(in, &out);
        return INSPECT_ANSWER;
    }
    if (answer_skipping(in->answer))
        return INSPECT_ANSWER;
    if (type == 'H') {
        return in->sync.open_batch ? INSPECT_PASS : INSPECT_ANSWER;
    }
    bool ours = false;
    CodecBind b;
    CodecTarget t;
    CodecExecute e;
    CodecStatus st = CODEC_OK;
    switch (type) {
    case 'B':
        st = codec_read_bind(msg, len, &b, &in->err);
        ours = st == CODEC_OK && answer_has_statement(in->answer, b.statement);
        break;
    case 'D':
        st = codec_read_describe(msg, len, &t, &in->err);
        ours = st == CODEC_OK && (t.kind == 'S' ? answer_has_statement(in->answer, t.name)
                                                : answer_has_portal(in->answer, t.name));
        break;
    case 'C':
        st = codec_read_close(msg, len, &t, &in->err);
        ours = st == CODEC_OK && (t.kind == 'S' ? answer_has_statement(in->answer, t.name)
                                                : answer_has_portal(in->answer, t.name));
        break;
    case 'E':
        st = codec_read_execute(msg, len, &e, &in->err);
        ours = st == CODEC_OK && answer_has_portal(in->answer, e.portal);
        break;
    default:
        break;
    }
    if (st != CODEC_OK) {
        return INSPECT_REFUSE;
    }
    if (!ours) {
        if (type == 'B' && !*b.portal && answer_has_portal(in->answer, "")) {
            /* It replaces Duro's unnamed portal only if the warehouse does not discard it. */
            if (!inspect_warehouse_idle(in))
                return INSPECT_WAIT;
            if (answer_skipping(in->answer))
                return INSPECT_ANSWER;
            answer_forget_unnamed(in->answer, false, true);
        }
        if (type == 'C' && t.kind == 'S')
            whnames_change(in->names, t.name, false, NULL);
        /* 42P03 comes after the statement is found: when the warehouse has it, as far as known
         * once it answered what came before. */
        if (type == 'B' && *b.portal && answer_has_portal(in->answer, b.portal)) {
            if (!inspect_warehouse_idle(in))
                return INSPECT_WAIT;
            if (answer_skipping(in->answer))
                return INSPECT_ANSWER;
        }
        if (type == 'B' && *b.portal && answer_has_portal(in->answer, b.portal) &&
            (*b.statement ? whnames_has(in->names, b.statement) : in->sync.unnamed)) {
            codec_buf_init(&out, 64 * 1024);
            if (!inspect_aborted(in, &out, true)) { /* PostgreSQL checks that first */
                char *m = xasprintf("portal \"%s\" already exists", b.portal);
                answer_error(in->answer, &out, "42P03", m, true);
                free(m);
            }
            inspect_answer(in, &out);
            return INSPECT_ANSWER;
        }
        if (type == 'B') {
            /* A statement of the warehouse's that reads managed views: as at its Parse. */
            const StrVec *reads = whnames_reads(in->names, b.statement);
            int gate = reads ? inspect_read_gate(in, reads, *b.statement != '\0') : 0;
            if (gate > 0)
                return INSPECT_WAIT;
            if (gate < 0)
                return inspect_refuse_read(in, true) ? INSPECT_ANSWER : INSPECT_WAIT;
        }
        inspect_relayed(in, type);
        return INSPECT_PASS;
    }
    if (type == 'E' && in->wait.cancelled) {
        in->wait.cancelled = false;
        codec_buf_init(&out, 64 * 1024);
        answer_error(in->answer, &out, "57014", "canceling statement due to user request", true);
        inspect_answer(in, &out);
        return INSPECT_ANSWER;
    }
    if (type == 'E' && in->wait.kind == WAIT_EVAL) {
        if (answer_evaluating(in->answer))
            return INSPECT_WAIT;
        codec_buf_init(&out, (size_t)1 << 30);
        answer_eval_result(in->answer, &e, &out);
        in->wait.kind = WAIT_NONE;
        inspect_answer(in, &out);
        return INSPECT_ANSWER;
    }
    if (type == 'E' && in->wait.kind == WAIT_CALL) {
        if (in->wait.n_pending > 0)
            return INSPECT_WAIT;
        codec_buf_init(&out, (size_t)1 << 30);
        inspect_finish_call(in, e.portal, &out);
        inspect_answer(in, &out);
        return INSPECT_ANSWER;
    }
    if (!inspect_warehouse_idle(in))
        return INSPECT_WAIT;
    if (answer_skipping(in->answer))
        return INSPECT_ANSWER; /* the batch failed in the warehouse */
    codec_buf_init(&out, (size_t)1 << 30);
    if (type == 'B') {
        answer_bind(in->answer, msg, len, in->tx_status == 'E', &out);
    } else if (type != 'C' && inspect_aborted(in, &out, true)) {
        /* answered */
    } else if (type == 'D') {
        answer_describe(in->answer, &t, &out);
    } else if (type == 'C') {
        answer_close(in->answer, &t, &out);
    } else {
        int r = answer_execute(in->answer, in->env->answer, &e, &out, &in->wait.call);
        if (r == 2 || (r == 1 && inspect_start_call(in, &out, true) == 1)) {
            if (r == 2)
                in->wait.kind = WAIT_EVAL;
            codec_buf_free(&out);
            return INSPECT_WAIT;
        }
    }
    inspect_answer(in, &out);
    return INSPECT_ANSWER;
}

InspectVerdict inspect_statement(Inspect *in, const uint8_t *msg, size_t len, const char **why)
{
    InspectVerdict v;
    *why = NULL;
    if (in->sync.probing)
        return INSPECT_WAIT; /* its answer is counted in the batch: nothing is relayed before it */
    if (in->wait.kind == WAIT_NONE) /* not again when a wait ends */
        metrics_add(METRICS_STATEMENTS_INSPECTED, 1);
    switch (msg[0]) {
    case 'Q':
        v = inspect_query(in, msg, len);
        break;
    case 'P':
        v = inspect_parse(in, msg, len);
        break;
    case 'F':
        v = inspect_function_call(in);
        break;
    default:
        v = inspect_extended(in, msg, len);
        break;
    }
    assert(v != INSPECT_WAIT || in->wait.kind != WAIT_NONE || in->sync.pending_z > 0 ||
           in->sync.probing);
    *why = in->err.msg;
    return v;
}
