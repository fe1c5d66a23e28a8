#!/usr/bin/python3
"""Measures what a relayed transaction costs the proxy in CPU time: Duro against PgBouncer.

    cpu.py --duro PATH [--duration 8] [--repeat 3] [--warmup 2] [--clients 1,16,64]
           [--modes simple,extended,prepared] [--duro-before PATH] [--inspect-off]
           [--fresh-backends] [--perf FILE] [--json FILE] [--keep]

Starts, in a temp dir, the same set-up as run.py (a throwaway PostgreSQL 15 cluster with
`pgbench -i -s 10`, `duro serve` with inspection on and PgBouncer in session pooling, one server
connection per client). Then, --repeat times, for each number of clients and each protocol mode
(-M simple | extended | prepared), runs `pgbench -S -n -P 1` through both proxies, and reads
the proxy process's utime + stime (/proc/PID/stat) as each of pgbench's per-second progress
reports arrives. The window is --duration seconds, from the first report at which every client's
session has its backend in the server (then pgbench is stopped): the sessions are open and have
run for a second, so the cost of opening them is left out (Duro opens a warehouse connection per
session, PgBouncer reuses its pool's or opens them a few at a time while the clients behind them
wait). The CPU time the proxy spent in the window, divided by the transactions pgbench reported
for it, is the proxy's CPU time per transaction (µs); the transactions divided by the window's
length are the TPS.

Over the same window it reads the CPU time of the server's processes (the postmaster's children
alive at the window's end: the backends the proxy talks to, and the server's own workers) and of
pgbench itself, and reports both per transaction through each proxy, in a second table: where
the rest of the machine's cores go, which the proxy's own CPU time does not show. A backend
opened within the window counts from zero.

Each cell starts with an unmeasured warm-up run (--warmup seconds) through each proxy, so that
the server's caches and both proxies' allocators are warm before either is measured. The order of
the two proxies alternates from one run of a cell to the next (Duro first in odd runs, PgBouncer
first in even ones), so that neither always runs on a machine the other has just warmed or loaded.

--duro-before PATH: a third proxy, `duro serve` from another binary (the build before a change),
measured in the same runs; a second table gives the build under test against it.

--inspect-off: one more proxy, the same Duro binary with `[gateway] inspect = off` (a plain relay),
measured in the same runs; a table gives Duro (inspection on) against it: what looking at the
statements costs per transaction.

--fresh-backends: PgBouncer closes a server connection once its client has gone
(`server_lifetime = 1`), so that each run meets new PostgreSQL backends through either proxy. By
default PgBouncer keeps them from one run to the next, while every Duro session logs in to a new
backend; a new backend maps each page of shared buffers it touches for the first time, which
costs PostgreSQL CPU time on the same cores and lowers the TPS of runs through Duro.

CPU time per transaction depends much less than TPS on what else runs on the machine (the load
generator and the server share its cores with the proxy), so it is the figure to compare. The
report gives, per cell, the best (lowest CPU, highest TPS) of the repeats and the spread (worst
against best, in %).

--perf FILE: after the measured runs, records Duro's call graph (`perf record -e cpu-clock -g -p
PID`; the cpu-clock software event works where a virtual machine exposes no hardware counters)
during one more run of 64 clients in extended mode and one in prepared mode, and writes
`perf report --no-children` of each (time by object, then user space by symbol) to
FILE.extended and FILE.prepared.

Standard library, psycopg 3 and run.py's helpers only. Exit status 0 when every run succeeded,
1 otherwise.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402
from run import DBNAME, PG_BIN, SUPERUSER, Cluster, Duro, PgBouncer, clean_env, log  # noqa: E402

TX_RE = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()  # the name may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children_cpu(ppid):
    """{pid: (utime + stime in seconds, whether it serves a session on DBNAME)} of every process
    whose parent is ppid (the server's): its backends and its own workers."""
    cpu = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            text = Path(f"/proc/{d}/stat").read_text()
            fields = text[text.rindex(")") + 2:].split()
            if int(fields[1]) != ppid:
                continue
            # A backend's title: "postgres: USER DBNAME HOST(PORT) STATE".
            title = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")[0].split()
        except (OSError, ValueError):
            continue  # gone meanwhile
        cpu[int(d)] = ((int(fields[11]) + int(fields[12])) / CLK_TCK,
                       len(title) > 2 and title[2] == DBNAME.encode())
    return cpu


def sessions(procs):
    """How many of children_cpu's processes serve a session on DBNAME."""
    return sum(1 for _, session in procs.values() if session)


def window_cpu(first, last):
    """The CPU seconds the server's processes spent in a window: those alive at its end, less
    what the ones alive at its start had spent by then (a backend opened in the window counts
    from zero; one that ended in it cannot be read any more and is left out)."""
    return sum(cpu - first.get(pid, (0.0, False))[0] for pid, (cpu, _) in last.items())


def postmaster_pid(cluster):
    return int((cluster.datadir / "postmaster.pid").read_text().split("\n", 1)[0])


SETTLE_MAX_S = 10  # how long a run may take to open every session's backend
PROGRESS_RE = re.compile(r"^progress: ([0-9.]+) s, ([0-9.]+) tps")


def pgbench_cpu(proxy, mode, clients, duration, server_pid=None, others=0):
    """One pgbench -S -P 1 run through proxy, measured over a window of `duration` seconds. The
    window starts at the first progress report at which every client's session has its backend
    (when server_pid is given; at the first report otherwise): PgBouncer opens server connections
    a few at a time, so a run that meets new backends through it starts with fewer backends than
    clients for a second or more, with the clients behind them waiting. `others`: the sessions
    on DBNAME that are not pgbench's (Duro's own warehouse connection). Returns ({tps, tx,
    cpu_s, us_per_tx, settle_s, server_us_per_tx, pgbench_us_per_tx} or None, error text); the
    last two (the server's processes, children of server_pid, and pgbench itself) only when
    server_pid is given."""
    threads = 1 if clients == 1 else 2
    cmd = [str(PG_BIN / "pgbench"), "-h", "127.0.0.1", "-p", str(proxy.port), "-U", SUPERUSER,
           "-S", "-n", "-M", mode, "-c", str(clients), "-j", str(threads), "-T",
           str(duration + 1 + SETTLE_MAX_S), "-P", "1", DBNAME]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=clean_env(), stdin=subprocess.DEVNULL)
    # (seconds since start, tps over the second before, proxy's, server's and pgbench's cpu s)
    marks = []
    start = None  # the index in marks where the window starts
    stopped = False
    for line in p.stderr:
        m = PROGRESS_RE.match(line)
        if not m:
            continue
        procs = children_cpu(server_pid) if server_pid else {}
        marks.append((float(m.group(1)), float(m.group(2)), cpu_seconds(proxy.pid), procs,
                      cpu_seconds(p.pid) if server_pid else 0.0))
        if start is None and (not server_pid or sessions(procs) >= clients + others):
            start = len(marks) - 1
        if start is not None and marks[-1][0] - marks[start][0] >= duration - 0.01:
            p.terminate()  # the window is complete
            stopped = True
            break
    out = p.stdout.read()
    p.wait(timeout=60)
    if start is None:
        return None, f"the sessions' backends were not all open within {SETTLE_MAX_S} s"
    marks = marks[start:]
    if (p.returncode != 0 and not stopped) or len(marks) < 2:
        return None, f"exit {p.returncode}: " + "\n".join(out.splitlines()[-5:])
    tx = sum(tps * (t - prev[0]) for prev, (t, tps, *_) in zip(marks, marks[1:]))
    secs = marks[-1][0] - marks[0][0]
    cpu = marks[-1][2] - marks[0][2]
    if tx <= 0:
        return None, "no transactions"
    r = {"tps": tx / secs, "tx": round(tx), "cpu_s": cpu, "us_per_tx": cpu * 1e6 / tx,
         "settle_s": marks[0][0]}
    if server_pid:
        r["server_us_per_tx"] = window_cpu(marks[0][3], marks[-1][3]) * 1e6 / tx
        r["pgbench_us_per_tx"] = (marks[-1][4] - marks[0][4]) * 1e6 / tx
    return r, ""


def warm(proxy, mode, clients, seconds):
    """An unmeasured pgbench run through proxy, to warm caches before a cell is measured."""
    threads = 1 if clients == 1 else 2
    subprocess.run([str(PG_BIN / "pgbench"), "-h", "127.0.0.1", "-p", str(proxy.port), "-U",
                    SUPERUSER, "-S", "-n", "-M", mode, "-c", str(clients), "-j", str(threads),
                    "-T", str(seconds), DBNAME], capture_output=True, env=clean_env(),
                   stdin=subprocess.DEVNULL, timeout=seconds + 60)


def best_and_spread(runs, key, lower_is_better):
    vals = [r[key] for r in runs if r]
    if not vals:
        return None, None
    best, worst = (min(vals), max(vals)) if lower_is_better else (max(vals), min(vals))
    return best, (abs(worst - best) / best * 100 if best else None)


def perf_profile(duro, duration, out, mode="prepared", clients=64):
    """perf record -e cpu-clock -g on Duro during one run; perf report into out."""
    data = Path(out).with_suffix(".data")
    rec = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-g", "-o", str(data), "-p",
                            str(duro.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    pgbench_cpu(duro, mode, clients, duration)
    rec.send_signal(2)
    rec.wait(timeout=60)
    with open(out, "w") as f:
        # Where the time goes by object (kernel, duro, libevent, libc), then user space by symbol.
        subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--stdio",
                        "--sort", "dso", "-g", "none"], stdout=f, stderr=subprocess.DEVNULL,
                       timeout=300)
        subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--stdio",
                        "--percent-limit", "0.2", "-g", "none", "--sort", "dso,sym",
                        "--dsos", f"{Path(duro.binary).name},libevent-2.1.so.7.0.1,libc.so.6"],
                       stdout=f, stderr=subprocess.DEVNULL, timeout=300)
    data.unlink(missing_ok=True)


def compare_table(cells, other, other_label, duro_label):
    """Logs Duro against a second Duro measured in the same runs (results under `other`)."""
    log(f"  {'mode':<9} {'clients':>7} {other_label + ' µs/tx':>16} {duro_label + ' µs/tx':>16} "
        f"{'ratio':>6} {other_label + ' tps':>16} {duro_label + ' tps':>16} {'ratio':>6}")
    for cell in cells:
        a, b = cell["Duro"], cell[other]
        if a["us_per_tx"] is None or b["us_per_tx"] is None:
            continue
        log(f"  {cell['mode']:<9} {cell['clients']:>7} "
            f"{b['us_per_tx']:>9.2f} ±{b['cpu_spread_pct']:4.1f}% "
            f"{a['us_per_tx']:>9.2f} ±{a['cpu_spread_pct']:4.1f}% "
            f"{a['us_per_tx'] / b['us_per_tx']:>6.3f} "
            f"{b['tps']:>9,.0f} ±{b['tps_spread_pct']:4.1f}% "
            f"{a['tps']:>9,.0f} ±{a['tps_spread_pct']:4.1f}% {a['tps'] / b['tps']:>6.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duro", required=True, help="the duro binary")
    ap.add_argument("--duration", type=int, default=8, help="seconds per pgbench run (-T)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each cell and proxy")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured run per cell")
    ap.add_argument("--clients", default="1,16,64", help="pgbench -c values, comma-separated")
    ap.add_argument("--modes", default="simple,extended,prepared", help="pgbench -M values")
    ap.add_argument("--scale", type=int, default=10, help="pgbench -i scale factor")
    ap.add_argument("--perf", metavar="FILE", help="also profile Duro with perf into FILE")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    ap.add_argument("--duro-before", metavar="PATH",
                    help="another duro binary (the build before a change), measured alongside")
    ap.add_argument("--inspect-off", action="store_true",
                    help="also measure the same binary with [gateway] inspect = off")
    ap.add_argument("--fresh-backends", action="store_true",
                    help="PgBouncer closes its server connections when a run ends, as Duro does")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    args.duro = os.path.abspath(args.duro)
    if args.duro_before:
        args.duro_before = os.path.abspath(args.duro_before)
    clients = [int(c) for c in args.clients.split(",")]
    modes = args.modes.split(",")
    if (args.duration < 1 or args.repeat < 1 or args.warmup < 0
            or any(c < 1 or c > 500 for c in clients)):
        ap.error("--duration and --repeat positive, --warmup >= 0, --clients within 1..500")
    if any(m not in run.MODES for m in modes):
        ap.error(f"--modes: one of {', '.join(run.MODES)}")

    work = Path(tempfile.mkdtemp(prefix="duro-bench-cpu-"))
    cluster = Cluster(work, max_connections=2 * max(clients) + 100, label="bench/gateway",
                      settings=run.BENCH_SETTINGS)
    duro = bouncer = before = plain = None
    failed = False
    results = {}  # (mode, clients, proxy) -> list of runs
    try:
        cluster.start()
        with cluster.connect() as conn:
            conn.execute(f"create database {DBNAME}")
        subprocess.run([str(PG_BIN / "pgbench"), "-i", "-q", "-s", str(args.scale), "-h",
                        "127.0.0.1", "-p", str(cluster.port), "-U", SUPERUSER, DBNAME],
                       capture_output=True, env=clean_env(), stdin=subprocess.DEVNULL,
                       check=True)
        duro = Duro(args.duro, work, cluster)
        bouncer = PgBouncer(work, cluster, "server_lifetime = 1\nserver_idle_timeout = 1\n"
                            if args.fresh_backends else "")
        duro.start()
        bouncer.start()
        proxies = [duro, bouncer]
        if args.duro_before:
            before = Duro(args.duro_before, work, cluster, name="duro-before")
            before.name = "before"
            before.start()
            proxies.append(before)
        if args.inspect_off:
            plain = Duro(args.duro, work, cluster, name="duro-plain", inspect="off")
            plain.name = "plain"
            plain.start()
            proxies.append(plain)
        server_pid = postmaster_pid(cluster)
        others = sessions(children_cpu(server_pid))  # the proxies' own, before any run
        header = run.machine_header(cluster.version(), duro.version(), bouncer.version())
        for line in header:
            log(line)
        for c in clients:
            for mode in modes:
                if args.warmup:
                    for proxy in proxies:
                        warm(proxy, mode, c, args.warmup)
                for i in range(args.repeat):
                    # Each proxy goes first in turn.
                    order = proxies[i % len(proxies):] + proxies[:i % len(proxies)]
                    for proxy in order:
                        r, err = pgbench_cpu(proxy, mode, c, args.duration, server_pid,
                                             others)
                        results.setdefault((mode, c, proxy.name), []).append(r)
                        if r is None:
                            failed = True
                            log(f"  {proxy.name} -M {mode} -c {c} failed: {err}")
                        else:
                            log(f"  run {i + 1}: {proxy.name:<9} -M {mode:<8} -c {c:<2} "
                                f"{r['tps']:>8,.0f} tps {r['us_per_tx']:6.2f} µs/tx, server "
                                f"{r['server_us_per_tx']:6.2f}, pgbench "
                                f"{r['pgbench_us_per_tx']:6.2f}, window from "
                                f"{r['settle_s']:.0f} s")
        if args.perf:
            for mode in ("extended", "prepared"):
                perf_profile(duro, args.duration, f"{args.perf}.{mode}", mode, 64)
                log(f"perf report in {args.perf}.{mode}")
    finally:
        for proxy in (duro, bouncer, before, plain):
            if proxy is not None and proxy.proc is not None:
                proxy.stop()
        cluster.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    log()
    log(f"pgbench -S -T {args.duration}, best of {args.repeat} (spread: worst against best):")
    log(f"  {'mode':<9} {'clients':>7} {'Duro µs/tx':>16} {'PgB µs/tx':>16} {'ratio':>6} "
        f"{'Duro tps':>16} {'PgB tps':>16} {'ratio':>6}")
    cells = []
    for c in clients:
        for mode in modes:
            cell = {"mode": mode, "clients": c}
            for name in ("Duro", "PgBouncer", "before", "plain"):
                runs = results.get((mode, c, name), [])
                cell[name] = {"runs": runs}
                cell[name]["us_per_tx"], cell[name]["cpu_spread_pct"] = \
                    best_and_spread(runs, "us_per_tx", True)
                cell[name]["tps"], cell[name]["tps_spread_pct"] = \
                    best_and_spread(runs, "tps", False)
                for key in ("server_us_per_tx", "pgbench_us_per_tx"):
                    cell[name][key], _ = best_and_spread(runs, key, True)
            cells.append(cell)
            d, b = cell["Duro"], cell["PgBouncer"]

            def fmt(v, s, f):
                return "n/a" if v is None else f"{v:{f}} ±{s:4.1f}%"

            def ratio(x, y):
                return "n/a" if x is None or not y else f"{x / y:.3f}"

            log(f"  {mode:<9} {c:>7} {fmt(d['us_per_tx'], d['cpu_spread_pct'], '7.2f'):>16} "
                f"{fmt(b['us_per_tx'], b['cpu_spread_pct'], '7.2f'):>16} "
                f"{ratio(d['us_per_tx'], b['us_per_tx']):>6} "
                f"{fmt(d['tps'], d['tps_spread_pct'], '7,.0f'):>16} "
                f"{fmt(b['tps'], b['tps_spread_pct'], '7,.0f'):>16} "
                f"{ratio(d['tps'], b['tps']):>6}")
    log()
    log("The rest of the machine's CPU per transaction, µs (best of the runs): the server's")
    log("processes (the backends the proxy talks to) and pgbench, through each proxy:")
    log(f"  {'mode':<9} {'clients':>7} {'server Duro':>12} {'server PgB':>11} {'ratio':>6} "
        f"{'pgbench Duro':>13} {'pgbench PgB':>12} {'ratio':>6}")
    for cell in cells:
        d, b = cell["Duro"], cell["PgBouncer"]
        if d["server_us_per_tx"] is None or b["server_us_per_tx"] is None:
            continue
        log(f"  {cell['mode']:<9} {cell['clients']:>7} {d['server_us_per_tx']:>12.2f} "
            f"{b['server_us_per_tx']:>11.2f} "
            f"{d['server_us_per_tx'] / b['server_us_per_tx']:>6.3f} "
            f"{d['pgbench_us_per_tx']:>13.2f} {b['pgbench_us_per_tx']:>12.2f} "
            f"{d['pgbench_us_per_tx'] / b['pgbench_us_per_tx']:>6.3f}")
    if args.duro_before:
        log()
        log("Duro against the build before (--duro-before), same runs:")
        compare_table(cells, "before", "before", "after")
    if args.inspect_off:
        log()
        log("Duro (inspect = on) against the same binary with inspect = off, same runs:")
        compare_table(cells, "plain", "off", "on")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "duration_s": args.duration, "repeat": args.repeat,
                       "warmup_s": args.warmup, "fresh_backends": args.fresh_backends,
                       "inspect_off": args.inspect_off,
                       "cells": cells}, f, indent=2)
            f.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
