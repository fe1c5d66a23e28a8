#!/usr/bin/python3
"""Measures duro.* queries through the gateway on a large catalog: 10,000 views and 1,000,000
runs.

    run.py --duro PATH [--views 10000] [--runs 1000000] [--queries 100] [--json FILE] [--keep]
           [--perf FILE]

Starts, in a temp dir, a throwaway PostgreSQL 15 cluster and `duro serve` in front of it, with a
repository of --views views all disabled (global.conf: enabled = false, so nothing is built). Once
the catalog holds them, duro is stopped, --runs runs (with one step each, spread over the last 30
days, newest ids last) are written into the catalog directly with sqlite3, and duro is started
again. Then, through the gateway with psycopg (extended protocol), --queries times each of

    select * from duro.status
    select * from duro.runs where view = $1 order by id desc limit 20   ($1 a random view)
    select * from duro.runs order by id desc limit 20

after 3 warm-up queries; the figures are the median and the 90th percentile per query, the CPU
time duro spent per query (utime + stime, /proc/PID/stat: the steadier figure on a busy machine),
and duro's VmRSS (/proc/PID/status) after the start, after the status queries and after the runs
queries. The baseline: a table of the same shape and rows as duro.status (status_copy), read
directly from PostgreSQL with the same client.

--perf FILE: then records duro's call graph (`perf record -g -p PID`) during --queries more of
each query and writes `perf report --no-children` to FILE.
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import pgcluster  # noqa: E402
from pgcluster import SUPERUSER, clean_env, free_port  # noqa: E402

DBNAME = "bench"
DAY_US = 86400 * 1000000


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Duro:
    def __init__(self, binary, workdir, cluster, n_views):
        self.binary = binary
        self.dir = Path(workdir) / "duro"
        views = self.dir / "views"
        (views / "s").mkdir(parents=True)
        (views / "global.conf").write_text("enabled = false\n")
        for i in range(n_views):
            (views / "s" / f"v{i}-1d.sql").write_text("select 1 as x\n")
        self.port = free_port()
        self.log = self.dir / "duro.log"
        self.conf = self.dir / "duro.conf"
        self.catalog = self.dir / "duro.db"
        self.conf.write_text(
            "# written by bench/catalog/run.py\n"
            f"[gateway]\nlisten = 127.0.0.1:{self.port}\nduro_query_timeout = 10m\n"
            f"[warehouse]\ndialect = postgres\nhost = 127.0.0.1\nport = {cluster.port}\n"
            f"dbname = {DBNAME}\nuser = {SUPERUSER}\nsslmode = disable\n"
            f"[views]\npath = {views}\nrescan = 1h\n"
            f"[catalog]\npath = {self.catalog}\npublish = off\n"
            "[worker]\npoll = 1h\n"
            "[web]\nlisten =\n")
        self.proc = None

    def start(self):
        log = open(self.log, "a")
        self.proc = subprocess.Popen([str(self.binary), "serve", "-c", str(self.conf)],
                                     stdout=log, stderr=subprocess.STDOUT, env=clean_env(),
                                     cwd=self.dir)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                psycopg.connect(self.dsn(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.proc.poll() is not None:
                    sys.exit(f"duro exited:\n{self.log.read_text()}")
                time.sleep(0.2)
        sys.exit(f"duro did not listen:\n{self.log.read_text()}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)

    def dsn(self):
        return (f"host=127.0.0.1 port={self.port} dbname={DBNAME} user={SUPERUSER} "
                "sslmode=disable")


def fill_runs(catalog, n_views, n_runs):
    """Writes the runs in one transaction. The catalog's triggers, which keep each view's run
    facts in its row, are set aside meanwhile (a million rows each firing them takes minutes) and
    put back, then fired once per view (an update of views.changed_us reads its facts again)."""
    now = int(time.time() * 1000000)
    conn = sqlite3.connect(catalog, timeout=30, isolation_level=None)
    conn.execute("BEGIN")
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                            " AND tbl_name = 'runs'").fetchall()
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    step = 30 * DAY_US // n_runs
    rnd = random.Random(1)

    def rows():
        for i in range(n_runs):
            started = now - 30 * DAY_US + i * step
            outcome = "ok" if rnd.random() < 0.95 else "failed"
            yield (i + 1, f"s.v{rnd.randrange(n_views)}", started, started + 5000000, outcome,
                   1000, None if outcome == "ok" else "boom")

    conn.executemany("INSERT INTO runs (id, \"view\", \"trigger\", started_us, finished_us,"
                     " outcome, \"rows\", error) VALUES (?, ?, 'schedule', ?, ?, ?, ?, ?)", rows())
    conn.execute("INSERT INTO run_steps (run_id, step, started_us, finished_us)"
                 " SELECT id, 'create', started_us, finished_us FROM runs")
    for _, sql in triggers:
        conn.execute(sql)
    if triggers:
        conn.execute("UPDATE views SET changed_us = changed_us")
    conn.execute("COMMIT")
    conn.close()


def cpu_ms(pid):
    """utime + stime of the process so far, in ms (/proc/PID/stat)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def timed(conn, sql, params_fn, n, pid=None):
    for _ in range(3):
        conn.execute(sql, params_fn()).fetchall()
    times = []
    cpu = cpu_ms(pid)
    for _ in range(n):
        t = time.perf_counter()
        conn.execute(sql, params_fn()).fetchall()
        times.append((time.perf_counter() - t) * 1000)
    cpu = cpu_ms(pid) - cpu
    times.sort()
    out = {"median_ms": round(statistics.median(times), 2),
           "p90_ms": round(times[int(len(times) * 0.9) - 1], 2)}
    if pid is not None:
        out["duro_cpu_ms"] = round(cpu / n, 2)
    return out


def baseline_table(cluster, n_views):
    """A table of the same shape and n_views rows as duro.status, in the warehouse."""
    with psycopg.connect(cluster_dsn(cluster)) as conn:
        conn.execute(
            "create table status_copy as select 's.v' || i as view, '1d' as interval,"
            " '1d' as effective_interval, 'disabled' as state,"
            " null::timestamptz as last_refresh, null::float8 as last_duration_s,"
            " null::timestamptz as next_refresh, null::int8 as rows, '' as depends_on,"
            " null::text as last_error, 's/v' || i || '-1d.sql' as source,"
            " 0::int8 as reads_24h, null::timestamptz as last_read, null::text as readers"
            f" from generate_series(0, {n_views - 1}) i")


def cluster_dsn(cluster):
    return (f"host=127.0.0.1 port={cluster.port} dbname={DBNAME} user={SUPERUSER} "
            "sslmode=disable")


def perf_profile(duro, conn, queries, out):
    """perf record -g on duro during the queries (sql, params_fn); perf report into out."""
    data = Path(out).with_suffix(".data")
    rec = subprocess.Popen(["perf", "record", "-g", "-o", str(data), "-p", str(duro.proc.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    for sql, params_fn, n in queries:
        for _ in range(n):
            conn.execute(sql, params_fn()).fetchall()
    rec.send_signal(2)
    rec.wait(timeout=60)
    with open(out, "w") as f:
        subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--stdio",
                        "--percent-limit", "0.5", "-g", "none"], stdout=f,
                       stderr=subprocess.DEVNULL, timeout=300)
    data.unlink(missing_ok=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duro", required=True)
    ap.add_argument("--views", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=1000000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--perf", metavar="FILE", help="also profile duro with perf into FILE")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="duro-bench-catalog-"))
    cluster = pgcluster.Cluster()
    duro = None
    try:
        cluster.start()
        with cluster.connect() as conn:
            conn.execute(f"create database {DBNAME}")
        duro = Duro(Path(a.duro).resolve(), work, cluster, a.views)
        duro.start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with psycopg.connect(duro.dsn()) as c:
                if c.execute("select count(*) from duro.status").fetchone()[0] == a.views:
                    break
            time.sleep(0.5)
        duro.stop()
        t = time.monotonic()
        fill_runs(duro.catalog, a.views, a.runs)
        fill_s = time.monotonic() - t
        duro.start()
        out = {"views": a.views, "runs": a.runs, "fill_s": round(fill_s, 1),
               "rss_start_kb": rss_kb(duro.proc.pid)}
        rnd = random.Random(2)
        status_sql = "select * from duro.status"
        view_runs_sql = "select * from duro.runs where view = %s order by id desc limit 20"
        last_runs_sql = "select * from duro.runs order by id desc limit 20"

        def a_view():
            return (f"s.v{rnd.randrange(a.views)}",)

        baseline_table(cluster, a.views)
        with psycopg.connect(cluster_dsn(cluster), autocommit=True) as c:
            out["baseline_status_copy_direct"] = timed(c, "select * from status_copy",
                                                       lambda: None, a.queries)
        pid = duro.proc.pid
        with psycopg.connect(duro.dsn(), autocommit=True) as c:
            out["status_query"] = timed(c, status_sql, lambda: None, a.queries, pid)
            out["rss_after_status_kb"] = rss_kb(pid)
            out["runs_query"] = timed(c, view_runs_sql, a_view, a.queries, pid)
            out["last_runs_query"] = timed(c, last_runs_sql, lambda: None, a.queries, pid)
            out["rss_after_runs_kb"] = rss_kb(duro.proc.pid)
            if a.perf:
                perf_profile(duro, c, [(status_sql, lambda: None, a.queries),
                                       (view_runs_sql, a_view, a.queries),
                                       (last_runs_sql, lambda: None, a.queries)], a.perf)
        print(json.dumps(out, indent=2))
        if a.json:
            Path(a.json).write_text(json.dumps(out, indent=2) + "\n")
    finally:
        if duro and duro.proc and duro.proc.poll() is None:
            duro.stop()
        cluster.stop()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
