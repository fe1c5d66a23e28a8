#!/usr/bin/python3
"""Measures what the /metrics counters cost the gateway: pgbench -S through two `duro serve`,
one built from this tree and one from another binary (the commit before the counters), on the
same throwaway PostgreSQL cluster, in turn.

    run.py --duro PATH --base PATH [--duration 10] [--rounds 3] [--scale 10] [--json FILE]

For each round, each protocol mode (-M simple | prepared) and 1 and 16 clients, `pgbench -S -n`
runs --duration seconds against the base binary's gateway, then against this one's (the order
alternates between rounds, so drift on the machine hits both alike). Prints the median TPS of
each and the ratio. The cluster and both Duros are set up as in bench/gateway/run.py, whose
helpers this uses. Standard library and psycopg 3 only.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
import run as gw  # noqa: E402

MODES = ("simple", "prepared")
CLIENTS = ((1, 1), (16, 2))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duro", required=True, help="the duro binary with the counters")
    ap.add_argument("--base", required=True, help="the duro binary to compare with")
    ap.add_argument("--duration", type=int, default=10, help="seconds per pgbench run (-T)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each cell per binary")
    ap.add_argument("--scale", type=int, default=10, help="pgbench -i scale factor")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    args = ap.parse_args(argv)
    binaries = {"base": os.path.abspath(args.base), "this": os.path.abspath(args.duro)}
    for path in binaries.values():
        if not os.access(path, os.X_OK):
            sys.exit(f"run.py: {path} is not an executable")
    work = Path(tempfile.mkdtemp(prefix="duro-bench-metrics-"))
    cluster = gw.Cluster(work, max_connections=200, label="bench/metrics",
                         settings=gw.BENCH_SETTINGS)
    duros = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = []
    try:
        cluster.start()
        with cluster.connect() as conn:
            conn.execute(f"create database {gw.DBNAME}")
        p = subprocess.run([str(gw.PG_BIN / "pgbench"), "-i", "-q", "-s", str(args.scale),
                            "-h", "127.0.0.1", "-p", str(cluster.port), "-U", gw.SUPERUSER,
                            gw.DBNAME], capture_output=True, text=True, env=gw.clean_env(),
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise RuntimeError(f"pgbench -i exited with {p.returncode}:\n{p.stderr}")
        for name, path in binaries.items():
            duros[name] = gw.Duro(path, work, cluster, name=f"duro-{name}")
            duros[name].start()
            gw.log(f"{name}: {duros[name].version()} ({path}) on port {duros[name].port}")
        for clients, threads in CLIENTS:
            for mode in MODES:
                tps = {name: [] for name in binaries}
                for r in range(args.rounds):
                    order = list(binaries) if r % 2 == 0 else list(reversed(binaries))
                    for name in order:
                        v, err = gw.pgbench(duros[name].port, mode, clients, threads,
                                            args.duration)
                        if v is None:
                            raise RuntimeError(f"pgbench against {name} failed: {err}")
                        tps[name].append(v)
                cell = {"mode": mode, "clients": clients,
                        **{n: statistics.median(v) for n, v in tps.items()},
                        "runs": tps}
                cell["ratio"] = cell["this"] / cell["base"]
                results.append(cell)
                gw.log(f"-M {mode:<8} -c {clients:<2}: base {cell['base']:,.0f} tps, "
                       f"this {cell['this']:,.0f} tps, this/base {cell['ratio']:.3f}")
    finally:
        for d in duros.values():
            d.stop()
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"duration_s": args.duration, "rounds": args.rounds, "cells": results}, f,
                      indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    gw.log(f"done in {time.monotonic() - t0:.0f} s")
    sys.exit(rc)
