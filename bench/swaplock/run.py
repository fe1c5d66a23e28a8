#!/usr/bin/python3
"""How long readers wait behind the swap of a view that a session left idle in a transaction.

    run.py --duro PATH [--hold 40] [--lock-timeout 5s] [--tries 5] [--readers 2]

(--lock-timeout and --tries set [worker] swap_lock_timeout and swap_tries; left out, the
configuration has neither key and Duro's defaults apply, so an older duro can run it too.)

Starts a throwaway PostgreSQL 15 cluster of its own (tools/pgcluster.py) and `duro serve` with
two views, first.swap (100,000 rows) and first.cities, both built first. Then a session reads
first.swap in a transaction and stays idle in it for --hold seconds, as a BI tool or a notebook
does. Meanwhile:
  - CALL duro_refresh('first.swap') through the gateway (its swap needs the table to itself),
  - 0.5 s later CALL duro_refresh('first.cities') through the gateway (an unrelated view),
  - --readers threads read first.swap directly, and as many through the gateway, in a loop.
It prints the longest a reader's statement took (directly, through the gateway), how long the
other view's refresh took, and how the blocked refresh ended. Standard library and psycopg 3.
"""

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
from pgcluster import Cluster, free_port  # noqa: E402


def reader(connect, stop, out):
    conn = connect()
    longest = 0.0
    with conn:
        while not stop.is_set():
            t0 = time.monotonic()
            conn.execute("select count(*) from first.swap").fetchone()
            longest = max(longest, time.monotonic() - t0)
            time.sleep(0.02)
    out.append(longest)


def call(gw, view, out):
    t0 = time.monotonic()
    try:
        with psycopg.connect(autocommit=True, **gw) as conn:
            conn.execute("call duro_refresh(%s)", (view,)).fetchone()
            out["result"] = "ok"
    except psycopg.Error as e:
        out["result"] = f"{e.sqlstate}: {str(e).splitlines()[0]}"
    out["seconds"] = time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duro", required=True)
    ap.add_argument("--hold", type=float, default=40)
    ap.add_argument("--lock-timeout")
    ap.add_argument("--tries", type=int)
    ap.add_argument("--readers", type=int, default=2)
    args = ap.parse_args()

    cluster = Cluster()
    cluster.start()
    tmp = Path(tempfile.mkdtemp(prefix="duro-swaplock-"))
    proc = None
    try:
        cluster.sql("create database bench")
        views = tmp / "views" / "first"
        views.mkdir(parents=True)
        (views / "swap - 1h.sql").write_text("select g as n from generate_series(1, 100000) g\n")
        (views / "cities - 1h.sql").write_text("select 'Lisbon'::text as city\n")
        port = free_port()
        (tmp / "duro.conf").write_text(
            f"[gateway]\nlisten = 127.0.0.1:{port}\n"
            f"[warehouse]\nhost = {cluster.host}\nport = {cluster.port}\ndbname = bench\n"
            f"user = {cluster.superuser}\nsslmode = disable\n"
            f"[views]\npath = {tmp / 'views'}\n[catalog]\npath = {tmp / 'duro.db'}\n"
            "[worker]\npoll = 1s\nconcurrency = 2\n"
            + (f"swap_lock_timeout = {args.lock_timeout}\n" if args.lock_timeout else "")
            + (f"swap_tries = {args.tries}\n" if args.tries else ""))
        conf = tmp / "duro.conf"
        log = open(tmp / "duro.log", "wb")
        proc = subprocess.Popen([args.duro, "serve", "-c", str(conf)], stdout=log,
                                stderr=subprocess.STDOUT)
        gw = {"host": "127.0.0.1", "port": port, "dbname": "bench",
              "user": cluster.superuser, "sslmode": "disable"}
        direct = {"host": cluster.host, "port": cluster.port, "dbname": "bench",
                  "user": cluster.superuser}
        deadline = time.monotonic() + 60
        while True:
            try:
                n = cluster.sql("select count(*) from pg_tables where schemaname = 'first' "
                                "and tablename in ('swap', 'cities')", dbname="bench")[0][0]
                if n == 2:
                    break
            except psycopg.Error:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the views were not built in 60 s")
            time.sleep(0.2)
        time.sleep(1)

        idle = psycopg.connect(autocommit=False, **direct)
        idle.execute("select count(*) from first.swap").fetchone()
        stop = threading.Event()
        direct_waits, gateway_waits = [], []
        threads = [threading.Thread(target=reader, args=(
            lambda: psycopg.connect(autocommit=True, **direct), stop, direct_waits))
            for _ in range(args.readers)]
        threads += [threading.Thread(target=reader, args=(
            lambda: psycopg.connect(autocommit=True, **gw), stop, gateway_waits))
            for _ in range(args.readers)]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        swap, cities = {}, {}
        caller = threading.Thread(target=call, args=(gw, "first.swap", swap))
        caller.start()
        time.sleep(0.5)
        other = threading.Thread(target=call, args=(gw, "first.cities", cities))
        other.start()
        time.sleep(max(0.0, args.hold - (time.monotonic() - t0)))
        idle.rollback()
        idle.close()
        caller.join(600)
        other.join(600)
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join(600)
        print(f"idle in transaction for {args.hold:.0f} s; swap_lock_timeout = "
              f"{args.lock_timeout or 'default'}, swap_tries = {args.tries or 'default'}")
        print(f"longest read of first.swap: directly {max(direct_waits):.2f} s, "
              f"through the gateway {max(gateway_waits):.2f} s")
        print(f"CALL duro_refresh('first.cities'): {cities['seconds']:.2f} s ({cities['result']})")
        print(f"CALL duro_refresh('first.swap'): {swap['seconds']:.2f} s ({swap['result']})")
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        cluster.stop()


if __name__ == "__main__":
    main()
