"""Views nobody reads (the view key idle_after), against a real PostgreSQL: a view that nothing
read through the gateway for its idle_after gets no scheduled refresh and shows `idle` in
duro.status, and so does a dependency only it reads; the next read through the gateway refreshes
it first (trigger `read`, with the NOTICE of a stale read, even with stale_read = serve) and it is
fresh again; the web UI's Refresh and CALL duro_refresh still refresh it; a view without the key keeps its schedule.

The repository: x.report (1m, idle_after = 3s, stale_read = serve) reads x.base and x.shared,
two views without an interval; x.busy (1m, no idle_after) reads x.shared. Views are made stale by
ageing their last build in the catalog, and quiet by moving when they entered the catalog back,
never by waiting for either.
"""
import http.client

import pytest

from conftest import built

TIMEOUT = 60
VIEWS = ["x.base", "x.busy", "x.report", "x.shared"]


@pytest.fixture
def repo(tmp_path, wh):
    wh.sql("create schema x")
    wh.sql("create table x.src (n int)")
    wh.sql("insert into x.src values (1)")
    views = tmp_path / "views"
    views.mkdir()
    (views / "x.base.sql").write_text("select n from x.src\n")
    (views / "x.shared.sql").write_text("select n from x.src\n")
    (views / "x.report - 1m.sql").write_text(
        "select n, 'base' as via from x.base union all select n, 'shared' from x.shared\n")
    (views / "x.report.conf").write_text("idle_after = 3s\nstale_read = serve\n")
    (views / "x.busy - 1m.sql").write_text("select n from x.shared\n")
    return views


def serve(gateway_factory, duro, wait_until, **sections):
    gw = gateway_factory(worker={"poll": "1s"}, **sections)
    wait_until(lambda: built(duro.catalog, VIEWS), TIMEOUT, "the first build", gw.proc)
    return gw


def status(gw):
    with gw.connect() as conn:
        rows = conn.execute("select view, state, next_refresh from duro.status"
                            " order by view").fetchall()
    return {v: (state, nxt) for v, state, nxt in rows}


def runs(cat, view):
    return [(r["trigger"], r["outcome"]) for r in cat.runs(view)]


def make_idle(duro, gw, wait_until):
    """Nothing has read any view for an hour and every build is two hours old: the schedule
    refreshes x.busy (and x.shared for it), and leaves x.report and x.base alone."""
    cat = duro.catalog
    cat.execute("update views set first_seen_us = first_seen_us - 3600000000")
    before = {v: runs(cat, v) for v in VIEWS}
    # The idle views first: the schedule's refresh of x.busy then proves that a poll saw them.
    cat.age("x.report", "x.base", "x.shared", "x.busy")
    wait_until(lambda: runs(cat, "x.busy")[len(before["x.busy"]):] == [("schedule", "ok")],
               TIMEOUT, "the schedule's refresh of x.busy", gw.proc)
    assert runs(cat, "x.shared")[-1][1] == "ok"  # kept fresh for x.busy, which reads it
    # Another poll that refreshed x.busy: still nothing for the idle views.
    cat.age("x.busy")
    wait_until(lambda: runs(cat, "x.busy")[len(before["x.busy"]):] ==
               [("schedule", "ok")] * 2, TIMEOUT, "a second refresh of x.busy", gw.proc)
    assert runs(cat, "x.report") == before["x.report"]
    assert runs(cat, "x.base") == before["x.base"]
    st = status(gw)
    assert st["x.report"] == ("idle", None), st
    assert st["x.base"] == ("idle", None), st  # read only by the idle x.report
    assert st["x.busy"][0] == "fresh" and st["x.busy"][1] is not None, st
    assert st["x.shared"][0] == "fresh", st
    return before


def test_an_idle_view_is_left_alone_and_the_next_read_refreshes_it_first(
        duro, wh, repo, gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    cat = duro.catalog
    before = make_idle(duro, gw, wait_until)

    wh.sql("insert into x.src values (2)")
    notices = []
    with gw.connect() as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        rows = conn.execute("select n, via from x.report order by via, n").fetchall()
    # Built first, with its stale dependency x.base, whatever stale_read says; x.shared, kept
    # fresh for x.busy before the insert, is not stale and not rebuilt.
    assert rows == [(1, "base"), (2, "base"), (1, "shared")]
    assert "duro: x.report is stale; waiting for its refresh" in notices, notices
    assert runs(cat, "x.report")[len(before["x.report"]):] == [("read", "ok")]
    assert runs(cat, "x.base")[len(before["x.base"]):] == [("dependency", "ok")]
    st = status(gw)
    assert st["x.report"][0] == "fresh" and st["x.report"][1] is not None, st
    assert st["x.base"][0] == "fresh", st
    # The read is recorded, and a second read reads the fresh table at once.
    wait_until(lambda: cat.view("x.report") and cat.query(
        "select 1 from view_last_read where \"view\" = 'x.report'"), TIMEOUT,
        "the read in the catalog", gw.proc)
    with gw.connect() as conn:
        assert len(conn.execute("select n from x.report").fetchall()) == 3
    assert runs(cat, "x.report")[len(before["x.report"]):] == [("read", "ok")]


def test_the_web_ui_and_call_duro_refresh_refresh_an_idle_view(duro, wh, repo, gateway_factory,
                                                               wait_until):
    gw = serve(gateway_factory, duro, wait_until, web=True)
    cat = duro.catalog
    before = make_idle(duro, gw, wait_until)
    conn = http.client.HTTPConnection("127.0.0.1", duro.web_port, timeout=15)
    conn.request("POST", "/api/views/x.report/refresh")
    answer = conn.getresponse()
    assert answer.status == 202, answer.read()
    conn.close()
    wait_until(lambda: runs(cat, "x.report")[len(before["x.report"]):] == [("web", "ok")],
               TIMEOUT, "the web UI's refresh of x.report", gw.proc)
    assert status(gw)["x.report"][0] == "fresh"

    # Idle again (still nothing reads it): CALL duro_refresh refreshes it too.
    cat.age("x.report", "x.base")
    wait_until(lambda: status(gw)["x.report"] == ("idle", None), TIMEOUT, "x.report idle again",
               gw.proc)
    with gw.connect() as c:
        view, refreshed, _ = c.execute("call duro_refresh('x.report')").fetchone()
    assert (view, refreshed) == ("x.report", "x.base,x.report")
    assert runs(cat, "x.report")[len(before["x.report"]):] == [("web", "ok"), ("call", "ok")]
    assert status(gw)["x.report"][0] == "fresh"


def test_a_view_without_idle_after_keeps_its_hash_and_schedule(duro, wh, repo, gateway_factory,
                                                                wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    cat = duro.catalog
    hashes = {v: cat.view(v)["hash"] for v in VIEWS}
    # Setting idle_after on a view changes its definition; removing it gives the old hash back.
    (repo / "x.busy.conf").write_text("idle_after = 1h\n")
    wait_until(lambda: cat.view("x.busy")["hash"] != hashes["x.busy"], TIMEOUT,
               "the re-scan", gw.proc)
    (repo / "x.busy.conf").unlink()
    wait_until(lambda: cat.view("x.busy")["hash"] == hashes["x.busy"], TIMEOUT,
               "the re-scan", gw.proc)
    assert {v: cat.view(v)["hash"] for v in VIEWS} == hashes
