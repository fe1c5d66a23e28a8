"""What a crash or a warehouse restart must not leave behind, against a real PostgreSQL.

- `duro serve` killed with SIGKILL in the middle of a long CREATE TABLE ... AS: the statement goes
  on in the warehouse. The restarted Duro ends that session (named after Duro, the instance, the
  process and the build) before it cleans up, so no `_duro_temp` table appears after the clean-up
  and the next build does not collide with it.
- `duro refresh` killed beside a running `duro serve`: the next CALL ends the orphaned build first.
- Sessions of another instance, or of a live process of this one, are left alone.
- The worker's pooled warehouse connections killed (`pg_terminate_backend`) or the whole cluster
  restarted (`pg_ctl restart`): the next scheduled refresh and the next `CALL duro_refresh` succeed
  on a new connection, and `duro.runs` records no failure.
"""
import os
import signal
import subprocess
import time

import psycopg
import pytest

from pgcluster import Cluster, clean_env
from conftest import Warehouse

TIMEOUT = 60
SLEEP = 8  # seconds the long build's CREATE TABLE ... AS takes


def sessions(wh, pattern="duro/%"):
    """(pid, application_name, state, query) of the warehouse sessions named like pattern."""
    return wh.sql("select pid, application_name, state, query from pg_stat_activity "
                  "where application_name like %s and datname = current_database() "
                  "order by pid", (pattern,))


def outcomes(catalog, view):
    return [r["outcome"] for r in catalog.runs(view)]


def write_view(repo, schema, name, sql):
    (repo / schema).mkdir(parents=True, exist_ok=True)
    (repo / schema / name).write_text(sql)


def test_kill_during_long_build_leaves_no_orphan(duro, db, pg, tmp_path, wait_until):
    wh = Warehouse(pg, db)
    repo = tmp_path / "views"
    # The sleep runs once, before the first row.
    write_view(repo, "big", "t — 1h.sql",
               f"select n from generate_series(1, 300000) n, (select pg_sleep({SLEEP})) s\n")
    duro.write_conf(dbname=db, views=repo, worker={"poll": "1s", "concurrency": 2})
    first = duro.start()

    def building():
        rows = [r for r in sessions(wh, "duro/%/build big.t")
                if r[2] == "active" and "CREATE TABLE" in r[3]]
        return rows[0] if rows else None

    backend, name, _, _ = wait_until(building, TIMEOUT, "the build of big.t to run", first)
    # duro/<instance>/<pid>.<start>/build big.t: the instance, then this very process.
    parts = name.split("/")
    assert parts[0] == "duro" and len(parts) == 4, name
    assert parts[2].split(".")[0] == str(first.pid), name
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = time.monotonic()
    assert sessions(wh, "duro/%/build big.t")[0][0] == backend  # still running, orphaned

    second = duro.start()
    # The restarted Duro ends the orphan, cleans up, then builds big.t once, successfully.
    wait_until(lambda: outcomes(duro.catalog, "big.t") == ["cancelled", "ok"], TIMEOUT,
               "big.t rebuilt after the crash", second)
    assert not [r for r in sessions(wh) if r[0] == backend], "the orphan still runs"
    assert "ending warehouse session" in second.logs()
    # Until well after the orphan would have committed, nothing is left over.
    while time.monotonic() < killed_at + SLEEP + 3:
        assert wh.leftovers() == []
        time.sleep(0.5)
    assert wh.count("big.t") == 300000
    assert outcomes(duro.catalog, "big.t") == ["cancelled", "ok"]
    # The new process's sessions are its own: nothing of the first one remains.
    assert all(r[1].split("/")[2].split(".")[0] == str(second.pid) for r in sessions(wh))
    assert second.stop() == 0, second.logs()


def test_killed_cli_build_does_not_collide_with_the_next_call(duro, db, pg, tmp_path,
                                                               wait_until):
    """`duro refresh` killed beside a running `duro serve` (the same instance): the CALL that
    follows ends the orphaned build before its own instead of colliding with it."""
    wh = Warehouse(pg, db)
    wh.sql("create table public.delay (d float8); insert into public.delay values (0)")
    repo = tmp_path / "views"
    write_view(repo, "big", "t — 1h.sql",
               "select n from generate_series(1, 1000) n, (select pg_sleep(d) from public.delay) s\n")
    duro.write_conf(dbname=db, views=repo)
    p = duro.start()
    p.wait_listening(duro.gateway_port)
    wait_until(lambda: outcomes(duro.catalog, "big.t") == ["ok"], TIMEOUT, "big.t built", p)

    wh.sql(f"update public.delay set d = {SLEEP}")
    cli = subprocess.Popen([str(duro.bin), "refresh", "-c", str(duro.conf_path), "big.t"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=clean_env(), cwd=duro.tmp_path)
    try:
        wait_until(lambda: [r for r in sessions(wh, f"duro/%/{cli.pid}.%/build big.t")
                            if r[2] == "active"], TIMEOUT, "the command's build to run")
    finally:
        cli.kill()
        cli.wait()
    wh.sql("update public.delay set d = 0")
    started = time.monotonic()
    row = _call(duro, db, "big.t")
    assert row[1] == "big.t", row
    assert time.monotonic() - started < SLEEP  # the orphan was ended, not waited for
    assert outcomes(duro.catalog, "big.t") == ["ok", "cancelled", "ok"]
    time.sleep(SLEEP)  # until after the orphan would have committed
    assert wh.leftovers() == []
    assert "ending warehouse session" in p.logs()
    assert p.stop() == 0, p.logs()


def test_another_instance_sessions_are_left_alone(duro, db, pg, tmp_path, wait_until):
    """A session named after another instance, or after a live process of this one, is not
    ended; one of this instance whose process is gone is."""
    wh = Warehouse(pg, db)
    repo = tmp_path / "views"
    write_view(repo, "s", "a — 1h.sql", "select 1 as n\n")
    duro.write_conf(dbname=db, views=repo, worker={"instance": "blue"})
    proc = os.fork()  # a process that has ended: its id names a Duro that is gone
    if proc == 0:
        os._exit(0)
    os.waitpid(proc, 0)
    names = {
        "other": "duro/green/1.0/build s.a",
        "live": f"duro/blue/{os.getpid()}.{_start(os.getpid())}/build s.a",
        "dead": f"duro/blue/{proc}.0/build s.a",
    }
    conns = {k: pg.connect(dbname=db, application_name=v) for k, v in names.items()}
    try:
        p = duro.start()
        wait_until(lambda: outcomes(duro.catalog, "s.a") == ["ok"], TIMEOUT, "s.a built", p)
        left = {r[1] for r in sessions(wh)}
        assert names["other"] in left and names["live"] in left
        assert names["dead"] not in left
        assert f"{names['dead']}" in p.logs() and names["other"] not in p.logs()
        assert all(r[1].startswith("duro/blue/") for r in sessions(wh) if r[1] != names["other"])
        assert p.stop() == 0
    finally:
        for c in conns.values():
            try:
                c.close()
            except psycopg.Error:
                pass


def _start(pid):
    """The start time of process pid (clock ticks since boot, hex), as Duro names it."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return format(int(text[text.rindex(")") + 2:].split()[19]), "x")


def _repo_two_views(tmp_path):
    repo = tmp_path / "views"
    write_view(repo, "s", "a — 1h.sql", "select n from generate_series(1, 10) n\n")
    write_view(repo, "s", "b — 1h.sql", "select n from generate_series(1, 20) n\n")
    return repo


def _call(duro, dbname, view):
    with psycopg.connect(host="127.0.0.1", port=duro.gateway_port, dbname=dbname,
                         user=Cluster.superuser, sslmode="disable", connect_timeout=10,
                         autocommit=True) as conn:
        return conn.execute(f"call duro_refresh('{view}')").fetchone()


def _refreshed_after_loss(duro, dbname, proc, lose, wait_until):
    """Builds s.a and s.b, loses the warehouse connections with lose(), then checks that a
    scheduled refresh of both and a CALL of s.a succeed without a failed run."""
    cat = duro.catalog
    wait_until(lambda: outcomes(cat, "s.a") == ["ok"] and outcomes(cat, "s.b") == ["ok"],
               TIMEOUT, "s.a and s.b built", proc)
    lose()
    cat.age("s.a", "s.b")
    wait_until(lambda: outcomes(cat, "s.a") == ["ok", "ok"] and
               outcomes(cat, "s.b") == ["ok", "ok"], TIMEOUT, "the scheduled refresh", proc)
    lose()
    row = _call(duro, dbname, "s.a")
    assert row[0] == "s.a" and row[1] == "s.a", row
    assert outcomes(cat, "s.a") == ["ok", "ok", "ok"]
    assert outcomes(cat, "s.b") == ["ok", "ok"]
    assert "trying again on a new one" in proc.logs()


def test_terminated_connections_are_replaced(duro, db, pg, tmp_path, wait_until):
    wh = Warehouse(pg, db)
    duro.write_conf(dbname=db, views=_repo_two_views(tmp_path))
    p = duro.start()
    p.wait_listening(duro.gateway_port)

    def terminate():
        ended = wh.sql("select pg_terminate_backend(pid) from pg_stat_activity "
                       "where application_name like 'duro/%%' and datname = current_database()")
        assert ended and all(r[0] for r in ended)
        wait_until(lambda: not sessions(wh), 10, "the sessions to end")

    _refreshed_after_loss(duro, db, p, terminate, wait_until)
    assert p.stop() == 0, p.logs()


def test_warehouse_restart(duro, tmp_path, wait_until):
    cluster = Cluster()
    try:
        cluster.start()
        cluster.sql("create database w")
        duro.write_conf(dbname="w", views=_repo_two_views(tmp_path),
                        warehouse={"port": cluster.port})
        p = duro.start()
        p.wait_listening(duro.gateway_port)

        def restart():
            cluster.run("pg_ctl", "-D", cluster.datadir, "-l", cluster.log_path, "-m", "fast",
                        "-w", "-t", "60", "restart")

        _refreshed_after_loss(duro, "w", p, restart, wait_until)
        assert p.stop() == 0, p.logs()
    finally:
        cluster.stop()
