/*
 * The walk over libpg_query's protobuf parse tree with WITH scoping and a depth bound, and parsing
 * a text into such a tree (see sqltree.h). Not for: interpreting what the walk finds.
 */
#include "catalog/sqltree.h"

#include <pg_query.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One walk: the visitor, the CTE names visible at the current point, the depth. */
typedef struct Walker {
    const SqlTreeVisitor *visitor;
    const char **scope; /* innermost last */
    size_t n_scope, scope_cap;
    int depth;
    SqlTreeWalk status;
} Walker;

static bool walk(Walker *w, const ProtobufCMessage *m, const ProtobufCMessage *skip);

/* Whether a CTE called name is visible. */
static bool in_scope(const Walker *w, const char *name)
{
    for (size_t i = w->n_scope; i > 0; i--)
        if (strcmp(w->scope[i - 1], name) == 0)
            return true;
    return false;
}

static void push_scope(Walker *w, const char *name)
{
    grow_array((void **)&w->scope, &w->scope_cap, w->n_scope + 1, sizeof(char *));
    w->scope[w->n_scope++] = name;
}

/* Whether a string field is set (protobuf-c leaves unset strings empty). */
static bool is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* The WITH clause of a statement message, or NULL. */
static const PgQuery__WithClause *with_of(const ProtobufCMessage *m)
{
    if (m->descriptor == &pg_query__select_stmt__descriptor)
        return ((const PgQuery__SelectStmt *)m)->with_clause;
    if (m->descriptor == &pg_query__insert_stmt__descriptor)
        return ((const PgQuery__InsertStmt *)m)->with_clause;
    if (m->descriptor == &pg_query__update_stmt__descriptor)
        return ((const PgQuery__UpdateStmt *)m)->with_clause;
    if (m->descriptor == &pg_query__delete_stmt__descriptor)
        return ((const PgQuery__DeleteStmt *)m)->with_clause;
    if (m->descriptor == &pg_query__merge_stmt__descriptor)
        return ((const PgQuery__MergeStmt *)m)->with_clause;
    return NULL;
}

/* The CommonTableExpr a WITH clause's item holds, or NULL. */
static const PgQuery__CommonTableExpr *cte_of(const PgQuery__Node *n)
{
    return n != NULL && n->node_case == PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR
               ? n->common_table_expr
               : NULL;
}

/* Walks a statement holding a WITH clause: each CTE (its CommonTableExpr, then its body) in its own
 * scope, then the rest of the statement with every CTE visible; the scope is popped after. */
static bool walk_with(Walker *w, const ProtobufCMessage *stmt, const PgQuery__WithClause *with)
{
    size_t saved = w->n_scope;
    bool go_on = true;
    if (with->recursive)
        for (size_t i = 0; i < with->n_ctes; i++)
            if (cte_of(with->ctes[i]) != NULL)
                push_scope(w, cte_of(with->ctes[i])->ctename);
    for (size_t i = 0; i < with->n_ctes && go_on; i++) {
        const PgQuery__CommonTableExpr *cte = cte_of(with->ctes[i]);
        if (cte == NULL)
            continue;
        go_on = walk(w, &cte->base, NULL);
        if (!with->recursive)
            push_scope(w, cte->ctename);
    }
    if (go_on)
        go_on = walk(w, stmt, &with->base);
    w->n_scope = saved;
    return go_on;
}

/* Visits m and every message below it, except skip (a field of m). Returns false once the walk
 * stops (w->status says why). */
static bool walk(Walker *w, const ProtobufCMessage *m, const ProtobufCMessage *skip)
{
    if (m == NULL)
        return true;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const SqlTreeVisitor *v = w->visitor;
    if (d == &pg_query__range_var__descriptor) {
        const PgQuery__RangeVar *rv = (const PgQuery__RangeVar *)m;
        bool cte = !is_set(rv->schemaname) && !is_set(rv->catalogname) && in_scope(w, rv->relname);
        if (!cte && v->relation != NULL && !v->relation(v->arg, rv)) {
            w->status = SQLTREE_STOPPED;
            return false;
        }
        return true;
    }
    if (d == &pg_query__locking_clause__descriptor)
        return true; /* FOR UPDATE OF names range-table aliases, not relations */
    if (w->depth >= SQLTREE_MAX_DEPTH) {
        w->status = SQLTREE_TOO_DEEP;
        return false;
    }
    if (d != &pg_query__node__descriptor && skip == NULL && v->message != NULL &&
        !v->message(v->arg, m)) {
        w->status = SQLTREE_STOPPED;
        return false;
    }
    if (skip == NULL) {
        const PgQuery__WithClause *with = with_of(m);
        if (with != NULL)
            return walk_with(w, m, with);
    }

    w->depth++;
    const char *base = (const char *)m;
    bool go_on = true;
    for (unsigned i = 0; i < d->n_fields && go_on; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t k = 0; k < n && go_on; k++)
                go_on = walk(w, items[k], NULL);
        } else {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(base + f->offset);
            if (sub != skip)
                go_on = walk(w, sub, NULL);
        }
    }
    w->depth--;
    return go_on;
}

SqlTreeWalk sqltree_walk(const ProtobufCMessage *root, const SqlTreeVisitor *visitor)
{
    Walker w = {.visitor = visitor, .status = SQLTREE_DONE};
    (void)walk(&w, root, NULL);
    free(w.scope);
    return w.status;
}

int sqltree_cursor_offset(const char *sql, int cursorpos)
{
    if (cursorpos <= 0)
        return -1;
    int off = 0;
    for (int c = 0; c < cursorpos - 1 && sql[off] != '\0'; c++) {
        off++;
        while ((sql[off] & 0xC0) == 0x80)
            off++;
    }
    return off;
}

/* Reads a varint at *pos (before end); false when malformed. */
static bool read_varint(const uint8_t *data, size_t end, size_t *pos, uint64_t *value)
{
    *value = 0;
    for (unsigned shift = 0; shift < 64 && *pos < end; shift += 7) {
        uint8_t b = data[(*pos)++];
        *value |= (uint64_t)(b & 0x7F) << shift;
        if ((b & 0x80) == 0)
            return true;
    }
    return false;
}

/*
 * Whether the serialized message (of type desc) nests at most max_depth messages deep, read
 * iteratively from the wire format: protobuf-c unpacks (and frees) recursively, one stack frame
 * per level, so a pathological tree must be turned away before it is unpacked. A malformed
 * message passes here; unpacking then fails.
 */
static bool depth_within(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                         int max_depth)
{
    typedef struct Frame {
        const ProtobufCMessageDescriptor *desc;
        size_t end;
    } Frame;
    Frame *stack = xmalloc(sizeof(Frame) * ((size_t)max_depth + 1));
    int depth = 0;
    size_t pos = 0;
    bool within = true;
    stack[0] = (Frame){desc, len};
    while (within) {
        while (depth > 0 && pos >= stack[depth].end)
            depth--;
        if (pos >= stack[depth].end)
            break;
        uint64_t tag, n;
        if (!read_varint(data, stack[depth].end, &pos, &tag))
            break;
        switch (tag & 7) {
        case 0: /* varint */
            if (!read_varint(data, stack[depth].end, &pos, &n))
                goto done;
            break;
        case 1: /* 64-bit */
            pos += 8;
            break;
        case 5: /* 32-bit */
            pos += 4;
            break;
        case 2: { /* length-delimited: a string, packed numbers or a message */
            if (!read_varint(data, stack[depth].end, &pos, &n) || n > stack[depth].end - pos)
                goto done;
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(stack[depth].desc, (unsigned)(tag >> 3));
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth == max_depth) {
                    within = false;
                    break;
                }
                stack[depth + 1] = (Frame){f->descriptor, pos + (size_t)n};
                depth++;
            } else {
                pos += (size_t)n;
            }
            break;
        }
        default:
            goto done;
        }
    }
done:
    free(stack);
    return within;
}

/* Whether a JSON text nests at most max arrays and objects deep. */
static bool json_depth_within(const char *json, int max)
{
    int depth = 0;
    bool in_string = false;
    for (const char *p = json; *p != '\0'; p++) {
        if (in_string) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            else if (*p == '"')
                in_string = false;
        } else if (*p == '"') {
            in_string = true;
        } else if (*p == '{' || *p == '[') {
            if (++depth > max)
                return false;
        } else if (*p == '}' || *p == ']') {
            depth--;
        }
    }
    return true;
}

/*
 * Whether a long text's tree may be within SQLTREE_MAX_DEPTH, told in time linear in the text:
 * protobuf-c packs a message by sizing everything below it first, so packing a deep tree takes
 * time in the square of its depth (a 1 MB text of 1+1+1... took minutes), while libpg_query
 * writes JSON in one pass. A Node and its message are two levels in either form; JSON adds one
 * for each list, so a JSON depth within twice the bound lets only nearly-within trees through to
 * the exact check.
 */
static bool may_be_within(const char *sql, SqlTree *tree)
{
    if (strlen(sql) <= SQLTREE_QUICK_TEXT)
        return true; /* at most about SQLTREE_QUICK_TEXT / 2 levels: quick enough to pack */
    PgQueryParseResult json = pg_query_parse(sql);
    bool within = true;
    if (json.error != NULL) {
        tree->error = xstrdup(json.error->message);
        tree->error_offset = sqltree_cursor_offset(sql, json.error->cursorpos);
        tree->too_deep = strstr(json.error->message, "stack depth limit exceeded") != NULL;
        within = false;
    } else if (!json_depth_within(json.parse_tree, 2 * SQLTREE_MAX_DEPTH)) {
        tree->too_deep = true;
        tree->error = xstrdup("the statement nests too deeply");
        within = false;
    }
    pg_query_free_parse_result(json);
    return within;
}

/* Parses on the calling thread. */
static void parse_here(const char *sql, SqlTree *tree)
{
    if (!may_be_within(sql, tree))
        return;
    PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(sql);
    const uint8_t *data = (const uint8_t *)parsed.parse_tree.data;
    if (parsed.error != NULL) {
        tree->error = xstrdup(parsed.error->message);
        tree->error_offset = sqltree_cursor_offset(sql, parsed.error->cursorpos);
        tree->too_deep = strstr(parsed.error->message, "stack depth limit exceeded") != NULL;
    } else if (!depth_within(&pg_query__parse_result__descriptor, data, parsed.parse_tree.len,
                             SQLTREE_MAX_DEPTH)) {
        tree->too_deep = true;
        tree->error = xstrdup("the statement nests too deeply");
    } else {
        tree->result = pg_query__parse_result__unpack(NULL, parsed.parse_tree.len, data);
        if (tree->result == NULL)
            tree->error = xstrdup("could not read the parse tree");
    }
    pg_query_free_protobuf_parse_result(parsed);
}

/* The calling thread's stack size, asked once per thread. */
static size_t own_stack_size(void)
{
    static _Thread_local size_t size;
    if (size == 0) {
        pthread_attr_t attr;
        size_t got = 0;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            if (pthread_attr_getstacksize(&attr, &got) != 0)
                got = 0;
            pthread_attr_destroy(&attr);
        }
        size = got > 0 ? got : SQLTREE_STACK_MARGIN; /* unknown: assume little */
    }
    return size;
}

typedef struct ParseJob {
    const char *sql;
    SqlTree *tree;
} ParseJob;

static void *parse_thread(void *arg)
{
    ParseJob *job = arg;
    parse_here(job->sql, job->tree);
    return NULL;
}

/*
 * libpg_query turns its tree into protobuf recursively, a frame per level, and a left-nested
 * expression (1+1+1...) is one level per two bytes of text: a text is parsed where the stack can
 * take it, on the calling thread when its own stack is large enough, else on a thread of its own
 * with a stack sized for the text.
 */
int sqltree_parse(const char *sql, SqlTree *tree)
{
    *tree = (SqlTree){NULL, NULL, -1, false};
    size_t len = strlen(sql);
    if (len > SQLTREE_MAX_TEXT) {
        tree->too_deep = true;
        tree->error = xasprintf("the statement is too long to analyse (over %zu bytes)",
                                (size_t)SQLTREE_MAX_TEXT);
        return -1;
    }
    size_t need = len * SQLTREE_STACK_PER_BYTE + SQLTREE_STACK_MARGIN;
    if (need <= own_stack_size()) {
        parse_here(sql, tree);
    } else {
        ParseJob job = {sql, tree};
        pthread_attr_t attr;
        pthread_t thread;
        int rc = pthread_attr_init(&attr);
        if (rc == 0) {
            rc = pthread_attr_setstacksize(&attr, need);
            if (rc == 0)
                rc = pthread_create(&thread, &attr, parse_thread, &job);
            pthread_attr_destroy(&attr);
        }
        if (rc == 0) {
            pthread_join(thread, NULL);
        } else {
            tree->too_deep = true;
            tree->error = xasprintf("no memory to analyse a statement of %zu bytes", len);
        }
    }
    return tree->result != NULL ? 0 : -1;
}

void sqltree_free(SqlTree *tree)
{
    if (tree->result != NULL)
        pg_query__parse_result__free_unpacked(tree->result, NULL);
    free(tree->error);
    *tree = (SqlTree){NULL, NULL, -1, false};
}

const ProtobufCMessage *sqltree_node_message(const PgQuery__Node *node)
{
    if (node == NULL || node->node_case == PG_QUERY__NODE__NODE__NOT_SET)
        return NULL;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&pg_query__node__descriptor, node->node_case);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return NULL;
    return *(const ProtobufCMessage *const *)((const char *)node + f->offset);
}
