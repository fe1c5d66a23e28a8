"""duro.status and duro.runs published as real tables in the warehouse ([catalog] publish): what
psql's \\dn, \\dt and \\d and pgjdbc's DatabaseMetaData (as Metabase's sync calls it) see through
Duro and straight in the warehouse; what the virtual tables cannot answer (a join with a
warehouse table, a window function) relayed to the copies with a NOTICE; publish = off keeping
0A000; a service account that may not create the schema; a dropped table created again; the
readers' grant.

Each test serves examples/views (without the Python processor) with `[worker] poll = 1h` and
`[catalog] publish_every = 1s`, so the start-up build's runs are in the warehouse within seconds.
"""
import uuid

import pytest
from psycopg import errors

from conftest import PSQL, built, run_jdbc, tagged

TIMEOUT = 60
ALL_VIEWS = ["finances.detailed", "finances.simplified", "first.cities", "first.people",
             "first.shops", "second.child"]


def serve(gateway_factory, duro, wait_until, catalog=None, **sections):
    """`duro serve` with publishing on every second; the Gateway once the first build is done."""
    gw = gateway_factory(worker={"poll": "1h"},
                         catalog={"publish": "on", "publish_every": "1s", **(catalog or {})},
                         **sections)
    wait_until(lambda: built(duro.catalog, ALL_VIEWS), TIMEOUT, "the first build", gw.proc)
    return gw


def published(wh, duro):
    """The warehouse's duro.runs has every run of the catalog, all finished, and duro.status a
    row per view."""
    if not wh.sql("select count(*) from pg_tables where schemaname = 'duro'")[0][0] == 2:
        return False
    runs = duro.catalog.runs()
    got = wh.sql("select id, outcome from duro.runs order by id")
    want = [(r["id"], r["outcome"]) for r in runs]
    states = wh.sql("select count(*) from duro.status where state = 'fresh'")[0][0]
    return got == want and states == len(ALL_VIEWS)


def direct_psql(wh, *args, user="postgres"):
    import subprocess

    dsn = f"host={wh.pg.host} port={wh.pg.port} dbname={wh.dbname} user={user} sslmode=disable"
    proc = subprocess.run([str(PSQL), "-X", "-v", "ON_ERROR_STOP=1", "-d", dsn, *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_psql_lists_and_describes_the_published_tables_through_duro_and_directly(
        duro, wh, example_repo, gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    wait_until(lambda: published(wh, duro), TIMEOUT, "the runs published", gw.proc)

    for out in (gw.psql("-c", "\\dn").stdout, direct_psql(wh, "-c", "\\dn")):
        assert " duro " in out, out
    for out in (gw.psql("-c", "\\dt duro.*").stdout, direct_psql(wh, "-c", "\\dt duro.*")):
        lines = [[f.strip() for f in line.split("|")] for line in out.splitlines()
                 if "| table" in line]
        assert [line[:3] for line in lines] == [["duro", "runs", "table"],
                                                ["duro", "status", "table"]], out
    for out in (gw.psql("-c", "\\d duro.status").stdout,
                direct_psql(wh, "-c", "\\d duro.status")):
        columns = [[f.strip() for f in line.split("|")][:2] for line in out.splitlines()
                   if line.count("|") >= 4 and "Column" not in line]
        assert columns == [
            ["view", "text"], ["interval", "text"], ["effective_interval", "text"],
            ["state", "text"], ["last_refresh", "timestamp with time zone"],
            ["last_duration_s", "double precision"],
            ["next_refresh", "timestamp with time zone"], ["rows", "bigint"],
            ["depends_on", "text"], ["last_error", "text"], ["source", "text"],
            ["reads_24h", "bigint"], ["last_read", "timestamp with time zone"],
            ["readers", "text"]], out
    # The copy holds what the virtual table says.
    with gw.connect() as conn:
        live = conn.execute("select view, state, rows, source from duro.status "
                            "order by view").fetchall()
    assert wh.sql("select view, state, rows, source from duro.status order by view") == live


def test_nothing_is_written_while_nothing_changes(duro, wh, example_repo, gateway_factory,
                                                  wait_until):
    """At most one transaction per publish_every, and none when nothing changed: the rows keep
    the transaction id that wrote them until a refresh changes them."""
    import time

    gw = serve(gateway_factory, duro, wait_until)
    wait_until(lambda: published(wh, duro), TIMEOUT, "the runs published", gw.proc)
    time.sleep(1.5)  # the round after the last change
    writers = wh.sql("select distinct xmin::text from duro.status union "
                     "select distinct xmin::text from duro.runs")
    time.sleep(4)  # four rounds of publish_every = 1s
    assert wh.sql("select distinct xmin::text from duro.status union "
                  "select distinct xmin::text from duro.runs") == writers
    with gw.connect() as conn:
        conn.execute("call duro_refresh('first.cities')")
    wait_until(lambda: published(wh, duro) and len(duro.catalog.runs()) > len(ALL_VIEWS),
               TIMEOUT, "the new run published", gw.proc)
    assert wh.sql("select count(*) from duro.runs where view = 'first.cities'") == [(2,)]


def test_jdbc_metadata_lists_the_published_tables(jdbc, duro, wh, example_repo, gateway_factory,
                                                 wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    wait_until(lambda: published(wh, duro), TIMEOUT, "the runs published", gw.proc)

    out = run_jdbc(jdbc, "GatewayJdbc", gw, "metadata", "duro", "runs")
    assert tagged(out, "table") == [["duro", "runs", "TABLE", "\\N"],
                                    ["duro", "status", "TABLE", "\\N"]]
    assert [c[:3] for c in tagged(out, "column")] == [
        ["1", "id", "int8"], ["2", "view", "text"], ["3", "started", "timestamptz"],
        ["4", "finished", "timestamptz"], ["5", "outcome", "text"], ["6", "duration_s", "float8"],
        ["7", "rows", "int8"], ["8", "trigger", "text"], ["9", "error", "text"]]
    # Metabase's sync: its table list and the fields of duro.status.
    out = run_jdbc(jdbc, "GatewayJdbc", gw, "metabase", "duro", "status")
    tables = tagged(out, "table")
    assert ["duro", "runs", "TABLE", "\\N"] in tables and \
        ["duro", "status", "TABLE", "\\N"] in tables, tables
    assert [f[3] for f in tagged(out, "field")] == [
        "view", "interval", "effective_interval", "state", "last_refresh", "last_duration_s",
        "next_refresh", "rows", "depends_on", "last_error", "source", "reads_24h", "last_read",
        "readers"]


def test_join_and_window_function_are_answered_by_the_copy_with_a_notice(
        duro, wh, example_repo, gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    wait_until(lambda: published(wh, duro), TIMEOUT, "the runs published", gw.proc)
    wh.sql("create table public.owners (view text, owner text)")
    wh.sql("insert into public.owners values ('first.cities', 'ann'), ('second.child', 'bob')")

    notices = []
    with gw.connect() as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        rows = conn.execute("select o.owner, s.state from duro.status s "
                            "join public.owners o on o.view = s.view order by o.owner").fetchall()
        assert rows == [("ann", "fresh"), ("bob", "fresh")]
        assert len(notices) == 1 and "copies in the warehouse" in notices[0], notices
        assert "1s old" in notices[0], notices

        ranked = conn.execute("select view, row_number() over (order by view) from duro.status "
                              "order by view").fetchall()
        assert ranked == [(v, i + 1) for i, v in enumerate(ALL_VIEWS)]
        assert len(notices) == 2, notices

        # Through the extended protocol too (psycopg binds the parameter).
        rows = conn.execute("select count(*) over () from duro.runs r "
                            "join public.owners o on o.view = r.view where o.owner = %s",
                            ["ann"]).fetchall()
        assert rows and rows[0][0] >= 1
        assert len(notices) == 3, notices

        # What the virtual tables answer stays live, without a notice.
        assert conn.execute("select count(*) from duro.status").fetchone() == (len(ALL_VIEWS),)
        assert len(notices) == 3, notices


def test_publish_off_keeps_0A000_and_creates_nothing(duro, wh, example_repo, gateway_factory,
                                                     wait_until):
    gw = serve(gateway_factory, duro, wait_until, catalog={"publish": "off"})
    with gw.connect() as conn:
        with pytest.raises(errors.FeatureNotSupported):
            conn.execute("select s.view from duro.status s join first.cities c "
                         "on c.city = s.view")
        with pytest.raises(errors.FeatureNotSupported):
            conn.execute("select view, row_number() over () from duro.status")
    assert wh.sql("select count(*) from pg_namespace where nspname = 'duro'") == [(0,)]
    assert "publishing" not in gw.logs()


def test_service_account_without_create_gets_a_warning_and_duro_goes_on(
        duro, wh, pg, gateway_factory, wait_until):
    role = f"svc_{uuid.uuid4().hex[:8]}"
    pg.sql(f"create role {role} login")
    gw = gateway_factory(worker={"poll": "1h"}, user=role,
                         catalog={"publish": "on", "publish_every": "1s"})
    wait_until(lambda: "may not create schema" in gw.logs(), TIMEOUT, "the warning", gw.proc)
    log = gw.logs()
    assert f'CREATE SCHEMA "duro" AUTHORIZATION "{role}"' in log, log
    assert log.count("WARN publishing") == 1, log
    with gw.connect() as conn:
        assert conn.execute("select count(*) from duro.status").fetchone()[0] >= 0
        assert conn.execute("select 1").fetchone() == (1,)
    assert gw.proc.running()
    assert wh.sql("select count(*) from pg_namespace where nspname = 'duro'") == [(0,)]


def test_a_dropped_runs_table_is_created_again_and_republished(duro, wh, example_repo,
                                                               gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    wait_until(lambda: published(wh, duro), TIMEOUT, "the runs published", gw.proc)
    wh.sql("drop table duro.runs")
    wait_until(lambda: published(wh, duro), TIMEOUT, "the runs published again", gw.proc)
    assert "gone from the warehouse" in gw.logs()


def test_readers_may_select_and_other_roles_are_refused(duro, wh, pg, example_repo,
                                                        gateway_factory, wait_until):
    reader, other = (f"{p}_{uuid.uuid4().hex[:8]}" for p in ("reader", "other"))
    pg.sql(f"create role {reader} login")
    pg.sql(f"create role {other} login")
    gw = serve(gateway_factory, duro, wait_until, catalog={"readers": reader})
    wait_until(lambda: published(wh, duro), TIMEOUT, "the runs published", gw.proc)

    with wh.pg.connect(dbname=wh.dbname, user=reader) as conn:
        assert conn.execute("select count(*) from duro.runs").fetchone()[0] == \
            len(duro.catalog.runs())
        assert conn.execute("select count(*) from duro.status").fetchone() == (len(ALL_VIEWS),)
    with wh.pg.connect(dbname=wh.dbname, user=other) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("select count(*) from duro.runs")
    assert wh.sql("select tableowner from pg_tables where schemaname = 'duro'") == \
        [("postgres",), ("postgres",)]
