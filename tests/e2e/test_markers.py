"""Build markers and a catalog someone else damaged: Duro as PID 1 in a PID namespace (as in its
Docker image) killed during a long refresh and started again as PID 1; a catalog write that fails
at the end of a build (fault injection, and a real full disk: a small tmpfs); catalogs with values
no Duro writes, truncated, or with pages overwritten.
The view refreshes on the next CALL, and Duro answers or refuses to start, saying why; it never
crashes (`make asan` runs these under AddressSanitizer and UBSan).
"""
import os
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path

import psycopg
import pytest

from conftest import DuroProcess, clean_env

TIMEOUT = 60


@pytest.fixture
def slow_repo(tmp_path, wh):
    """big.t sleeps as long as big.cfg says (so a test can make it slow, then fast)."""
    wh.sql("create schema big")
    wh.sql("create table big.cfg (secs float8)")
    wh.sql("insert into big.cfg values (0)")
    views = tmp_path / "views"
    views.mkdir()
    (views / "big.t - 1h.sql").write_text(
        "select 1 as n from big.cfg c cross join lateral pg_sleep(c.secs)\n")
    return views


def start_pid1(duro):
    """`duro serve` as PID 1 of a new PID namespace (with its own /proc), like in a container."""
    argv = ["unshare", "--pid", "--fork", "--kill-child=SIGKILL", "--mount-proc",
            str(duro.bin), "serve", "-c", str(duro.conf_path)]
    n = len(duro.processes) + 1
    p = DuroProcess(argv, duro.tmp_path / f"duro-serve-{n}.log", clean_env(None), duro.tmp_path)
    duro.processes.append(p)
    p.wait_listening(duro.gateway_port, timeout=TIMEOUT)
    return p


def children(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def call_in_background(gw_dsn, view):
    """Sends CALL duro_refresh(view) on a thread of its own; returns (thread, outcome list)."""
    out = []

    def run():
        try:
            with psycopg.connect(gw_dsn, autocommit=True) as conn:
                conn.execute(f"call duro_refresh('{view}')")
            out.append("ok")
        except psycopg.Error as e:
            out.append(f"{type(e).__name__}: {e}")

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def dsn(duro, wh):
    return (f"host=127.0.0.1 port={duro.gateway_port} dbname={wh.dbname} user=postgres "
            "sslmode=disable connect_timeout=10")


def stop_sleepers(wh):
    """Ends the warehouse sessions of a killed Duro still sleeping in big.t's build."""
    wh.sql("select pg_terminate_backend(pid) from pg_stat_activity "
           "where query like '%pg_sleep%' and pid <> pg_backend_pid()")


def status_of(conn, view):
    return conn.execute("select state, last_error from duro.status where view = %s",
                        (view,)).fetchone()


def test_pid_1_killed_during_a_refresh_and_started_again(duro, wh, slow_repo, wait_until):
    if os.geteuid() != 0:
        pytest.fail("this test runs Duro in a PID namespace: run the e2e tests as root")
    duro.write_conf(dbname=wh.dbname, worker={"poll": "1h", "concurrency": 2})
    cat = duro.catalog
    p = start_pid1(duro)
    wait_until(lambda: [r for r in cat.runs("big.t") if r["outcome"] == "ok"], TIMEOUT,
               "the first build of big.t", p)

    wh.sql("update big.cfg set secs = 600")
    t, _ = call_in_background(dsn(duro, wh), "big.t")
    running = wait_until(lambda: [r for r in cat.runs("big.t") if r["outcome"] == "running"],
                         TIMEOUT, "the long build of big.t to start", p)
    assert running[0]["pid"] == 1, running  # PID 1 in its namespace
    (duro_pid,) = children(p.pid)
    os.kill(duro_pid, signal.SIGKILL)
    p.wait(TIMEOUT)
    t.join(TIMEOUT)
    stop_sleepers(wh)
    wh.sql("update big.cfg set secs = 0")
    assert cat.runs("big.t")[-1]["outcome"] == "running"  # it died before it could say

    # Started again, PID 1 again: the run of the process before is closed, the view builds.
    p2 = start_pid1(duro)
    with psycopg.connect(dsn(duro, wh), autocommit=True) as conn:
        conn.execute("call duro_refresh('big.t')")
        state, error = status_of(conn, "big.t")
        assert state == "fresh", (state, error, p2.logs())
    runs = cat.runs("big.t")
    killed = [r for r in runs if r["id"] == running[0]["id"]][0]
    assert killed["outcome"] == "cancelled" and "interrupted" in killed["error"], killed
    assert runs[-1]["outcome"] == "ok" and runs[-1]["trigger"] == "call", runs[-1]
    assert "already being built" not in p2.logs()


def test_a_live_build_of_another_process_is_respected(duro, wh, slow_repo, gateway_factory,
                                                     wait_until):
    """While `duro serve` builds big.t (and grows, and its times move on), `duro refresh` on the
    same catalog leaves the build alone, says that it waits for it, and builds the view again
    once it ended (the request came after that build started)."""
    gw = gateway_factory(worker={"poll": "1h"})
    cat = duro.catalog
    wait_until(lambda: [r for r in cat.runs("big.t") if r["outcome"] == "ok"], TIMEOUT,
               "the first build of big.t", gw.proc)
    wh.sql("update big.cfg set secs = 8")
    t, out = call_in_background(gw.dsn(), "big.t")
    running = wait_until(lambda: [r for r in cat.runs("big.t") if r["outcome"] == "running"],
                         TIMEOUT, "the long build of big.t to start", gw.proc)
    # Busy for a while: duro.status and duro.runs read by several sessions.
    for _ in range(20):
        with gw.connect() as conn:
            conn.execute("select * from duro.status, duro.runs").fetchall()
    wh.sql("update big.cfg set secs = 0")  # the daemon's build still takes its 8 s
    r = duro.refresh("big.t")
    said = r.stdout + r.stderr
    assert r.returncode == 0, r
    assert f"run {running[0]['id']} of another process is building it: waiting for it" in said, r
    t.join(TIMEOUT)
    assert out == ["ok"], out
    runs = cat.runs("big.t")
    daemons = [x for x in runs if x["id"] == running[0]["id"]][0]
    assert daemons["outcome"] == "ok", daemons  # left alone, not closed
    mine = runs[-1]
    assert mine["id"] > daemons["id"] and mine["outcome"] == "ok" and mine["trigger"] == "call"
    assert mine["started_us"] >= daemons["finished_us"], (mine, daemons)  # never at once
    assert cat.runs("big.t")[-1]["outcome"] == "ok"


@pytest.mark.sqlite_only("DURO_FAULT_CATALOG fakes SQLite's full-disk error (\"disk is full\")")
def test_a_failed_catalog_write_at_the_end_of_a_build(duro, wh, slow_repo, gateway_factory,
                                                      wait_until):
    """The end of the first build cannot be written (as on a full disk): the next CALL builds,
    and the end that failed is written then."""
    gw = gateway_factory(worker={"poll": "1h"}, env={"DURO_FAULT_CATALOG": "run_finish"})
    cat = duro.catalog
    first = wait_until(lambda: [r for r in cat.runs("big.t") if r["outcome"] == "running"
                                and "cannot record the end" in gw.logs()],
                       TIMEOUT, "the first build's end to fail", gw.proc)
    assert "disk is full" in gw.logs()
    with gw.connect() as conn:
        # The build is over: not refreshing, and duro.runs shows its end already.
        assert status_of(conn, "big.t")[0] != "refreshing"
        assert conn.execute("select outcome from duro.runs where id = %s",
                            (first[0]["id"],)).fetchone() == ("ok",)
        conn.execute("call duro_refresh('big.t')")
        assert status_of(conn, "big.t") == ("fresh", None)
        conn.execute("call duro_refresh('big.t')")
        assert conn.execute("select n from big.t").fetchall() == [(1,)]
    runs = {r["id"]: r for r in cat.runs("big.t")}
    assert runs[first[0]["id"]]["outcome"] == "ok", runs  # its real end, written late
    assert [r["outcome"] for r in runs.values()] == ["ok", "ok", "ok"], runs
    assert "already being built" not in gw.logs()


def built_catalog(duro, wh, repo, extra_runs=0):
    """Builds big.t with `duro refresh`; adds extra_runs old runs (a large catalog). Returns the
    catalog file's path (SQLite)."""
    duro.write_conf(dbname=wh.dbname, worker={"poll": "1h"})
    duro.refresh("big.t", check=0)
    if extra_runs:
        conn = sqlite3.connect(duro.catalog.path)
        with conn:
            conn.execute(
                "with recursive n(i) as (select 1 union all select i + 1 from n where i < ?) "
                "insert into runs (\"view\", \"trigger\", started_us, finished_us, outcome, "
                "error) select 'big.t', 'schedule', i, i + 1, 'failed', printf('%.*c', 300, 'e') "
                "from n", (extra_runs,))
        conn.execute("pragma wal_checkpoint(truncate)")
        conn.close()
    return duro.catalog.path


def assert_refused(duro, what):
    r = duro.run("serve", "-c", duro.conf_path, timeout=TIMEOUT)
    assert r.returncode != 0, r.stdout + r.stderr
    assert what in r.stderr, r.stderr
    assert "AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr


@pytest.mark.sqlite_only("truncates the SQLite catalog file")
def test_truncated_catalog_is_refused_at_start(duro, wh, slow_repo):
    path = built_catalog(duro, wh, slow_repo, extra_runs=5000)
    size = path.stat().st_size
    assert size > 1_000_000
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    assert_refused(duro, "is damaged")
    assert path.stat().st_size == size // 2  # left as it was


@pytest.mark.sqlite_only("overwrites pages of the SQLite catalog file")
def test_overwritten_pages_are_refused_at_start(duro, wh, slow_repo):
    path = built_catalog(duro, wh, slow_repo, extra_runs=5000)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 3 // 4096 * 4096)
        f.write(bytes((i * 7919) & 0xff for i in range(4 * 4096)))
    assert_refused(duro, "is damaged")


@pytest.mark.sqlite_only("overwrites the SQLite catalog file's header")
def test_garbage_header_is_refused_at_start(duro, wh, slow_repo):
    path = built_catalog(duro, wh, slow_repo)
    with open(path, "r+b") as f:
        f.write(b"not a catalog at all" * 5)
    assert_refused(duro, "not a SQLite database")


EXTREMES = [
    ("views", "last_success_us", 9223372036854775807),
    ("views", "last_success_us", -9223372036854775808),
    ("views", "effective_interval_s", 9223372036854775807),
    ("views", "effective_interval_s", -9223372036854775808),
    ("views", "changed_us", -9223372036854775808),
    ("views", "\"rows\"", -5),
    ("runs", "started_us", -9223372036854775808),
    ("runs", "finished_us", 9223372036854775807),
    ("runs", "retry_us", 9223372036854775807),
    ("runs", "\"rows\"", -9223372036854775808),
]


def test_extreme_values_are_unknown_not_a_crash(duro, wh, slow_repo, wait_until):
    built_catalog(duro, wh, slow_repo)
    with duro.catalog.transaction() as tx:
        for table, column, value in EXTREMES:
            tx.execute(f"update {table} set {column} = ?", (value,))
        tx.execute("update runs set outcome = 'failed', error = ?", ("x" * 5000000,))
    # The view looks stale (its last build unknown): the build at start waits in pg_sleep, so
    # that duro.status shows the damaged values.
    wh.sql("update big.cfg set secs = 600")
    p = duro.start()
    p.wait_listening(duro.gateway_port, timeout=TIMEOUT)
    wait_until(lambda: len(duro.catalog.runs("big.t")) == 2, TIMEOUT, "the build at start", p)
    with psycopg.connect(dsn(duro, wh), autocommit=True) as c:
        rows = c.execute("select view, interval, effective_interval, state, last_refresh, "
                         "last_duration_s, next_refresh, rows, last_error "
                         "from duro.status").fetchall()
        assert len(rows) == 1 and rows[0][0] == "big.t", rows
        view, interval, effective, state, last_refresh, duration, _, nrows, error = rows[0]
        # (the intervals are rewritten from the repository at start)
        assert state == "refreshing" and interval == effective == "1h", rows
        assert last_refresh is None and duration is None and nrows is None, rows
        assert error is None or len(error) < 70_000, len(error)
        # The damaged run.
        runs = c.execute("select id, started, finished, duration_s, rows, error "
                         "from duro.runs where id = 1").fetchall()
        assert len(runs) == 1, runs
        _, started, finished, duration, nrows, error = runs[0]
        assert started is None and finished is None and duration is None and nrows is None, runs
        assert error.endswith("(cut: 5000000 bytes in the catalog)") and len(error) < 70_000
        # And the view still builds, on the next CALL.
        wh.sql("update big.cfg set secs = 0")
        stop_sleepers(wh)
        wait_until(lambda: duro.catalog.runs("big.t")[-1]["outcome"] != "running", TIMEOUT,
                   "the build at start to end", p)
        c.execute("call duro_refresh('big.t')")
        assert c.execute("select state from duro.status").fetchone() == ("fresh",)
    assert p.running(), p.logs()
    assert "runtime error" not in p.logs()


def fill(directory):
    """Writes a file into directory until its file system is full; returns its path."""
    filler = directory / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


@pytest.mark.sqlite_only("fills the file system of the SQLite catalog file (a tmpfs)")
def test_a_full_disk_during_a_build(duro, wh, slow_repo, gateway_factory, tmp_path, wait_until):
    """The catalog's file system fills up while big.t builds; once space is freed, the next CALL
    builds it (a real full disk: a small tmpfs)."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: run the e2e tests as root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    try:
        gw = gateway_factory(worker={"poll": "1h"}, catalog={"path": str(disk / "duro.db")})
        cat = duro.catalog.__class__(disk / "duro.db")
        wait_until(lambda: [r for r in cat.runs("big.t") if r["outcome"] == "ok"], TIMEOUT,
                   "the first build of big.t", gw.proc)
        wh.sql("update big.cfg set secs = 3")
        t, out = call_in_background(gw.dsn(), "big.t")
        wait_until(lambda: [r for r in cat.runs("big.t") if r["outcome"] == "running"], TIMEOUT,
                   "the build to start", gw.proc)
        filler = fill(disk)
        t.join(TIMEOUT)
        assert out, "the CALL did not return"
        wait_until(lambda: "cannot record" in gw.logs(), TIMEOUT, "a failed catalog write",
                   gw.proc)
        assert "disk is full" in gw.logs() or "disk I/O" in gw.logs(), gw.logs()
        with gw.connect() as conn:
            assert status_of(conn, "big.t")[0] != "refreshing"
            filler.unlink()
            wh.sql("update big.cfg set secs = 0")
            conn.execute("call duro_refresh('big.t')")
            assert status_of(conn, "big.t") == ("fresh", None)
        assert "already being built" not in gw.logs()
        assert [r["outcome"] for r in cat.runs("big.t")][-1] == "ok"
    finally:
        for p in duro.processes:
            p.stop()
        subprocess.run(["umount", "-l", str(disk)], check=False)
