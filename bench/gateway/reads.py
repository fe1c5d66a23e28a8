#!/usr/bin/python3
"""Measures what counting reads costs the gateway: the same pgbench runs through two `duro
serve` on one cluster, one counting the reads of managed views (the default) and one started
with DURO_RECORD_READS=off.

    reads.py --duro PATH [--duration 10] [--rounds 3] [--scale 10]

Starts, in a temp dir, a throwaway PostgreSQL 15 cluster initialised with `pgbench -i`, and two
Duro gateways that both manage `bench.accounts_hot` (as bench/gateway/run.py does). Then, for
--rounds rounds, each with the two gateways in turn: `pgbench -S -M extended -c 16 -j 2` (reads
no managed view: nothing is counted) and a custom script that reads the managed view by a random
key (`-M simple` with 1 client, `-M extended` with 16; every statement is counted; with
`-M prepared` a statement would be counted once, when prepared). Prints the median TPS of each
cell and the ratio on/off, then the same for the best (highest) TPS of each. Standard library and
psycopg 3 only.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import subprocess
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402
from run import (DBNAME, HOT_SCRIPT, HOT_VIEW, HOT_VIEW_SQL, PG_BIN, SUPERUSER,  # noqa: E402
                 Cluster, clean_env, log, pgbench, pgbench_script, stop_process, wait_listening,
                 wait_view_built)


class Duro(run.Duro):
    """run.Duro, with extra environment variables."""

    def __init__(self, *a, env=None, **kw):
        super().__init__(*a, **kw)
        self.env = env or {}

    def start(self):
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen([self.binary, "serve", "-c", str(self.conf)],
                                         stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT, env=clean_env(self.env),
                                         cwd=self.dir, start_new_session=True)
        wait_listening(self.port, self.proc, "duro serve", timeout=20)

    def stop(self):
        stop_process(self.proc)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duro", required=True)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", type=int, default=10)
    args = ap.parse_args(argv)
    args.duro = os.path.abspath(args.duro)
    work = Path(tempfile.mkdtemp(prefix="duro-bench-reads-"))
    cluster = Cluster(work, max_connections=200, label="bench/reads",
                      settings=run.BENCH_SETTINGS)
    views = {"bench/accounts_hot — 1h.sql": HOT_VIEW_SQL}
    on = off = None
    cells = {}
    try:
        cluster.start()
        with cluster.connect() as conn:
            conn.execute(f"create database {DBNAME}")
        subprocess.run([str(PG_BIN / "pgbench"), "-i", "-q", "-s", str(args.scale), "-h",
                        "127.0.0.1", "-p", str(cluster.port), "-U", SUPERUSER, DBNAME],
                       capture_output=True, check=True, env=clean_env(),
                       stdin=subprocess.DEVNULL)
        on = Duro(args.duro, work, cluster, name="duro-on", views=views)
        off = Duro(args.duro, work, cluster, name="duro-off", views=views,
                   env={"DURO_RECORD_READS": "off"})
        on.start()
        wait_view_built(cluster, HOT_VIEW)
        off.start()
        script = work / "view.sql"
        script.write_text(HOT_SCRIPT)
        loads = [("-S", "extended", 16, 2), ("view", "simple", 1, 1),
                 ("view", "extended", 16, 2)]
        for r in range(args.rounds):
            for what, mode, c, j in loads:
                for key, port in (("on", on.port), ("off", off.port)):
                    if what == "-S":
                        tps, err = pgbench(port, mode, c, j, args.duration)
                    else:
                        tps, err = pgbench_script(port, script, mode, c, j, args.duration)
                    if tps is None:
                        raise RuntimeError(f"{what} -M {mode} -c {c} recording {key}: {err}")
                    cells.setdefault((what, mode, c), {}).setdefault(key, []).append(tps)
                    log(f"round {r + 1}: {what:<4} -M {mode:<8} -c {c:<2} recording {key:<3} "
                        f"{tps:10.0f} tps")
        with run.psycopg.connect(host="127.0.0.1", port=on.port, user=SUPERUSER, dbname=DBNAME,
                                 connect_timeout=10) as conn:
            log("duro.status with recording on: " + repr(conn.execute(
                "select view, reads_24h, readers from duro.status").fetchall()))
    finally:
        for d in (on, off):
            if d is not None and d.proc is not None:
                d.stop()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    for name, pick in (("median", statistics.median), ("best", max)):
        log(f"pgbench -T {args.duration}, {name} of {args.rounds} rounds:")
        for (what, mode, c), v in cells.items():
            a, b = pick(v["on"]), pick(v["off"])
            log(f"  {what:<4} -M {mode:<8} -c {c:<2}: recording on {a:10.0f}, off {b:10.0f}, "
                f"on/off {a / b:.3f}")


if __name__ == "__main__":
    main()
