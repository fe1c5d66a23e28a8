#!/usr/bin/python3
"""Measures the gateway's cost: pgbench throughput and memory per idle session, against
PostgreSQL directly and against PgBouncer.

    run.py --duro PATH [--duration 10] [--quick] [--sessions 1000] [--scale 10]
           [--json FILE] [--keep]

Starts, in a temp dir, a throwaway PostgreSQL 15 cluster (as the postgres OS user when run as
root, on a free port, fsync off, max_connections high enough for every session below) and
initialises it with `pgbench -i -s 10`. In front of it: `duro serve` (its gateway on a free port,
an empty views repository, no web UI) and PgBouncer (/usr/sbin/pgbouncer, session pooling with a
pool large enough that every client has its own server connection, trust auth). Then:

1. Throughput. `pgbench -S -n` (select-only, no vacuum) for each protocol mode
   (-M simple | extended | prepared) with 1 client (-j 1) and 16 clients (-j 2), --duration
   seconds each (-T 10; --quick: -T 2), against PostgreSQL directly, through Duro and through
   PgBouncer. The three targets run one after the other for a cell before the next cell starts,
   so drift on the machine hits them alike. The figure is pgbench's
   "tps = N (without initial connection time)".
2. Memory per idle session. --sessions (1,000) client connections are opened to Duro with
   psycopg, each runs `select pg_backend_pid()` once (so each is linked to a warehouse
   connection, which PgBouncer only makes on a session's first query; the distinct PIDs show
   that every session has its own) and then stays idle. The proxy's VmRSS
   (/proc/PID/status) before the first and after the last gives KB per session. Same for
   PgBouncer; the connections are closed after each.

3. Inspection. The same Duro, which reads what it relays (Duro's own SQL, reads of stale
   views), against a second `duro serve` with `[gateway] inspect = off` (a plain relay):
   `pgbench -S` in each mode with 1 and 16 clients, and a script that reads a managed view
   (`bench.accounts_hot`, a fresh view of 1,000 accounts that the first Duro builds at start)
   by a random key with 1 client, where each statement is checked for staleness; in the
   extended and prepared modes the statement text repeats, so the statement cache answers.

Prints a table of TPS with the ratios Duro/direct and Duro/PgBouncer, and the memory figures;
--json FILE also writes them as JSON. Everything started is stopped at the end, also on Ctrl-C:
Duro with SIGTERM, PgBouncer, the cluster with `pg_ctl stop`; the temp dir is removed (--keep
keeps it).

pgbench, Duro, PgBouncer and PostgreSQL share the machine's cores, so a proxy competes with the
load generator and the server for CPU: the ratios are those of this set-up, not of a proxy on a
host of its own.

The proxy's CPU time per transaction, which depends far less on the machine's other work than
TPS, is measured by cpu.py beside this script (Duro against PgBouncer, 1, 16 and 64 clients,
best of several runs).

Exit status: 0 when every run succeeded; 1 when a pgbench run or the memory test failed; 2 when
this duro's gateway does not accept connections (the direct and PgBouncer columns are still
measured). Standard library and psycopg 3 only.
"""

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import pgcluster  # noqa: E402
from pgcluster import (BENCH_SETTINGS, PG_BIN, PG_OS_USER, SUPERUSER, clean_env,  # noqa: E402
                       free_port, give_to_pg_user)

PGBOUNCER = Path("/usr/sbin/pgbouncer")
DBNAME = "bench"
MODES = ("simple", "extended", "prepared")
CLIENTS = ((1, 1), (16, 2))  # (pgbench -c, -j)
TARGETS = ("direct", "duro", "pgbouncer")
MAX_PROXY_CLIENTS = 2000
HOT_VIEW = "bench.accounts_hot"
HOT_VIEW_SQL = "select aid, bid, abalance from pgbench_accounts where aid <= 1000\n"
HOT_SCRIPT = ("\\set aid random(1, 1000)\n"
              "select abalance from bench.accounts_hot where aid = :aid;\n")
TPS_RE = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)


def log(msg=""):
    print(msg, flush=True)


def wait_listening(port, proc, what, timeout=30.0):
    """Waits until 127.0.0.1:port accepts a TCP connection; raises if proc exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} does not listen on 127.0.0.1:{port} after {timeout:g} s")


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def log_tail(path, n=20):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def stop_process(p, sig=signal.SIGTERM, grace=30):
    if p is not None and p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def raise_nofile(n):
    """Raises our RLIMIT_NOFILE (inherited by everything we start) to at least n if allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(max(n, soft), hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- a throwaway PostgreSQL ---------------------------------------------------------------------


class Cluster(pgcluster.Cluster):
    def backends(self):
        """Client backends connected to DBNAME, not counting the one asking."""
        with self.connect() as conn:
            return conn.execute("select count(*) from pg_stat_activity where datname = %s "
                                "and backend_type = 'client backend'", (DBNAME,)).fetchone()[0]


# -- the proxies --------------------------------------------------------------------------------


class Duro:
    """`duro serve` with its gateway on a free port, an empty repository and no web UI."""

    name = "Duro"

    def __init__(self, binary, workdir, cluster, name="duro", inspect="on", views=None):
        self.binary = binary
        self.dir = Path(workdir) / name
        self.dir.mkdir()
        (self.dir / "views").mkdir()
        for path, text in (views or {}).items():
            (self.dir / "views" / path).parent.mkdir(parents=True, exist_ok=True)
            (self.dir / "views" / path).write_text(text)
        self.port = free_port()
        self.log = self.dir / "duro.log"
        self.conf = self.dir / "duro.conf"
        self.conf.write_text(
            "# written by bench/gateway/run.py\n"
            f"[gateway]\nlisten = 127.0.0.1:{self.port}\nmax_clients = {MAX_PROXY_CLIENTS}\n"
            f"inspect = {inspect}\n"
            f"[warehouse]\ndialect = postgres\nhost = 127.0.0.1\nport = {cluster.port}\n"
            f"dbname = {DBNAME}\nuser = {SUPERUSER}\nsslmode = disable\n"
            f"[views]\npath = {self.dir / 'views'}\n"
            f"[catalog]\npath = {self.dir / 'duro.db'}\n"
            "[web]\nlisten =\n")
        self.proc = None

    def start(self):
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen([self.binary, "serve", "-c", str(self.conf)],
                                         stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT, env=clean_env(),
                                         cwd=self.dir, start_new_session=True)
        wait_listening(self.port, self.proc, "duro serve", timeout=20)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        stop_process(self.proc)  # SIGTERM: drains and exits

    def version(self):
        p = subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                           env=clean_env(), stdin=subprocess.DEVNULL, timeout=30)
        return (p.stdout or p.stderr).strip().splitlines()[0] if p.returncode == 0 else "?"


class PgBouncer:
    """PgBouncer in session mode, one server connection per client, as the postgres OS user."""

    name = "PgBouncer"

    def __init__(self, workdir, cluster, settings=""):
        self.dir = Path(workdir) / "pgbouncer"
        self.dir.mkdir()
        self.port = free_port()
        self.log = self.dir / "pgbouncer.log"
        self.ini = self.dir / "pgbouncer.ini"
        (self.dir / "userlist.txt").write_text(f'"{SUPERUSER}" ""\n')
        self.ini.write_text(
            "; written by bench/gateway/run.py\n"
            "[databases]\n"
            f"{DBNAME} = host=127.0.0.1 port={cluster.port} dbname={DBNAME} user={SUPERUSER}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.dir / 'userlist.txt'}\n"
            "pool_mode = session\n"
            f"max_client_conn = {MAX_PROXY_CLIENTS}\n"
            f"default_pool_size = {MAX_PROXY_CLIENTS}\nmax_db_connections = 0\n"
            "log_connections = 0\nlog_disconnections = 0\n"
            f"logfile = {self.log}\n" + settings)
        self.user = None
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            self.user = PG_OS_USER
            give_to_pg_user(self.dir)
        self.proc = None

    def start(self):
        # Popen(user=...) rather than runuser: self.proc.pid is then pgbouncer's own pid.
        kw = {"user": self.user, "group": self.user, "extra_groups": []} if self.user else {}
        self.proc = subprocess.Popen([str(PGBOUNCER), str(self.ini)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=clean_env(), cwd=self.dir, start_new_session=True,
                                     **kw)
        wait_listening(self.port, self.proc, "pgbouncer", timeout=20)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        stop_process(self.proc, signal.SIGINT)  # SIGINT: safe shutdown

    def version(self):
        p = subprocess.run([str(PGBOUNCER), "--version"], capture_output=True, text=True,
                           timeout=30)
        return p.stdout.splitlines()[0].split()[-1] if p.returncode == 0 else "?"


# -- 1. throughput ------------------------------------------------------------------------------


def pgbench(port, mode, clients, threads, duration):
    """Runs a select-only pgbench; returns (tps or None, error text)."""
    cmd = [str(PG_BIN / "pgbench"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER,
           "-S", "-n", "-M", mode, "-c", str(clients), "-j", str(threads), "-T", str(duration),
           DBNAME]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(),
                           stdin=subprocess.DEVNULL, timeout=duration + 120)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {duration + 120} s"
    m = TPS_RE.search(p.stdout)
    if p.returncode != 0 or not m:
        return None, f"exit {p.returncode}: " + "\n".join((p.stderr or p.stdout).splitlines()[-5:])
    return float(m.group(1)), ""


def pgbench_script(port, script, mode, clients, threads, duration):
    """Runs pgbench with a custom script file; returns (tps or None, error text)."""
    cmd = [str(PG_BIN / "pgbench"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER,
           "-n", "-f", str(script), "-M", mode, "-c", str(clients), "-j", str(threads), "-T",
           str(duration), DBNAME]
    p = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(),
                       stdin=subprocess.DEVNULL, timeout=duration + 120)
    m = TPS_RE.search(p.stdout)
    if p.returncode != 0 or not m:
        return None, f"exit {p.returncode}: " + "\n".join((p.stderr or p.stdout).splitlines()[-5:])
    return float(m.group(1)), ""


def bench_inspection(args, on_port, off_port, script):
    """pgbench -S and the managed-view script through Duro with inspection on and off, in
    turn. Returns (cells, failed)."""
    cells, failed = [], False
    runs = [("-S", mode, c, j) for c, j in CLIENTS for mode in MODES]
    runs += [("view", mode, 1, 1) for mode in MODES]
    for what, mode, clients, threads in runs:
        cell = {"load": what, "mode": mode, "clients": clients}
        for key, port in (("on", on_port), ("off", off_port)):
            if what == "-S":
                tps, err = pgbench(port, mode, clients, threads, args.duration)
            else:
                tps, err = pgbench_script(port, script, mode, clients, threads, args.duration)
            cell[key] = tps
            if tps is None:
                failed = True
                log(f"  {what} -M {mode} -c {clients} with inspect={key} failed: {err}")
        cells.append(cell)
        log(f"  {what:<4} -M {mode:<8} -c {clients:<2}: inspect on {fmt_tps(cell['on'])}, "
            f"off {fmt_tps(cell['off'])}")
    return cells, failed


def wait_view_built(cluster, view, timeout=120):
    deadline = time.monotonic() + timeout
    with cluster.connect(dbname=DBNAME) as conn:
        while conn.execute("select to_regclass(%s)", (view,)).fetchone()[0] is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{view} was not built within {timeout}s")
            time.sleep(0.2)


def bench_throughput(args, ports):
    """ports: target -> port (a target without one is skipped). Returns a list of cells."""
    cells, failed = [], False
    for clients, threads in CLIENTS:
        for mode in MODES:
            cell = {"mode": mode, "clients": clients, "threads": threads}
            for target in TARGETS:
                if target not in ports:
                    cell[target] = None
                    continue
                tps, err = pgbench(ports[target], mode, clients, threads, args.duration)
                cell[target] = tps
                if tps is None:
                    failed = True
                    log(f"  pgbench -M {mode} -c {clients} against {target} failed: {err}")
            cells.append(cell)
            log("  " + f"-M {mode:<8} -c {clients:<2}: " + ", ".join(
                f"{t} {fmt_tps(cell[t])}" for t in TARGETS if t in ports))
    return cells, failed


# -- 2. memory per idle session -----------------------------------------------------------------


def idle_sessions(proxy, n):
    """Opens n sessions through proxy, one `select pg_backend_pid()` each; returns the memory
    figures and how many distinct server backends the sessions had."""
    before = rss_kb(proxy.pid)
    conns, pids = [], set()
    t0 = time.monotonic()
    try:
        for _ in range(n):
            conn = psycopg.connect(host="127.0.0.1", port=proxy.port, user=SUPERUSER,
                                   dbname=DBNAME, autocommit=True, connect_timeout=30)
            conns.append(conn)
            pids.add(conn.execute("select pg_backend_pid()").fetchone()[0])
        opened = time.monotonic() - t0
        time.sleep(1)  # let the proxy settle
        if proxy.proc.poll() is not None:
            raise RuntimeError(f"{proxy.name} exited with {proxy.proc.returncode}")
        after = rss_kb(proxy.pid)
    finally:
        for conn in conns:
            conn.close()
    time.sleep(1)
    closed = rss_kb(proxy.pid) if proxy.proc.poll() is None else None
    return {"sessions": n, "rss_before_kb": before, "rss_after_kb": after,
            "rss_after_close_kb": closed, "kb_per_session": (after - before) / n,
            "server_backends": len(pids), "open_seconds": opened}


def wait_backends_below(cluster, n, timeout=60):
    """Waits for the warehouse's backends to exit after the clients closed."""
    deadline = time.monotonic() + timeout
    while cluster.backends() > n and time.monotonic() < deadline:
        time.sleep(0.2)


# -- output -------------------------------------------------------------------------------------


def fmt_tps(v):
    return "n/a" if v is None else f"{v:,.0f}"


def fmt_ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.3f}"


def print_report(header, duration, cells, memory, inspection=None):
    log()
    for line in header:
        log(line)
    log()
    log(f"pgbench -S (select-only), -T {duration}, TPS without initial connection time:")
    log(f"  {'mode':<9} {'clients':>7} {'direct':>10} {'Duro':>10} {'PgBouncer':>10} "
        f"{'Duro/direct':>12} {'Duro/PgBouncer':>15}")
    for c in cells:
        log(f"  {c['mode']:<9} {c['clients']:>7} {fmt_tps(c['direct']):>10} "
            f"{fmt_tps(c['duro']):>10} {fmt_tps(c['pgbouncer']):>10} "
            f"{fmt_ratio(c['duro'], c['direct']):>12} "
            f"{fmt_ratio(c['duro'], c['pgbouncer']):>15}")
    if memory:
        log()
        n = next(iter(memory.values()))["sessions"]
        log(f"{n:,} idle sessions (each ran one query), proxy RSS; backends = distinct "
            "pg_backend_pid() seen:")
        log(f"  {'proxy':<10} {'before':>10} {'with them':>10} {'KB/session':>11} "
            f"{'closed':>10} {'backends':>9}")
        for name, m in memory.items():
            closed = "n/a" if m["rss_after_close_kb"] is None else \
                f"{m['rss_after_close_kb'] / 1024:.1f} MB"
            log(f"  {name:<10} {m['rss_before_kb'] / 1024:>7.1f} MB "
                f"{m['rss_after_kb'] / 1024:>7.1f} MB {m['kb_per_session']:>11.1f} "
                f"{closed:>10} {m['server_backends']:>9}")
        if "Duro" in memory and "PgBouncer" in memory and memory["PgBouncer"]["kb_per_session"]:
            log(f"  Duro/PgBouncer per session: "
                f"{memory['Duro']['kb_per_session'] / memory['PgBouncer']['kb_per_session']:.2f}")
    if inspection:
        log()
        log(f"Duro with [gateway] inspect = on against off, -T {duration}, TPS "
            f"(view: a script reading {HOT_VIEW}, a fresh managed view, by random key):")
        log(f"  {'load':<5} {'mode':<9} {'clients':>7} {'on':>10} {'off':>10} {'on/off':>8}")
        for c in inspection:
            log(f"  {c['load']:<5} {c['mode']:<9} {c['clients']:>7} {fmt_tps(c['on']):>10} "
                f"{fmt_tps(c['off']):>10} {fmt_ratio(c['on'], c['off']):>8}")


def machine_header(pg_version, duro_version, bouncer_version):
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cores = os.cpu_count()
    return [
        f"machine: {cores} cores ({model}), {mem_gib:.0f} GiB; pgbench, Duro, PgBouncer and "
        f"PostgreSQL share these {cores} cores",
        f"PostgreSQL {pg_version}, {duro_version}, PgBouncer {bouncer_version} (session pooling, "
        "one server connection per client)",
    ]


# -- main ---------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duro", required=True, help="the duro binary")
    ap.add_argument("--duration", type=int, default=10, help="seconds per pgbench run (-T)")
    ap.add_argument("--quick", action="store_true", help="smoke run: -T 2")
    ap.add_argument("--sessions", type=int, default=1000, help="idle sessions for the memory test")
    ap.add_argument("--scale", type=int, default=10, help="pgbench -i scale factor")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    args.duro = os.path.abspath(args.duro)
    if args.quick:
        args.duration = 2
    if args.duration < 1 or args.sessions < 1 or args.scale < 1:
        ap.error("--duration, --sessions and --scale must be positive")
    if args.sessions > MAX_PROXY_CLIENTS - 100:
        ap.error(f"--sessions is at most {MAX_PROXY_CLIENTS - 100}")
    if not os.access(args.duro, os.X_OK):
        sys.exit(f"run.py: {args.duro} is not an executable (build it with `make`)")
    for path in (PG_BIN / "initdb", PG_BIN / "pgbench", PGBOUNCER):
        if not path.exists():
            sys.exit(f"run.py: {path} not found: install postgresql-15 and pgbouncer")
    nofile = raise_nofile(4 * args.sessions + 1024)
    if nofile < args.sessions + 100:
        sys.exit(f"run.py: RLIMIT_NOFILE is {nofile}, too low for {args.sessions} sessions")

    work = Path(tempfile.mkdtemp(prefix="duro-bench-gateway-"))
    # Backends: every idle session through Duro, then PgBouncer's (it keeps them after its
    # clients close), pgbench's and our own.
    cluster = Cluster(work, max_connections=2 * args.sessions + 200, label="bench/gateway",
                      settings=BENCH_SETTINGS)
    duro = plain = bouncer = None  # written once the cluster's port is known
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    duro_ok = False
    failed = False
    cells, memory, header, inspection = [], {}, [], []
    try:
        log(f"work dir {work}")
        cluster.start()
        duro = Duro(args.duro, work, cluster,
                    views={"bench/accounts_hot — 1h.sql": HOT_VIEW_SQL})
        plain = Duro(args.duro, work, cluster, name="duro-plain", inspect="off")
        bouncer = PgBouncer(work, cluster)
        with cluster.connect() as conn:
            conn.execute(f"create database {DBNAME}")
        t0 = time.perf_counter()
        p = subprocess.run([str(PG_BIN / "pgbench"), "-i", "-q", "-s", str(args.scale),
                            "-h", "127.0.0.1", "-p", str(cluster.port), "-U", SUPERUSER, DBNAME],
                           capture_output=True, text=True, env=clean_env(),
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise RuntimeError(f"pgbench -i exited with {p.returncode}:\n{p.stderr}")
        log(f"PostgreSQL {cluster.version()} on 127.0.0.1:{cluster.port}: pgbench -i -s "
            f"{args.scale} in {time.perf_counter() - t0:.1f}s")

        bouncer.start()
        log(f"PgBouncer on 127.0.0.1:{bouncer.port} (pid {bouncer.pid})")
        try:
            duro.start()
            with psycopg.connect(host="127.0.0.1", port=duro.port, user=SUPERUSER,
                                 dbname=DBNAME, connect_timeout=10) as conn:
                conn.execute("select 1").fetchone()
            duro_ok = True
            log(f"Duro gateway on 127.0.0.1:{duro.port} (pid {duro.pid})")
        except (RuntimeError, psycopg.Error) as e:
            log(f"Duro's gateway cannot be measured: {str(e).strip()}")
            tail = log_tail(duro.log)
            if tail:
                log("duro.log ends with:\n" + tail)
            duro.stop()

        header = machine_header(cluster.version(), duro.version(), bouncer.version())
        for line in header:
            log(line)
        ports = {"direct": cluster.port, "pgbouncer": bouncer.port}
        if duro_ok:
            ports["duro"] = duro.port
        log(f"pgbench -S -T {args.duration}, targets in turn for each cell:")
        cells, failed = bench_throughput(args, ports)

        if duro_ok:
            plain.start()
            wait_view_built(cluster, HOT_VIEW)
            script = work / "view.sql"
            script.write_text(HOT_SCRIPT)
            log(f"inspection on (port {duro.port}) against off (port {plain.port}):")
            inspection, inspection_failed = bench_inspection(args, duro.port, plain.port, script)
            failed = failed or inspection_failed
            plain.stop()

        proxies = ([duro] if duro_ok else []) + [bouncer]
        for proxy in proxies:
            wait_backends_below(cluster, 50)
            log(f"{args.sessions:,} idle sessions through {proxy.name} ...")
            try:
                memory[proxy.name] = m = idle_sessions(proxy, args.sessions)
                log(f"  opened in {m['open_seconds']:.1f}s, "
                    f"{m['kb_per_session']:.1f} KB per session")
            except (RuntimeError, psycopg.Error) as e:
                failed = True
                log(f"  failed: {str(e).strip()}")
    finally:
        for proxy in (duro, plain, bouncer):
            if proxy is not None:
                proxy.stop()
        cluster.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print_report(header, args.duration, cells, memory, inspection)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "duration_s": args.duration, "scale": args.scale,
                       "duro_measured": duro_ok, "pgbench": cells, "idle_sessions": memory,
                       "inspection": inspection},
                      f, indent=2)
            f.write("\n")
        log(f"\nwrote {args.json}")
    if failed:
        return 1
    return 0 if duro_ok else 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)  # everything was stopped by main's finally
