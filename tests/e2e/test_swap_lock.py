"""A session left idle in a transaction on a view's table, against a real PostgreSQL: the swap's
lock waits are bounded by [worker] swap_lock_timeout and tried again up to [worker] swap_tries,
so that readers of the view (directly and through the gateway) never queue behind the swap for
long; refreshes of other views go on meanwhile; the refresh fails naming the session in the way
(duro.status shows it) and leaves the live table as it was, or succeeds once the transaction ends.

Bounds here are generous: they prove "not stuck", not speed.
"""
import threading
import time

import psycopg
import pytest

from conftest import report

LOCK_TIMEOUT = 1  # seconds: [worker] swap_lock_timeout in these tests
TRIES = 3
# The longest a reader may queue behind the swap: one lock wait, and a generous margin.
READER_BOUND = LOCK_TIMEOUT + 4


def write_repo(tmp_path):
    repo = tmp_path / "views"
    (repo / "first").mkdir(parents=True)
    (repo / "first" / "swap - 1h.sql").write_text(
        "select g as n, current_setting('duro_test.version', true) as version\n"
        "from generate_series(1, 100) g\n")
    (repo / "first" / "cities - 1h.sql").write_text("select 'Lisbon'::text as city\n")
    return repo


def worker_conf(**more):
    return {"poll": "1s", "concurrency": 2, "swap_lock_timeout": f"{LOCK_TIMEOUT}s",
            "swap_tries": TRIES, **more}


class IdleReader:
    """A session that reads first.swap in a transaction and leaves it open (idle in
    transaction), as a BI tool or a notebook does."""

    def __init__(self, pg, dbname):
        self.conn = pg.connect(dbname=dbname, autocommit=False)
        self.conn.execute("select count(*) from first.swap").fetchone()
        self.pid = self.conn.info.backend_pid

    def end(self):
        self.conn.rollback()
        self.conn.close()


class Reader(threading.Thread):
    """Reads first.swap in a loop, each statement on its own, until stopped; keeps the longest
    a statement took and any error."""

    def __init__(self, connect):
        super().__init__(daemon=True)
        self.connect = connect
        self.stop = threading.Event()
        self.longest = 0.0
        self.reads = 0
        self.errors = []

    def run(self):
        try:
            conn = self.connect()
        except psycopg.Error as e:
            self.errors.append(f"connect: {e}")
            return
        with conn:
            while not self.stop.is_set():
                t0 = time.monotonic()
                try:
                    conn.execute("select count(*) from first.swap").fetchone()
                except psycopg.Error as e:
                    self.errors.append(f"{type(e).__name__}: {e}")
                self.longest = max(self.longest, time.monotonic() - t0)
                self.reads += 1
                time.sleep(0.02)

    def finish(self):
        self.stop.set()
        self.join(60)
        assert not self.is_alive(), "a reader is stuck"
        return self


def table_oid(db_sql):
    return db_sql("select 'first.swap'::regclass::oid")[0][0]


def test_refresh_fails_naming_the_idle_session(duro, pg, db, tmp_path):
    repo = write_repo(tmp_path)
    duro.write_conf(dbname=db, views=repo, worker=worker_conf())
    duro.refresh("first.swap", check=0)

    def sql(text):
        return pg.sql(text, dbname=db)

    live = table_oid(sql)
    idle = IdleReader(pg, db)
    reader = Reader(lambda: pg.connect(dbname=db))
    reader.start()
    try:
        t0 = time.monotonic()
        r = duro.refresh("first.swap", check=1, timeout=60)
        elapsed = time.monotonic() - t0
    finally:
        reader.finish()
        idle.end()
    rest = report(r.stdout, strict=False)["first.swap"]
    # The idle session first (oldest transaction); readers let through meanwhile are not it.
    assert rest.startswith("failed: swap: gave up after 3 tries: waited 1s for a lock on "
                           f"first.swap held by pid {idle.pid} (user {pg.superuser}, idle in "
                           "transaction since "), r.stdout
    # Three waits of 1s and pauses of 1s and 2s: bounded, not stuck until the session ends.
    assert elapsed < 30, elapsed

    # Readers went on: none waited behind the swap longer than its bound (plus a margin).
    assert reader.errors == []
    assert reader.reads > 10
    assert reader.longest < READER_BOUND, reader.longest

    # The live table is the one it was; nothing left behind.
    assert table_oid(sql) == live
    assert sql("select count(*) from first.swap")[0][0] == 100
    assert sql("select count(*) from pg_class where relname like 'swap\\_duro\\_%'")[0][0] == 0

    # Each try is a step of the run; the run's error names the session.
    run = duro.catalog.runs("first.swap")[-1]
    assert run["outcome"] == "failed" and f"pid {idle.pid}" in run["error"], run
    swaps = [s for s in duro.catalog.steps(run["id"]) if s["step"] == "swap"]
    assert len(swaps) == 3 and all(f"pid {idle.pid}" in s["error"] for s in swaps), swaps

    # Once the session is gone the refresh goes through.
    duro.refresh("first.swap", check=0)
    assert table_oid(sql) != live


def call_refresh(gateway, view, out):
    """CALL duro_refresh(view) through the gateway; out gets ("ok", row) or ("error", sqlstate,
    message) and the time it finished."""
    try:
        with gateway.connect() as conn:
            row = conn.execute("call duro_refresh(%s)", (view,)).fetchone()
            out.update(result=("ok", row))
    except psycopg.Error as e:
        out.update(result=("error", e.sqlstate, str(e)))
    out["finished"] = time.monotonic()


@pytest.fixture
def served(duro, pg, db, tmp_path, gateway_factory, wait_until):
    """duro serve with first.swap and first.cities built."""
    write_repo(tmp_path)
    gw = gateway_factory(worker=worker_conf())
    wait_until(lambda: {r["view"] for r in duro.catalog.runs() if r["outcome"] == "ok"}
               >= {"first.swap", "first.cities"}, 30, "the first builds", gw.proc)
    return gw


def test_readers_and_other_views_go_on_while_the_swap_is_blocked(served, duro, pg, db):
    gw = served
    sql = lambda text: pg.sql(text, dbname=db)  # noqa: E731
    live = table_oid(sql)
    idle = IdleReader(pg, db)
    direct = Reader(lambda: pg.connect(dbname=db))
    through = Reader(gw.connect)
    swap = {}
    try:
        direct.start()
        through.start()
        t0 = time.monotonic()
        caller = threading.Thread(target=call_refresh, args=(gw, "first.swap", swap), daemon=True)
        caller.start()
        time.sleep(0.5)  # the swap's refresh is under way
        # Another view is refreshed meanwhile, not after the blocked one.
        cities = {}
        call_refresh(gw, "first.cities", cities)
        assert cities["result"][0] == "ok", cities
        assert "finished" not in swap, "the blocked refresh ended before the other view's"
        assert cities["finished"] - t0 < 15
        caller.join(60)
        assert not caller.is_alive()
    finally:
        direct.finish()
        through.finish()
        idle.end()

    kind, sqlstate, message = swap["result"]
    assert (kind, sqlstate) == ("error", "P0001"), swap
    assert "gave up after 3 tries" in message and f"held by pid {idle.pid} (" in message, message
    assert swap["finished"] - t0 < 30

    for reader in (direct, through):
        assert reader.errors == [] and reader.reads > 10
        assert reader.longest < READER_BOUND, reader.longest

    # duro.status shows who was in the way; the live table is untouched.
    with gw.connect() as conn:
        state, error = conn.execute(
            "select state, last_error from duro.status where view = 'first.swap'").fetchone()
    assert state == "failed" and f"pid {idle.pid} (user {pg.superuser}, idle in transaction"\
        in error, error
    assert table_oid(sql) == live


def gave_up_tries(catalog, after_id):
    """The swap steps with an error of the runs of first.swap after run after_id."""
    return [s for r in catalog.runs("first.swap") if r["id"] > after_id
            for s in catalog.steps(r["id"]) if s["step"] == "swap" and s["error"]]


def test_the_swap_goes_through_once_the_transaction_ends(served, duro, pg, db, wait_until):
    gw = served
    sql = lambda text: pg.sql(text, dbname=db)  # noqa: E731
    live = table_oid(sql)
    mark = duro.catalog.runs()[-1]["id"]
    idle = IdleReader(pg, db)
    swap = {}
    caller = threading.Thread(target=call_refresh, args=(gw, "first.swap", swap), daemon=True)
    caller.start()
    try:
        # The first try gave up; the transaction ends before the last one.
        tries = wait_until(lambda: gave_up_tries(duro.catalog, mark), 20, "a try to give up",
                           gw.proc)
        assert f"pid {idle.pid} " in tries[0]["error"], tries
        assert "finished" not in swap
    finally:
        idle.end()
    caller.join(60)
    assert not caller.is_alive()
    assert swap["result"][0] == "ok", swap
    assert swap["result"][1][1] == "first.swap"
    assert table_oid(sql) != live
    run = duro.catalog.runs("first.swap")[-1]
    assert run["outcome"] == "ok"
    steps = [s["step"] for s in duro.catalog.steps(run["id"])]
    assert steps.count("swap") >= 2, steps  # a try gave up, a later one went through
