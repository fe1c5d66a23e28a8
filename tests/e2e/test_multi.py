"""Several `duro serve` on one catalog in PostgreSQL ([catalog] url): three real daemons on one
warehouse (the session cluster) and one catalog, on a PostgreSQL cluster of its own so that a test
can restart it. Exactly one instance leads the scheduler (/metrics `duro_leader 1`, the others 0;
/healthz names it): only it records scheduled runs. A leader killed outright, or stopped
(SIGSTOP) until another one leads, is replaced within a bound; a deposed leader records no
scheduled run after the takeover; no view is ever built twice at once; concurrent CALLs and stale
reads on all three instances share one build; the catalog's server restarted mid-run is
reconnected to and leaves no run 'running'.

Scheduled runs are made to happen by ageing the views' last builds in the shared catalog (a
"pump" thread), as the other tests do, never by waiting for an interval.

What these tests expect of the daemon:
- `[catalog] url = postgresql://postgres@127.0.0.1:<port>/<database>` (no `path`), the same in the
  three duro.conf; each has its own `[gateway] listen` and `[web] listen`; `[worker] poll = 1s`
  (1h in the test of shared builds), `concurrency = 2`, `instance` not set.
- The catalog's tables as in SQLite (views, runs, run_steps, ...), with `?N` parameters; runs.pid
  is the process that started a run (the Member's pid), runs.instance its marker, runs.trigger
  'schedule' for the poll's runs; a table `duro_leader` with `generation` and `instance` columns.
- /metrics on each instance: `duro_leader 1` on the leader, `duro_leader 0` on the others.
- /healthz on each instance: 200, and its text names the leader as duro_leader.instance does;
  so does `duro.leader` through each gateway, whose this_instance is true on the leader only.
- Stale reads on three instances while one builds the view: no build of their own, the new data;
  CALLs that came after that build started: one more build once it ended, shared by both.
"""
import http.client
import re
import signal
import threading
import time

import psycopg
import pytest

from conftest import Cluster, wait_until

TIMEOUT = 60
TAKEOVER_BOUND = 30  # seconds: generous, not timing-tight
STOPPED_BOUND = 60  # seconds for a stopped (not dead) leader to be replaced
VIEWS = ["m.a", "m.b", "m.c"]
METRIC = re.compile(r"^duro_leader(?:\{[^}]*\})?\s+(\S+)\s*$", re.MULTILINE)


def now_us():
    return int(time.time() * 1_000_000)


def generation(catalog):
    """The newest generation of the leadership in the catalog (duro_leader), None if none."""
    rows = catalog.query("select max(generation) as g from duro_leader")
    return rows[0]["g"] if rows else None


# -- the instances ---------------------------------------------------------------------------------


class Member:
    """One of the `duro serve` processes: its process, gateway and web UI."""

    def __init__(self, name, proc, gateway_port, web_port, dbname):
        self.name = name
        self.proc = proc
        self.gateway_port = gateway_port
        self.web_port = web_port
        self.dbname = dbname

    @property
    def pid(self):
        return self.proc.pid

    def __repr__(self):
        return f"<{self.name} pid {self.pid}>"

    def get(self, path, timeout=3):
        """(status, body) of GET path on the web UI; (None, why) when it does not answer."""
        conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=timeout)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read().decode(errors="replace")
        except (OSError, http.client.HTTPException) as e:
            return None, repr(e)
        finally:
            conn.close()

    def leads(self):
        """1 or 0 as /metrics says (duro_leader), None when it does not say."""
        status, body = self.get("/metrics")
        if status != 200:
            return None
        m = METRIC.search(body)
        return int(float(m[1])) if m else None

    def healthz(self):
        return self.get("/healthz")

    def dsn(self):
        return (f"host=127.0.0.1 port={self.gateway_port} dbname={self.dbname} user=postgres "
                "sslmode=disable connect_timeout=10")

    def connect(self):
        return psycopg.connect(self.dsn(), autocommit=True)

    def logs(self):
        return self.proc.logs()


def all_logs(members):
    return "\n".join(f"--- {m.name} (pid {m.pid}):\n" + "\n".join(m.logs().splitlines()[-80:])
                     for m in members)


def the_leader(members):
    """The one member whose /metrics says duro_leader 1 while every other says 0; else None."""
    said = {m: m.leads() for m in members}
    leaders = [m for m, v in said.items() if v == 1]
    if len(leaders) == 1 and all(v == 0 for m, v in said.items() if m is not leaders[0]):
        return leaders[0]
    return None


def wait_leader(members, timeout=TIMEOUT, what="one leader"):
    return wait_until(lambda: the_leader(members), timeout,
                      f"{what} among {members}", interval=0.2) if members else None


class Pump:
    """Ages the views' last builds in the catalog every `every` seconds (those built in the last
    half hour), so that the leader's poll finds them stale again and again."""

    def __init__(self, catalog, views=VIEWS, every=1.0):
        self.catalog = catalog
        self.views = views
        self.every = every
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        marks = ", ".join("?" for _ in self.views)
        while not self._stop.wait(self.every):
            try:
                self.catalog.execute(
                    "update views set last_success_us = last_success_us - 7200000000 "
                    f"where name in ({marks}) and last_success_us > ?",
                    (*self.views, now_us() - 1800 * 1_000_000))
            except psycopg.Error as e:  # the catalog restarted: try again
                self.errors.append(repr(e))

    def stop(self):
        self._stop.set()
        self._thread.join(TIMEOUT)


def scheduled(catalog, since_us=0):
    return [r for r in catalog.runs()
            if r["trigger"] == "schedule" and r["started_us"] >= since_us]


def running(catalog):
    return [r for r in catalog.runs() if r["outcome"] == "running"]


def overlapping(runs, cut=None):
    """Pairs of runs of one view whose times overlap. cut: {pid: µs} ends the runs of a process
    killed then at that time (whoever closed them later)."""
    by_view = {}
    for r in runs:
        end = r["finished_us"] if r["finished_us"] is not None else float("inf")
        if cut and r["pid"] in cut:
            end = min(end, cut[r["pid"]])
        by_view.setdefault(r["view"], []).append((r["started_us"], end, r["id"]))
    bad = []
    for view, spans in by_view.items():
        spans.sort()
        latest = None  # (end, id) of the run ending last so far
        for start, end, rid in spans:
            if latest and start < latest[0]:
                bad.append((view, latest[1], rid))
            if latest is None or end > latest[0]:
                latest = (end, rid)
    return bad


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def catalog_pg():
    """The catalog's PostgreSQL cluster: not the warehouse's, so that a test can restart it."""
    cluster = Cluster(label="duro-catalog")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def restart(cluster, down=2.0):
    """Stops the cluster (fast: its sessions are ended), waits `down` seconds, starts it again on
    the same port."""
    cluster.run("pg_ctl", "-D", cluster.datadir, "-m", "fast", "-w", "-t", "60", "stop")
    time.sleep(down)
    cluster.run("pg_ctl", "-D", cluster.datadir, "-l", cluster.log_path, "-w", "-t", "60",
                "start")


@pytest.fixture
def repo(tmp_path, wh):
    """m.a, m.b, m.c read m.src (each build sleeps src.delay); m.slow reads m.slow_src (its build
    sleeps slow_src.delay; v tells one build's data from the next)."""
    wh.sql("create schema m")
    wh.sql("create table m.src (n int, delay float8)")
    wh.sql("insert into m.src values (1, 0.3)")
    wh.sql("create table m.slow_src (n int, v int, delay float8)")
    wh.sql("insert into m.slow_src values (1, 1, 0)")
    views = tmp_path / "views"
    views.mkdir()
    for v in VIEWS:
        (views / f"{v} - 1h.sql").write_text(
            "select s.n from m.src s cross join lateral pg_sleep(s.delay)\n")
    (views / "m.slow - 1h.sql").write_text(
        "select s.n, s.v from m.slow_src s cross join lateral pg_sleep(s.delay)\n")
    return views


@pytest.fixture
def trio(catalog_pg, duro, wh, repo):
    """start(poll="1s") -> three `duro serve` (Members) on one catalog database on catalog_pg and
    the test's warehouse, each with its gateway and web UI, once all of them listen and every
    view is built."""

    def start(poll="1s", rescan="1s"):
        duro.use_pg_catalog(catalog_pg)
        duro.write_conf(dbname=wh.dbname, views={"path": str(repo), "rescan": rescan}, web=True,
                        worker={"poll": poll, "concurrency": 2})
        confs = [(duro.conf_path, duro.gateway_port, duro.web_port)]
        for name in ("i2", "i3"):
            inst = duro.instance_conf(name)
            confs.append((inst.conf, inst.gateway_port, inst.web_port))
        members = []
        for i, (conf, gateway_port, web_port) in enumerate(confs, 1):
            members.append(Member(f"i{i}", duro.start(conf=conf), gateway_port, web_port,
                                  wh.dbname))
        for m in members:
            m.proc.wait_listening(m.gateway_port, timeout=TIMEOUT)
            m.proc.wait_listening(m.web_port, timeout=TIMEOUT)
        cat = duro.catalog
        wait_until(lambda: all((cat.view(v) or {}).get("built_hash") for v in VIEWS + ["m.slow"])
                   and not running(cat), TIMEOUT, "the first builds", members[0].proc)
        return members

    return start


# -- tests -----------------------------------------------------------------------------------------


def test_exactly_one_of_three_leads_and_only_it_schedules(trio, duro):
    members = trio()
    cat = duro.catalog
    leader = wait_leader(members)
    (row,) = cat.query("select * from duro_leader order by generation desc limit 1")
    for m in members:
        status, body = m.healthz()
        assert status == 200, (m, status, body)
        assert str(row["instance"]) in body, (m, row, body)
        # duro.leader through each gateway: the same leader, and whether it is the one asked.
        with m.connect() as conn:
            got = conn.execute("select instance, host, generation, since, this_instance"
                               " from duro.leader").fetchall()
        assert len(got) == 1, (m, got)
        instance, host, gen, since, this_instance = got[0]
        assert (instance, gen) == (row["instance"], row["generation"]), (m, got, row)
        assert host.endswith(f":{leader.pid}"), (m, host, leader.pid)
        assert since is not None
        assert this_instance == (m is leader), (m, leader, got)

    pump = Pump(cat)
    try:
        since = now_us()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:  # leadership stays put meanwhile
            assert the_leader(members) is leader, all_logs(members)
            time.sleep(0.5)
        wait_until(lambda: {r["view"] for r in scheduled(cat, since) if r["outcome"] == "ok"}
                   == set(VIEWS), TIMEOUT, "scheduled runs of every view", leader.proc)
    finally:
        pump.stop()
    wait_until(lambda: not running(cat), TIMEOUT, "the last builds to end", leader.proc)

    runs = scheduled(cat)
    assert len(runs) >= 2 * len(VIEWS), runs
    assert {r["pid"] for r in runs} == {leader.pid}, (runs, all_logs(members))
    assert len({r["instance"] for r in runs}) == 1, runs
    assert overlapping(cat.runs()) == []
    assert pump.errors == []


def test_a_leader_killed_outright_is_replaced_within_the_bound(trio, duro, capsys):
    members = trio()
    cat = duro.catalog
    leader = wait_leader(members)
    before = generation(cat)
    assert before is not None
    pump = Pump(cat)
    try:
        # Killed in the middle of a scheduled build.
        wait_until(lambda: [r for r in running(cat) if r["pid"] == leader.pid], TIMEOUT,
                   "a build by the leader", leader.proc, interval=0.02)
        killed_at = now_us()
        t0 = time.monotonic()
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait(TIMEOUT)
        rest = [m for m in members if m is not leader]
        new = wait_leader(rest, TAKEOVER_BOUND + 30, "a new leader")
        took = time.monotonic() - t0
        with capsys.disabled():
            print(f"\ntakeover after kill -9 of the leader: {took:.1f} s")
        assert took < TAKEOVER_BOUND, f"took {took:.1f}s\n{all_logs(rest)}"
        taken_at = now_us()
        assert generation(cat) > before
        # No scheduled run lost: every view is built again, by the new leader.
        wait_until(lambda: {r["view"] for r in scheduled(cat, taken_at)
                            if r["outcome"] == "ok"} == set(VIEWS),
                   TIMEOUT, "every view scheduled by the new leader", new.proc)
        time.sleep(5)  # more scheduled runs: all of them the new leader's
    finally:
        pump.stop()
    wait_until(lambda: not running(cat), TIMEOUT, "no run left running", new.proc)

    runs = cat.runs()
    dead = [r for r in runs if r["pid"] == leader.pid]
    assert dead and all(r["outcome"] != "running" for r in dead), dead
    assert {r["pid"] for r in scheduled(cat, taken_at)} == {new.pid}, all_logs(rest)
    assert overlapping(runs, cut={leader.pid: killed_at}) == [], runs
    assert the_leader(rest) is new


def test_a_stopped_leader_is_deposed_and_records_nothing_after_the_takeover(trio, duro,
                                                                            capsys):
    members = trio()
    cat = duro.catalog
    old = wait_leader(members)
    before = generation(cat)
    assert before is not None
    pump = Pump(cat)
    try:
        wait_until(lambda: [r for r in scheduled(cat) if r["pid"] == old.pid], TIMEOUT,
                   "a scheduled run by the leader", old.proc)
        t0 = time.monotonic()
        old.proc.send_signal(signal.SIGSTOP)
        try:
            rest = [m for m in members if m is not old]
            new = wait_leader(rest, STOPPED_BOUND + 30, "a new leader while the old one is stopped")
            took = time.monotonic() - t0
            taken_at = now_us()
            with capsys.disabled():
                print(f"\ntakeover from a stopped leader: {took:.1f} s")
            assert took < STOPPED_BOUND, f"took {took:.1f}s\n{all_logs(rest)}"
            assert generation(cat) > before
        finally:
            old.proc.send_signal(signal.SIGCONT)
        # Awake again: it learns it no longer leads, and schedules nothing.
        wait_until(lambda: old.leads() == 0, TAKEOVER_BOUND, "the old leader to step down",
                   old.proc)
        time.sleep(5)  # scheduled runs go on meanwhile
        wait_until(lambda: {r["view"] for r in scheduled(cat, taken_at)
                            if r["outcome"] == "ok"} == set(VIEWS),
                   TIMEOUT, "every view scheduled by the new leader", new.proc)
        assert the_leader(members) is new, all_logs(members)
    finally:
        pump.stop()
    wait_until(lambda: not running(cat), TIMEOUT, "no run left running", new.proc)

    stale = [r for r in scheduled(cat, taken_at) if r["pid"] == old.pid]
    assert stale == [], (stale, all_logs(members))
    assert {r["pid"] for r in scheduled(cat, taken_at)} == {new.pid}
    assert old.proc.running(), old.logs()


def test_calls_and_stale_reads_on_all_three_wait_for_one_build(trio, duro, wh):
    """A CALL on one instance builds m.slow; stale reads on all three instances wait for that
    build and read its data (one build), and CALLs on the other two, which came after it started,
    wait for it and then build once more between them, never at the same time."""
    members = trio(poll="1h", rescan="1h")  # no scheduled build meddles
    cat = duro.catalog
    wait_leader(members)
    wh.sql("update m.slow_src set v = 2, delay = 3")
    cat.age("m.slow")
    mark = max(r["id"] for r in cat.runs())
    time.sleep(1.5)  # every gateway re-reads its list of views at least once a second

    first = members[0].connect()
    results, failures = {}, []

    def call(key, conn):
        try:
            results[key] = conn.execute("call duro_refresh('m.slow')").fetchone()[0]
        except Exception as e:  # reported below
            failures.append((key, repr(e)))

    t0 = threading.Thread(target=call, args=("first", first))
    t0.start()
    building = wait_until(lambda: [r for r in running(cat) if r["id"] > mark], TIMEOUT,
                          "the CALL's build of m.slow", members[0].proc, interval=0.05)

    jobs = [(m, kind) for m in members for kind in ("read", "read")]
    jobs += [(m, "call") for m in members[1:]]
    conns = [m.connect() for m, _ in jobs]
    barrier = threading.Barrier(len(jobs))

    def go(i):
        member, kind = jobs[i]
        try:
            barrier.wait(TIMEOUT)
            if kind == "call":
                results[i] = conns[i].execute("call duro_refresh('m.slow')").fetchone()[0]
            else:
                results[i] = conns[i].execute("select n, v from m.slow").fetchall()
        except Exception as e:  # reported below
            failures.append((member, kind, repr(e)))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(jobs))]
    try:
        for t in threads:
            t.start()
        for t in threads + [t0]:
            t.join(TIMEOUT)
    finally:
        for c in conns + [first]:
            c.close()
    assert failures == [], (failures, all_logs(members))
    assert results.pop("first") == "m.slow"
    for i, (member, kind) in enumerate(jobs):
        want = "m.slow" if kind == "call" else [(1, 2)]
        assert results[i] == want, (member, kind, results[i])
    new = [r for r in cat.runs("m.slow") if r["id"] > mark]
    assert [r["outcome"] for r in new] == ["ok", "ok"], (new, all_logs(members))
    assert new[0]["id"] == building[0]["id"] and new[0]["trigger"] == "call", new
    assert new[1]["started_us"] >= new[0]["finished_us"], new
    assert new[1]["pid"] in (members[1].pid, members[2].pid), new
    waited = [m for m in members[1:] if "of another process is building it: waiting" in m.logs()]
    assert waited, all_logs(members)
    assert wh.rows("m.slow") == [(1, 2)]


def test_the_catalog_restarted_mid_run(trio, duro, wh, catalog_pg, capsys):
    members = trio()
    cat = duro.catalog
    wait_leader(members)
    wh.sql("update m.slow_src set v = 3, delay = 4")
    caller = members[1]
    outcome = []

    def call():
        try:
            with caller.connect() as conn:
                outcome.append(conn.execute("call duro_refresh('m.slow')").fetchone()[0])
        except psycopg.Error as e:
            outcome.append(repr(e))

    t = threading.Thread(target=call, daemon=True)
    t.start()
    in_flight = wait_until(lambda: [r for r in running(cat) if r["view"] == "m.slow"], TIMEOUT,
                           "the build of m.slow", caller.proc)
    restart(catalog_pg)
    restarted_at = now_us()
    t.join(TIMEOUT)
    assert outcome, "the CALL during the restart never returned"
    with capsys.disabled():
        print(f"\nthe CALL across the catalog's restart: {outcome[0]}")
    wh.sql("update m.slow_src set delay = 0")

    # Every instance reconnects: healthy, one leader, CALLs answered everywhere.
    for m in members:
        wait_until(lambda: m.healthz()[0] == 200, TIMEOUT, f"{m.name}'s /healthz", m.proc)
    leader = wait_leader(members, TIMEOUT, "one leader after the restart")
    for m in members:
        with m.connect() as conn:
            assert conn.execute("call duro_refresh('m.a')").fetchone()[0] == "m.a"
            assert conn.execute("select n, v from m.slow").fetchall() != []

    pump = Pump(cat)
    try:
        wait_until(lambda: {r["view"] for r in scheduled(cat, restarted_at)
                            if r["outcome"] == "ok"} == set(VIEWS),
                   TIMEOUT, "scheduled runs after the restart", leader.proc)
    finally:
        pump.stop()
    wait_until(lambda: not running(cat), TIMEOUT, "no run left running", leader.proc)

    (first,) = [r for r in cat.runs("m.slow") if r["id"] == in_flight[0]["id"]]
    assert first["outcome"] != "running" and first["finished_us"] is not None, first
    assert {r["pid"] for r in scheduled(cat, restarted_at)} == {leader.pid}
    assert overlapping(cat.runs()) == []
    assert all(m.proc.running() for m in members), all_logs(members)
