"""How Duro's statement table scales in one session: prepares N named statements of Duro's
(a query on duro.status) in batches of 1,000 over one connection, timing each batch, and reads
Duro's resident memory (VmRSS) before, after the prepares and after the session closed.

    python3 tests/difffuzz/prepares.py --duro build/duro [--count 50000]

Prints one line per 10,000 statements and the summary; tests/e2e/test_difffuzz.py runs a smaller
count and checks that the time per batch stays flat and the memory is given back.
"""
import argparse
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import difffuzz  # noqa: E402

SQL = "select view, state from duro.status where view = $1"


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def prepare_many(side, pid, count, batch=1000, log=print):
    """Returns {"per_batch": [seconds...], "rss_before", "rss_prepared", "rss_closed"}."""
    out = {"per_batch": [], "rss_before": rss(pid)}
    sock, reader = side.connect(timeout=120)
    try:
        for start in range(0, count, batch):
            msgs = b"".join(difffuzz.encode(["P", f"st{i}", SQL, []])
                            for i in range(start, min(count, start + batch)))
            t0 = time.monotonic()
            sock.sendall(msgs + difffuzz.encode(["S"]))
            while True:
                kind, body = reader.next(time.monotonic() + 120)
                assert kind is not None, "no ReadyForQuery after a batch of Parse messages"
                assert kind != b"E", difffuzz._fields(body)
                if kind == b"Z":
                    break
            out["per_batch"].append(time.monotonic() - t0)
            if (start + batch) % 10000 == 0:
                log(f"{start + batch} statements: {out['per_batch'][-1]:.3f} s for the last "
                    f"{batch}, RSS {rss(pid) / 2**20:.0f} MB")
        out["rss_prepared"] = rss(pid)
        sock.sendall(b"X\0\0\0\4")
    finally:
        sock.close()
    time.sleep(1.0)  # the session is freed on the loop once its connection is gone
    out["rss_closed"] = rss(pid)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duro", required=True)
    ap.add_argument("--count", type=int, default=50000)
    args = ap.parse_args()
    with difffuzz.Environment(Path(args.duro).resolve()) as env:
        r = prepare_many(env.duro, env.proc.pid, args.count)
    b = r["per_batch"]
    print(f"first 1,000: {b[0]:.3f} s; last 1,000: {b[-1]:.3f} s; total {sum(b):.1f} s")
    print(f"RSS: {r['rss_before'] / 2**20:.0f} MB before, {r['rss_prepared'] / 2**20:.0f} MB "
          f"with {args.count} statements, {r['rss_closed'] / 2**20:.0f} MB after the close")


if __name__ == "__main__":
    main()
