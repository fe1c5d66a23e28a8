"""`duro refresh` against a real PostgreSQL: examples/views built view by view and
as a tree, tests that keep the live table, grants, readers during 50 swaps, failed dependencies,
parallel branches and the per-view timeout.

Every test loads examples/sampledata.py into a database of its own (`wh`) and refreshes a copy
of examples/views without the Python processor (`example_repo`), unless it says otherwise.
"""
import re
import threading
import time
from pathlib import Path

import psycopg
import pytest

import sampledata
from conftest import report

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "views"

ALL_VIEWS = ["finances.detailed", "finances.simplified", "first.cities", "first.people",
             "first.shops", "second.child"]
FULL_STEPS = ["create_temp", "tests", "swap", "drop_old"]

# What each view must contain: its query over the raw tables, with the views it reads inlined.
EXPECTED = {
    "first.cities": "select city, country from first.cities_raw",
    "first.shops": "select s.id, s.name, s.city, c.country from first.shops_raw s "
                   "join first.cities_raw c on c.city = s.city",
    "first.people": "select p.id, p.name, s.name as shop, s.city, c.country "
                    "from first.people_raw p "
                    "left join (first.shops_raw s join first.cities_raw c on c.city = s.city) "
                    "on s.id = p.shop_id",
}

OK = re.compile(r"^ok, (?P<rows>\d+) rows? in \d+(\.\d+)?s$")


def ok_rows(rest):
    m = OK.match(rest)
    assert m, f"not an ok line: {rest!r}"
    return int(m["rows"])


def new_runs(catalog, after_id):
    return {r["view"]: r for r in catalog.runs() if r["id"] > after_id}


def last_id(catalog):
    runs = catalog.runs()
    return runs[-1]["id"] if runs else 0


def before(a, b):
    """Run a finished before run b started."""
    return a["finished_us"] is not None and a["finished_us"] <= b["started_us"]


def columns(wh, table):
    schema, name = table.split(".")
    return [r[0] for r in wh.sql("select column_name from information_schema.columns "
                                 "where table_schema = %s and table_name = %s "
                                 "order by ordinal_position", (schema, name))]


# -- 1. the example repository ------------------------------------------------------------------


def test_refresh_builds_a_tested_view(duro, wh, example_repo):
    duro.write_conf(dbname=wh.dbname)
    # No -c: duro.conf in the working directory (tmp_path).
    r = duro.run("refresh", "first.cities", check=0)
    out = report(r.stdout)
    assert list(out) == ["first.cities"]
    assert ok_rows(out["first.cities"]) == len(sampledata.CITIES)

    assert columns(wh, "first.cities") == ["city", "country"]
    assert wh.rows("first.cities") == wh.rows(EXPECTED["first.cities"])
    assert not wh.exists("first.shops")  # only what was asked for
    assert wh.leftovers() == []

    runs = duro.catalog.runs()
    assert [(x["view"], x["trigger"], x["outcome"], x["rows"], x["error"]) for x in runs] == [
        ("first.cities", "call", "ok", len(sampledata.CITIES), None)]
    first = runs[0]
    assert first["started_us"] <= first["finished_us"]
    steps = [s["step"] for s in duro.catalog.steps(first["id"])]
    # A first build has no old table; whether it records a drop_old step is its business.
    assert steps[:3] == FULL_STEPS[:3] and set(steps) <= set(FULL_STEPS), steps
    view = duro.catalog.view("first.cities")
    assert view["built_hash"] == view["hash"]
    assert view["last_success_us"] == first["finished_us"]

    # A named view is rebuilt now, fresh or not; a rebuild goes through every step.
    wh.sql("delete from first.cities_raw where country = 'Japan'")
    r = duro.refresh("first.cities", check=0)
    assert ok_rows(report(r.stdout)["first.cities"]) == wh.count("first.cities_raw")
    assert wh.rows("first.cities") == wh.rows(EXPECTED["first.cities"])
    second = duro.catalog.runs()[-1]
    assert (second["view"], second["outcome"], second["trigger"]) == ("first.cities", "ok", "call")
    steps = duro.catalog.steps(second["id"])
    assert [s["step"] for s in steps] == FULL_STEPS
    assert all(s["error"] is None and s["started_us"] <= s["finished_us"] for s in steps)
    assert second["started_us"] <= steps[0]["started_us"]
    assert steps[-1]["finished_us"] <= second["finished_us"]
    assert wh.leftovers() == []


def test_refresh_builds_dependencies_first(duro, wh, example_repo):
    duro.write_conf(dbname=wh.dbname)
    cat = duro.catalog
    duro.refresh("first.cities", check=0)

    # Without --tree: only stale dependencies. cities is fresh, shops was never built.
    mark = last_id(cat)
    r = duro.refresh("first.people", check=0)
    out = report(r.stdout)
    assert set(out) == {"first.shops", "first.people"}, r.stdout
    runs = new_runs(cat, mark)
    assert set(runs) == {"first.shops", "first.people"}
    assert runs["first.shops"]["trigger"] == "dependency"
    assert runs["first.people"]["trigger"] == "call"
    assert before(runs["first.shops"], runs["first.people"])

    # --tree: every dependency, stale or not, in order.
    mark = last_id(cat)
    r = duro.refresh("first.people", tree=True, check=0)
    out = report(r.stdout)
    assert set(out) == {"first.cities", "first.shops", "first.people"}, r.stdout
    assert sorted(x["view"] for x in cat.runs() if x["id"] > mark) == [
        "first.cities", "first.people", "first.shops"]  # once each
    runs = new_runs(cat, mark)
    assert {v: (x["trigger"], x["outcome"]) for v, x in runs.items()} == {
        "first.cities": ("dependency", "ok"),
        "first.shops": ("dependency", "ok"),
        "first.people": ("call", "ok"),
    }
    assert before(runs["first.cities"], runs["first.shops"])
    assert before(runs["first.shops"], runs["first.people"])
    for view in ("first.cities", "first.shops", "first.people"):
        assert ok_rows(out[view]) == wh.count(view) == runs[view]["rows"]
        assert wh.rows(view) == wh.rows(EXPECTED[view]), view
    # The sample data exercises both joins: shops in unknown cities, people of unknown shops.
    assert wh.count("first.shops") < sampledata.N_SHOPS
    assert wh.sql("select count(*) from first.people where shop is null")[0][0] > 0

    # Everything fresh now: only the named view.
    mark = last_id(cat)
    r = duro.refresh("first.people", check=0)
    assert set(report(r.stdout)) == {"first.people"}
    assert set(new_runs(cat, mark)) == {"first.people"}

    # Several views at once, each built at most once; a named view counts as called.
    mark = last_id(cat)
    r = duro.refresh("second.child", "first.cities", tree=True, check=0)
    assert set(report(r.stdout)) == {"second.child", "first.cities"}
    runs = [x for x in cat.runs() if x["id"] > mark]
    assert sorted((x["view"], x["trigger"]) for x in runs) == [
        ("first.cities", "call"), ("second.child", "call")]
    by_view = {x["view"]: x for x in runs}
    assert before(by_view["first.cities"], by_view["second.child"])
    assert wh.rows("second.child") == wh.rows(
        "select city, country, length(city) as letters from first.cities_raw")
    assert wh.leftovers() == []


def test_refresh_refuses_unknown_views_and_broken_repositories(duro, wh, example_repo):
    duro.write_conf(dbname=wh.dbname)
    r = duro.refresh("first.nope", check=2)
    assert "first.nope" in r.stderr
    assert duro.catalog.runs() == []

    (example_repo / "first" / "bad - 1.5h.sql").write_text("select 1 as x\n")
    (example_repo / "first" / "shops.conf").write_text("colour=blue\n")
    r = duro.refresh("first.cities", check=2)
    problems = r.stderr
    assert re.search(r"first/bad - 1\.5h\.sql:1: ", problems), problems
    assert re.search(r"first/shops\.conf:1: ", problems), problems
    assert not wh.exists("first.cities")  # nothing built
    assert duro.catalog.runs() == []
    assert wh.leftovers() == []


# -- 2. tests keep the live table ---------------------------------------------------------------


def test_failing_tests_keep_the_live_table(duro, wh, example_repo):
    duro.write_conf(dbname=wh.dbname)
    cat = duro.catalog
    duro.refresh("first.cities", check=0)
    live = wh.rows("first.cities")
    built = cat.view("first.cities")

    def refresh_fails_its_tests(why):
        r = duro.refresh("first.cities", check=1)
        rest = report(r.stdout)["first.cities"]
        assert rest.startswith("tests_failed: "), (why, r.stdout)
        assert "correct_capital_of_france" in rest, (why, r.stdout)
        run = cat.runs("first.cities")[-1]
        assert (run["outcome"], run["trigger"]) == ("tests_failed", "call"), why
        assert "correct_capital_of_france" in run["error"], why
        steps = cat.steps(run["id"])
        assert [s["step"] for s in steps] == ["create_temp", "tests"], why
        assert steps[0]["error"] is None and "correct_capital_of_france" in steps[1]["error"]
        # The live table is untouched and readable; the rejected build is gone.
        assert wh.rows("first.cities") == live, why
        assert wh.leftovers() == [], why
        view = cat.view("first.cities")
        assert (view["built_hash"], view["last_success_us"]) == (
            built["built_hash"], built["last_success_us"]), why

    # A second French city: one row of the test is false.
    wh.sql("insert into first.cities_raw values ('Lyon', 'France')")
    refresh_fails_its_tests("Lyon is in France")
    # No French city at all: the test returns no row.
    wh.sql("delete from first.cities_raw where country = 'France'")
    refresh_fails_its_tests("no French city")
    # A French city whose name is unknown: the test returns NULL.
    wh.sql("insert into first.cities_raw values (NULL, 'France')")
    refresh_fails_its_tests("a NULL test value")

    # Fixed data: the next refresh goes through.
    wh.sql("delete from first.cities_raw where country = 'France'")
    wh.sql("insert into first.cities_raw values ('Paris', 'France'), ('Lille', 'Belgium')")
    r = duro.refresh("first.cities", check=0)
    assert ok_rows(report(r.stdout)["first.cities"]) == len(sampledata.CITIES) + 1
    assert wh.rows("first.cities") == wh.rows(EXPECTED["first.cities"])
    assert ("Lille", "Belgium") in wh.rows("first.cities")
    assert cat.runs("first.cities")[-1]["outcome"] == "ok"


# -- 3. grants ----------------------------------------------------------------------------------


def test_grants_follow_the_configuration(duro, wh, example_repo):
    # As the non-superuser service account: what it creates it owns, and only it grants.
    duro.write_conf(dbname=wh.dbname, user=sampledata.SERVICE_USER)
    r = duro.refresh(*ALL_VIEWS, check=0)
    assert set(report(r.stdout)) == set(ALL_VIEWS), r.stdout
    owners = dict(wh.sql("select schemaname || '.' || tablename, tableowner from pg_tables "
                         "where schemaname in ('first', 'second', 'finances') "
                         "and tablename not like '%%\\_raw'"))
    assert owners == {v: sampledata.SERVICE_USER for v in ALL_VIEWS}

    expected = {
        "first.cities": {"jane", "john"},    # first/cities.conf replaces the global list
        "first.shops": {"metabase"},         # global.conf
        "first.people": {"metabase"},
        "second.child": {"metabase"},
        "finances.simplified": {"metabase"},  # finances.conf removes it, simplified.conf adds it
        "finances.detailed": set(),           # finances.conf removes it
    }
    for table, roles in expected.items():
        for role in sampledata.READER_ROLES:
            assert wh.can_select(role, table) == (role in roles), (role, table)

    # The rebuilt table carries only the configured grants: a hand-made grant does not survive.
    wh.sql("grant select on first.cities to joan")
    wh.sql("grant select on finances.detailed to metabase")
    duro.refresh("first.cities", "finances.detailed", check=0)
    assert not wh.can_select("joan", "first.cities")
    assert wh.can_select("jane", "first.cities") and wh.can_select("john", "first.cities")
    assert not wh.can_select("metabase", "finances.detailed")


# -- 5. readers during swaps --------------------------------------------------------------------

CHECKSUM = ("select count(*), md5(coalesce(string_agg(city || '|' || country, ',' "
            "order by city, country), '')) from {}")
READ = ["first.cities", "first.cities_v", "first.cities_vv"]


def _reader(pg, dbname, stop, seen, errors):
    """Reads every relation of READ in a loop, each statement its own snapshot, until stop."""
    try:
        conn = pg.connect(dbname=dbname, options="-c statement_timeout=20s")
    except psycopg.Error as e:
        errors.append(f"connect: {e}")
        return
    with conn:
        while not stop.is_set():
            for rel in READ:
                try:
                    state = tuple(conn.execute(CHECKSUM.format(rel)).fetchone())
                except psycopg.Error as e:
                    errors.append(f"{rel}: {type(e).__name__}: {e}")
                    continue
                seen.setdefault(state, 0)
                seen[state] += 1


def test_readers_never_see_an_error(duro, pg, wh, example_repo):
    duro.write_conf(dbname=wh.dbname)
    duro.refresh("first.cities", check=0)
    # Plain views on the managed table, and a view on that view, with a grant of their own.
    wh.sql("create view first.cities_v as select * from first.cities")
    wh.sql("create view first.cities_vv as select city, country from first.cities_v")
    wh.sql("grant select on first.cities_v to joan")
    states = {tuple(wh.sql(CHECKSUM.format("first.cities"))[0])}

    stop = threading.Event()
    seen = [{} for _ in range(4)]
    errors = []
    readers = [threading.Thread(target=_reader, args=(pg, wh.dbname, stop, seen[i], errors),
                                daemon=True) for i in range(4)]
    for t in readers:
        t.start()
    failed = []
    try:
        for i in range(50):
            if i % 5 == 4:  # old and new differ for every fifth swap
                wh.sql("insert into first.cities_raw values (%s, 'Testland')", (f"Testville {i}",))
            r = duro.refresh("first.cities")
            if r.returncode != 0:
                failed.append((i, r.returncode, r.stdout, r.stderr))
            states.add(tuple(wh.sql(CHECKSUM.format("first.cities"))[0]))
    finally:
        stop.set()
        for t in readers:
            t.join(30)
    assert failed == []
    assert errors == [], errors[:10]
    assert not any(t.is_alive() for t in readers)
    observed = {}
    for s in seen:
        for state, n in s.items():
            observed[state] = observed.get(state, 0) + n
    assert set(observed) <= states, set(observed) - states
    assert sum(observed.values()) >= 200  # the readers did read throughout
    assert len(observed) >= 2  # ... and across changes of the data
    assert len(states) == 11

    # The dependent views read the new table, and kept their grants.
    assert wh.rows("first.cities_vv") == wh.rows("first.cities") == wh.rows(
        EXPECTED["first.cities"])
    assert wh.can_select("joan", "first.cities_v")
    assert wh.leftovers() == []
    runs = duro.catalog.runs("first.cities")
    assert len(runs) == 51 and all(x["outcome"] == "ok" for x in runs)


# -- 9. a failed dependency ---------------------------------------------------------------------


def test_a_failed_dependency_stops_its_dependents(duro, wh, example_repo):
    # Valid to the parser, wrong to the warehouse.
    (example_repo / "first" / "shops.sql").write_text(
        "select s.id, s.name, s.city, c.country, s.no_such_column\n"
        "from first.shops_raw s\njoin first.cities c on c.city = s.city\n")
    duro.write_conf(dbname=wh.dbname)
    r = duro.refresh("first.people", tree=True, check=1)
    out = report(r.stdout)
    assert set(out) == {"first.cities", "first.shops", "first.people"}, r.stdout
    assert ok_rows(out["first.cities"]) == len(sampledata.CITIES)
    assert out["first.shops"].startswith("failed: ") and "no_such_column" in out["first.shops"]
    assert out["first.people"].startswith("failed: ") and "first.shops" in out["first.people"]

    runs = {x["view"]: x for x in duro.catalog.runs()}
    assert (runs["first.cities"]["outcome"], runs["first.cities"]["trigger"]) == ("ok",
                                                                                  "dependency")
    assert (runs["first.shops"]["outcome"], runs["first.shops"]["trigger"]) == ("failed",
                                                                                "dependency")
    assert "no_such_column" in runs["first.shops"]["error"]
    assert (runs["first.people"]["outcome"], runs["first.people"]["trigger"]) == ("failed",
                                                                                  "call")
    assert "first.shops" in runs["first.people"]["error"]
    assert wh.exists("first.cities")
    assert not wh.exists("first.shops") and not wh.exists("first.people")
    assert wh.leftovers() == []


# -- 7. parallel branches and the timeout -------------------------------------------------------


def test_independent_views_build_in_parallel(duro, wh, tmp_path):
    # Both in one schema that does not exist yet: two builds starting together both need it
    # (CREATE SCHEMA IF NOT EXISTS alone is not safe against a concurrent one).
    repo = tmp_path / "views"
    repo.mkdir()
    (repo / "par.x - 1h.sql").write_text("select 1 as x from pg_sleep(1.5)\n")
    (repo / "par.y - 1h.sql").write_text("select 2 as y from pg_sleep(1.5)\n")

    duro.write_conf(dbname=wh.dbname, worker={"concurrency": 2})
    r = duro.refresh("par.x", "par.y", check=0)
    assert set(report(r.stdout)) == {"par.x", "par.y"}
    runs = {x["view"]: x for x in duro.catalog.runs()}
    a, b = runs["par.x"], runs["par.y"]
    assert a["started_us"] < b["finished_us"] and b["started_us"] < a["finished_us"], (a, b)
    assert wh.rows("par.x") == [(1,)] and wh.rows("par.y") == [(2,)]

    # concurrency 1: one after the other.
    duro.write_conf(dbname=wh.dbname, worker={"concurrency": 1})
    mark = last_id(duro.catalog)
    duro.refresh("par.x", "par.y", check=0)
    runs = new_runs(duro.catalog, mark)
    a, b = runs["par.x"], runs["par.y"]
    assert before(a, b) or before(b, a), (a, b)


@pytest.mark.slow
def test_timeout_cancels_a_long_build(duro, wh, tmp_path, wait_until):
    """The real timeout: `timeout = 1m` is the shortest a view can have, so this takes a
    minute."""
    repo = tmp_path / "views"
    (repo / "slow").mkdir(parents=True)
    (repo / "slow" / "sleeper - 1h.sql").write_text("select 1 as x from pg_sleep(600)\n")
    (repo / "slow" / "sleeper.conf").write_text("timeout = 1m\n")
    duro.write_conf(dbname=wh.dbname)
    t0 = time.monotonic()
    r = duro.refresh("slow.sleeper", check=1, timeout=180)
    elapsed = time.monotonic() - t0
    assert 59 <= elapsed < 90, elapsed
    rest = report(r.stdout)["slow.sleeper"]
    assert rest.startswith("failed: ") and re.search(r"time(d)? ?out", rest, re.I), r.stdout
    run = duro.catalog.runs("slow.sleeper")[-1]
    assert run["outcome"] == "failed" and re.search(r"time(d)? ?out", run["error"], re.I)
    assert 59e6 <= run["finished_us"] - run["started_us"] < 90e6
    assert not wh.exists("slow.sleeper") and wh.leftovers() == []
    # The statement was cancelled, not left running in the warehouse.
    wait_until(lambda: sleeping(wh) == 0, 5, "the cancelled pg_sleep to stop")


def sleeping(wh):
    """How many statements of this database are running pg_sleep now."""
    return wh.sql("select count(*) from pg_stat_activity where datname = %s "
                  "and state = 'active' and query ilike '%%pg_sleep%%' "
                  "and pid <> pg_backend_pid()", (wh.dbname,))[0][0]
