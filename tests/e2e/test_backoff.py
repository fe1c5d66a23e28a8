"""A failing view through the gateway, against a real PostgreSQL: one backoff per view shared by
the poll, reads and dependency builds; reads during it run at once on the current table with a
WARNING naming the view that failed and its next try; a view never built gets 55000; CALL still
rebuilds; a change of the view's files starts the backoff over; duro.status tells the truth.

Every test serves a small repository of its own with `[worker] poll = 1h` (so a failure backs
off for an hour) and re-scans every second. Views are made stale by ageing their last build in
the catalog, never by waiting; builds are made slow with pg_sleep so that "prompt" has a margin.
"""
import re
import threading
import time
from datetime import datetime, timezone

import pytest
from psycopg import errors

from conftest import built, write_atomic

TIMEOUT = 60
SLOW = 6  # seconds a failing build of x.slow takes
PROMPT = 3  # a read that does not wait for a build returns well within this
NEXT_TRY = re.compile(r"next try at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\+00")




def last_run_id(catalog):
    runs = catalog.runs()
    return runs[-1]["id"] if runs else 0


def runs_after(catalog, view, mark):
    return [r for r in catalog.runs(view) if r["id"] > mark]


def warnings_of(conn):
    got = []
    conn.add_notice_handler(
        lambda d: got.append(d.message_primary or "") if d.severity == "WARNING" else None)
    return got


def next_try(message):
    m = NEXT_TRY.search(message)
    assert m, f"no next try in {message!r}"
    return datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def timed(fn):
    t0 = time.monotonic()
    result = fn()
    return result, time.monotonic() - t0


@pytest.fixture
def repo(tmp_path, wh):
    """x.slow reads x.src (1/n: n = 0 makes it fail, after `delay` seconds); x.reader reads
    x.slow; x.other stands alone."""
    wh.sql("create schema x")
    wh.sql("create table x.src (n int, delay float8)")
    wh.sql("insert into x.src values (1, 0)")
    views = tmp_path / "views"
    views.mkdir()
    (views / "x.slow - 1h.sql").write_text(
        "select s.n, 1 / s.n as inv from x.src s cross join lateral pg_sleep(s.delay)\n")
    (views / "x.reader - 1h.sql").write_text("select n from x.slow\n")
    (views / "x.other - 1h.sql").write_text("select 42 as answer\n")
    return views


def serve(gateway_factory, duro, wait_until, views, **sections):
    gw = gateway_factory(worker={"poll": "1h"}, **sections)
    wait_until(lambda: built(duro.catalog, views), TIMEOUT, f"the first build of {views}",
               gw.proc)
    return gw


def test_reads_of_a_failing_view_do_not_rebuild_it(duro, wh, repo, gateway_factory,
                                                   wait_until):
    gw = serve(gateway_factory, duro, wait_until, ["x.slow", "x.reader", "x.other"])
    cat = duro.catalog
    wh.sql(f"update x.src set n = 0, delay = {SLOW}")
    mark = last_run_id(cat)
    cat.age("x.slow", "x.reader")

    # 20 sessions read the stale view at once: at most one build, and every read gets the
    # current table with a WARNING naming the view.
    conns = [gw.connect() for _ in range(20)]
    try:
        results, warned, errors_seen = [None] * len(conns), [None] * len(conns), []
        start = threading.Barrier(len(conns))

        def read(i):
            try:
                got = warnings_of(conns[i])
                start.wait(TIMEOUT)
                results[i] = conns[i].execute("select n from x.slow").fetchall()
                warned[i] = list(got)
            except Exception as e:  # reported below
                errors_seen.append(e)

        threads = [threading.Thread(target=read, args=(i,)) for i in range(len(conns))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT + SLOW)
        assert not errors_seen, errors_seen
        assert results == [[(1,)]] * len(conns)
        for w in warned:
            assert any("x.slow" in m and "failed" in m and "division by zero" in m for m in w), w
    finally:
        for c in conns:
            c.close()
    wait_until(lambda: all(r["outcome"] != "running" for r in cat.runs()), TIMEOUT,
               "the failed build to end", gw.proc)
    slow_runs = runs_after(cat, "x.slow", mark)
    assert [r["outcome"] for r in slow_runs] == ["failed"], slow_runs

    with gw.connect() as conn:
        warned = warnings_of(conn)
        # Again, and again: at once, on the current table, naming the view and its next try.
        for _ in range(3):
            rows, took = timed(lambda: conn.execute("select n from x.slow").fetchall())
            assert rows == [(1,)]
            assert took < PROMPT, f"a read during the backoff took {took:.1f}s"
        assert len(warned) == 3, warned
        message = warned[-1]
        assert message.startswith("duro: the last refresh of x.slow failed"), message
        assert "division by zero" in message and "reading its current table" in message
        when = next_try(message)

        # A view whose dependency failed names the dependency, not itself.
        rows, took = timed(lambda: conn.execute("select n from x.reader").fetchall())
        assert rows == [(1,)] and took < PROMPT
        assert "the last refresh of x.slow, which x.reader reads, failed" in warned[-1], warned
        assert next_try(warned[-1]) == when

        # duro.status: failed, with the real next try, an hour (the poll) after the failure.
        state, next_refresh, last_error = conn.execute(
            "select state, next_refresh, last_error from duro.status where view = 'x.slow'"
        ).fetchone()
        assert state == "failed" and "division by zero" in last_error
        assert abs((next_refresh - when).total_seconds()) < 1, (next_refresh, when)
        failed_at = datetime.fromtimestamp(slow_runs[0]["finished_us"] / 1e6, timezone.utc)
        assert abs((next_refresh - failed_at).total_seconds() - 3600) < 1
        reader_next = conn.execute("select next_refresh from duro.status where view = 'x.reader'"
                                   ).fetchone()[0]
        assert abs((reader_next - next_refresh).total_seconds()) < 0.001
        assert conn.execute("select state from duro.status where view = 'x.other'"
                            ).fetchone() == ("fresh",)

    # Nothing was rebuilt by those reads, nor by the polls meanwhile.
    assert [r["outcome"] for r in runs_after(cat, "x.slow", mark)] == ["failed"]

    # A restart remembers the backoff.
    gw.proc.stop()
    gw2 = gateway_factory(worker={"poll": "1h"})
    with gw2.connect() as conn:
        warned = warnings_of(conn)
        rows, took = timed(lambda: conn.execute("select n from x.slow").fetchall())
        assert rows == [(1,)] and took < PROMPT
        assert next_try(warned[-1]) == when, warned
    assert [r["outcome"] for r in runs_after(cat, "x.slow", mark)] == ["failed"]

    # CALL is not held back: it rebuilds at once (and fails: P0001); once it succeeds the
    # backoff is over and reads are quiet again.
    wh.sql("update x.src set delay = 0")
    with gw2.connect() as conn:
        with pytest.raises(errors.RaiseException) as failed:
            conn.execute("call duro_refresh('x.slow')")
        assert failed.value.sqlstate == "P0001" and "division by zero" in str(failed.value)
        wh.sql("update x.src set n = 2")
        conn.execute("call duro_refresh('x.slow')")
        warned = warnings_of(conn)
        assert conn.execute("select n from x.slow").fetchall() == [(2,)]
        assert conn.execute("select n from x.reader").fetchall() == [(2,)]  # waited: rebuilt
        assert warned == []
        assert conn.execute("select state from duro.status where view = 'x.slow'"
                            ).fetchone() == ("fresh",)
    triggers = [(r["trigger"], r["outcome"]) for r in runs_after(cat, "x.slow", mark)]
    # The first failure was the poll's or a read's, whichever came first.
    assert triggers[0] in [("schedule", "failed"), ("read", "failed")], triggers
    assert triggers[1:] == [("call", "failed"), ("call", "ok")], triggers


def test_a_never_built_failing_view_is_an_error_at_once(duro, wh, repo, gateway_factory,
                                                       wait_until):
    (repo / "x.never - 1h.sql").write_text("select 1 / 0 as n\n")
    gw = serve(gateway_factory, duro, wait_until, ["x.slow", "x.reader", "x.other"])
    cat = duro.catalog
    wait_until(lambda: [r for r in cat.runs("x.never") if r["outcome"] == "failed"], TIMEOUT,
               "the first build of x.never to fail", gw.proc)
    mark = last_run_id(cat)

    conns = [gw.connect() for _ in range(20)]
    try:
        outcomes = [None] * len(conns)
        start = threading.Barrier(len(conns))

        def read(i):
            start.wait(TIMEOUT)
            t0 = time.monotonic()
            try:
                conns[i].execute("select n from x.never").fetchall()
                outcomes[i] = ("no error", time.monotonic() - t0)
            except errors.Error as e:
                outcomes[i] = (e, time.monotonic() - t0)

        threads = [threading.Thread(target=read, args=(i,)) for i in range(len(conns))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        for error, took in outcomes:
            assert isinstance(error, errors.ObjectNotInPrerequisiteState), error
            assert error.sqlstate == "55000"
            message = str(error)
            assert "x.never has never been built" in message, message
            assert "division by zero" in message
            next_try(message)
            assert took < PROMPT, f"the error took {took:.1f}s"
        # The session goes on.
        assert conns[0].execute("select n from x.slow").fetchall() == [(1,)]
        # Extended protocol: the same error.
        with pytest.raises(errors.ObjectNotInPrerequisiteState):
            conns[1].execute("select n from x.never where n = %s", [1])
        assert conns[1].execute("select %s::int", [7]).fetchone() == (7,)
    finally:
        for c in conns:
            c.close()
    assert runs_after(cat, "x.never", mark) == []


def test_a_change_of_the_files_resets_the_backoff(duro, wh, repo, gateway_factory, wait_until):
    # x.other gets a test that fails: it backs off for an hour.
    gw = serve(gateway_factory, duro, wait_until, ["x.slow", "x.reader", "x.other"])
    cat = duro.catalog
    built_hash = cat.view("x.other")["built_hash"]
    mark = last_run_id(cat)
    test_file = repo / "x.other_test.sql"
    write_atomic(test_file, "select answer = 41 as answer_is_41 from x.other\n")
    wait_until(lambda: [r for r in runs_after(cat, "x.other", mark) if r["outcome"] != "running"],
               TIMEOUT, "the build with the failing test", gw.proc)
    assert [r["outcome"] for r in runs_after(cat, "x.other", mark)] == ["tests_failed"]
    with gw.connect() as conn:
        state, error, next_refresh = conn.execute(
            "select state, last_error, next_refresh from duro.status where view = 'x.other'"
        ).fetchone()
        assert state == "failed" and "answer_is_41" in error
        assert (next_refresh - datetime.now(timezone.utc)).total_seconds() > 3000

        # The test is removed: the live table matches the definition again, so the view is
        # fresh, and no error about a test that no longer exists is shown.
        test_file.unlink()
        wait_until(lambda: cat.view("x.other")["hash"] == built_hash, TIMEOUT,
                   "the re-scan", gw.proc)
        state, error, next_refresh, last_refresh = conn.execute(
            "select state, last_error, next_refresh, last_refresh from duro.status "
            "where view = 'x.other'").fetchone()
        assert (state, error) == ("fresh", None)
        assert abs((next_refresh - last_refresh).total_seconds() - 3600) < 1

    # A fix of the failing x.slow is rebuilt on the next poll, an hour-long backoff or not.
    wh.sql("update x.src set n = 0")
    cat.age("x.slow")
    mark = last_run_id(cat)
    wait_until(lambda: [r for r in runs_after(cat, "x.slow", mark) if r["outcome"] == "failed"],
               TIMEOUT, "x.slow to fail", gw.proc)
    time.sleep(2)  # two polls: not retried
    assert len(runs_after(cat, "x.slow", mark)) == 1
    write_atomic(repo / "x.slow - 1h.sql", "select s.n, 0 as inv from x.src s\n")
    run = wait_until(lambda: [r for r in runs_after(cat, "x.slow", mark) if r["outcome"] == "ok"],
                     TIMEOUT, "x.slow to be rebuilt after its fix", gw.proc)
    assert run[0]["trigger"] == "schedule"
    with gw.connect() as conn:
        assert conn.execute("select state, last_error from duro.status where view = 'x.slow'"
                            ).fetchone() == ("fresh", None)
        assert conn.execute("select n from x.slow").fetchall() == [(0,)]


def test_a_dependency_cycle_stops_only_its_views(duro, wh, repo, gateway_factory, wait_until):
    # c.a and c.b read each other; c.reader reads c.a; x.* know nothing of them.
    (repo / "c.a - 1h.sql").write_text("select n from c.b\n")
    (repo / "c.b - 1h.sql").write_text("select n from c.a\n")
    (repo / "c.reader - 1h.sql").write_text("select n from c.a\n")
    cycle = "dependency cycle: c.a -> c.b -> c.a"
    gw = serve(gateway_factory, duro, wait_until, ["x.slow", "x.reader", "x.other"])
    cat = duro.catalog
    with gw.connect() as conn:
        def states():
            return dict((v, (s, e)) for v, s, e in conn.execute(
                "select view, state, last_error from duro.status order by view").fetchall())

        wait_until(lambda: states().get("c.reader", (None,))[0] == "failed", TIMEOUT,
                   "the views of the cycle to be marked", gw.proc)
        got = states()
        assert got["c.a"] == ("failed", cycle)
        assert got["c.b"] == ("failed", cycle)
        assert got["c.reader"] == ("failed", cycle)
        assert got["x.other"] == ("fresh", None)
        assert got["x.reader"] == ("fresh", None)
        assert "dependency cycle" in gw.logs()

        # Marked once, never built, however many polls go by; a read is an error at once.
        time.sleep(2)
        assert [r["error"] for r in cat.runs("c.a")] == [cycle]
        assert not wh.exists("c.a")
        t0 = time.monotonic()
        with pytest.raises(errors.ObjectNotInPrerequisiteState) as refused:
            conn.execute("select n from c.reader")
        assert time.monotonic() - t0 < PROMPT
        assert "c.reader has never been built" in str(refused.value)
        assert cycle in str(refused.value)
        with pytest.raises(errors.RaiseException) as failed:
            conn.execute("call duro_refresh('c.a')")
        assert cycle in str(failed.value)

        # The cycle is broken: the views are built on the next poll.
        wh.sql("create schema c")
        write_atomic(repo / "c.b - 1h.sql", "select answer as n from x.other\n")
        wait_until(lambda: built(cat, ["c.a", "c.b", "c.reader"]), TIMEOUT,
                   "the views of the former cycle to be built", gw.proc)
        assert conn.execute("select n from c.reader").fetchall() == [(42,)]
        assert states()["c.a"] == ("fresh", None)
