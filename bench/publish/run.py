#!/usr/bin/python3
"""How many warehouse transactions publishing duro.status and duro.runs costs.

    run.py --duro PATH [--minutes 10] [--views 3] [--interval 2m] [--every 10s]

Starts a throwaway PostgreSQL 15 cluster of its own (tools/pgcluster.py) and `duro serve` with
--views views refreshed every --interval (builds of 5 to 40 s, pg_sleep), so that 3 views every
2 minutes make about 2,160 runs a day. Once the published tables exist, statement triggers on
them record the id of every transaction that writes them; after --minutes it prints the runs
made, the publishing transactions, and both per hour. Standard library and psycopg 3.
"""

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
from pgcluster import Cluster, free_port  # noqa: E402

TRIGGERS = """
create table public.publish_log (txid bigint, at timestamptz default now());
create function public.publish_note() returns trigger language plpgsql as
  $$ begin insert into public.publish_log (txid) values (txid_current()); return null; end $$;
create trigger note after insert or delete on duro.status
  for each statement execute function public.publish_note();
create trigger note after insert or delete on duro.runs
  for each statement execute function public.publish_note();
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duro", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--views", type=int, default=3)
    ap.add_argument("--interval", default="2m")
    ap.add_argument("--every", default="10s")
    args = ap.parse_args()

    cluster = Cluster()
    cluster.start()
    tmp = Path(tempfile.mkdtemp(prefix="duro-publish-"))
    proc = None
    try:
        cluster.sql("create database bench")
        views = tmp / "views" / "first"
        views.mkdir(parents=True)
        for i in range(args.views):
            sleep = 5 + (35 * i) // max(1, args.views - 1)
            (views / f"v{i} - {args.interval}.sql").write_text(
                f"select n from generate_series(1, 10) n, pg_sleep({sleep}) s\n")
        port = free_port()
        (tmp / "duro.conf").write_text(
            f"[gateway]\nlisten = 127.0.0.1:{port}\n"
            f"[warehouse]\nhost = {cluster.host}\nport = {cluster.port}\ndbname = bench\n"
            f"user = {cluster.superuser}\nsslmode = disable\n"
            f"[views]\npath = {tmp / 'views'}\n"
            f"[catalog]\npath = {tmp / 'duro.db'}\npublish_every = {args.every}\n"
            "[worker]\npoll = 1s\nconcurrency = 2\n[web]\nlisten =\n")
        log = open(tmp / "duro.log", "wb")
        proc = subprocess.Popen([args.duro, "serve", "-c", str(tmp / "duro.conf")], stdout=log,
                                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while cluster.sql("select count(*) from pg_tables where schemaname = 'duro'",
                          dbname="bench")[0][0] < 2:
            if time.monotonic() > deadline:
                raise SystemExit("the published tables did not appear in 60 s")
            time.sleep(0.2)
        with cluster.connect("bench") as conn:
            conn.execute(TRIGGERS)
        catalog = sqlite3.connect(tmp / "duro.db")
        first_run = catalog.execute("select coalesce(max(id), 0) from runs").fetchone()[0]
        t0 = time.monotonic()
        time.sleep(args.minutes * 60)
        hours = (time.monotonic() - t0) / 3600
        runs = catalog.execute("select count(*) from runs where id > ?", (first_run,)).fetchone()[0]
        txs = cluster.sql("select count(distinct txid) from public.publish_log",
                          dbname="bench")[0][0]
        print(f"{args.views} views every {args.interval}, publish_every = {args.every}, "
              f"{args.minutes:g} minutes")
        print(f"runs started: {runs} ({runs / hours:.0f} an hour, {24 * runs / hours:.0f} a day)")
        print(f"publishing transactions: {txs} ({txs / hours:.0f} an hour)")
    finally:
        if proc:
            proc.terminate()
            proc.wait(30)
        cluster.stop()


if __name__ == "__main__":
    main()
