"""`duro serve`'s scheduler against a real PostgreSQL: the first build of a repository, an aged
tree rebuilt dependencies first, changed definitions, SIGHUP, SIGTERM (idle, and with builds
running), a repository broken on re-scan, and failures retried with backoff.

The duro.conf of every test polls every second and re-scans every second (conftest's defaults).
Views are made stale by ageing their last success in the catalog, never by waiting.
"""
import signal
import socket
import time

import pytest

import sampledata
from conftest import built, write_atomic

ALL_VIEWS = ["finances.detailed", "finances.simplified", "first.cities", "first.people",
             "first.shops", "second.child"]




def finished_after(catalog, view, mark, outcome="ok"):
    """The first run of view with id > mark that finished, when it did with outcome; fails
    loudly when it finished otherwise."""
    for r in catalog.runs(view):
        if r["id"] > mark and r["outcome"] != "running":
            assert r["outcome"] == outcome, r
            return r
    return None


def last_id(catalog):
    runs = catalog.runs()
    return runs[-1]["id"] if runs else 0


def serve_until_built(duro, wait_until, views=ALL_VIEWS, timeout=30, **start):
    p = duro.start(**start)
    wait_until(lambda: built(duro.catalog, views), timeout, f"the first build of {views}", p)
    return p


# -- 4. the scheduler ---------------------------------------------------------------------------


def test_scheduler_builds_everything_then_an_aged_tree(duro, wh, example_repo, wait_until):
    duro.write_conf(dbname=wh.dbname)
    p = serve_until_built(duro, wait_until)
    cat = duro.catalog

    runs = cat.runs()
    assert sorted(r["view"] for r in runs) == ALL_VIEWS  # each built once
    assert all((r["trigger"], r["outcome"]) == ("schedule", "ok") for r in runs), runs
    first = {r["view"]: r for r in runs}
    for dep, view in [("first.cities", "first.shops"), ("first.shops", "first.people"),
                      ("first.people", "finances.detailed"), ("first.cities", "second.child")]:
        assert first[dep]["finished_us"] <= first[view]["started_us"], (dep, view)
    views = cat.views()
    assert views["first.shops"]["effective_interval_s"] == 3600  # people's hour
    assert views["first.cities"]["effective_interval_s"] == 86400

    # Two hours later for shops and people (cities has 24h).
    mark = last_id(cat)
    cat.age("first.shops", "first.people")
    wait_until(lambda: finished_after(cat, "first.people", mark), 15,
               "the aged first.people to be rebuilt", p)
    new = [r for r in cat.runs() if r["id"] > mark]
    by_view = {r["view"]: r for r in new}
    assert by_view["first.shops"]["trigger"] == "schedule"
    assert by_view["first.people"]["trigger"] == "schedule"
    assert by_view["first.shops"]["outcome"] == "ok"
    assert by_view["first.shops"]["finished_us"] <= by_view["first.people"]["started_us"]
    # A dependency is built before what reads it, in the same poll: had cities been
    # considered stale it would have been rebuilt before shops.
    assert "first.cities" not in by_view, new
    assert built(cat, ALL_VIEWS)
    assert wh.leftovers() == []
    assert p.running()


# -- 8. changed definitions ---------------------------------------------------------------------


def test_a_changed_definition_is_rebuilt_on_the_next_poll(duro, wh, example_repo, wait_until):
    duro.write_conf(dbname=wh.dbname)
    p = serve_until_built(duro, wait_until)
    cat = duro.catalog
    first = example_repo / "first"

    def rebuilt_after_edit(path, text, what):
        old_hash = cat.view("first.cities")["hash"]
        mark = last_id(cat)
        write_atomic(path, text)
        run = wait_until(lambda: finished_after(cat, "first.cities", mark), 15,
                         f"first.cities to be rebuilt after its {what} changed", p)
        view = cat.view("first.cities")
        assert view["hash"] != old_hash, what
        assert view["built_hash"] == view["hash"], what
        assert run["trigger"] == "schedule", what
        return run

    # The query.
    rebuilt_after_edit(first / "cities — 24h.sql",
                       "select city, country\nfrom first.cities_raw\nwhere city <> 'Tokyo'\n",
                       "query")
    assert ("Tokyo", "Japan") not in wh.rows("first.cities")
    assert wh.count("first.cities") == len(sampledata.CITIES) - 1

    # The tests: a second statement.
    run = rebuilt_after_edit(
        first / "cities_test.sql",
        "select (city = 'Paris') as correct_capital_of_france from first.cities "
        "where country = 'France';\n"
        "select count(*) > 100 as enough_cities from first.cities;\n", "tests")
    assert [s["step"] for s in cat.steps(run["id"])][:2] == ["create_temp", "tests"]

    # The configuration: a grant more.
    assert not wh.can_select("joan", "first.cities")
    rebuilt_after_edit(first / "cities.conf",
                       "diststyle=even\ndistkey=city\nsortkey=city\n"
                       "grant_select=jane, john, joan\n", "configuration")
    assert wh.can_select("joan", "first.cities")

    # Nothing else was rebuilt: cities' readers are still fresh.
    assert sorted(r["view"] for r in cat.runs() if r["view"] != "first.cities") == sorted(
        v for v in ALL_VIEWS if v != "first.cities")
    assert p.running()


# -- 10. signals and a broken repository --------------------------------------------------------


def test_sighup_rescans_and_sigterm_exits_when_idle(duro, wh, example_repo, wait_until):
    duro.write_conf(dbname=wh.dbname)
    # Re-scans only on SIGHUP (an hour is as good as never here).
    p = serve_until_built(duro, wait_until, env={"DURO_VIEWS_RESCAN": "1h"})
    cat = duro.catalog

    write_atomic(example_repo / "second.japan - 1h.sql",
                 "select city from first.cities where country = 'Japan'\n")
    (example_repo / "second.child - 24h.sql").unlink()
    p.send_signal(signal.SIGHUP)
    wait_until(lambda: finished_after(cat, "second.japan", 0), 15,
               "the new view second.japan to be built after SIGHUP", p)
    assert wh.count("second.japan") == sum(1 for _, k in sampledata.CITIES if k == "Japan")
    # A removed view leaves the catalog; its table stays.
    wait_until(lambda: "second.child" not in cat.views(), 5,
               "second.child to leave the catalog", p)
    assert wh.exists("second.child")
    assert cat.runs("second.child")  # its runs are kept

    # Idle: SIGTERM exits at once, with status 0.
    wait_until(lambda: built(cat, set(ALL_VIEWS) - {"second.child"} | {"second.japan"}), 10,
               "every view to be fresh", p)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0, p.logs()
    assert time.monotonic() - t0 < 3, "SIGTERM took too long on an idle scheduler"


def test_a_broken_repository_on_rescan_keeps_the_previous_one(duro, wh, example_repo,
                                                              wait_until):
    duro.write_conf(dbname=wh.dbname)
    p = serve_until_built(duro, wait_until)
    cat = duro.catalog

    write_atomic(example_repo / "first" / "bad - 1.5h.sql", "select 1 as x\n")
    wait_until(lambda: "bad - 1.5h.sql" in p.logs(), 10, "the problem to be logged", p)
    assert "1.5h" in p.logs()
    assert p.running()

    # The previous repository is still served: an aged view is rebuilt.
    mark = last_id(cat)
    cat.age("first.people")
    run = wait_until(lambda: finished_after(cat, "first.people", mark), 15,
                     "first.people to be rebuilt while the repository is broken", p)
    assert run["trigger"] == "schedule"
    assert set(ALL_VIEWS) <= set(cat.views())

    # Repaired: a new view in the repaired repository is picked up.
    (example_repo / "first" / "bad - 1.5h.sql").unlink()
    write_atomic(example_repo / "first" / "good - 1h.sql", "select 1 as x\n")
    wait_until(lambda: finished_after(cat, "first.good", 0), 15,
               "first.good to be built once the repository is valid again", p)
    assert p.stop() == 0


def test_failures_are_retried_with_backoff(duro, wh, tmp_path, wait_until):
    repo = tmp_path / "views"
    repo.mkdir()
    (repo / "x.broken - 1h.sql").write_text("select no_such_column from first.cities_raw\n")
    (repo / "x.fine - 1h.sql").write_text("select count(*) as n from first.cities_raw\n")
    duro.write_conf(dbname=wh.dbname)
    p = duro.start()
    cat = duro.catalog
    first = wait_until(lambda: finished_after(cat, "x.broken", 0, outcome="failed"), 15,
                       "the first failure of x.broken", p)
    assert "no_such_column" in first["error"]
    wait_until(lambda: finished_after(cat, "x.fine", 0), 15, "x.fine to be built", p)

    # Six polls later: retried with backoff, not on every poll.
    window_us = 6_000_000
    deadline = first["started_us"] / 1e6 + window_us / 1e6
    while time.time() < deadline:
        assert p.running(), p.logs()
        time.sleep(0.2)
    attempts = [r for r in cat.runs("x.broken")
                if r["started_us"] < first["started_us"] + window_us]
    assert all(r["outcome"] in ("failed", "running") for r in attempts), attempts
    assert len(attempts) <= 4, f"{len(attempts)} attempts in 6 polls: no backoff"
    assert len(cat.runs("x.fine")) == 1  # a fresh view is left alone
    assert p.stop() == 0


# -- 7. SIGTERM with builds running ([worker] grace) ---------------------------------------------


def test_sigterm_lets_short_builds_finish_and_cancels_long_ones(duro, wh, tmp_path, wait_until):
    repo = tmp_path / "views"
    repo.mkdir()
    (repo / "short.sleeper - 1h.sql").write_text("select 1 as x from pg_sleep(2)\n")
    (repo / "long.sleeper - 1h.sql").write_text("select 1 as x from pg_sleep(120)\n")
    grace = 4
    duro.write_conf(dbname=wh.dbname, worker={"concurrency": 2, "grace": f"{grace}s"})
    p = duro.start()
    cat = duro.catalog

    def both_running():
        running = {r["view"] for r in cat.runs() if r["outcome"] == "running"}
        return running == {"short.sleeper", "long.sleeper"} and sleeping(wh) == 2

    wait_until(both_running, 15, "both builds to be running", p)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    status = p.wait(grace + 30)
    elapsed = time.monotonic() - t0
    assert status == 0, p.logs()
    # The long build had its grace period, and was cancelled soon after it.
    # (The lower bound allows for a clock of whole seconds.)
    assert grace - 1.25 <= elapsed < grace + 5, f"exited {elapsed:.1f}s after SIGTERM"

    runs = {r["view"]: r for r in cat.runs()}
    assert len(cat.runs()) == 2
    assert runs["short.sleeper"]["outcome"] == "ok"  # allowed to finish
    assert wh.rows("short.sleeper") == [(1,)]
    assert runs["long.sleeper"]["outcome"] == "cancelled"
    assert runs["long.sleeper"]["finished_us"] is not None
    assert not wh.exists("long.sleeper")
    wait_until(lambda: sleeping(wh) == 0, 5, "the cancelled pg_sleep to stop")
    assert wh.leftovers() == []


def sleeping(wh):
    """How many statements of this database are running pg_sleep now."""
    return wh.sql("select count(*) from pg_stat_activity where datname = %s "
                  "and state = 'active' and query ilike '%%pg_sleep%%' "
                  "and pid <> pg_backend_pid()", (wh.dbname,))[0][0]


def test_an_empty_gateway_listen_runs_the_scheduler_alone(duro, wh, example_repo, wait_until):
    """`[gateway] listen =` means no gateway, as an empty `[web] listen` means no web UI: the
    views are still built, nothing listens, and SIGTERM still stops the daemon."""
    duro.write_conf(dbname=wh.dbname, gateway={"listen": ""})
    p = serve_until_built(duro, wait_until)
    assert "no gateway: [gateway] listen is empty" in p.logs()
    assert "gateway listening" not in p.logs()
    with pytest.raises(OSError):  # the port write_conf picked for it stays free
        socket.create_connection(("127.0.0.1", duro.gateway_port), timeout=1).close()
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0, p.logs()


def test_an_unreachable_catalog_url_is_a_clear_error_without_its_password(duro, wh,
                                                                          example_repo):
    """[catalog] url (a shared catalog in PostgreSQL) that cannot be reached stops `duro serve`
    and `duro refresh` at start, naming the catalog, never its password."""
    conf = duro.write_conf(dbname=wh.dbname,
                           catalog={"url": "postgresql://duro:hunter2@127.0.0.1:1/duro"})
    for args in (["serve", "-c", conf], ["refresh", "-c", conf, "first.cities"]):
        r = duro.run(*args, timeout=60)
        said = r.stdout + r.stderr
        assert r.returncode != 0, said
        assert "cannot open catalog" in said, said
        assert "hunter2" not in said, said
    r = duro.run("check", "-c", conf, timeout=60)
    assert "hunter2" not in r.stdout + r.stderr
