#!/usr/bin/python3
"""Times the web UI's pages on a big catalog: 10,000 views and 1,000,000 runs.

    run.py --duro PATH [--views 10000] [--runs 1000000] [--requests 20] [--keep]
           [--catalog KEPT/duro.db]

Builds a catalog of its own in a temp dir: `duro serve` creates the schema, then this script
writes --views views (a random dependency graph, 2 % of them failed) and --runs runs spread over
the last 30 days (two steps each) straight into SQLite. Then `duro serve` runs with the web UI
on a free port, no gateway, and a repository with a problem in it (so that the scheduler keeps
the catalog as it is and builds nothing; no warehouse is needed). Each route is asked
--requests times, one request at a time; the median and the slowest wall-clock times are
printed in ms, and the CPU time Duro spent per request (utime + stime from /proc/PID/stat: on a
shared machine, the steadier figure).
Standard library only.
"""
import argparse
import http.client
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY_US = 86400 * 1000000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_conf(path, catalog, views, web_port):
    path.write_text(f"""[gateway]
listen =
[warehouse]
dialect = postgres
host = 127.0.0.1
port = 1
dbname = none
sslmode = disable
[views]
path = {views}
rescan = 1h
[catalog]
path = {catalog}
[worker]
poll = 1h
[web]
listen = 127.0.0.1:{web_port}
""")


def fill(catalog, n_views, n_runs):
    rng = random.Random(1)
    now = int(time.time() * 1e6)
    db = sqlite3.connect(catalog)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    names = [f"s{i % 50}.view_{i}" for i in range(n_views)]
    rows = []
    for i, name in enumerate(names):
        deps = sorted({names[rng.randrange(i)] for _ in range(rng.randrange(3))}) if i else []
        schema, table = name.split(".")
        rows.append((name, schema, table, "sql", f"{schema}/{table} - 1h.sql", 3600, 3600, 1,
                     "stale_read=wait\n", ",".join(deps), "h", "h", now - 30 * DAY_US,
                     now - 30 * DAY_US, now - rng.randrange(DAY_US), 1000, 100))
    db.executemany("INSERT INTO views VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    failed = set(rng.sample(names, n_views // 50))
    batch, steps = [], []
    for k in range(n_runs):
        started = now - 30 * DAY_US + k * (30 * DAY_US // n_runs)
        view = names[k % n_views]
        took = rng.randrange(200000, 20000000)
        last = k >= n_runs - n_views
        outcome = "failed" if last and view in failed else "ok"
        error = "relation does not exist" if outcome == "failed" else None
        batch.append((k + 1, view, "schedule", started, started + took, outcome, 100, error,
                      "h", os.getpid(), None))
        steps.append((k + 1, "create_temp", started, started + took - 1000, error))
        steps.append((k + 1, "swap", started + took - 1000, started + took, None))
        if len(batch) == 100000:
            db.executemany("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch)
            db.executemany("INSERT INTO run_steps VALUES (?,?,?,?,?)", steps)
            batch, steps = [], []
    db.executemany("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch)
    db.executemany("INSERT INTO run_steps VALUES (?,?,?,?,?)", steps)
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return names


def cpu_ms(pid):
    """The CPU time process pid has used, in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    ms = (time.perf_counter() - t) * 1000
    conn.close()
    if r.status != 200:
        raise SystemExit(f"GET {path}: {r.status} {body[:200]!r}")
    return ms, len(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duro", required=True)
    ap.add_argument("--views", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=1000000)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--catalog", help="a catalog this script wrote before (--keep), used as it is")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="duro-bench-web-"))
    views = work / "views"
    views.mkdir()
    (views / "broken.sql").write_text("select 1 as x\n")  # no interval: a problem
    catalog, conf, port = work / "duro.db", work / "duro.conf", free_port()
    write_conf(conf, catalog, views, port)
    env = dict(os.environ, DURO_LOG_LEVEL="warn")
    log = open(work / "duro.log", "w")
    proc = None
    try:
        if args.catalog:
            catalog = Path(args.catalog)
            write_conf(conf, catalog, views, port)
            with sqlite3.connect(catalog) as db:
                names = [r[0] for r in db.execute("SELECT name FROM views ORDER BY rowid")]
        else:
            # The first start creates the catalog's schema.
            proc = subprocess.Popen([args.duro, "serve", "-c", conf], stdout=log, stderr=log,
                                    env=env)
            deadline = time.monotonic() + 20
            while not catalog.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1)
            proc.terminate()
            proc.wait(30)
            t = time.perf_counter()
            names = fill(catalog, args.views, args.runs)
            print(f"catalog: {args.views} views, {args.runs} runs written in "
                  f"{time.perf_counter() - t:.1f} s ({catalog.stat().st_size / 1e6:.0f} MB)",
                  flush=True)
        proc = subprocess.Popen([args.duro, "serve", "-c", conf], stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the web UI did not start; see " + str(work / "duro.log"))
                time.sleep(0.1)
        view = names[len(names) // 2]
        routes = ["/", "/views", "/views?page=50", f"/views/{view}", "/graph", "/api/views",
                  f"/api/views/{view}", "/api/runs", f"/api/runs?view={view}",
                  "/api/runs?limit=500"]
        print(f"{'route':<34} {'median ms':>10} {'max ms':>8} {'CPU ms':>7} {'bytes':>9}",
              flush=True)
        for route in routes:
            times, size = [], 0
            cpu = cpu_ms(proc.pid)
            for _ in range(args.requests):
                ms, size = get(port, route)
                times.append(ms)
            cpu = (cpu_ms(proc.pid) - cpu) / args.requests
            print(f"{route:<34} {statistics.median(times):>10.1f} {max(times):>8.1f} {cpu:>7.1f} "
                  f"{size:>9}", flush=True)
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        log.close()
        if args.keep:
            print(f"kept {work}")
        else:
            subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    sys.exit(main())
