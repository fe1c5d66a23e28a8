"""Reads recorded by the gateway: duro.status's reads_24h, last_read and readers count the
statements that read a managed view through the gateway (not those made straight to the
warehouse), per role, and keep them across a restart.

Every test serves examples/views (without the Python processor) with `[worker] poll = 1h`, so
the scheduler builds every view once at start and then leaves them alone.
"""
from datetime import datetime, timedelta, timezone

from conftest import built

TIMEOUT = 60
ALL_VIEWS = ["finances.detailed", "finances.simplified", "first.cities", "first.people",
             "first.shops", "second.child"]


def serve(gateway_factory, duro, wait_until):
    gw = gateway_factory(worker={"poll": "1h"})
    wait_until(lambda: built(duro.catalog, ALL_VIEWS), TIMEOUT, "the first build", gw.proc)
    return gw


def reads_of(gw, view):
    with gw.connect() as conn:
        return conn.execute("select reads_24h, last_read, readers from duro.status"
                            " where view = %s", [view]).fetchone()


def test_reads_by_two_roles_are_counted_and_survive_a_restart(duro, wh, pg, example_repo,
                                                              gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    assert reads_of(gw, "first.cities") == (0, None, None)
    assert reads_of(gw, "first.shops") == (0, None, None)

    # Straight to the warehouse: not a read through the gateway.
    with wh.connect() as conn:
        conn.execute("select count(*) from first.cities").fetchone()

    start = datetime.now(timezone.utc)
    with gw.connect() as conn:
        for _ in range(3):  # 3 reads of first.cities, then one of both views
            conn.execute("select count(*) from first.cities").fetchone()
        conn.execute("select count(*) from first.shops, first.cities").fetchone()
    # sampledata creates jane NOLOGIN; the session cluster trusts every role.
    pg.sql("alter role jane login")
    try:
        with gw.connect(user="jane") as conn:
            conn.execute("select city from first.cities limit 1").fetchall()
            # jane sees only the views she may SELECT: first.cities.
            rows = dict(conn.execute("select view, readers from duro.status").fetchall())
        assert list(rows) == ["first.cities"], rows
    finally:
        pg.sql("alter role jane nologin")

    def counted():
        return reads_of(gw, "first.cities")[0] == 5 and reads_of(gw, "first.shops")[0] == 1

    wait_until(counted, TIMEOUT, "the reads in duro.status", gw.proc)
    n, last, readers = reads_of(gw, "first.cities")
    assert readers == "jane,postgres"
    assert start - timedelta(seconds=1) <= last <= datetime.now(timezone.utc), last
    assert reads_of(gw, "first.shops")[2] == "postgres"
    assert reads_of(gw, "first.people") == (0, None, None)

    # Reads not yet handed to the catalog go there when the gateway stops.
    with gw.connect() as conn:
        conn.execute("select count(*) from first.people").fetchone()
    assert gw.proc.stop() == 0
    gw = serve(gateway_factory, duro, wait_until)
    assert reads_of(gw, "first.cities") == (5, last, "jane,postgres")
    assert reads_of(gw, "first.shops")[0::2] == (1, "postgres")
    assert reads_of(gw, "first.people")[0::2] == (1, "postgres")
