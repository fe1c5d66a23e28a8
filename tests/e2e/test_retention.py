"""Retention of the run history ([catalog] keep_runs) with `duro serve`: a catalog holding runs
older than keep_runs loses them (and their steps) while the daemon runs, except what each view's
status needs (its newest run, its last good run, its last failed run), and duro.runs through the
gateway shows exactly the runs kept. Also: a statement reading only duro.status still answers
while the catalog holds many runs.
"""
import time

from conftest import Gateway

TIMEOUT = 60
DAY_US = 86400 * 1000000




def test_old_runs_pruned_while_serving_each_views_status_kept(gateway_factory, duro,
                                                              wait_until):
    settings = {"catalog": {"keep_runs": "30d"}, "worker": {"poll": "1h"}}
    gw = gateway_factory(**settings)
    wait_until(lambda: duro.catalog.query("SELECT count(*) AS n FROM runs") == [{"n": 0}],
               TIMEOUT, "the catalog", gw.proc)
    gw.proc.stop()

    now = int(time.time() * 1000000)
    old = now - 100 * DAY_US
    rows = [("a.x", old + i * 1000000, "ok") for i in range(3000)]
    rows.insert(1500, ("a.x", old + 1500 * 1000000 + 1, "failed"))
    rows += [("b.y", old, "ok"), ("b.y", now - DAY_US, "ok"), ("c.z", old, "failed"),
             ("c.z", old + 1, "cancelled")]
    with duro.catalog.transaction() as tx:
        ids = []
        for view, started, outcome in rows:
            (run,) = tx.execute(
                "INSERT INTO runs (\"view\", \"trigger\", started_us, finished_us, outcome,"
                " \"rows\", error) VALUES (?, 'schedule', ?, ?, ?, 1, ?) RETURNING id",
                (view, started, started + 1000000, outcome, None if outcome == "ok" else "boom"))
            ids.append(run["id"])
            tx.execute("INSERT INTO run_steps (run_id, step, started_us, finished_us)"
                       " VALUES (?, 'create', ?, ?)", (run["id"], started, started + 10))
    by = {}
    for (view, _, outcome), rid in zip(rows, ids):
        by.setdefault((view, outcome), []).append(rid)
    kept = {by[("a.x", "ok")][-1], by[("a.x", "failed")][-1], by[("b.y", "ok")][-1],
            by[("c.z", "failed")][-1], by[("c.z", "cancelled")][-1]}

    proc = duro.start()
    proc.wait_listening(duro.gateway_port)
    gw = Gateway(duro, proc, gw.dbname)
    wait_until(lambda: duro.catalog.query("SELECT count(*) AS n FROM runs") == [{"n": len(kept)}],
               TIMEOUT, "the old runs pruned", proc)
    steps = duro.catalog.query("SELECT run_id FROM run_steps")
    assert {s["run_id"] for s in steps} == kept
    assert "older than [catalog] keep_runs deleted" in proc.logs()

    with gw.connect() as c:
        got = c.execute("select id, view, outcome from duro.runs order by id").fetchall()
        assert {r[0] for r in got} == kept
        assert ("c.z", "failed") in {(r[1], r[2]) for r in got}
        assert c.execute("select count(*) from duro.status").fetchone() == (0,)
        # One view's runs, asked for with a parameter or a literal, and with more conditions.
        want_a = sorted([by[("a.x", "ok")][-1], by[("a.x", "failed")][-1]], reverse=True)
        got = c.execute("select id from duro.runs where view = %s order by id desc limit 20",
                        ("a.x",)).fetchall()
        assert [r[0] for r in got] == want_a
        got = c.execute("select id from duro.runs where outcome = 'failed' and view = 'c.z'")
        assert [r[0] for r in got.fetchall()] == [by[("c.z", "failed")][-1]]
        got = c.execute("select count(*) from duro.runs where view = 'a.x' or view = 'b.y'")
        assert got.fetchone() == (3,)
        assert c.execute("select count(*) from duro.runs where view = %s",
                         (None,)).fetchone() == (0,)
