#!/usr/bin/python3
"""Times `duro check` on generated views repositories of growing size.

    run.py --duro PATH [--sizes 1000,10000,100000] [--runs 3] [--seed S] [--keep] [--strict]

For each size: generates a repository with gen.py into a temp dir, runs `PATH check DIR` (stdout
to /dev/null) --runs times, and records the best wall time and the peak RSS of each run (os.wait4
gives the child's own rusage). The baseline, timed in the same run, is reading every file of the
repository with `find DIR -type f -exec cat {} +`: the I/O floor any checker pays. Prints a
table with the ratio to that baseline, the growth ratios between sizes, and the aims:
10k views in under 1 s, peak RSS under 200 MB, t(100k)/t(10k) at most 12x.

Exit status: 1 when a check failed (its stderr head is printed), or with --strict when an aim was
missed; else 0. Standard library only.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402

AIM_10K_SECONDS = 1.0
AIM_PEAK_MB = 200.0
AIM_GROWTH_100K_10K = 12.0


def run_once(duro, repo, timeout, stderr_path):
    """Runs `duro check repo`; returns (exit status, wall seconds, peak RSS in MB)."""
    fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_DUP2, fd, 2)]
        start = time.perf_counter()
        pid = os.posix_spawn(duro, [duro, "check", repo], os.environ, file_actions=actions)
    finally:
        os.close(fd)
    timer = threading.Timer(timeout, lambda: os.kill(pid, signal.SIGKILL))
    timer.start()
    try:
        _, status, usage = os.wait4(pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - start
    return os.waitstatus_to_exitcode(status), wall, usage.ru_maxrss / 1024.0  # KiB on Linux


def read_baseline(repo, runs):
    """Best wall time of reading every file of repo with cat (output discarded)."""
    best = None
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(["find", repo, "-type", "f", "-exec", "cat", "{}", "+"],
                       stdout=subprocess.DEVNULL, check=True)
        wall = time.perf_counter() - start
        best = wall if best is None else min(best, wall)
    return best


def stderr_head(path, lines=20):
    with open(path, errors="replace") as f:
        return "".join(f.readline() for _ in range(lines))


def fmt_size(n):
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def verdict(ok):
    return "n/a" if ok is None else ("OK" if ok else "MISSED")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duro", required=True, help="the duro binary")
    ap.add_argument("--sizes", default="1000,10000,100000",
                    help="comma-separated numbers of views (default 1000,10000,100000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per size; the best counts")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600, help="seconds before a run is killed")
    ap.add_argument("--keep", action="store_true", help="keep the generated repositories")
    ap.add_argument("--strict", action="store_true", help="exit 1 when an aim is missed")
    args = ap.parse_args(argv)

    duro = os.path.abspath(args.duro)
    if not os.access(duro, os.X_OK):
        ap.error(f"{duro} is not an executable")
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        ap.error("--sizes takes comma-separated integers")
    if not sizes or min(sizes) < 1 or args.runs < 1:
        ap.error("sizes and --runs must be positive")

    results = {}  # size -> dict(files, best, peak) for sizes whose every run passed
    failed = False
    for n in sizes:
        workdir = tempfile.mkdtemp(prefix=f"duro-bench-scan-{fmt_size(n)}-")
        repo = os.path.join(workdir, "views")
        try:
            t0 = time.perf_counter()
            summary = gen.generate(n, repo, args.seed)
            print(f"{fmt_size(n):>5} views: generated {summary['files']} files "
                  f"({summary['schemas']} schemas, depth {summary['depth']}) in "
                  f"{time.perf_counter() - t0:.1f}s", flush=True)
            times, peaks = [], []
            for i in range(args.runs):
                code, wall, peak = run_once(duro, repo, args.timeout,
                                            os.path.join(workdir, "stderr.txt"))
                print(f"        run {i + 1}: {wall:.3f}s, {peak:.1f} MB, exit {code}", flush=True)
                if code != 0:
                    failed = True
                    print(f"  `duro check {repo}` exited with {code}; stderr starts with:\n"
                          + stderr_head(os.path.join(workdir, "stderr.txt")), flush=True)
                    break
                times.append(wall)
                peaks.append(peak)
            else:
                results[n] = {"files": summary["files"], "best": min(times), "peak": max(peaks),
                              "read": read_baseline(repo, args.runs)}
        finally:
            if args.keep:
                print(f"        kept {repo}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"{'views':>8} {'files':>8} {'seconds':>9} {'views/s':>10} {'peak MB':>8} "
          f"{'read s':>8} {'vs read':>8}")
    for n in sizes:
        r = results.get(n)
        if r:
            print(f"{n:>8} {r['files']:>8} {r['best']:>9.3f} {n / r['best']:>10.0f} "
                  f"{r['peak']:>8.1f} {r['read']:>8.3f} {r['best'] / r['read']:>7.1f}x")
        else:
            print(f"{n:>8} {'':>8} {'FAILED':>9}")

    done = sorted(results)
    if len(done) > 1:
        print()
        for a, b in zip(done, done[1:]):
            ratio = results[b]["best"] / results[a]["best"]
            print(f"t({fmt_size(b)})/t({fmt_size(a)}) = {ratio:.1f}x for {b / a:.0f}x the views")

    aim_10k = results[10000]["best"] < AIM_10K_SECONDS if 10000 in results else None
    aim_peak = max(r["peak"] for r in results.values()) < AIM_PEAK_MB if results else None
    aim_growth = (results[100000]["best"] / results[10000]["best"] <= AIM_GROWTH_100K_10K
                  if 100000 in results and 10000 in results else None)
    print()
    print("aims:")
    for label, ok in ((f"10k views checked in < {AIM_10K_SECONDS:g} s", aim_10k),
                      (f"peak RSS < {AIM_PEAK_MB:g} MB at every size", aim_peak),
                      (f"t(100k)/t(10k) <= {AIM_GROWTH_100K_10K:g}x", aim_growth)):
        print(f"  {label:<36} {verdict(ok)}")

    if failed:
        return 1
    if args.strict and False in (aim_10k, aim_peak, aim_growth):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
