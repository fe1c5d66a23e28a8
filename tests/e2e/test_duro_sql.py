"""Duro's own SQL through the gateway, against a real PostgreSQL behind it: `CALL
duro_refresh(...)` and its SELECT forms, the virtual tables duro.status and duro.runs (simple and
extended protocol, text and binary, parameters, inside transactions), reads of stale views
(wait, serve, cancel), the admins check, and pgjdbc (java/DuroSqlJdbc.java). Everything else in
the same sessions must keep being relayed.

Every test serves examples/views (without the Python processor) with `[worker] poll = 1h`, so
the scheduler builds every view once at start and then leaves them alone: views are made stale
by ageing their last build in the catalog, never by waiting.
"""
import re
import socket
import struct
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from psycopg import errors, pq

import sampledata
from conftest import built as conftest_built, run_jdbc, tagged

TIMEOUT = 60
ALL_VIEWS = ["finances.detailed", "finances.simplified", "first.cities", "first.people",
             "first.shops", "second.child"]
CITIES_SQL = "select city, country from first.cities_raw"
DAY = 86400

STATUS_COLUMNS = [("view", "text"), ("interval", "text"), ("effective_interval", "text"),
                  ("state", "text"), ("last_refresh", "timestamptz"),
                  ("last_duration_s", "float8"), ("next_refresh", "timestamptz"),
                  ("rows", "int8"), ("depends_on", "text"), ("last_error", "text"),
                  ("source", "text"), ("reads_24h", "int8"), ("last_read", "timestamptz"),
                  ("readers", "text")]
RUNS_COLUMNS = [("id", "int8"), ("view", "text"), ("started", "timestamptz"),
                ("finished", "timestamptz"), ("outcome", "text"), ("duration_s", "float8"),
                ("rows", "int8"), ("trigger", "text"), ("error", "text")]
TYPE_OIDS = {"text": 25, "timestamptz": 1184, "float8": 701, "int8": 20}


# -- helpers --------------------------------------------------------------------------------------


def built(catalog, views=ALL_VIEWS):
    """Every view is in the catalog, built from its current definition, and nothing runs."""
    return conftest_built(catalog, views)


def serve(gateway_factory, duro, wait_until, views=ALL_VIEWS, worker=None, **sections):
    """`duro serve` on the test database and tmp_path/views with a poll of an hour; returns the
    Gateway once the start-up build of `views` is done."""
    gw = gateway_factory(worker={"poll": "1h", **(worker or {})}, **sections)
    wait_until(lambda: built(duro.catalog, views), TIMEOUT, f"the first build of {views}",
               gw.proc)
    return gw


def last_run_id(catalog):
    runs = catalog.runs()
    return runs[-1]["id"] if runs else 0


def names(refreshed):
    """The views of a `refreshed` column, in order."""
    return [v.strip() for v in refreshed.split(",") if v.strip()]


def notices_of(conn):
    """A list that gets the primary message of every NOTICE conn receives."""
    got = []
    conn.add_notice_handler(lambda diag: got.append(diag.message_primary or ""))
    return got


def stale_notices(notices, view):
    return [n for n in notices if view in n and "stale" in n.lower()]


def run_in_thread(fn):
    """Starts fn() in a thread; returns (thread, outcome) with 'result' or 'error' set once
    fn returns or raises."""
    outcome = {}

    def target():
        try:
            outcome["result"] = fn()
        except BaseException as e:  # noqa: B036 - handed to the test
            outcome["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, outcome


def as_seconds(text):
    """An interval as Duro may print it ('24h', '1d', '30m', '1w', '24:00:00', '1 day') in
    seconds."""
    t = text.strip().lower()
    m = re.fullmatch(r"(\d+)\s*([mhdw])", t)
    if m:
        return int(m[1]) * {"m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}[m[2]]
    m = re.fullmatch(r"(?:(\d+)\s*days?\s*)?(?:(\d+):(\d\d):(\d\d))?", t)
    if m and (m[1] or m[2]):
        return (int(m[1] or 0) * DAY + int(m[2] or 0) * 3600 + int(m[3] or 0) * 60
                + int(m[4] or 0))
    raise AssertionError(f"not an interval: {text!r}")


# -- CALL duro_refresh ----------------------------------------------------------------------------


def test_call_refresh_rebuilds_the_view_and_returns_one_row(duro, wh, example_repo,
                                                            gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    mark = last_run_id(duro.catalog)
    wh.sql("insert into first.cities_raw values ('Lyon-sur-Test', 'Ruritania')")

    with gw.connect() as conn:
        cur = conn.execute("CALL duro_refresh('first.cities')")
        assert cur.statusmessage == "CALL"
        assert [(d.name, d.type_code) for d in cur.description] == [
            ("view", TYPE_OIDS["text"]), ("refreshed", TYPE_OIDS["text"]),
            ("duration_s", TYPE_OIDS["float8"])]
        rows = cur.fetchall()
        assert len(rows) == 1, rows
        view, refreshed, duration = rows[0]
        assert view == "first.cities"
        assert names(refreshed) == ["first.cities"]  # no dependencies, nothing else stale
        assert isinstance(duration, float) and duration >= 0

        # The session goes on: a warehouse query through the same connection sees the table.
        assert conn.execute("select country from first.cities where city = 'Lyon-sur-Test'"
                            ).fetchall() == [("Ruritania",)]

    assert wh.rows("first.cities") == wh.rows(CITIES_SQL)
    assert wh.leftovers() == []
    new = [r for r in duro.catalog.runs() if r["id"] > mark]
    assert [(r["view"], r["trigger"], r["outcome"]) for r in new] == [
        ("first.cities", "call", "ok")]


def test_call_refresh_builds_stale_dependencies_first_and_tree_rebuilds_all(
        duro, wh, example_repo, gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    cat = duro.catalog
    # Person 1 works in shop 14 (sampledata.people()).
    assert sampledata.people()[0] == (1, sampledata.people()[0][1], 14)
    wh.sql("update first.shops_raw set name = 'Renamed Shop' where id = 14")

    with gw.connect() as conn:
        # shops (kept as fresh as people needs: 1h) is stale, cities (24h) is not.
        cat.age("first.shops")
        mark = last_run_id(cat)
        view, refreshed, _ = conn.execute("CALL duro_refresh('first.people')").fetchone()
        assert view == "first.people"
        assert names(refreshed) == ["first.shops", "first.people"]
        assert conn.execute("select shop from first.people where id = 1").fetchone() == (
            "Renamed Shop",)
        runs = conn.execute("select view, trigger, outcome from duro.runs where id > %s "
                            "order by id", [mark]).fetchall()
        assert runs == [("first.shops", "dependency", "ok"), ("first.people", "call", "ok")]

        # true: every dependency, stale or not, in build order.
        mark = last_run_id(cat)
        view, refreshed, _ = conn.execute("CALL duro_refresh('first.people', true)").fetchone()
        assert view == "first.people"
        assert names(refreshed) == ["first.cities", "first.shops", "first.people"]
        runs = conn.execute("select view, trigger, outcome from duro.runs where id > %s "
                            "order by id", [mark]).fetchall()
        assert runs == [("first.cities", "dependency", "ok"), ("first.shops", "dependency", "ok"),
                        ("first.people", "call", "ok")]

    # The catalog agrees, dependencies finished before what reads them started.
    new = {r["view"]: r for r in cat.runs() if r["id"] > mark}
    assert new["first.cities"]["finished_us"] <= new["first.shops"]["started_us"]
    assert new["first.shops"]["finished_us"] <= new["first.people"]["started_us"]
    # Only the tree of first.people: finances.detailed reads people but is not its dependency.
    assert set(new) == {"first.cities", "first.shops", "first.people"}
    assert wh.rows("first.shops") == wh.rows(
        "select s.id, s.name, s.city, c.country from first.shops_raw s "
        "join first.cities c on c.city = s.city")
    assert wh.leftovers() == []


def test_select_forms_of_duro_refresh(duro, wh, example_repo, gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    mark = last_run_id(duro.catalog)

    with gw.connect() as conn:
        cur = conn.execute("SELECT * FROM duro_refresh('first.cities')")
        assert cur.statusmessage == "SELECT 1"
        assert [d.name for d in cur.description] == ["view", "refreshed", "duration_s"]
        view, refreshed, duration = cur.fetchone()
        assert (view, names(refreshed)) == ("first.cities", ["first.cities"])
        assert duration >= 0

        cur = conn.execute("SELECT duro_refresh('first.cities')")
        assert cur.statusmessage == "SELECT 1"
        rows = cur.fetchall()
        assert len(rows) == 1 and "first.cities" in str(rows[0]), rows

        # Extended protocol, the name as a parameter, text and binary results.
        cur = conn.execute("select * from duro_refresh(%s)", ["first.cities"])
        assert cur.statusmessage == "SELECT 1"
        assert cur.fetchone()[:2] == ("first.cities", "first.cities")
        cur = conn.cursor(binary=True)
        cur.execute("select * from duro_refresh(%s)", ["second.child"])
        assert cur.pgresult.fformat(0) == pq.Format.BINARY
        view, refreshed, duration = cur.fetchone()
        assert (view, names(refreshed)) == ("second.child", ["second.child"])
        assert isinstance(duration, float) and duration >= 0

        assert conn.execute("select count(*) from first.cities").fetchone() == (
            len(sampledata.CITIES),)

    new = [(r["view"], r["trigger"], r["outcome"]) for r in duro.catalog.runs()
           if r["id"] > mark]
    assert new == [("first.cities", "call", "ok")] * 3 + [("second.child", "call", "ok")]


def test_duro_refresh_with_a_column_list_is_refused_clearly(duro, wh, example_repo,
                                                            gateway_factory, wait_until):
    """Only the documented forms call duro_refresh; another one gets 0A000 naming them, builds
    nothing, and leaves the session usable."""
    gw = serve(gateway_factory, duro, wait_until)
    runs_before = len(duro.catalog.runs("first.cities"))

    with gw.connect() as conn:
        for sql, params in [("select refreshed, view from duro_refresh('first.cities')", None),
                            ("select view, duration_s from duro_refresh(%s)", ["first.cities"]),
                            ("select duro_refresh('first.cities') from first.cities_raw", None)]:
            with pytest.raises(errors.FeatureNotSupported) as e:
                conn.execute(sql, params)
            assert "CALL duro_refresh('schema.table')" in str(e.value)
            assert conn.execute("select 1").fetchone() == (1,)
    assert len(duro.catalog.runs("first.cities")) == runs_before


def test_view_names_follow_sql_identifier_rules(duro, wh, example_repo, gateway_factory,
                                                wait_until):
    gw = serve(gateway_factory, duro, wait_until)

    with gw.connect() as conn:
        for name in ["First.Cities", '"first"."cities"', "FIRST.cities", 'first."cities"']:
            row = conn.execute(f"CALL duro_refresh('{name.replace(chr(39), chr(39) * 2)}')"
                               ).fetchone()
            assert row[0] == "first.cities", name
            assert names(row[1]) == ["first.cities"], name

        # Quoted identifiers keep their case: there is no view "First".cities.
        for name in ['"First".cities', 'first."Cities"', "first.nope", "nope.cities", "cities",
                     "first.cities_raw"]:
            with pytest.raises(errors.UndefinedTable) as e:
                conn.execute(f"CALL duro_refresh('{name.replace(chr(39), chr(39) * 2)}')")
            assert e.value.sqlstate == "42P01"
            # The connection is still usable (autocommit: nothing to roll back).
            assert conn.execute("select 1").fetchone() == (1,)
        with pytest.raises(errors.UndefinedTable):
            conn.execute("select * from duro_refresh(%s)", ["first.nope"])
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert conn.execute("select count(*) from first.cities").fetchone() == (
            len(sampledata.CITIES),)

    assert [r["trigger"] for r in duro.catalog.runs("first.cities")] == ["schedule"] + ["call"] * 4


def test_failed_tests_raise_p0001_and_keep_the_live_table(duro, wh, example_repo,
                                                          gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    before = wh.rows("first.cities")
    # first/cities_test.sql requires every French city to be Paris.
    wh.sql("insert into first.cities_raw values ('Lyon', 'France')")
    mark = last_run_id(duro.catalog)

    with gw.connect() as conn:
        with pytest.raises(errors.RaiseException) as e:
            conn.execute("CALL duro_refresh('first.cities')")
        assert e.value.sqlstate == "P0001"
        message = e.value.diag.message_primary
        assert "first.cities" in message, message
        assert "test" in message.lower(), message  # the step
        assert "correct_capital_of_france" in message, message  # the reason: the failed test

        # Readers still see the previous build, through Duro too.
        assert conn.execute("select city from first.cities where country = 'France'"
                            ).fetchall() == [("Paris",)]
        runs = conn.execute("select view, trigger, outcome, error from duro.runs "
                            "where id > %s order by id", [mark]).fetchall()
        assert [r[:3] for r in runs] == [("first.cities", "call", "tests_failed")]
        assert "correct_capital_of_france" in (runs[0][3] or ""), runs

        # A failing dependency fails its reader's call too.
        with pytest.raises(errors.RaiseException) as e:
            conn.execute("CALL duro_refresh('second.child', true)")
        assert "first.cities" in e.value.diag.message_primary

    assert wh.rows("first.cities") == before
    assert wh.leftovers() == []


def test_only_admins_may_call_duro_refresh(duro, wh, pg, example_repo, gateway_factory,
                                           wait_until):
    gw = serve(gateway_factory, duro, wait_until, worker={"admins": "jane"})
    mark = last_run_id(duro.catalog)

    with gw.connect() as conn:  # as postgres, a superuser but not a Duro admin
        with pytest.raises(errors.InsufficientPrivilege) as e:
            conn.execute("CALL duro_refresh('first.cities')")
        assert e.value.sqlstate == "42501"
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("select * from duro_refresh(%s)", ["first.cities"])
        assert conn.execute("select 1").fetchone() == (1,)
    assert [r for r in duro.catalog.runs() if r["id"] > mark] == []

    # sampledata creates jane NOLOGIN; the session cluster trusts every role.
    pg.sql("alter role jane login")
    try:
        with gw.connect(user="jane") as conn:
            assert conn.execute("select current_user").fetchone() == ("jane",)
            view, refreshed, _ = conn.execute("CALL duro_refresh('first.cities')").fetchone()
            assert (view, names(refreshed)) == ("first.cities", ["first.cities"])
    finally:
        pg.sql("alter role jane nologin")
    new = [(r["view"], r["trigger"], r["outcome"]) for r in duro.catalog.runs()
           if r["id"] > mark]
    assert new == [("first.cities", "call", "ok")]


# -- duro.status and duro.runs --------------------------------------------------------------------


def test_duro_status_describes_every_view(duro, wh, example_repo, gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    cat = duro.catalog.views()

    with gw.connect() as conn:
        cur = conn.execute("select * from duro.status order by view")
        assert [(d.name, d.type_code) for d in cur.description] == [
            (n, TYPE_OIDS[t]) for n, t in STATUS_COLUMNS]
        rows = {r[0]: dict(zip([n for n, _ in STATUS_COLUMNS], r)) for r in cur.fetchall()}
        assert list(rows) == ALL_VIEWS

        cities, shops, people = rows["first.cities"], rows["first.shops"], rows["first.people"]
        assert as_seconds(cities["interval"]) == DAY
        assert as_seconds(cities["effective_interval"]) == DAY
        assert shops["interval"] is None  # shops.sql has no interval of its own
        assert as_seconds(shops["effective_interval"]) == 3600  # first.people's
        assert as_seconds(people["interval"]) == 3600
        for name, r in rows.items():
            assert r["state"] == "fresh", r
            assert r["last_error"] is None, r
            assert isinstance(r["last_refresh"], datetime) and r["last_refresh"].tzinfo, r
            built_at = datetime.fromtimestamp(cat[name]["last_success_us"] / 1e6, timezone.utc)
            assert abs(r["last_refresh"] - built_at) < timedelta(seconds=1), (r, built_at)
            assert r["next_refresh"] > r["last_refresh"], r
            assert isinstance(r["last_duration_s"], float) and r["last_duration_s"] >= 0, r
            assert r["rows"] == wh.count(name), r
            assert Path(r["source"]).name.startswith(name.split(".")[1]) or \
                Path(r["source"]).name.startswith(name), r
        assert cities["rows"] == len(sampledata.CITIES)
        assert "cities" in cities["source"] and cities["source"].endswith(".sql")
        assert names(shops["depends_on"]) == ["first.cities"]
        assert names(people["depends_on"]) == ["first.shops"]
        assert sorted(names(rows["finances.detailed"]["depends_on"])) == ["first.people"]
        assert not names(cities["depends_on"] or "")
        # next_refresh: once the effective interval has passed (give or take a poll).
        ahead = cities["next_refresh"] - cities["last_refresh"]
        assert timedelta(days=1) - timedelta(seconds=2) <= ahead <= timedelta(days=1, hours=1,
                                                                               seconds=2), cities

        # WHERE, ORDER BY, LIMIT, in the simple protocol (no parameters).
        assert conn.execute("select view from duro.status where state = 'fresh' order by view"
                            ).fetchall() == [(v,) for v in ALL_VIEWS]
        assert conn.execute("select view, state from duro.status where view like 'first.%' "
                            "order by view desc limit 2").fetchall() == [
            ("first.shops", "fresh"), ("first.people", "fresh")]
        assert conn.execute("select count(*) from duro.status where interval is null"
                            ).fetchone() == (1,)
        assert conn.execute("select state, count(*) from duro.status group by state"
                            ).fetchall() == [("fresh", len(ALL_VIEWS))]
        assert conn.execute("select view from duro.status where state = 'stale'").fetchall() == []

        # A view aged past its interval is stale (the hour-long poll does not rebuild it).
        duro.catalog.age("first.people")
        assert conn.execute("select state from duro.status where view = 'first.people'"
                            ).fetchone() == ("stale",)
        assert conn.execute("select view from duro.status where state <> 'fresh'").fetchall() == [
            ("first.people",)]


def test_duro_leader_names_the_instance_that_schedules(duro, wh, example_repo, gateway_factory,
                                                      wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    instances = {r["instance"] for r in duro.catalog.runs() if r["trigger"] == "schedule"}
    with gw.connect() as conn:
        cur = conn.execute("select * from duro.leader")
        assert [(d.name, d.type_code) for d in cur.description] == [
            ("instance", 25), ("host", 25), ("generation", 20), ("since", 1184),
            ("this_instance", 16)]
        (instance, host, generation, since, this_instance), = cur.fetchall()
        # Alone on its catalog, this instance leads: the one that recorded the scheduled runs.
        assert instances == {instance}
        assert host.endswith(f":{gw.proc.pid}")
        assert this_instance is True
        assert generation == (0 if duro.catalog_backend == "sqlite" else 1)
        assert since.tzinfo and since <= datetime.now(timezone.utc)
        # Any role may ask; it is a table like the others (WHERE, parameters).
        assert conn.execute("select count(*) from duro.leader where this_instance and"
                            " instance = %s", (instance,)).fetchone() == (1,)
        with pytest.raises(errors.UndefinedTable) as unknown:
            conn.execute("select * from duro.leaders")
        assert "duro.leader" in str(unknown.value)


def test_duro_tables_extended_protocol_parameters_and_binary(duro, wh, example_repo,
                                                            gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)

    with gw.connect() as conn:
        text_rows = conn.execute("select * from duro.status order by view").fetchall()

        # $n parameters (psycopg binds them server-side), text and binary parameter formats.
        for mark in ["%s", "%t", "%b"]:
            assert conn.execute(f"select view, state from duro.status where view = {mark}",
                                ["first.cities"]).fetchall() == [("first.cities", "fresh")], mark
            assert conn.execute(f"select view from duro.status where state = {mark} "
                                f"and view <> {mark} order by view limit {mark}",
                                ["fresh", "first.cities", 2]).fetchall() == [
                ("finances.detailed",), ("finances.simplified",)], mark

        # Binary results decode to the same values.
        cur = conn.cursor(binary=True)
        cur.execute("select * from duro.status order by view")
        assert cur.pgresult.fformat(0) == pq.Format.BINARY
        assert cur.fetchall() == text_rows
        cur.execute("select view, last_refresh, last_duration_s, rows from duro.status "
                    "where view = %s", ["first.cities"])
        row = cur.fetchone()
        want = next(r for r in text_rows if r[0] == "first.cities")
        assert row == (want[0], want[4], want[5], want[7])
        assert row[3] == len(sampledata.CITIES)

        # duro.runs: the start-up build, one scheduled run per view.
        runs_text = conn.execute("select * from duro.runs order by id").fetchall()
        cur = conn.execute("select * from duro.runs order by id")
        assert [(d.name, d.type_code) for d in cur.description] == [
            (n, TYPE_OIDS[t]) for n, t in RUNS_COLUMNS]
        runs = [dict(zip([n for n, _ in RUNS_COLUMNS], r)) for r in cur.fetchall()]
        assert sorted(r["view"] for r in runs) == ALL_VIEWS
        catalog = {r["id"]: r for r in duro.catalog.runs()}
        for r in runs:
            assert (r["outcome"], r["trigger"], r["error"]) == ("ok", "schedule", None), r
            assert r["finished"] >= r["started"], r
            assert r["duration_s"] >= 0, r
            assert r["rows"] == wh.count(r["view"]), r
            assert catalog[r["id"]]["view"] == r["view"], r
        bcur = conn.cursor(binary=True)
        bcur.execute("select * from duro.runs order by id")
        assert bcur.fetchall() == runs_text

        assert conn.execute("select trigger, outcome, count(*) from duro.runs "
                            "group by trigger, outcome").fetchall() == [
            ("schedule", "ok", len(ALL_VIEWS))]
        first_id = min(r["id"] for r in runs)
        assert conn.execute("select count(*) from duro.runs where id > %s", [first_id]
                            ).fetchone() == (len(ALL_VIEWS) - 1,)
        assert conn.execute("select view from duro.runs where view = %s and outcome = %s",
                            ["first.cities", "ok"]).fetchall() == [("first.cities",)]
        bcur.execute("select id, view from duro.runs where id = %b", [first_id])
        assert bcur.fetchall() == [(first_id, runs[0]["view"])]

        # A prepared statement (named, psycopg prepare=True) runs again and again.
        for _ in range(3):
            assert conn.execute("select count(*) from duro.status where state = %s", ["fresh"],
                                prepare=True).fetchone() == (len(ALL_VIEWS),)


def test_duro_tables_inside_a_transaction_and_relaying_around_them(
        duro, wh, example_repo, gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)

    with gw.connect(autocommit=False) as conn:
        conn.execute("create temporary table note (t text)")  # the session's own backend
        conn.commit()
        conn.execute("insert into note values ('before')")
        assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
        assert conn.execute("select count(*) from duro.status").fetchone() == (len(ALL_VIEWS),)
        assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
        assert conn.execute("select state from duro.status where view = %s",
                            ["first.cities"]).fetchone() == ("fresh",)
        assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
        # The warehouse transaction is still open and still works.
        conn.execute("insert into note values ('after')")
        assert conn.execute("select t from note order by t").fetchall() == [("after",),
                                                                           ("before",)]
        conn.rollback()
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert conn.execute("select count(*) from note").fetchone() == (0,)
        conn.commit()

        # A transaction that begins with a Duro query, then goes on in the warehouse.
        assert conn.execute("select count(*) from duro.runs").fetchone() == (len(ALL_VIEWS),)
        assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
        started = conn.execute("select now()").fetchone()
        conn.execute("insert into note values ('x')")
        assert conn.execute("select count(*) from duro.status").fetchone() == (len(ALL_VIEWS),)
        assert conn.execute("select now()").fetchone() == started  # one warehouse transaction
        conn.commit()
        assert conn.execute("select count(*) from note").fetchone() == (1,)
        conn.commit()

    # Prepared statements and plain queries are relayed around Duro's statements.
    with gw.connect() as conn:
        q = "select count(*) from first.cities_raw where country = %s"
        germany = conn.execute(q, ["Germany"], prepare=True).fetchone()
        assert germany == wh.sql("select count(*) from first.cities_raw "
                                 "where country = 'Germany'")[0]
        assert conn.execute("select view from duro.status where view = %s", ["first.people"],
                            prepare=True).fetchone() == ("first.people",)
        assert conn.execute("CALL duro_refresh('first.cities')").fetchone()[0] == "first.cities"
        assert conn.execute(q, ["Germany"], prepare=True).fetchone() == germany
        assert conn.execute(q, ["France"], prepare=True).fetchone() == (1,)
        assert conn.execute("select count(*) from first.cities").fetchone() == (
            len(sampledata.CITIES),)
        prepared = [r[0] for r in conn.execute(
            "select statement from pg_prepared_statements").fetchall()]
        assert "select count(*) from first.cities_raw where country = $1" in prepared, prepared
        assert conn.execute("select current_user, current_database()").fetchone() == (
            "postgres", wh.dbname)


def test_mixing_duro_tables_with_warehouse_tables_is_rejected(duro, wh, example_repo,
                                                              gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)

    mixed = [
        "select s.view, c.city from duro.status s join first.cities c on c.city = s.view",
        "select * from first.cities where city in (select view from duro.status)",
        "select view from duro.runs union all select city from first.cities_raw",
    ]
    with gw.connect() as conn:
        for sql in mixed:
            with pytest.raises(errors.FeatureNotSupported) as e:
                conn.execute(sql)
            assert e.value.sqlstate == "0A000", sql
            assert conn.execute("select 1").fetchone() == (1,)
        with pytest.raises(errors.FeatureNotSupported):
            conn.execute("select s.view from duro.status s, first.cities c where c.city = %s",
                         ["Paris"])
        assert conn.execute("select count(*) from duro.status").fetchone() == (len(ALL_VIEWS),)

    with gw.connect(autocommit=False) as conn:
        conn.execute("select 1")
        with pytest.raises(errors.FeatureNotSupported):
            conn.execute(mixed[0])
        conn.rollback()
        assert conn.execute("select count(*) from first.cities").fetchone() == (
            len(sampledata.CITIES),)


def test_psql_reads_duro_status_and_calls_duro_refresh(duro, wh, example_repo, gateway_factory,
                                                       wait_until):
    gw = serve(gateway_factory, duro, wait_until)

    out = gw.psql("-A", "-t", "-F", "|", "-c",
                  "select view, state from duro.status where state = 'fresh' order by view")
    assert out.stdout.splitlines() == [f"{v}|fresh" for v in ALL_VIEWS]

    out = gw.psql("-A", "-F", "|", "-c", "CALL duro_refresh('second.child')")
    lines = out.stdout.splitlines()
    assert lines[0] == "view|refreshed|duration_s"
    view, refreshed, duration = lines[1].split("|")
    assert (view, refreshed) == ("second.child", "second.child")
    assert float(duration) >= 0

    # One psql script: Duro's statements between warehouse statements.
    out = gw.psql("-A", "-t", input=(
        "select count(*) from first.cities;\n"
        "select count(*) from duro.runs where trigger = 'call';\n"
        "select 6 * 7;\n"))
    assert out.stdout.split() == [str(len(sampledata.CITIES)), "1", "42"]


# -- reads of stale views -------------------------------------------------------------------------


def test_stale_read_waits_for_the_refresh(duro, wh, example_repo, gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    cat = duro.catalog

    with gw.connect() as conn:
        notices = notices_of(conn)
        # Fresh: relayed at once, without a notice.
        assert conn.execute("select city from first.cities where country = 'Japan' and "
                            "city like 'T%' order by city").fetchall() == [("Tokyo",)]
        assert stale_notices(notices, "first.cities") == []

        # Simple protocol: the source changed, and the view is past its 24h interval.
        wh.sql("update first.cities_raw set city = 'Edo' where city = 'Tokyo'")
        cat.age("first.cities", seconds=2 * DAY)
        mark = last_run_id(cat)
        assert conn.execute("select city from first.cities where country = 'Japan' and "
                            "city in ('Edo', 'Tokyo')").fetchall() == [("Edo",)]
        assert len(stale_notices(notices, "first.cities")) == 1, notices
        runs = conn.execute("select view, trigger, outcome from duro.runs where id > %s "
                            "order by id", [mark]).fetchall()
        assert runs == [("first.cities", "read", "ok")]
        assert conn.execute("select state from duro.status where view = 'first.cities'"
                            ).fetchone() == ("fresh",)

        # Extended protocol (Parse with a parameter).
        wh.sql("update first.cities_raw set city = 'Tokyo' where city = 'Edo'")
        cat.age("first.cities", seconds=2 * DAY)
        mark = last_run_id(cat)
        assert conn.execute("select city from first.cities where city in (%s, %s)",
                            ["Edo", "Tokyo"]).fetchall() == [("Tokyo",)]
        assert len(stale_notices(notices, "first.cities")) == 2, notices
        runs = conn.execute("select view, trigger, outcome from duro.runs where id > %s "
                            "order by id", [mark]).fetchall()
        assert runs == [("first.cities", "read", "ok")]

        # second.child reads first.cities but was built within its own interval: no wait.
        n_notices = len(notices)
        assert conn.execute("select count(*) from second.child").fetchone() == (
            len(sampledata.CITIES),)
        assert len(notices) == n_notices, notices

    assert wh.rows("first.cities") == wh.rows(CITIES_SQL)
    # The scheduler (an hour-long poll) built nothing after the start: only reads did.
    assert [r["trigger"] for r in cat.runs("first.cities")] == ["schedule", "read", "read"]


def test_stale_read_serve_returns_the_current_table_and_refreshes_in_background(
        duro, wh, example_repo, gateway_factory, wait_until):
    conf = example_repo / "first" / "cities.conf"
    conf.write_text(conf.read_text() + "stale_read=serve\n")
    gw = serve(gateway_factory, duro, wait_until)
    cat = duro.catalog

    wh.sql("update first.cities_raw set city = 'Edo' where city = 'Tokyo'")
    cat.age("first.cities", seconds=2 * DAY)
    mark = last_run_id(cat)
    with gw.connect() as conn:
        # The old data, not waiting for the refresh.
        rows = conn.execute("select city from first.cities where city in ('Edo', 'Tokyo')"
                            ).fetchall()
        assert rows == [("Tokyo",)], rows

        def read_run_done():
            found = conn.execute("select trigger, outcome from duro.runs "
                                 "where view = 'first.cities' and id > %s", [mark]).fetchall()
            return found if found and found[0][1] != "running" else None

        assert wait_until(read_run_done, TIMEOUT, "the background refresh of first.cities",
                          gw.proc) == [("read", "ok")]
        assert conn.execute("select city from first.cities where city in ('Edo', 'Tokyo')"
                            ).fetchall() == [("Edo",)]
    assert wh.rows("first.cities") == wh.rows(CITIES_SQL)


def test_cancel_while_waiting_for_a_stale_view(duro, wh, example_repo, gateway_factory,
                                               wait_until):
    # A view whose build sleeps for second.slow_raw's delay (0 at the start-up build).
    wh.sql("create table second.slow_raw (x int, delay float8)")
    wh.sql("insert into second.slow_raw values (1, 0)")
    (example_repo / "second.slow - 1h.sql").write_text(
        "select s.x from second.slow_raw s cross join lateral pg_sleep(s.delay)\n")
    views = ALL_VIEWS + ["second.slow"]
    gw = serve(gateway_factory, duro, wait_until, views=views)

    wh.sql("update second.slow_raw set delay = 8, x = 2")
    duro.catalog.age("second.slow")
    with gw.connect() as conn:
        notices = notices_of(conn)
        t, outcome = run_in_thread(lambda: conn.execute("select x from second.slow").fetchall())
        # Duro told the client it waits, and the refresh runs in the warehouse.
        wait_until(lambda: stale_notices(notices, "second.slow") or "error" in outcome,
                   TIMEOUT, "the notice that second.slow is stale", gw.proc)
        wait_until(lambda: wh.sql("select count(*) from pg_stat_activity where state = 'active'"
                                  " and query like '%pg_sleep%' and pid <> pg_backend_pid()"
                                  )[0][0] or "error" in outcome,
                   TIMEOUT, "the refresh of second.slow to run", gw.proc)
        assert not outcome, outcome
        conn.cancel()
        t.join(TIMEOUT)
        assert not t.is_alive(), "the cancelled query did not return"
        assert "error" in outcome, outcome
        assert isinstance(outcome["error"], errors.QueryCanceled), repr(outcome["error"])
        assert outcome["error"].sqlstate == "57014"

        # The connection is usable: a plain query, a parameter, a Duro table.
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("select %s::int + 1", [41]).fetchone() == (42,)
        assert conn.execute("select count(*) from first.cities").fetchone() == (
            len(sampledata.CITIES),)
        assert conn.execute("select view from duro.status where view = 'second.slow'"
                            ).fetchone() == ("second.slow",)


# -- pgjdbc ---------------------------------------------------------------------------------------


def run_java(classpath, gateway, scenario, *args, **kw):
    """One DuroSqlJdbc scenario (see conftest.run_jdbc)."""
    return run_jdbc(classpath, "DuroSqlJdbc", gateway, scenario, *args, **kw)


def test_jdbc_prepared_status_query_past_threshold(jdbc, duro, wh, example_repo,
                                                   gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    with gw.connect() as conn:
        want = dict(conn.execute("select view, last_refresh from duro.status").fetchall())

    out = run_java(jdbc, gw, "status", 8, "first.cities", "first.people",
                   prepareThreshold=3, binaryTransfer="true")

    assert tagged(out, "columns") == [["3", "view", "state", "last_refresh"]]
    runs = tagged(out, "run")
    assert [int(r[0]) for r in runs] == list(range(1, 9))
    for run, view, state, last_refresh, server_prepared in runs:
        assert view == ("first.cities" if int(run) % 2 else "first.people"), runs
        assert state == "fresh", runs
        got = datetime.fromisoformat(last_refresh)
        # Microsecond precision in both formats (text in the first runs, binary later).
        assert got == want[view], (run, last_refresh, want[view])
    # From the threshold on, a named server-side statement (binary results).
    assert all(r[4] == "true" for r in runs[2:]), runs
    assert tagged(out, "cities") == [[str(sum(1 for _, k in sampledata.CITIES
                                              if k == "Germany"))]]


@pytest.mark.parametrize("call_mode", ["select", "callIfNoReturn"])
def test_jdbc_callable_statement_calls_duro_refresh(jdbc, duro, wh, example_repo,
                                                    gateway_factory, wait_until, call_mode):
    gw = serve(gateway_factory, duro, wait_until)
    mark = last_run_id(duro.catalog)

    # escapeSyntaxCallMode: "select" sends {call f(?)} as "select * from f($1) as result",
    # "callIfNoReturn" as "call f($1)".
    out = run_java(jdbc, gw, "call", "first.cities", 4, prepareThreshold=3,
                   binaryTransfer="true", escapeSyntaxCallMode=call_mode)

    assert tagged(out, "columns") == [["view,refreshed,duration_s"]]
    assert tagged(out, "call") == [["first.cities", "first.cities", "true"]] * 4
    assert tagged(out, "after") == [["42"]]
    new = [(r["view"], r["trigger"], r["outcome"]) for r in duro.catalog.runs()
           if r["id"] > mark]
    assert new == [("first.cities", "call", "ok")] * 4


# -- the extended protocol byte by byte: row limits, Close, Sync ---------------------------------


def _msg(kind, body=b""):
    return kind + struct.pack("!I", len(body) + 4) + body


def _read(sock):
    head = b""
    while len(head) < 5:
        chunk = sock.recv(5 - len(head))
        assert chunk, "the gateway closed the connection"
        head += chunk
    (length,) = struct.unpack("!I", head[1:])
    body = b""
    while len(body) < length - 4:
        chunk = sock.recv(length - 4 - len(body))
        assert chunk, "the gateway closed the connection"
        body += chunk
    return head[:1], body


def _until_ready(sock):
    """Every message up to and including ReadyForQuery, as (type, body) pairs."""
    got = []
    while True:
        kind, body = _read(sock)
        got.append((kind, body))
        if kind == b"Z":
            return got


def test_execute_with_a_row_limit_suspends_and_resumes(duro, wh, example_repo, gateway_factory,
                                                       wait_until):
    """Execute with a row limit on a portal of Duro's: PortalSuspended after each batch, the rest
    on the next Execute, CommandComplete at the end; Close and Sync as PostgreSQL answers them,
    inside a transaction block the warehouse keeps open."""
    gw = serve(gateway_factory, duro, wait_until)
    with socket.create_connection((gw.host, gw.port), timeout=TIMEOUT) as sock:
        body = struct.pack("!I", 196608) + f"user\0postgres\0database\0{gw.dbname}\0\0".encode()
        sock.sendall(struct.pack("!I", len(body) + 4) + body)
        assert _until_ready(sock)[-1] == (b"Z", b"I")
        sock.sendall(_msg(b"Q", b"begin\0"))
        assert _until_ready(sock)[-1] == (b"Z", b"T")

        query = b"select view from duro.status order by view\0"
        sock.sendall(_msg(b"P", b"st\0" + query + b"\0\0")
                     + _msg(b"B", b"pt\0st\0\0\0\0\0\0\0")
                     + _msg(b"D", b"Ppt\0")
                     + _msg(b"E", b"pt\0" + struct.pack("!i", 4))
                     + _msg(b"H"))
        kinds = []
        while len(kinds) < 8:  # 1, 2, T, four D, s
            kinds.append(_read(sock))
        assert [k for k, _ in kinds] == [b"1", b"2", b"T", b"D", b"D", b"D", b"D", b"s"]
        first = [b[6:].decode() for k, b in kinds if k == b"D"]
        assert first == sorted(ALL_VIEWS)[:4]

        sock.sendall(_msg(b"E", b"pt\0" + struct.pack("!i", 4)) + _msg(b"C", b"Ppt\0")
                     + _msg(b"C", b"Sst\0") + _msg(b"S"))
        rest = _until_ready(sock)
        assert [k for k, _ in rest] == [b"D"] * (len(ALL_VIEWS) - 4) + [b"C", b"3", b"3", b"Z"]
        assert [b[6:].decode() for k, b in rest if k == b"D"] == sorted(ALL_VIEWS)[4:]
        assert rest[-2][0] == b"3" and rest[-1] == (b"Z", b"T")  # still in the transaction

        sock.sendall(_msg(b"Q", b"commit\0"))
        assert _until_ready(sock)[-1] == (b"Z", b"I")
        sock.sendall(_msg(b"X"))


def test_concurrent_reads_of_a_stale_view_share_one_build(duro, wh, example_repo,
                                                          gateway_factory, wait_until):
    """Eight sessions read the same stale view at once: each waits, each sees the new data, and
    the view is built once."""
    gw = serve(gateway_factory, duro, wait_until)
    cat = duro.catalog
    conns = [gw.connect() for _ in range(8)]
    try:
        wh.sql("update first.cities_raw set city = 'Edo' where city = 'Tokyo'")
        cat.age("first.cities", seconds=2 * DAY)
        mark = last_run_id(cat)
        results, errors_seen = [None] * len(conns), []
        start = threading.Barrier(len(conns))

        def read(i):
            try:
                start.wait(TIMEOUT)
                results[i] = conns[i].execute(
                    "select city from first.cities where city in ('Edo', 'Tokyo')").fetchall()
            except Exception as e:  # reported below
                errors_seen.append(e)

        threads = [threading.Thread(target=read, args=(i,)) for i in range(len(conns))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        assert not errors_seen, errors_seen
        assert results == [[("Edo",)]] * len(conns)
        new_runs = [r for r in cat.runs("first.cities") if r["id"] > mark]
        assert [(r["trigger"], r["outcome"]) for r in new_runs] == [("read", "ok")]
    finally:
        for c in conns:
            c.close()
