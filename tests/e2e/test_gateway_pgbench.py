"""pgbench through the gateway: initialization (COPY), then the TPC-B-like workload with the
simple, extended and prepared query protocols, a new connection per transaction, and a custom
script in pipeline mode. Every run must finish without a failed transaction, and its work must be
in the warehouse (pgbench_history, balances that add up).
"""
import re
import subprocess

import pytest

from conftest import PG_BIN, Warehouse, clean_env, wait_until

PGBENCH = PG_BIN / "pgbench"
CLIENTS, THREADS, TRANSACTIONS = 4, 2, 200


def pgbench(gateway, *args, timeout=300):
    """Runs pgbench against Duro; requires exit status 0 and returns its output."""
    argv = [str(PGBENCH), "-h", gateway.host, "-p", str(gateway.port), "-U", "postgres",
            *map(str, args), gateway.dbname]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=clean_env({"PGSSLMODE": "disable"}))
    assert proc.returncode == 0, (f"{' '.join(argv)} exited with {proc.returncode}\n"
                                  f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
                                  f"--- duro log\n{gateway.logs()}")
    return proc.stdout + proc.stderr


def report(output, name):
    """An integer from pgbench's summary, e.g. "number of failed transactions: 0 (0.000%)"."""
    m = re.search(rf"^{re.escape(name)}: (\d+)", output, re.M)
    assert m, f"no {name!r} in pgbench's output:\n{output}"
    return int(m.group(1))


def check_run(output, expected):
    assert report(output, "number of transactions actually processed") == expected, output
    assert report(output, "number of failed transactions") == 0, output


def balances(wh):
    """The sums of the account, teller and branch balances and of the history's deltas: equal
    when every transaction was applied whole."""
    return wh.sql("select (select sum(abalance) from pgbench_accounts), "
                  "(select sum(tbalance) from pgbench_tellers), "
                  "(select sum(bbalance) from pgbench_branches), "
                  "(select sum(delta) from pgbench_history)")[0]


@pytest.fixture
def initialized(gateway, pg):
    """The test database initialized by `pgbench -i -s 1` through Duro (a Warehouse)."""
    out = pgbench(gateway, "-i", "-s", 1)
    assert "done in" in out, out
    wh = Warehouse(pg, gateway.dbname)
    assert wh.count("pgbench_accounts") == 100000
    assert wh.count("pgbench_tellers") == 10
    assert wh.count("pgbench_branches") == 1
    assert wh.count("pgbench_history") == 0
    return wh


def test_pgbench_query_modes(gateway, initialized):
    """-M simple, extended and prepared with 4 clients: no failures, every transaction in the
    warehouse (-n: no vacuum, which would empty pgbench_history between runs)."""
    done = 0
    for mode in ("simple", "extended", "prepared"):
        out = pgbench(gateway, "-n", "-M", mode, "-c", CLIENTS, "-j", THREADS, "-t", TRANSACTIONS)
        assert f"query mode: {mode}" in out, out
        check_run(out, CLIENTS * TRANSACTIONS)
        done += CLIENTS * TRANSACTIONS
        assert initialized.count("pgbench_history") == done
    a, t, b, h = balances(initialized)
    assert a == t == b == h


def test_pgbench_connect_per_transaction(gateway, initialized):
    """-C: a new session through Duro for every transaction."""
    out = pgbench(gateway, "-C", "-M", "extended", "-c", CLIENTS, "-j", THREADS, "-t", 50)
    check_run(out, CLIENTS * 50)
    assert initialized.count("pgbench_history") == CLIENTS * 50
    # Every session's warehouse connection goes away with its client.
    wait_until(lambda: initialized.sql("select count(*) from pg_stat_activity where "
                                       "application_name = 'pgbench'") == [(0,)],
               30, "pgbench's warehouse connections to close", gateway.proc)


PIPELINE_SCRIPT = """\
\\set aid random(1, 100000)
\\set delta random(-5000, 5000)
\\startpipeline
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :aid, :delta, now());
\\endpipeline
"""


def test_pgbench_pipeline_script(gateway, initialized, tmp_path):
    """A custom script in pipeline mode (\\startpipeline ... \\endpipeline)."""
    script = tmp_path / "pipeline.sql"
    script.write_text(PIPELINE_SCRIPT)
    out = pgbench(gateway, "-M", "extended", "-f", script, "-c", CLIENTS, "-j", THREADS,
                  "-t", TRANSACTIONS)
    check_run(out, CLIENTS * TRANSACTIONS)
    assert initialized.sql("select count(*), sum(delta) = (select sum(abalance) from "
                           "pgbench_accounts) from pgbench_history") == [
        (CLIENTS * TRANSACTIONS, True)]
