#!/usr/bin/python3
"""Soak test: does Duro's memory stay flat under a long mixed load? Not part of CI.

    run.py --duro PATH [--duration 600] [--clients 4] [--sample 5] [--warmup 0.2]
           [--max-growth 5] [--scale 1] [--refresh-every 1] [--no-duro-queries]
           [--json FILE] [--keep]

Starts, in a temp dir, a throwaway PostgreSQL 15 cluster (tools/pgcluster.py) initialised with
`pgbench -i -s 1`, and `duro serve` in front of it (no web UI, `[worker] poll = 1s`) on a views
repository of three views over pgbench's tables:

- `soak.hot` (interval 1m), which a driver connection refreshes every second (--refresh-every;
  0: never) through the gateway with `CALL duro_refresh('soak.hot', true)`;
- `soak.stale` (interval 1m, `stale_read = wait`), which the workload reads: once a minute it is
  stale and readers wait for its refresh;
- `soak.served` (interval 1m, `stale_read = serve`), read too: readers never wait.

Two pgbench runs go on at the same time for --duration seconds, one in the simple protocol and
one with prepared statements (-M prepared), --clients clients each, on a script mixing a plain
query of the warehouse, reads of both views and Duro's own `select * from duro.status` and
`select * from duro.runs order by id desc limit 10` (--no-duro-queries leaves these two out, to
tell their memory from the rest's).

Duro's VmRSS (/proc/PID/status) is sampled every --sample seconds. The warm-up is the first
--warmup share of the run; growth is the median of the last three samples against the median of
the three around the end of the warm-up, in percent. Prints the samples' summary, the growth,
the refreshes done, the stale-read waits seen (the NOTICEs pgbench printed) and pgbench's
transactions and failures.

Exit status: 0 when growth <= --max-growth % and no transaction failed (no failed transaction,
no aborted client, no failed refresh); 1 otherwise; 2 when the set-up failed. Everything started
is stopped at the end, also on Ctrl-C; the temp dir is removed (--keep keeps it). Standard
library and psycopg 3 only.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import pgcluster  # noqa: E402
from pgcluster import BENCH_SETTINGS, PG_BIN, SUPERUSER, clean_env, free_port  # noqa: E402

DBNAME = "soak"
VIEWS = {
    "soak/hot — 1m.sql":
        "select bid, count(*) as accounts, sum(abalance) as balance\n"
        "from pgbench_accounts group by bid\n",
    "soak/stale — 1m.sql":
        "select bid, bbalance from pgbench_branches\n",
    "soak/stale.conf": "stale_read = wait\n",
    "soak/served — 1m.sql":
        "select tid, bid, tbalance from pgbench_tellers\n",
    "soak/served.conf": "stale_read = serve\n",
}
SCRIPT = """\\set aid random(1, 100000 * :scale)
\\set tid random(1, 10 * :scale)
select abalance from pgbench_accounts where aid = :aid;
select bbalance from soak.stale where bid = 1;
select tbalance from soak.served where tid = :tid;
"""
DURO_QUERIES = """select * from duro.status;
select * from duro.runs order by id desc limit 10;
"""
MODES = ("simple", "prepared")
FAILED_RE = re.compile(r"^number of failed transactions: (\d+)", re.M)
DONE_RE = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
TPS_RE = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)
ABORTED_RE = re.compile(r"client \d+ aborted", re.M)
WAIT_RE = re.compile(r"soak\.stale is stale")


def log(msg=""):
    print(msg, flush=True)


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def wait_ready(port, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"duro serve exited with {proc.returncode}")
        try:
            with psycopg.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname=DBNAME,
                                 connect_timeout=2) as conn:
                conn.execute("select 1").fetchone()
                return
        except psycopg.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Duro:
    """`duro serve` on the soak repository, its gateway on a free port."""

    def __init__(self, binary, workdir, cluster):
        self.binary = binary
        self.dir = Path(workdir) / "duro"
        views = self.dir / "views"
        for path, text in VIEWS.items():
            (views / path).parent.mkdir(parents=True, exist_ok=True)
            (views / path).write_text(text)
        self.port = free_port()
        self.log = self.dir / "duro.log"
        self.conf = self.dir / "duro.conf"
        self.conf.write_text(
            "# written by bench/soak/run.py\n"
            f"[gateway]\nlisten = 127.0.0.1:{self.port}\nmax_clients = 100\n"
            f"[warehouse]\ndialect = postgres\nhost = 127.0.0.1\nport = {cluster.port}\n"
            f"dbname = {DBNAME}\nuser = {SUPERUSER}\nsslmode = disable\n"
            f"[views]\npath = {views}\n"
            f"[catalog]\npath = {self.dir / 'duro.db'}\n"
            "[worker]\npoll = 1s\n"
            "[web]\nlisten =\n")
        self.proc = None

    def start(self):
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen([self.binary, "serve", "-c", str(self.conf)],
                                         stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT, env=clean_env(),
                                         cwd=self.dir, start_new_session=True)
        wait_ready(self.port, self.proc)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Refresher(threading.Thread):
    """Forces a refresh of soak.hot through the gateway every `every` seconds until stopped."""

    def __init__(self, port, every):
        super().__init__(daemon=True)
        self.port = port
        self.every = every
        self.stop_event = threading.Event()
        self.done = 0
        self.errors = []

    def run(self):
        if self.every <= 0:
            return
        try:
            with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                                 dbname=DBNAME, autocommit=True) as conn:
                while not self.stop_event.is_set():
                    t0 = time.monotonic()
                    try:
                        conn.execute("call duro_refresh('soak.hot', true)")
                        self.done += 1
                    except psycopg.Error as e:
                        self.errors.append(str(e).strip())
                    self.stop_event.wait(max(0.0, self.every - (time.monotonic() - t0)))
        except psycopg.Error as e:
            self.errors.append(f"connection: {str(e).strip()}")


def start_pgbench(port, script, mode, clients, scale, duration, out_dir):
    out = open(out_dir / f"pgbench-{mode}.out", "w")
    err = open(out_dir / f"pgbench-{mode}.err", "w")
    cmd = [str(PG_BIN / "pgbench"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER, "-n",
           "-f", str(script), "-s", str(scale), "-M", mode, "-c", str(clients), "-j", "1",
           "-T", str(duration),
           DBNAME]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                            env=clean_env(), start_new_session=True)
    out.close()
    err.close()
    return proc


def pgbench_result(mode, rc, out_dir):
    out = (out_dir / f"pgbench-{mode}.out").read_text(errors="replace")
    err = (out_dir / f"pgbench-{mode}.err").read_text(errors="replace")
    failed = FAILED_RE.search(out)
    done = DONE_RE.search(out)
    tps = TPS_RE.search(out)
    aborted = len(ABORTED_RE.findall(err))
    errors = [line for line in err.splitlines()
              if "ERROR" in line or "aborted" in line or "FATAL" in line][:5]
    return {"mode": mode, "exit": rc, "transactions": int(done.group(1)) if done else 0,
            "failed": int(failed.group(1)) if failed else 0, "aborted_clients": aborted,
            "tps": float(tps.group(1)) if tps else None, "stale_waits": len(WAIT_RE.findall(err)),
            "errors": errors}


def median_at(samples, index):
    """Median RSS of the (up to) three samples centred on index."""
    lo, hi = max(0, index - 1), min(len(samples), index + 2)
    return statistics.median(kb for _, kb in samples[lo:hi])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duro", required=True, help="the duro binary")
    ap.add_argument("--duration", type=int, default=600, help="seconds of load")
    ap.add_argument("--clients", type=int, default=4, help="pgbench clients per protocol mode")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    ap.add_argument("--warmup", type=float, default=0.2, help="share of the run that is warm-up")
    ap.add_argument("--max-growth", type=float, default=5.0, help="allowed growth after warm-up, %")
    ap.add_argument("--scale", type=int, default=1, help="pgbench -i scale factor")
    ap.add_argument("--refresh-every", type=float, default=1.0,
                    help="seconds between forced refreshes of soak.hot (0: none)")
    ap.add_argument("--no-duro-queries", action="store_true",
                    help="leave duro.status and duro.runs out of the workload")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    args.duro = os.path.abspath(args.duro)
    if args.duration < 10 or args.clients < 1 or args.sample <= 0 or not 0 < args.warmup < 1:
        ap.error("--duration >= 10, --clients >= 1, --sample > 0, 0 < --warmup < 1")
    if not os.access(args.duro, os.X_OK):
        sys.exit(f"run.py: {args.duro} is not an executable (build it with `make`)")

    work = Path(tempfile.mkdtemp(prefix="duro-bench-soak-"))
    cluster = pgcluster.Cluster(work, label="bench/soak", settings=BENCH_SETTINGS)
    duro = None
    refresher = None
    benches = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    samples = []
    try:
        log(f"work dir {work}")
        cluster.start()
        with cluster.connect() as conn:
            conn.execute(f"create database {DBNAME}")
        p = subprocess.run([str(PG_BIN / "pgbench"), "-i", "-q", "-s", str(args.scale), "-h",
                            "127.0.0.1", "-p", str(cluster.port), "-U", SUPERUSER, DBNAME],
                           capture_output=True, text=True, env=clean_env(),
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise RuntimeError(f"pgbench -i exited with {p.returncode}:\n{p.stderr}")
        duro = Duro(args.duro, work, cluster)
        duro.start()
        pid = duro.proc.pid
        log(f"PostgreSQL {cluster.version()} on 127.0.0.1:{cluster.port}, Duro on "
            f"127.0.0.1:{duro.port} (pid {pid}); {args.duration}s of load, "
            f"{args.clients} clients x {len(MODES)} modes")
        script = work / "soak.sql"
        script.write_text(SCRIPT + ("" if args.no_duro_queries else DURO_QUERIES))

        refresher = Refresher(duro.port, args.refresh_every)
        refresher.start()
        start = time.monotonic()
        for mode in MODES:
            benches[mode] = start_pgbench(duro.port, script, mode, args.clients, args.scale,
                                          args.duration,
                                          work)
        while any(b.poll() is None for b in benches.values()):
            if duro.proc.poll() is not None:
                raise RuntimeError(f"duro serve exited with {duro.proc.returncode}")
            t = time.monotonic() - start
            samples.append((t, rss_kb(pid)))
            if len(samples) % max(1, int(60 / args.sample)) == 1:
                log(f"  {t:6.0f}s  RSS {samples[-1][1] / 1024:7.1f} MB, "
                    f"{refresher.done} forced refreshes")
            time.sleep(args.sample)
        samples.append((time.monotonic() - start, rss_kb(pid)))
        refresher.stop_event.set()
        refresher.join(30)
        results = [pgbench_result(mode, benches[mode].returncode, work) for mode in MODES]
    except (RuntimeError, psycopg.Error, OSError) as e:
        log(f"run.py: {str(e).strip()}")
        if duro is not None and duro.log.exists():
            log("duro.log ends with:\n" +
                "\n".join(duro.log.read_text(errors="replace").splitlines()[-20:]))
        return 2
    finally:
        if refresher is not None:
            refresher.stop_event.set()
        for b in benches.values():
            if b.poll() is None:
                b.terminate()
                b.wait(30)
        if duro is not None:
            duro.stop()
        cluster.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    # The warm-up's end: the first sample at or past it.
    warm = next((i for i, (t, _) in enumerate(samples) if t >= args.warmup * args.duration),
                len(samples) - 1)
    base = median_at(samples, warm)
    end = median_at(samples, len(samples) - 2)
    after = [kb for _, kb in samples[warm:]]
    growth = 100.0 * (end - base) / base
    failures = sum(r["failed"] + r["aborted_clients"] + (r["exit"] != 0) for r in results)
    failures += len(refresher.errors)
    kbs = [kb for _, kb in samples]

    log(f"\nRSS samples: {len(samples)} every {args.sample:g}s; min {min(kbs) / 1024:.1f} MB, "
        f"max {max(kbs) / 1024:.1f} MB, first {kbs[0] / 1024:.1f} MB, last {kbs[-1] / 1024:.1f} MB")
    log(f"after warm-up ({args.warmup:.0%} = {samples[warm][0]:.0f}s): "
        f"{base / 1024:.1f} MB -> {end / 1024:.1f} MB at the end "
        f"(max {max(after) / 1024:.1f} MB): growth {growth:+.2f} %")
    log(f"forced refreshes of soak.hot: {refresher.done}, failed: {len(refresher.errors)}")
    for e in refresher.errors[:5]:
        log(f"  {e}")
    for r in results:
        log(f"pgbench -M {r['mode']:<8}: {r['transactions']} transactions "
            f"({r['tps'] or 0:.1f} tps), failed {r['failed']}, aborted clients "
            f"{r['aborted_clients']}, exit {r['exit']}, stale-read waits {r['stale_waits']}")
        for e in r["errors"]:
            log(f"  {e}")
    ok = growth <= args.max_growth and failures == 0
    log(f"soak: {'passed' if ok else 'FAILED'} (growth {growth:+.2f} % of at most "
        f"{args.max_growth:g} %, {failures} failures)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"duration_s": args.duration, "clients_per_mode": args.clients,
                       "samples_kb": samples, "warmup_s": samples[warm][0],
                       "growth_percent": growth, "refreshes": refresher.done,
                       "refresh_errors": refresher.errors, "pgbench": results}, f, indent=2)
            f.write("\n")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
