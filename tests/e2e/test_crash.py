"""Crashes: duro killed with SIGKILL at every step of the pipeline (fault injection,
DURO_FAULT_KILL), and what a restart does about it. The live table stays intact and readable
throughout; the next `duro refresh` succeeds in spite of leftovers; `duro serve` at start drops
leftover *_duro_temp / *_duro_old tables (renaming an old table back when the live one is
missing) and marks the dead process's runs cancelled.
"""
import shutil
import signal
import threading
from pathlib import Path

import psycopg
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "views"
POINTS = ["create_temp", "tests", "swap", "swap_commit", "drop_old", "snapshot"]
# Points reached after the swap committed: the new table is live there.
AFTER_COMMIT = {"drop_old", "snapshot"}


@pytest.fixture
def cities_repo(tmp_path):
    """A repository of first.cities alone (tested, with grants), keeping snapshots so that every
    fault point is on its path."""
    repo = tmp_path / "views"
    (repo / "first").mkdir(parents=True)
    for name in ("cities — 24h.sql", "cities_test.sql", "cities.conf"):
        shutil.copy(EXAMPLES / "first" / name, repo / "first" / name)
    with open(repo / "first" / "cities.conf", "a") as f:
        f.write("snapshots_interval=1h\nsnapshots_stored_for=1w\n")
    return repo


class Reader:
    """A thread that reads first.cities in a loop and records every error."""

    def __init__(self, wh):
        self.errors = []
        self.reads = 0
        self._stop = threading.Event()
        self._conn = wh.connect(options="-c statement_timeout=10s")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self._conn.execute("select count(*) from first.cities").fetchone()
                self.reads += 1
            except psycopg.Error as e:
                self.errors.append(f"{type(e).__name__}: {e}")

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        self._conn.close()
        return self.errors


def kill_at(point, duro, wh, city):
    """Adds a city to the raw data, makes a snapshot due, and runs `duro refresh first.cities`
    told to SIGKILL itself at point, with a reader running. Returns the killed run's id."""
    wh.sql("insert into first.cities_raw values (%s, 'Testland')", (city,))
    wh.sql("update first.cities_history set snapshot_timestamp = "
           "snapshot_timestamp - interval '2 hours'")
    live = wh.rows("first.cities")
    reader = Reader(wh)
    try:
        r = duro.refresh("first.cities",
                         env={"DURO_FAULT_KILL": point, "DURO_FAULT_VIEW": "first.cities"})
    finally:
        errors = reader.stop()
    assert r.returncode == -signal.SIGKILL, (
        f"not killed at {point}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    assert errors == [], errors[:5]
    # Intact and readable: the old contents before the commit, the new ones after it.
    expected = wh.rows("first.cities_raw") if point in AFTER_COMMIT else live
    with wh.connect(options="-c statement_timeout=5s") as conn:
        got = sorted(conn.execute("select city, country from first.cities").fetchall(),
                     key=lambda r: tuple((v is None, str(v)) for v in r))
    assert got == expected, point
    killed = duro.catalog.runs("first.cities")[-1]
    assert killed["outcome"] == "running", killed  # its process died before it could say
    return killed["id"]


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_every_step(point, duro, wh, cities_repo, wait_until):
    duro.write_conf(dbname=wh.dbname)
    cat = duro.catalog
    duro.refresh("first.cities", check=0)
    assert wh.count("first.cities_history") == wh.count("first.cities")  # the first snapshot
    assert "snapshot_timestamp" in [r[0] for r in wh.sql(
        "select column_name from information_schema.columns "
        "where table_schema = 'first' and table_name = 'cities_history'")]
    ok_run = cat.runs("first.cities")[-1]
    assert [s["step"] for s in cat.steps(ok_run["id"])][-1] == "snapshot"

    # Killed, then the next refresh copes with whatever was left and succeeds.
    killed = [kill_at(point, duro, wh, "Testville 1")]
    duro.refresh("first.cities", check=0)
    assert wh.rows("first.cities") == wh.rows("first.cities_raw")
    assert wh.leftovers() == []
    assert wh.can_select("jane", "first.cities") and not wh.can_select("joan", "first.cities")

    # Killed again; this time `duro serve` starts first and cleans up.
    killed.append(kill_at(point, duro, wh, "Testville 2"))
    live = wh.rows("first.cities")
    p = duro.start()

    def cleaned():
        runs = {r["id"]: r for r in cat.runs("first.cities")}
        return wh.leftovers() == [] and all(runs[i]["outcome"] != "running" for i in killed)

    wait_until(cleaned, 10, "duro serve to clean up after the crash", p)
    runs = {r["id"]: r for r in cat.runs("first.cities")}
    assert [runs[i]["outcome"] for i in killed] == ["cancelled", "cancelled"]
    assert all(runs[i]["finished_us"] is not None for i in killed)
    assert wh.rows("first.cities") == live  # the live table was left alone
    assert p.stop() == 0, p.logs()

    duro.refresh("first.cities", check=0)
    assert wh.rows("first.cities") == wh.rows("first.cities_raw")
    assert ("Testville 2", "Testland") in wh.rows("first.cities")
    assert wh.leftovers() == []
    assert cat.runs("first.cities")[-1]["outcome"] == "ok"


def test_fault_view_limits_the_fault_to_one_view(duro, wh, cities_repo):
    duro.write_conf(dbname=wh.dbname)
    r = duro.refresh("first.cities",
                     env={"DURO_FAULT_KILL": "swap", "DURO_FAULT_VIEW": "first.other"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert wh.rows("first.cities") == wh.rows("first.cities_raw")


def test_serve_start_cleans_leftovers_and_restores_a_missing_table(duro, wh, example_repo,
                                                                   wait_until):
    duro.write_conf(dbname=wh.dbname)
    duro.refresh("first.shops", check=0)  # cities too, as a stale dependency
    cities = wh.rows("first.cities")
    cities_oid = wh.sql("select 'first.cities'::regclass::oid")[0][0]
    shops = wh.rows("first.shops")
    # What a crash between two renames (or a warehouse without transactional DDL) leaves:
    # the live table under its old name, and working copies of another view.
    wh.sql("alter table first.cities rename to cities_duro_old")
    wh.sql("create table first.shops_duro_temp as select * from first.shops limit 3")
    wh.sql("create table first.shops_duro_old as select * from first.shops limit 5")
    assert not wh.exists("first.cities")

    p = duro.start()
    wait_until(lambda: wh.exists("first.cities"), 10, "first.cities to be renamed back", p)
    assert wh.sql("select 'first.cities'::regclass::oid")[0][0] == cities_oid  # not rebuilt
    assert wh.rows("first.cities") == cities
    # The scheduler then builds the never-built views; once it is done, nothing is left over.
    wait_until(lambda: all(v["built_hash"] == v["hash"] for v in duro.catalog.views().values())
               and not any(r["outcome"] == "running" for r in duro.catalog.runs())
               and wh.leftovers() == [], 30, "every view built and no leftovers", p)
    assert wh.rows("first.shops") == shops
    assert len(duro.catalog.runs("first.cities")) == 1
    assert p.stop() == 0
