/*
 * What the gateway answers itself in a session: Duro's statements (queries on
 * duro.status and duro.runs, duro_refresh calls) in the simple and extended
 * protocol, the statements and portals a client prepares for them, and their
 * results in text or binary. Not for: ordering against the warehouse's answers
 * or waiting for a refresh (session.c), or what a statement is (intercept.c).
 */
#ifndef DURO_PROXY_ANSWER_H
#define DURO_PROXY_ANSWER_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/store.h"
#include "planner/scheduler.h"
#include "proxy/codec.h"
#include "proxy/evaluate.h"
#include "proxy/intercept.h"
#include "sqlengine/vtable.h"

typedef struct Answer Answer;

/* Where statements on the virtual tables are prepared (vt, on the loop) and run (pool). */
typedef struct AnswerEnv {
    VtDb *vt;
    EvalPool *pool;
} AnswerEnv;

/* A refresh a statement asks for; the session runs it and hands the outcome back. */
typedef struct AnswerRefresh {
    char *view;      /* schema.table as named (not yet checked against the repository) */
    bool force;      /* the second argument */
    const char *tag; /* CommandComplete tag: "CALL" or "SELECT 1" */
} AnswerRefresh;

Answer *answer_new(void);
void answer_free(Answer *a);

/* The session's role (borrowed: it outlives a) and what to call on the loop when a query on the
 * virtual tables has been evaluated (answer_eval_result then writes its answer). */
void answer_set_session(Answer *a, const char *user, void (*on_eval)(void *arg), void *arg);
/* The session's TimeZone as the warehouse reported it (copied); timestamptz follow it. */
void answer_set_timezone(Answer *a, const char *zone);
/* True while a query on the virtual tables is being evaluated. */
bool answer_evaluating(const Answer *a);
/* A cancel request: true when a query was being evaluated (it ends with 57014). */
bool answer_eval_cancel(Answer *a);
/* The evaluated query's answer: for a simple Query (e NULL) RowDescription, DataRows and
 * CommandComplete, for an Execute e its rows (up to e->max_rows), or the error. */
void answer_eval_result(Answer *a, const CodecExecute *e, CodecBuf *out);

/* True while any statement or portal of Duro's exists or an error skips to Sync. */
bool answer_active(const Answer *a);
/* True when name ("" = unnamed) is a statement / portal of Duro's. */
bool answer_has_statement(const Answer *a, const char *name);
bool answer_has_portal(const Answer *a, const char *name);
/* After an error in the extended protocol, messages are discarded until Sync. */
bool answer_skipping(const Answer *a);
/* Starts skipping to Sync: an error the warehouse reported ended the batch. */
void answer_skip(Answer *a);
/* Sync: ends the skipping. */
void answer_sync(Answer *a);
/* The transaction ended (a ReadyForQuery outside a transaction block): every portal of Duro's
 * is gone, as PostgreSQL closes its portals at the end of their transaction. */
void answer_end_transaction(Answer *a);
/* The warehouse took over an unnamed statement or portal: Duro's is gone. */
void answer_forget_unnamed(Answer *a, bool statement, bool portal);

/* Queues an ErrorResponse (severity ERROR); in the extended protocol, skipping starts. */
void answer_error(Answer *a, CodecBuf *out, const char *sqlstate, const char *message,
                  bool extended);
/* True when an error was queued since the last call. */
bool answer_take_error(Answer *a);

/*
 * A simple Query that intercept classified as Duro's (info). Virtual: hands
 * it to the pool and returns 2 (answer_eval_result once evaluated), or queues
 * an error and returns 0. A refresh: fills *refresh (caller frees with
 * answer_refresh_clear) and returns 1; the session then calls
 * answer_refresh_result. ReadyForQuery is the session's.
 */
int answer_query(Answer *a, const AnswerEnv *env, const char *sql, const InterceptInfo *info,
                 CodecBuf *out, AnswerRefresh *refresh);

/* Whether Duro would refuse the statement with 0A000 while the warehouse's published copies of
 * duro.status and duro.runs could answer it: a SELECT combining them with other relations, or
 * one the SQL engine cannot evaluate (window functions, WITH, subqueries, set operations...). */
bool answer_copy_answers(const AnswerEnv *env, const InterceptInfo *info);

/* Parse of Duro's statement: ParseComplete, or an error (and skipping); 42P05 when a statement
 * of Duro's or, name_taken, of the warehouse has its name. */
void answer_parse(Answer *a, const AnswerEnv *env, const CodecParse *p, const InterceptInfo *info,
                  bool name_taken, CodecBuf *out);
/* Bind to a statement of Duro's (msg is the whole Bind message); aborted: in a failed
 * transaction block, where it gets 25P02 once the statement and its parameter count are checked,
 * in PostgreSQL's order. */
void answer_bind(Answer *a, const uint8_t *msg, size_t len, bool aborted, CodecBuf *out);
/* 25P02: a statement in a failed transaction block that does not end it. */
void answer_aborted(Answer *a, CodecBuf *out, bool extended);
/* Describe of a statement or portal of Duro's. */
void answer_describe(Answer *a, const CodecTarget *t, CodecBuf *out);
/* Close of a statement or portal of Duro's (or of one nobody has: CloseComplete too). */
void answer_close(Answer *a, const CodecTarget *t, CodecBuf *out);
/*
 * Execute of a portal of Duro's: queues rows (up to max_rows, then
 * PortalSuspended) and returns 0; for a portal not run yet, hands it to the
 * pool and returns 2 (then answer_eval_result); or, for a refresh portal not
 * run yet, fills *refresh and returns 1 (then answer_refresh_result).
 */
int answer_execute(Answer *a, const AnswerEnv *env, const CodecExecute *e, CodecBuf *out,
                   AnswerRefresh *refresh);

/*
 * The outcome of a refresh: the row (view, refreshed, duration_s) and the
 * command tag, or the error (42P01 unknown view, P0001 failed). portal is the
 * Execute's portal name, or NULL for a simple Query.
 */
void answer_refresh_result(Answer *a, const char *portal, const AnswerRefresh *refresh,
                           const SchedulerRequest *req, CodecBuf *out);
void answer_refresh_clear(AnswerRefresh *r);

#endif
