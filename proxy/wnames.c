/*
 * The statements a client parsed in the warehouse (see wnames.h). A change
 * waits in a list, with the place of its message in its batch, until the
 * warehouse answered that batch up to its end, or up to an error.
 */
#include "proxy/wnames.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define WHNAMES_MAX_NAMES (1 << 16) /* the warehouse's statement names remembered, at most */

/*
 * A statement the client parsed in the warehouse (not closed since): its name,
 * and the relations it reads when it may read a managed view, so that each
 * Bind of it is held while a stale one is refreshed, as its Parse was.
 */
typedef struct WhName {
    UT_hash_handle hh;
    StrVec reads;
    char name[]; /* the key; "" for the unnamed statement */
} WhName;

/*
 * A change to that table by a relayed Parse or Close, made once the warehouse
 * answered the message: not when it discarded it (it failed, or came after one
 * that did in its batch).
 */
typedef struct NameChange {
    uint64_t batch; /* the batch of the message (counted by its end) */
    size_t index;   /* its place in the batch */
    bool add;       /* a Parse (else a Close) */
    char *name;
    StrVec reads;
} NameChange;

#define WHNAMES_MAX_CHANGES 4096 /* changes waiting per session; more are made as they come */

/* Where the warehouse's answers are: the messages relayed in each batch, in order, are answered
 * in order, each with one completion message (or an error, after which the rest is discarded). */
typedef struct Batches {
    uint64_t sent_batch; /* batches the client's messages ended (a Sync, Query or FunctionCall) */
    size_t sent;         /* messages relayed in the open batch */
    uint64_t head_batch; /* the batch the warehouse answers now */
    size_t head_done;    /* its messages answered */
    size_t head_failed;  /* the message of it in error, or SIZE_MAX */
    NameChange *changes;
    size_t n_changes, cap_changes;
} Batches;

struct WhNames {
    WhName *names;
    size_t n_names;
    size_t n_reading; /* of those, the ones with reads */
    Batches batches;
};

WhNames *whnames_new(void)
{
    WhNames *w = xcalloc(1, sizeof *w);
    w->batches.head_failed = SIZE_MAX;
    return w;
}

/* Forgets a statement of the warehouse's. */
static void name_free(WhNames *w, WhName *n)
{
    HASH_DEL(w->names, n);
    w->n_reading -= n->reads.n > 0;
    w->n_names--;
    strvec_free(&n->reads);
    free(n);
}

/* Makes a change to the table of the warehouse's statements. */
void whnames_apply(WhNames *w, const char *name, bool add, const StrVec *reads)
{
    WhName *n;
    HASH_FIND_STR(w->names, name, n);
    if (add && n && *name)
        return; /* the warehouse refused it (42P05) */
    if (n)
        name_free(w, n); /* closed, or the unnamed statement replaced */
    if (!add || w->n_names >= WHNAMES_MAX_NAMES)
        return;
    if (!*name && !(reads && reads->n))
        return; /* an unnamed statement is remembered only for its reads */
    size_t len = strlen(name);
    n = xcalloc(1, sizeof *n + len + 1);
    memcpy(n->name, name, len + 1);
    for (size_t i = 0; reads && i < reads->n; i++)
        strvec_push(&n->reads, reads->items[i]);
    w->n_reading += n->reads.n > 0;
    HASH_ADD_KEYPTR(hh, w->names, n->name, len, n);
    w->n_names++;
}

/* A Parse relayed (reads: the relations it reads, or NULL), or a Close of a statement relayed
 * (remove): the change waits for the warehouse's answer. */
void whnames_change(WhNames *w, const char *name, bool add, const StrVec *reads)
{
    Batches *b = &w->batches;
    if (b->sent_batch == b->head_batch && b->sent >= b->head_failed)
        return; /* the warehouse failed before it: it discards the message */
    if (!*name && !(reads && reads->n) && b->n_changes == 0) {
        /* An unnamed statement that reads nothing replaces one that read nothing either (there is
         * none remembered, none on its way): nothing to change, nothing to queue (every Parse of
         * a client that uses the unnamed statement). */
        WhName *n;
        HASH_FIND_STR(w->names, name, n);
        if (!n)
            return;
    }
    if (b->n_changes == WHNAMES_MAX_CHANGES) {
        whnames_apply(w, name, add, reads);
        return;
    }
    if (b->n_changes == b->cap_changes) {
        b->cap_changes = b->cap_changes ? 2 * b->cap_changes : 8;
        b->changes = xrealloc(b->changes, b->cap_changes * sizeof *b->changes);
    }
    NameChange *c = &b->changes[b->n_changes++];
    *c = (NameChange){b->sent_batch, b->sent, add, xstrdup(name), {0}};
    for (size_t i = 0; reads && i < reads->n; i++)
        strvec_push(&c->reads, reads->items[i]);
}

/*
 * The warehouse answered the head batch up to its end (error: false): its
 * changes are made; or it failed at its message head_done (error: true): the
 * changes of the messages before are made, the others dropped.
 */
static void settle(WhNames *w, bool error)
{
    Batches *b = &w->batches;
    size_t keep = 0;
    for (size_t i = 0; i < b->n_changes; i++) {
        NameChange *c = &b->changes[i];
        if (c->batch != b->head_batch) {
            b->changes[keep++] = *c;
            continue;
        }
        if (c->index < (error ? b->head_done : b->head_failed))
            whnames_apply(w, c->name, c->add, &c->reads);
        free(c->name);
        strvec_free(&c->reads);
    }
    b->n_changes = keep;
}

/* True when the client parsed a statement named name in the warehouse (whether the warehouse
 * took it is not known: a Parse in error leaves the name free there). */
bool whnames_has(const WhNames *w, const char *name)
{
    WhName *n;
    HASH_FIND_STR(w->names, name, n);
    return n != NULL && *name;
}

void whnames_free(WhNames *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->batches.n_changes; i++) {
        free(w->batches.changes[i].name);
        strvec_free(&w->batches.changes[i].reads);
    }
    free(w->batches.changes);
    WhName *n, *tmp;
    HASH_ITER(hh, w->names, n, tmp)
    name_free(w, n);
    free(w);
}

void whnames_sent(WhNames *w)
{
    w->batches.sent++;
}

void whnames_batch_sent(WhNames *w)
{
    w->batches.sent_batch++;
    w->batches.sent = 0;
}

void whnames_answer(WhNames *w, char type)
{
    if (type && strchr("123nTCsI", type))
        w->batches.head_done++; /* the completion of one message */
}

void whnames_batch_done(WhNames *w)
{
    settle(w, false);
    w->batches.head_batch++;
    w->batches.head_done = 0;
    w->batches.head_failed = SIZE_MAX;
}

void whnames_error(WhNames *w)
{
    settle(w, true);
    if (w->batches.head_done < w->batches.head_failed)
        w->batches.head_failed = w->batches.head_done;
}

void whnames_checked(WhNames *w)
{
    settle(w, false);
}

const StrVec *whnames_reads(const WhNames *w, const char *name)
{
    WhName *n;
    HASH_FIND_STR(w->names, name, n);
    return n && n->reads.n ? &n->reads : NULL;
}

bool whnames_reading(const WhNames *w)
{
    return w->n_reading > 0;
}

bool whnames_any(const WhNames *w)
{
    return w->names != NULL || w->batches.n_changes > 0;
}
