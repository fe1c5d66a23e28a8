/*
 * The one walk over libpg_query's protobuf parse tree: every message below a node, generically over
 * the protobuf-c descriptors (so that no node type is forgotten), with WITH scoping and a bounded
 * depth, calling a visitor for the relations read and for the nodes a caller cares about. Plus
 * parsing a text into such a tree. Pure and thread-safe. Not for: what the relations mean
 * (catalog/sqlinfo, proxy/intercept), or text the parser rejects (catalog/sqltokens).
 */
#ifndef DURO_CATALOG_SQLTREE_H
#define DURO_CATALOG_SQLTREE_H

#include <pg_query/pg_query.pb-c.h>
#include <stdbool.h>

#include "core/util.h"

/* How deep the walk follows the tree, in protobuf messages (a Node and its concrete message are two
 * levels): deeper trees make sqltree_walk return SQLTREE_TOO_DEEP instead of using more stack. */
#define SQLTREE_MAX_DEPTH 1000

/* The longest text sqltree_parse reads; a longer one is turned away like a tree too deep. */
#define SQLTREE_MAX_TEXT ((size_t)1 << 20)
/* The stack libpg_query may need per byte of text (measured: about 260), and besides. */
#define SQLTREE_STACK_PER_BYTE 512
#define SQLTREE_STACK_MARGIN   ((size_t)1 << 20)
/* Texts longer than this are first checked for depth in linear time (see sqltree.c). */
#define SQLTREE_QUICK_TEXT 8192

/* How a walk ended. */
typedef enum SqlTreeWalk {
    SQLTREE_DONE,     /* every message visited */
    SQLTREE_STOPPED,  /* a visitor asked to stop */
    SQLTREE_TOO_DEEP, /* the tree nests deeper than SQLTREE_MAX_DEPTH; the walk stopped there */
} SqlTreeWalk;

/*
 * What a walk calls; either function may be NULL. Each returns true to go on, false to stop the
 * walk. arg is the caller's.
 */
typedef struct SqlTreeVisitor {
    /* A relation read or written: a RangeVar that is schema-qualified or does not name a CTE
     * visible where it stands. CTE references are not reported; neither are the names of FOR
     * UPDATE OF, which are range-table aliases. */
    bool (*relation)(void *arg, const PgQuery__RangeVar *rv);
    /* Every other message, before the messages below it (a FuncCall, a SelectStmt, a
     * CommonTableExpr...). */
    bool (*message)(void *arg, const ProtobufCMessage *m);
    void *arg;
} SqlTreeVisitor;

/*
 * Walks root (any message of a tree: a statement Node, a SelectStmt...) and everything below it.
 * WITH scoping: in a non-recursive WITH each CTE's body sees the CTEs before it, in a WITH
 * RECURSIVE every CTE of the clause; the rest of the statement sees all of them; an inner WITH
 * shadows an outer one. SelectStmt, InsertStmt, UpdateStmt, DeleteStmt and MergeStmt carry WITH.
 */
SqlTreeWalk sqltree_walk(const ProtobufCMessage *root, const SqlTreeVisitor *visitor);

/* A text parsed by libpg_query. */
typedef struct SqlTree {
    PgQuery__ParseResult *result; /* NULL when the parser rejected the text */
    char *error;                  /* the parser's message when it did; else NULL */
    int error_offset;             /* the byte offset the parser points at, or -1 */
    bool too_deep; /* not a syntax error, but the text is not read: its tree nests deeper than
                      SQLTREE_MAX_DEPTH, it is longer than SQLTREE_MAX_TEXT, or there was no
                      memory for the stack it needs; result is NULL */
} SqlTree;

/* Parses sql into *tree (free with sqltree_free in every case). Returns 0, or -1 with tree->error
 * set when the parser rejects the text, the text is not read (tree->too_deep) or its tree cannot
 * be read back. Safe on any thread: a text too long for the caller's stack is parsed on a thread
 * with a stack sized for it. */
int sqltree_parse(const char *sql, SqlTree *tree) MUST_CHECK;
void sqltree_free(SqlTree *tree);

/* The byte offset of the 1-based character position libpg_query reports in a UTF-8 text (-1 for a
 * position <= 0). */
int sqltree_cursor_offset(const char *sql, int cursorpos);

/* The node a Node message holds (its oneof member), or NULL. */
const ProtobufCMessage *sqltree_node_message(const PgQuery__Node *node);

#endif
