"""Several Duro processes on one warehouse, each with its own catalog: the build guard in the
warehouse (an advisory lock on PostgreSQL) lets one build a view at a time. Two `duro serve`
started together build big.t one after the other, never destroying each other's build; a daemon
started while another builds leaves the other's temp table alone; `duro refresh` while a daemon
builds the view refuses, naming the daemon's session, and records no failure; so does
CALL duro_refresh.
"""
import threading

import psycopg


TIMEOUT = 60


def slow_view(tmp_path, wh, in_tests=False):
    """big.t sleeps as long as big.cfg says: in its query, or (in_tests) in its test, when its
    temp table is there for every session to see."""
    wh.sql("create schema big")
    wh.sql("create table big.cfg (secs float8)")
    wh.sql("insert into big.cfg values (0)")
    views = tmp_path / "views"
    views.mkdir()
    sleep = "big.cfg c cross join lateral pg_sleep(c.secs)"
    (views / "big.t - 1h.sql").write_text(
        f"select 1 as n from {'big.cfg' if in_tests else sleep}\n")
    if in_tests:
        (views / "big.t_test.sql").write_text(f"select true as slept from big.t, {sleep}\n")


def outcomes(cat):
    return [r["outcome"] for r in cat.runs("big.t")]


def temp_exists(wh):
    return wh.exists("big.t_duro_temp")


class Reader:
    """Reads big.t from the warehouse over and over on a thread; keeps the errors."""

    def __init__(self, wh):
        self.errors, self.reads = [], 0
        self.stop = threading.Event()
        self.conn = wh.connect(autocommit=True)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.wait(0.05):
            try:
                assert self.conn.execute("select n from big.t").fetchall() == [(1,)]
                self.reads += 1
            except (psycopg.Error, AssertionError) as e:
                self.errors.append(repr(e))

    def close(self):
        self.stop.set()
        self.thread.join(TIMEOUT)
        self.conn.close()


def test_two_daemons_with_their_own_catalogs_build_one_at_a_time(duro, wh, tmp_path,
                                                                  wait_until):
    slow_view(tmp_path, wh)
    duro.write_conf(dbname=wh.dbname, worker={"poll": "1s"})
    duro.refresh("big.t", check=0)  # the live table, in a third catalog
    wh.sql("update big.cfg set secs = 3")
    conf_a, cat_a, port_a = duro.another_conf("a")
    conf_b, cat_b, port_b = duro.another_conf("b")
    reader = Reader(wh)
    try:
        a = duro.start(conf=conf_a)
        b = duro.start(conf=conf_b)
        a.wait_listening(port_a, timeout=TIMEOUT)
        b.wait_listening(port_b, timeout=TIMEOUT)
        # Each catalog has big.t never built: both daemons want it at once.
        wait_until(lambda: "ok" in outcomes(cat_a) and "ok" in outcomes(cat_b), 4 * TIMEOUT,
                   "both daemons to build big.t", a)
    finally:
        reader.close()
    assert outcomes(cat_a) == ["ok"] and outcomes(cat_b) == ["ok"], (a.logs(), b.logs())
    logs = a.logs() + b.logs()
    assert "big.t is being built by another Duro" in logs, logs
    assert "refresh big.t skipped" in logs, logs
    assert reader.reads > 0 and reader.errors == [], reader.errors
    assert not temp_exists(wh)
    assert wh.rows("big.t") == [(1,)]


def test_refresh_and_a_late_daemon_leave_a_build_in_progress_alone(duro, wh, tmp_path,
                                                                     wait_until):
    slow_view(tmp_path, wh, in_tests=True)
    duro.write_conf(dbname=wh.dbname, worker={"poll": "1s"})
    duro.refresh("big.t", check=0)  # duro.db knows big.t fresh
    wh.sql("update big.cfg set secs = 12")
    conf_b, cat_b, port_b = duro.another_conf("b")
    b = duro.start(conf=conf_b)  # never built big.t: builds it, slowly
    b.wait_listening(port_b, timeout=TIMEOUT)
    wait_until(lambda: temp_exists(wh) and "running" in outcomes(cat_b), TIMEOUT,
               "the daemon's build of big.t to start", b)

    # `duro refresh` on the other catalog: refused, naming the daemon's session; nothing recorded.
    before = duro.catalog.runs("big.t")
    r = duro.refresh("big.t")
    assert r.returncode == 1, r
    out = r.stdout + r.stderr
    assert "big.t: busy: big.t is being built by another Duro: session \"duro/" in out, out
    assert "server process" in out and "since" in out, out
    assert duro.catalog.runs("big.t") == before
    assert temp_exists(wh)

    # A daemon started now, on the catalog that knows big.t: its clean-up spares the build.
    a = duro.start()
    a.wait_listening(duro.gateway_port, timeout=TIMEOUT)
    wait_until(lambda: "leaving big.t_duro_temp alone" in a.logs(), TIMEOUT,
               "the late daemon's clean-up", a)
    assert "removed leftover" not in a.logs()
    # CALL duro_refresh through that daemon's gateway: refused too, with the same message.
    with psycopg.connect(f"host=127.0.0.1 port={duro.gateway_port} dbname={wh.dbname} "
                         "user=postgres sslmode=disable connect_timeout=10",
                         autocommit=True) as conn:
        try:
            conn.execute("call duro_refresh('big.t')")
            raise AssertionError("CALL duro_refresh built big.t beside the other build")
        except psycopg.Error as e:
            assert "big.t is being built by another Duro: session" in str(e), e
    wait_until(lambda: "ok" in outcomes(cat_b), TIMEOUT, "the first daemon's build to end", b)
    assert outcomes(cat_b) == ["ok"], b.logs()
    assert duro.catalog.runs("big.t") == before
    assert wh.rows("big.t") == [(1,)]


def test_leftovers_of_a_dead_build_are_still_removed(duro, wh, tmp_path, wait_until):
    """A temp table whose guard nobody holds is a leftover: the clean-up drops it."""
    slow_view(tmp_path, wh)
    duro.write_conf(dbname=wh.dbname, worker={"poll": "1s"})
    duro.refresh("big.t", check=0)
    wh.sql("create table big.t_duro_temp as select 2 as n")
    p = duro.start()
    p.wait_listening(duro.gateway_port, timeout=TIMEOUT)
    wait_until(lambda: not temp_exists(wh), TIMEOUT, "the leftover to be dropped", p)
    assert "removed leftover big.t_duro_temp" in p.logs(), p.logs()
