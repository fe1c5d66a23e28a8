#!/usr/bin/python3
"""Generates a valid views repository (README, "The views repository") of N views for
benchmarking `duro check`.

    gen.py N OUTDIR [--seed S]

About sqrt(N)/2 schemas s000, s001, ..., most in the directory layout (`s001/orders_3 - 1h.sql`),
some in the top-level layout (`s004.events_2-24h.sql`). Views sit on levels 0..19 of a random DAG:
a view on level L > 0 reads one view of level L-1 and up to two more of lower levels, so the
longest dependency chain is 20 views. About 60% of the views have an interval; every view without
one is read directly by a view with one. Queries join, aggregate, use CTEs and subqueries, and
mention other views in comments and string literals (which must not count as dependencies).
About 20% of the views have tests; configs exist at every level (global, schema, table) with
grant_select =, += and -=, and distkey/sortkey naming real output columns.

The same N and seed always give the same files. Standard library only.
"""

import argparse
import math
import os
import random
import sys

LEVELS = 20

TABLE_WORDS = [
    "orders", "customers", "events", "sessions", "payments", "invoices", "products", "shipments",
    "visits", "signups", "refunds", "campaigns", "clicks", "subscriptions", "churn", "revenue",
    "inventory", "tickets", "reviews", "leads", "accounts", "cohorts", "funnels", "returns",
]
# Output columns beyond id and day, by kind: text dimensions and numeric measures.
DIMENSIONS = ["region", "country", "channel", "status", "device", "plan", "currency", "segment",
              "city", "source"]
MEASURES = ["amount", "quantity", "price", "score", "revenue", "cost", "duration_s", "visits",
            "conversions", "discount"]
RAW_TABLES = ["orders_src", "events_src", "crm_contacts", "billing_lines", "web_hits",
              "app_events", "ledger", "stock_moves"]
INTERVALS = ["15m", "30m", "1h", "1h", "2h", "6h", "12h", "24h", "24h", "1d", "7d", "1w", "90m"]
SEPARATORS = [" - ", " - ", " - ", "-", "-", " — ", " – ", "—", " -  ", "\u00a0-\u00a0"]
GRANTEES = ["jane", "john", "bi_reader", "finance_team", "auditor", "data_science", "ops"]


class View:
    __slots__ = ("index", "schema", "table", "level", "deps", "dependents", "interval",
                 "columns", "concept", "numeric", "top_level", "sql", "path")

    def __init__(self, index, schema, table, level, top_level):
        self.index = index
        self.schema = schema
        self.table = table
        self.level = level
        self.top_level = top_level
        self.deps = []
        self.dependents = []
        self.interval = None
        self.columns = []  # output columns of the query, in order
        self.concept = {}  # output column -> what it measures ("amount"), for naming
        self.numeric = set()  # the output columns that are numbers
        self.sql = ""
        self.path = ""

    @property
    def name(self):
        return f"{self.schema}.{self.table}"


def choose_levels(rng, n):
    """Level of each view: every level used (when n allows), fewer views on higher levels."""
    weights = [2.0] + [1.0 / (1 + 0.08 * level) for level in range(1, LEVELS)]
    levels = list(range(min(n, LEVELS)))
    levels += rng.choices(range(LEVELS), weights=weights, k=n - len(levels))
    return sorted(levels)


def build_graph(rng, n):
    n_schemas = max(1, round(math.sqrt(n) / 2))
    schemas = [f"s{i:03d}" for i in range(n_schemas)]
    top_level_schemas = {s for s in schemas if rng.random() < 0.2}
    if n_schemas >= 2 and not top_level_schemas:
        top_level_schemas.add(schemas[-1])
    if len(top_level_schemas) == n_schemas and n_schemas >= 2:
        top_level_schemas.discard(schemas[0])

    counters = {s: 0 for s in schemas}
    views = []
    first_of_level = {}
    for i, level in enumerate(choose_levels(rng, n)):
        schema = rng.choice(schemas)
        counters[schema] += 1
        table = f"{rng.choice(TABLE_WORDS)}_{counters[schema]}"
        views.append(View(i, schema, table, level, schema in top_level_schemas))
        first_of_level.setdefault(level, i)

    # Views are sorted by level: those below level L are views[:first_of_level[L]].
    for v in views:
        if v.level == 0:
            continue
        start_prev, end_prev = first_of_level[v.level - 1], first_of_level[v.level]
        deps = [views[rng.randrange(start_prev, end_prev)]]
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            d = views[rng.randrange(0, end_prev)]
            if d not in deps:
                deps.append(d)
        v.deps = deps
        for d in deps:
            d.dependents.append(v)

    # Intervals: most views get one at random; then every view without one must be read by a
    # view with one (a root without an interval is an error), so give one where needed.
    for v in views:
        if rng.random() < 0.33:
            v.interval = rng.choice(INTERVALS)
    for v in views:
        if v.interval or any(d.interval for d in v.dependents):
            continue
        target = rng.choice(v.dependents) if v.dependents else v
        target.interval = rng.choice(INTERVALS)
    return schemas, top_level_schemas, views


def ref(rng, view):
    """How a query names a view: schema-qualified, now and then in capitals or quoted."""
    r = rng.random()
    if r < 0.03:
        return f"{view.schema.upper()}.{view.table.capitalize()}"
    if r < 0.06:
        return f'"{view.schema}"."{view.table}"'
    return view.name


def word(view):
    """The table's word ("orders" for orders_12), used to name columns taken from it."""
    return view.table.rsplit("_", 1)[0]


def dep_columns(dep):
    """Columns worth carrying over from a dependency (not its keys or bookkeeping)."""
    return [c for c in dep.columns if c not in ("id", "day", "lineage", "n_rows")]


def select_list(v, items):
    """items: (expression, alias or None, concept, is_numeric); a column's concept ("amount")
    names what is derived from it, so names stay short however deep the graph. Sets v.columns,
    v.concept and v.numeric (the first item of a repeated name wins); returns the SQL lines."""
    seen, kept = set(), []
    for expr, alias, concept, numeric in items:
        name = alias or expr.split(".")[-1]
        if name not in seen:
            seen.add(name)
            kept.append((expr, alias, name, concept, numeric))
    lines = []
    for i, (expr, alias, name, _, _) in enumerate(kept):
        comma = "," if i < len(kept) - 1 else ""
        lines.append(f"    {expr} as {alias}{comma}" if alias else f"    {expr}{comma}")
    v.columns = [k[2] for k in kept]
    v.concept = {k[2]: k[3] for k in kept}
    v.numeric = {k[2] for k in kept if k[4]}
    return lines


def carried(dep, prefix, c, alias=None):
    """A select item that carries column c of dep (table alias prefix) over."""
    return (f"{prefix}.{c}", alias, dep.concept[c], c in dep.numeric)


def leaf_query(rng, v, views):
    dims = rng.sample(DIMENSIONS, rng.randint(1, 3))
    measures = rng.sample(MEASURES, rng.randint(1, 3))
    items = [("id", None, "id", True), ("created_at::date", "day", "day", False)]
    items += [(c, None, c, False) for c in dims] + [(c, None, c, True) for c in measures]
    lines = select_list(v, items)
    out = [f"-- {word(v).capitalize()} straight from the raw feed.",
           f"-- Downstream readers include {rng.choice(views).name}; keep the columns stable.",
           "select"] + lines
    out += [f"from raw.{rng.choice(RAW_TABLES)}", "where created_at >= '2020-01-01'"]
    if rng.random() < 0.3:
        out.append("  and not is_test")
    return "\n".join(out) + "\n"


def join_query(rng, v, views):
    items = [("d0.id", None, "id", True), ("d0.day", None, "day", False)]
    for j, d in enumerate(v.deps):
        cols = dep_columns(d)
        for c in rng.sample(cols, min(2, len(cols))):
            if j == 0:
                items.append(carried(d, "d0", c))
            else:
                concept, num = d.concept[c], c in d.numeric
                default = "0" if num else "'n/a'"
                items.append((f"coalesce(d{j}.{c}, {default})", f"{word(d)}_{concept}", concept,
                              num))
    if rng.random() < 0.15:
        items.append((f"'from {rng.choice(views).name}'", "lineage", "lineage", False))
    lines = select_list(v, items)
    out = [f"-- Joins {', '.join(d.name for d in v.deps)} on id and day.", "select"] + lines
    out.append(f"from {ref(rng, v.deps[0])} as d0")
    for j, d in enumerate(v.deps[1:], 1):
        kind = rng.choice(["left join", "left join", "join"])
        out.append(f"{kind} {ref(rng, d)} as d{j} on d{j}.id = d0.id and d{j}.day = d0.day")
    if rng.random() < 0.4:
        out.append("where d0.day >= current_date - interval '400 days'")
    return "\n".join(out) + "\n"


def cte_query(rng, v, views):
    # Now and then a CTE is named like a real view's table: unqualified, it is only the CTE.
    name0 = rng.choice(views).table if rng.random() < 0.3 else "recent"
    d0 = v.deps[0]
    cols0 = dep_columns(d0)[:3]
    out = [f"/* Recent activity. Formerly computed in {rng.choice(views).name}. */",
           f"with {name0} as (",
           f"    select {', '.join(['id', 'day'] + cols0)}",
           f"    from {ref(rng, d0)}",
           "    where day > current_date - 30",
           ")"]
    items = [("r.id", None, "id", True), ("r.day", None, "day", False)]
    items += [carried(d0, "r", c) for c in cols0]
    joins = []
    for j, d in enumerate(v.deps[1:], 1):
        measures = [c for c in dep_columns(d) if c in d.numeric]
        if measures:
            concept = d.concept[measures[0]]
            agg, name = f"sum({measures[0]})", f"total_{concept}"
        else:
            agg, name = "count(*)", f"n_{word(d)}"
            concept = name
        out[-1] = "),"
        out += [f"totals_{j} as (",
                f"    select id, {agg} as {name}",
                f"    from {ref(rng, d)}",
                "    group by id",
                ")"]
        items.append((f"coalesce(t{j}.{name}, 0)", name, concept, True))
        joins.append(f"left join totals_{j} as t{j} on t{j}.id = r.id")
    lines = select_list(v, items)
    out += ["select"] + lines + [f"from {name0} as r"] + joins
    return "\n".join(out) + "\n"


def agg_query(rng, v, views):
    d0 = v.deps[0]
    measures = [c for c in dep_columns(d0) if c in d0.numeric][:2]
    dims = [c for c in dep_columns(d0) if c not in d0.numeric][:1]
    items = [("x.id", None, "id", True), ("x.day", None, "day", False)]
    items += [carried(d0, "x", c) for c in dims]
    items += [(f"sum(x.{m})", f"total_{d0.concept[m]}", d0.concept[m], True) for m in measures]
    items.append(("count(*)", "n_rows", "n_rows", True))
    lines = select_list(v, items)
    inner = ", ".join(["id", "day"] + dims + measures)
    out = ["-- Daily totals per id (the literal below is only a label: "
           f"'{rng.choice(views).name}').",
           "select"] + lines
    out += ["from (", f"    select {inner}", f"    from {ref(rng, d0)}"]
    if len(v.deps) > 1:
        conds = [f"exists (select 1 from {ref(rng, d)} as e{j} where e{j}.id = x0.id)"
                 for j, d in enumerate(v.deps[1:], 1)]
        out[-1] += " as x0"
        out.append("    where " + "\n      and ".join(conds))
    out += [") as x", "group by " + ", ".join(f"x.{c}" for c in ["id", "day"] + dims)]
    if rng.random() < 0.3:
        out.append("having count(*) > 0")
    return "\n".join(out) + "\n"


def filter_query(rng, v, views):
    d0 = v.deps[0]
    items = [("d0.id", None, "id", True), ("d0.day", None, "day", False)]
    items += [carried(d0, "d0", c) for c in dep_columns(d0)[:4]]
    lines = select_list(v, items)
    out = [f"-- Rows of {d0.name} confirmed elsewhere; see also {rng.choice(views).name}.",
           "select"] + lines + [f"from {ref(rng, d0)} as d0"]
    conds = []
    for j, d in enumerate(v.deps[1:], 1):
        if j == 1:
            conds.append(f"d0.day >= (select min(day) from {ref(rng, d)})")
        else:
            conds.append(f"d0.id in (select id from {ref(rng, d)} where day is not null)")
    conds.append("d0.id is not null")
    out.append("where " + "\n  and ".join(conds))
    return "\n".join(out) + "\n"


def make_queries(rng, views):
    for v in views:  # by level: every dependency's columns are known before it is read
        if not v.deps:
            v.sql = leaf_query(rng, v, views)
            continue
        r = rng.random()
        if r < 0.4:
            v.sql = join_query(rng, v, views)
        elif r < 0.65:
            v.sql = cte_query(rng, v, views)
        elif r < 0.85:
            v.sql = agg_query(rng, v, views)
        else:
            v.sql = filter_query(rng, v, views)


def interval_text(rng, interval):
    return interval.upper() if rng.random() < 0.05 else interval


def view_paths(rng, v):
    stem = f"{v.schema}." if v.top_level else f"{v.schema}/"
    if v.interval:
        sql = f"{stem}{v.table}{rng.choice(SEPARATORS)}{interval_text(rng, v.interval)}.sql"
    else:
        sql = f"{stem}{v.table}.sql"
    return sql, f"{stem}{v.table}_test.sql", f"{stem}{v.table}.conf"


def test_sql(rng, v):
    stmts = [f"select count(*) > 0 as has_rows from {v.name};",
             f"select count(*) = count(distinct (id, day)) as unique_id_day from {v.name};"]
    if rng.random() < 0.5:
        stmts.append(f"select coalesce(min(day) >= date '2000-01-01', true) as sane_days "
                     f"from {v.name};")
    return "-- Checked against the freshly built table before it goes live.\n" + \
        "\n".join(stmts) + "\n"


def table_conf(rng, v):
    lines = []
    r = rng.random()
    if r < 0.25:
        lines.append(f"grant_select={', '.join(rng.sample(GRANTEES, 2))}")
    elif r < 0.45:
        lines.append(f"grant_select+={rng.choice(GRANTEES)}")
    elif r < 0.6:
        lines.append("grant_select-=analysts")
    elif r < 0.65:
        lines.append(f"grant_select=-metabase, +{rng.choice(GRANTEES)}")
    elif r < 0.68:
        lines.append("grant_select=null")
    r = rng.random()
    if r < 0.35:
        lines += ["diststyle=key", f"distkey={rng.choice(v.columns)}"]
    elif r < 0.5:
        lines.append(f"diststyle={rng.choice(['even', 'all', 'auto'])}")
    if rng.random() < 0.5:
        keys = ["day"] + ([rng.choice([c for c in v.columns if c != "day"])]
                          if rng.random() < 0.4 else [])
        lines.append(f"sortkey={', '.join(keys)}")
    if rng.random() < 0.1:
        lines += ["snapshots_interval=1d", "snapshots_stored_for=30d"]
    if rng.random() < 0.15:
        lines.append(f"stale_read={rng.choice(['serve', 'wait'])}")
    if rng.random() < 0.1:
        lines.append(f"timeout={rng.choice(['30m', '2h', 'null'])}")
    if rng.random() < 0.03:
        lines.append("enabled=true")
    if not lines:
        lines.append("sortkey=day")
    if rng.random() < 0.5:
        lines.insert(0, f"# {v.name}: distribution and access")
    return "\n".join(lines) + "\n"


def schema_conf(rng, schema):
    options = [
        [f"grant_select+={rng.choice(GRANTEES)}"],
        ["grant_select-=metabase"],
        ["diststyle=even"],
        ["stale_read=serve"],
        ["timeout=null", f"grant_select+={rng.choice(GRANTEES)}"],
        [f"grant_select={', '.join(rng.sample(GRANTEES, 3))}", "diststyle=auto"],
    ]
    return f"# Defaults for the views of schema {schema}\n" + "\n".join(rng.choice(options)) + "\n"


def generate(n, outdir, seed=1):
    """Writes the repository into outdir (created; must be empty or absent). Returns a summary."""
    rng = random.Random(seed)
    schemas, top_level_schemas, views = build_graph(rng, n)
    make_queries(rng, views)

    files = {"global.conf": "# Applies to every view unless a schema or table says otherwise.\n"
                            "grant_select=metabase, analysts\ntimeout=2h\n"}
    for s in schemas:
        if rng.random() < 0.4:
            in_dir = s not in top_level_schemas and rng.random() < 0.5
            files[f"{s}/{s}.conf" if in_dir else f"{s}.conf"] = schema_conf(rng, s)
    n_tests = n_confs = 0
    for v in views:
        sql_path, test_path, conf_path = view_paths(rng, v)
        v.path = sql_path
        files[sql_path] = v.sql
        if rng.random() < 0.2:
            files[test_path] = test_sql(rng, v)
            n_tests += 1
        if rng.random() < 0.25:
            files[conf_path] = table_conf(rng, v)
            n_confs += 1

    os.makedirs(outdir, exist_ok=True)
    if os.listdir(outdir):
        raise SystemExit(f"gen.py: {outdir} is not empty")
    for s in schemas:
        if s not in top_level_schemas:
            os.makedirs(os.path.join(outdir, s), exist_ok=True)
    for rel, text in files.items():
        with open(os.path.join(outdir, rel), "w", encoding="utf-8") as f:
            f.write(text)

    return {
        "views": n,
        "files": len(files),
        "schemas": len(schemas),
        "top_level_schemas": len(top_level_schemas),
        "with_interval": sum(1 for v in views if v.interval),
        "tests": n_tests,
        "table_confs": n_confs,
        "edges": sum(len(v.deps) for v in views),
        "depth": max(v.level for v in views) + 1 if views else 0,
        "graph": views,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, help="number of views")
    ap.add_argument("outdir", help="directory to create (must be empty or absent)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("N must be positive")
    summary = generate(args.n, args.outdir, args.seed)
    summary.pop("graph")
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
