"""`make demo`, run as a newcomer would, without a terminal: it must come up, print the psql
command and the web UI's address, serve the queries the README's walkthrough uses through the
gateway, and on Ctrl-C (SIGINT to its process group) stop Duro and its PostgreSQL cluster and remove its files. Twice in
a row, as a second `make demo` must work as well as the first."""

import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from conftest import PSQL, REPO, clean_env, duro_bin

READY_TIMEOUT = 240  # a first run may install packages and build Duro


class Demo:
    """`make demo` in a process group of its own, its output collected line by line."""

    def __init__(self, views=None):
        build = duro_bin().resolve().parent
        argv = ["make", "--no-print-directory", "demo"]
        if views:
            argv.append(f"DEMO_ARGS=--views {views}")
        if build != REPO:  # ./duro is a copy of build/duro
            argv.append(f"BUILD={build.relative_to(REPO)}")
        self.proc = subprocess.Popen(argv, cwd=REPO, env=clean_env(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True, text=True, errors="replace")
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self):
        return "".join(self.lines)

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while "Ctrl-C stops Duro" not in self.output:
            assert self.proc.poll() is None, f"make demo exited early:\n{self.output}"
            assert time.monotonic() < deadline, f"make demo not ready:\n{self.output}"
            time.sleep(0.2)

    def interrupt(self):
        """Ctrl-C in the terminal: SIGINT to every process of the foreground group."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(60)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._reader.join(10)


def psql(conninfo, sql, user=None, check=True):
    if user:
        conninfo = re.sub(r"user=\S+", f"user={user}", conninfo)
    p = subprocess.run([str(PSQL), "-X", "-v", "ON_ERROR_STOP=1", "-At", "-F", "|", conninfo,
                        "-c", sql], capture_output=True, text=True, timeout=120,
                       env=clean_env())
    if check:
        assert p.returncode == 0, f"psql {sql!r}: {p.stdout}{p.stderr}"
    return p


def closed(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def run_demo_once(walkthrough, views=None):
    demo = Demo(views)
    try:
        demo.wait_ready()
        out = demo.output
        conninfo = re.search(r'^\s*psql "([^"]+)"$', out, re.M).group(1)
        assert re.fullmatch(r"host=127\.0\.0\.1 port=\d+ dbname=demo user=postgres", conninfo)
        gateway_port = int(re.search(r"port=(\d+)", conninfo).group(1))
        warehouse_port = int(re.search(r"into database demo on 127\.0\.0\.1:(\d+)", out).group(1))
        workdir = Path(re.search(r"and removes (\S+)\.$", out, re.M).group(1))
        assert workdir.is_dir()
        for line in ("CALL duro_refresh('first.cities');", "select * from duro.status;"):
            assert line in out
        # The web UI's address, printed, answers.
        web = re.search(r"^The web UI: (http://127\.0\.0\.1:\d+/) ", out, re.M).group(1)
        with urllib.request.urlopen(web + "healthz", timeout=10) as r:
            assert r.status == 200
        if duro_bin().resolve().parent == REPO / "build":
            # The walkthrough's first command, verbatim, after `make demo` alone.
            check = subprocess.run("./duro check examples/views", shell=True, cwd=REPO,
                                   capture_output=True, text=True, timeout=60)
            assert check.returncode == 0 and "7 views, 0 problems" in check.stdout, check
            assert (REPO / "duro").read_bytes() == (REPO / "build" / "duro").read_bytes()

        status = dict(line.split("|") for line in psql(
            conninfo, "select view, state from duro.status order by view").stdout.split())
        assert sorted(status) == ["finances.detailed", "finances.simplified", "first.cities",
                                  "first.countries", "first.people", "first.shops",
                                  "second.child"]
        assert set(status.values()) == {"fresh"}, status  # the Python processor too

        call = psql(conninfo, "CALL duro_refresh('first.cities')").stdout.strip()
        assert call.startswith("first.cities|first.cities|")
        if walkthrough:
            walk_through(conninfo)
        if views:
            stale_read_waits(conninfo, views)
        return demo, workdir, gateway_port, warehouse_port
    finally:
        if demo.proc.poll() is None:
            demo.interrupt()


def walk_through(conninfo):
    """The README's walkthrough: dependencies, a failing test keeping the old table, grants."""
    call = psql(conninfo, "CALL duro_refresh('first.people', true)").stdout.strip()
    assert call.split("|")[1] == "first.cities,first.shops,first.people"

    psql(conninfo, "insert into first.cities_raw values ('Lyon', 'France')")
    failed = psql(conninfo, "CALL duro_refresh('first.cities')", check=False)
    assert failed.returncode != 0
    assert "correct_capital_of_france" in failed.stderr
    assert psql(conninfo, "select count(*) from first.cities where country = 'France'"
                ).stdout.strip() == "1"
    state = psql(conninfo, "select state from duro.status where view = 'first.cities'")
    assert state.stdout.strip() == "failed"
    psql(conninfo, "delete from first.cities_raw where city = 'Lyon'")
    psql(conninfo, "CALL duro_refresh('first.cities')")

    assert int(psql(conninfo, "select count(*) from first.cities", user="jane").stdout) > 400
    denied = psql(conninfo, "select count(*) from finances.simplified", user="jane", check=False)
    assert "permission denied" in denied.stderr
    assert int(psql(conninfo, "select count(*) from finances.simplified",
                    user="metabase").stdout) > 0
    denied = psql(conninfo, "select count(*) from finances.detailed", user="metabase",
                  check=False)
    assert "permission denied" in denied.stderr


def stale_read_waits(conninfo, views):
    """The README's stale-read step: a view added while Duro runs is picked up, and a query that
    reads it while its first build runs waits for it (with a NOTICE) instead of failing."""
    (views / "first" / "slow_cities \u2014 1h.sql").write_text(
        "select c.city, c.country\nfrom first.cities c\ncross join (select pg_sleep(4)) s\n")
    deadline = time.monotonic() + 30
    while not psql(conninfo, "select state from duro.status "
                   "where view = 'first.slow_cities'").stdout.strip():
        assert time.monotonic() < deadline, "the new view was not picked up"
        time.sleep(0.1)
    time.sleep(1.5)  # the gateway reads the catalog's list of views at most once a second
    p = psql(conninfo, "select count(*) from first.slow_cities")
    assert p.stdout.strip() == "404"
    assert "first.slow_cities is stale; waiting for its refresh" in p.stderr, p.stderr


def test_make_demo_serves_the_walkthrough_and_cleans_up_twice(full_repo):
    for walkthrough, repo in ((True, None), (False, full_repo)):
        demo, workdir, gateway_port, warehouse_port = run_demo_once(walkthrough, repo)
        out = demo.output
        assert f"demo: stopped Duro and PostgreSQL, removed {workdir}" in out, out
        assert not workdir.exists()
        assert closed(gateway_port), "Duro still listens after Ctrl-C"
        assert closed(warehouse_port), "the demo's PostgreSQL still runs after Ctrl-C"
        assert "Traceback" not in out, out


def test_make_demo_and_make_test_build_the_duro_the_readme_runs():
    """The README's two commands, `make demo` and `make test`, build `./duro`, which its
    walkthrough runs; `make demo` runs that binary too."""
    def dry_run(target):
        # As from a shell: not with the variables of a make that runs this test (make asan puts
        # BUILD, CFLAGS and SAN from its command line into the environment of its recipes).
        makes = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "BUILD", "CC", "CFLAGS",
                 "CPPFLAGS", "SAN", "PREFIX", "DEMO_ARGS")
        env = {k: v for k, v in clean_env().items() if k not in makes}
        r = subprocess.run(["make", "-n", "--no-print-directory", target], cwd=REPO,
                           env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()

    demo = dry_run("demo")
    assert "make --no-print-directory duro" in demo, demo
    runs = ["/usr/bin/python3", "tools/demo", "--duro", f"{REPO}/duro"]
    assert any(line.split()[:4] == runs for line in demo), demo
    assert "make --no-print-directory duro" in dry_run("test")


def test_sampledata_sql_is_current_and_loads_with_psql(pg, db):
    """examples/sampledata.sql (what docker-compose loads) is what sampledata.py generates, and
    psql loads it: the example repository's views can then be built from it."""
    import sampledata

    sql_file = REPO / "examples" / "sampledata.sql"
    assert sql_file.read_text() == sampledata.script(login=True), \
        "regenerate it: python3 examples/sampledata.py --sql --login > examples/sampledata.sql"
    try:
        for _ in range(2):  # loading twice works too
            p = subprocess.run([str(PSQL), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                                pg.dsn(db), "-f", str(sql_file)], capture_output=True,
                               text=True, timeout=120, env=clean_env())
            assert p.returncode == 0, p.stderr
        logins = pg.sql("select rolname from pg_roles where rolcanlogin and rolname = any(%s) "
                        "order by 1", (list(sampledata.READER_ROLES) + ["duro"],))
    finally:  # roles are the whole cluster's: other tests expect the readers NOLOGIN
        for role in sampledata.READER_ROLES:
            pg.sql(f"alter role {role} nologin")
    assert logins == [("duro",), ("jane",), ("joan",), ("john",), ("metabase",)]
    counts = pg.sql("select (select count(*) from first.cities_raw), "
                    "(select count(*) from first.shops_raw), "
                    "(select count(*) from first.people_raw), "
                    "(select count(*) from finances.transactions_raw)", dbname=db)
    assert counts == [(len(sampledata.CITIES), sampledata.N_SHOPS, sampledata.N_PEOPLE,
                       sampledata.N_TRANSACTIONS)]
