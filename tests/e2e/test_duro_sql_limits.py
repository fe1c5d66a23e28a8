"""Queries on duro.status and duro.runs through the gateway as a greedy or curious client would send
them: a runaway cross join ends with 57014 at [gateway] duro_query_timeout while other clients log
in and are answered; a CancelRequest stops it; a result over [gateway] duro_query_max_bytes gets
54000; each role sees only the views it may SELECT in the warehouse (and only their errors); and
timestamps follow the session's TimeZone, with to_char, left and = ANY(ARRAY[...]).

Every test serves examples/views with `[worker] poll = 1h` (see test_duro_sql.py).
"""
import threading
import time
from datetime import timedelta

import pytest
from psycopg import errors

from test_duro_sql import ALL_VIEWS, run_in_thread, serve

CROSS_JOIN = ("select count(*) from duro.runs a, duro.runs b, duro.runs c, duro.runs d, "
              "duro.runs e, duro.runs f, duro.runs g, duro.runs h "
              "where a.id + b.id + c.id + d.id + e.id + f.id + g.id + h.id > 0")


def add_runs(catalog, n, view="first.cities"):
    """n more finished runs of view in the catalog, so that joins of duro.runs grow."""
    base = int(time.time() * 1_000_000) - 3600 * 1_000_000
    for i in range(n):
        catalog.execute('insert into runs ("view", "trigger", started_us, finished_us, outcome, '
                        '"rows") values (?, \'schedule\', ?, ?, \'ok\', 1)',
                        (view, base + i * 1000, base + i * 1000 + 500))


def test_a_runaway_query_ends_with_57014_while_other_clients_are_served(
        duro, wh, example_repo, gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until, gateway={"duro_query_timeout": "3s"})
    add_runs(duro.catalog, 40)

    with gw.connect() as greedy:
        start = time.monotonic()
        thread, outcome = run_in_thread(lambda: greedy.execute(CROSS_JOIN).fetchone())
        time.sleep(0.5)
        # Meanwhile another client logs in, and is answered by the warehouse and by Duro.
        t0 = time.monotonic()
        with gw.connect() as other:
            assert other.execute("select 1").fetchone() == (1,)
            views = [r[0] for r in other.execute("select view from duro.status order by view")]
        assert time.monotonic() - t0 < 5
        assert views == ALL_VIEWS
        thread.join(30)
        elapsed = time.monotonic() - start
        assert isinstance(outcome.get("error"), errors.QueryCanceled), outcome
        assert outcome["error"].sqlstate == "57014"
        assert "statement timeout" in str(outcome["error"])
        assert "duro_query_timeout" in str(outcome["error"])
        assert 2.5 < elapsed < 8
        # The session goes on.
        assert greedy.execute("select count(*) from duro.status").fetchone() == (len(ALL_VIEWS),)

        # The extended protocol (a parameter) is bound the same way.
        with pytest.raises(errors.QueryCanceled) as e:
            greedy.execute(CROSS_JOIN + " and a.view = %s", ["first.cities"])
        assert e.value.sqlstate == "57014"
        assert greedy.execute("select count(*) from duro.runs where view = %s",
                              ["first.cities"]).fetchone()[0] >= 40


def test_a_cancel_request_stops_a_query_on_duro_runs(duro, wh, example_repo, gateway_factory,
                                                      wait_until):
    gw = serve(gateway_factory, duro, wait_until, gateway={"duro_query_timeout": "60s"})
    add_runs(duro.catalog, 40)

    with gw.connect() as conn:
        thread, outcome = run_in_thread(lambda: conn.execute(CROSS_JOIN).fetchone())
        time.sleep(0.5)
        start = time.monotonic()
        threading.Thread(target=conn.cancel, daemon=True).start()
        thread.join(10)
        assert not thread.is_alive()
        assert time.monotonic() - start < 5
        assert isinstance(outcome.get("error"), errors.QueryCanceled), outcome
        assert "user request" in str(outcome["error"])
        assert conn.execute("select count(*) from duro.status").fetchone() == (len(ALL_VIEWS),)


def test_a_result_over_the_bound_gets_54000(duro, wh, example_repo, gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until, gateway={"duro_query_max_bytes": "16kB"})
    add_runs(duro.catalog, 40)

    with gw.connect() as conn:
        with pytest.raises(errors.ProgramLimitExceeded) as e:
            conn.execute("select * from duro.runs a, duro.runs b").fetchall()
        assert e.value.sqlstate == "54000"
        assert "duro_query_max_bytes" in str(e.value)
        assert conn.execute("select count(*) from duro.runs a, duro.runs b").fetchone()[0] > 1600


def _role(pg, name):
    pg.sql(f"do $$ begin if not exists (select 1 from pg_roles where rolname = '{name}') then "
           f"create role {name} login; end if; end $$")


def test_each_role_sees_the_views_it_may_select_and_only_their_errors(
        duro, wh, pg, example_repo, gateway_factory, wait_until):
    # A view that never builds, whose error carries data from the warehouse.
    (example_repo / "first" / "secret - 1h.sql").write_text(
        "select 'TOPSECRET-hunter2'::int as x\n")
    for role in ("duro_t_none", "duro_t_one", "duro_t_admin"):
        _role(pg, role)
    gw = serve(gateway_factory, duro, wait_until, worker={"admins": "duro_t_admin"})
    wait_until(lambda: any(r["view"] == "first.secret" and r["outcome"] == "failed"
                           for r in duro.catalog.runs()), 60, "the failed build of first.secret")
    wh.sql("grant usage on schema first to duro_t_one")
    wh.sql("grant select on first.cities to duro_t_one")

    def seen(user):
        with gw.connect(**({"user": user} if user else {})) as conn:
            status = conn.execute("select view, last_error from duro.status order by view")
            status = status.fetchall()
            runs = conn.execute("select distinct view from duro.runs order by view").fetchall()
            errors_seen = conn.execute(
                "select count(*) from duro.runs where error like '%TOPSECRET%'").fetchone()[0]
            count = conn.execute("select count(*) from duro.status").fetchone()[0]
            # The newest runs the role may see: read newest first from the catalog, the same as
            # the head of every run it may see.
            every = conn.execute("select id, view from duro.runs order by id desc").fetchall()
            for n in (1, 3):
                newest = conn.execute("select id, view from duro.runs order by id desc limit %s",
                                      (n,)).fetchall()
                assert newest == every[:n], (user, n, newest, every)
        return [v for v, _ in status], [r[0] for r in runs], errors_seen, count, status

    views, runs, secret, count, _ = seen("duro_t_none")
    assert (views, runs, secret, count) == ([], [], 0, 0)

    views, runs, secret, count, _ = seen("duro_t_one")
    assert (views, runs, secret, count) == (["first.cities"], ["first.cities"], 0, 1)

    everything = sorted(ALL_VIEWS + ["first.secret"])
    for user in ("duro_t_admin", None):  # a [worker] admin, and Duro's own warehouse user
        views, runs, secret, count, status = seen(user)
        assert views == everything and runs == everything and count == len(everything)
        assert secret >= 1
        assert "TOPSECRET-hunter2" in dict(status)["first.secret"]


def test_timestamps_follow_the_session_time_zone(duro, wh, example_repo, gateway_factory,
                                                  wait_until):
    gw = serve(gateway_factory, duro, wait_until)

    with gw.connect(options="-c TimeZone=Asia/Kolkata") as conn:
        last, text, offset = conn.execute(
            "select last_refresh, last_refresh::text, to_char(last_refresh, 'OF') "
            "from duro.status where view = 'first.cities'").fetchone()
        assert last.utcoffset() == timedelta(hours=5, minutes=30)
        assert text.endswith("+05:30") and offset == "+05:30"
        # The warehouse prints the same instant the same way.
        assert conn.execute("select %s::timestamptz::text", [text]).fetchone()[0] == text

        conn.execute("set TimeZone = 'America/New_York'")
        text = conn.execute("select last_refresh::text from duro.status "
                            "where view = 'first.cities'").fetchone()[0]
        assert text[-3:] in ("-05", "-04")
        assert conn.execute("select %s::timestamptz::text", [text]).fetchone()[0] == text

        day = conn.execute("select to_char(last_refresh, 'YYYY-MM-DD') from duro.status "
                           "where view = 'first.cities'").fetchone()[0]
        assert day == conn.execute("select to_char(%s::timestamptz, 'YYYY-MM-DD')",
                                   [text]).fetchone()[0]
        rows = conn.execute("select left(view, 5), right(view, 6) from duro.status "
                            "where view = any(array['first.cities', 'second.child']) "
                            "order by view").fetchall()
        assert rows == [("first", "cities"), ("secon", ".child")]
