"""Two Duro gateways behind HAProxy (Debian's haproxy, TCP mode, PostgreSQL health checks), as
the README's multi-instance set-up describes: when one instance is killed, the clients whose
sessions it held lose them and reconnect to the other; nobody else notices. pgbench through
HAProxy loses no transaction outside the killed sessions, and a run after the kill has no failure.
"""
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import psycopg
import pytest

from conftest import PG_BIN, clean_env, free_port, wait_until

PGBENCH = PG_BIN / "pgbench"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
CLIENTS = 8

CONFIG = """\
global
    maxconn 512

defaults
    mode tcp
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch

frontend gateway
    bind 127.0.0.1:{port}
    default_backend duro

backend duro
    balance roundrobin
    option pgsql-check user postgres
    default-server inter 200ms fall 1 rise 2
    server a 127.0.0.1:{port_a} check
    server b 127.0.0.1:{port_b} check
"""


class HAProxy:
    """haproxy in the foreground on a free port, in front of two gateways."""

    def __init__(self, tmp_path, port_a, port_b):
        if not shutil.which(HAPROXY):
            pytest.fail("haproxy not found: install it (tools/install-deps test)")
        self.port = free_port()
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(CONFIG.format(port=self.port, port_a=port_a, port_b=port_b))
        self.log = open(tmp_path / "haproxy.log", "w")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            assert self.proc.poll() is None, (tmp_path / "haproxy.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "haproxy does not listen"
                time.sleep(0.05)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def two_behind_haproxy(duro, pg, db, tmp_path):
    """(HAProxy, instance a, instance b): two `duro serve` with their own catalogs on the test
    database, both up and taking logins, behind HAProxy."""
    duro.write_conf(dbname=db)
    a = duro.start()
    a.wait_listening(duro.gateway_port)
    conf_b, _, port_b = duro.another_conf("b")
    b = duro.start(conf=conf_b)
    b.wait_listening(port_b)
    proxy = HAProxy(tmp_path, duro.gateway_port, port_b)
    try:
        yield proxy, a, b
    finally:
        proxy.close()


def connect(proxy, dbname):
    return psycopg.connect(host="127.0.0.1", port=proxy.port, dbname=dbname, user="postgres",
                           sslmode="disable", autocommit=True, connect_timeout=10)


def test_clients_reconnect_to_the_other_instance_when_one_dies(two_behind_haproxy, pg, db):
    proxy, a, _ = two_behind_haproxy
    pg.sql("create table counter (who int, n int)", dbname=db)
    conns = [connect(proxy, db) for _ in range(6)]
    for i, c in enumerate(conns):
        c.execute("insert into counter values (%s, 1)", (i,))
    # Round robin: every other session went through instance a.
    a.send_signal(signal.SIGKILL)
    a.proc.wait(10)

    lost, kept = [], []
    for i, c in enumerate(conns):
        try:
            c.execute("insert into counter values (%s, 2)", (i,))
            kept.append(i)
        except psycopg.OperationalError:
            lost.append(i)
    assert len(lost) == 3 and len(kept) == 3, (lost, kept)

    # The clients that lost their session reconnect through HAProxy: to instance b.
    for i in lost:
        conns[i].close()
        conns[i] = connect(proxy, db)
        conns[i].execute("insert into counter values (%s, 2)", (i,))
        assert conns[i].execute("select count(*) from duro.status").fetchone() == (0,)
    rows = pg.sql("select who, array_agg(n order by n) from counter group by who order by who",
                  dbname=db)
    assert rows == [(i, [1, 2]) for i in range(6)], rows
    for c in conns:
        c.close()


def pgbench(proxy, dbname, *args):
    argv = [str(PGBENCH), "-h", "127.0.0.1", "-p", str(proxy.port), "-U", "postgres",
            *map(str, args), dbname]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, env=clean_env({"PGSSLMODE": "disable"}))


def summary(output, name):
    m = re.search(rf"^{re.escape(name)}: (\d+)", output, re.M)
    assert m, f"no {name!r} in pgbench's output:\n{output}"
    return int(m.group(1))


def test_pgbench_through_haproxy_loses_only_the_killed_sessions(two_behind_haproxy, pg, db):
    proxy, a, _ = two_behind_haproxy
    init = subprocess.run([str(PGBENCH), "-i", "-s", "1", "-h", pg.host, "-p", str(pg.port),
                           "-U", pg.superuser, db], capture_output=True, text=True, timeout=120,
                          env=clean_env({"PGSSLMODE": "disable"}))
    assert init.returncode == 0, init.stderr

    # 8 clients, half on each instance; instance a is killed while they run.
    run = pgbench(proxy, db, "-n", "-M", "extended", "-c", CLIENTS, "-j", 2, "-T", 6)
    killer = threading.Timer(2.5, lambda: a.send_signal(signal.SIGKILL))
    killer.start()
    out, _ = run.communicate(timeout=120)
    killer.join()
    aborted = re.findall(r"client \d+ aborted", out)
    # Exactly the sessions instance a held end; the others run to the end without a failure.
    assert len(aborted) == CLIENTS // 2, out
    assert run.returncode == 2, out  # pgbench: "Run was aborted; the above results are incomplete"
    assert summary(out, "number of failed transactions") == 0, out
    assert summary(out, "number of transactions actually processed") > 0, out

    # A new run goes to b (HAProxy's health check marks a down; a connection it still sends
    # there is refused and redispatched) and completes whole.
    wait_until(lambda: a.proc.poll() is not None, 10, "instance a to exit")
    run = pgbench(proxy, db, "-n", "-M", "prepared", "-c", CLIENTS, "-j", 2, "-t", 100)
    out, _ = run.communicate(timeout=120)
    assert run.returncode == 0, out
    assert summary(out, "number of transactions actually processed") == CLIENTS * 100, out
    assert summary(out, "number of failed transactions") == 0, out
