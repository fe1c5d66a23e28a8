"""The gateway's life around sessions: max_clients, a warehouse that is down or drops a session,
backpressure towards a slow client, and SIGTERM draining sessions then closing them."""

import signal
import socket
import struct
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import free_port, wait_until


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def startup(sock, dbname, user="postgres"):
    """Sends a StartupMessage and reads until ReadyForQuery (trust auth)."""
    body = struct.pack("!I", 196608) + f"user\0{user}\0database\0{dbname}\0\0".encode()
    sock.sendall(struct.pack("!I", len(body) + 4) + body)
    while True:
        kind, payload = read_message(sock)
        assert kind != b"E", payload
        if kind == b"Z":
            return


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def read_message(sock):
    head = read_exact(sock, 5)
    (length,) = struct.unpack("!I", head[1:])
    return head[:1], read_exact(sock, length - 4)


def startup_error(gw):
    """Starts a session with a raw socket; returns the fields of the ErrorResponse it gets
    (S severity, C SQLSTATE, M message ...), or fails when it gets anything else."""
    with socket.create_connection((gw.host, gw.port), timeout=30) as sock:
        body = struct.pack("!I", 196608) + f"user\0postgres\0database\0{gw.dbname}\0\0".encode()
        sock.sendall(struct.pack("!I", len(body) + 4) + body)
        kind, payload = read_message(sock)
        assert kind == b"E", (kind, payload)
        fields = {f[:1].decode(): f[1:].decode() for f in payload.split(b"\0") if f}
        assert sock.recv(1) == b"", "the session should be closed after a FATAL error"
        return fields


def backend_pids(pg, dbname, application_name):
    rows = pg.sql("select pid from pg_stat_activity where datname = %s and application_name = %s",
                  (dbname, application_name))
    return [r[0] for r in rows]


def test_max_clients_refuses_extra_sessions_with_a_clear_error(gateway_factory):
    gw = gateway_factory(gateway={"max_clients": 2})
    first, second = gw.connect(), gw.connect()
    with pytest.raises(psycopg.OperationalError) as e:
        gw.connect()
    assert "too many clients" in str(e.value) and "max_clients = 2" in str(e.value)
    err = startup_error(gw)
    assert (err["S"], err["C"]) == ("FATAL", "53300")
    first.close()
    # The freed slot is usable again, and the others never noticed.
    wait_until(lambda: _try_connect(gw), 10, "a slot to free up", gw.proc)
    assert second.execute("select 2").fetchone() == (2,)
    second.close()
    assert gw.proc.running()


def _try_connect(gw):
    try:
        with gw.connect() as c:
            return c.execute("select 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def test_an_unreachable_warehouse_is_a_connection_error_and_duro_keeps_serving(gateway_factory,
                                                                             pg):
    gw = gateway_factory(warehouse={"port": free_port()})  # nothing listens there
    for _ in range(3):
        with pytest.raises(psycopg.OperationalError) as e:
            gw.connect()
        assert "could not connect to the warehouse at 127.0.0.1" in str(e.value)
    err = startup_error(gw)
    assert (err["S"], err["C"]) == ("FATAL", "08001")
    assert "Connection refused" in err["M"]
    assert gw.proc.running()
    assert "could not connect to the warehouse" in gw.logs()


def test_a_session_the_warehouse_drops_ends_with_an_error_and_others_go_on(gateway, pg):
    victim = gateway.connect(application_name="victim")
    bystander = gateway.connect(application_name="bystander")
    (pid,) = backend_pids(pg, gateway.dbname, "victim")
    pg.sql("select pg_terminate_backend(%s)", (pid,))
    with pytest.raises(psycopg.OperationalError) as e:
        victim.execute("select 1")
    assert "terminating connection due to administrator command" in str(e.value)
    assert bystander.execute("select 'still here'").fetchone() == ("still here",)
    bystander.close()
    victim.close()
    assert gateway.proc.running()


def test_a_slow_client_does_not_make_duro_buffer_the_result(gateway, pg):
    """A client that stops reading a 200 MB result: Duro stops reading the warehouse instead of
    holding the result in memory; the client then gets every row, and one that vanishes
    mid-result leaves Duro serving."""
    sock = socket.create_connection((gateway.host, gateway.port), timeout=60)
    startup(sock, gateway.dbname)
    before = rss_kb(gateway.proc.pid)
    query = b"select repeat('x', 200) from generate_series(1, 1000000)\0"
    sock.sendall(b"Q" + struct.pack("!I", len(query) + 4) + query)
    time.sleep(3)  # the warehouse sends as fast as it can; we read nothing
    grown = rss_kb(gateway.proc.pid) - before
    assert grown < 32 * 1024, f"duro grew by {grown} kB while the client was not reading"
    rows = 0
    while True:
        kind, payload = read_message(sock)
        if kind == b"D":
            rows += 1
        elif kind == b"Z":
            break
        else:
            assert kind in (b"T", b"C"), (kind, payload)
    assert rows == 1000000

    # Again, but the client goes away halfway.
    sock.sendall(b"Q" + struct.pack("!I", len(query) + 4) + query)
    for _ in range(1000):
        read_message(sock)
    sock.close()
    with gateway.connect() as c:
        assert c.execute("select 1").fetchone() == (1,)
    assert gateway.proc.running()


def test_sigterm_lets_a_running_query_finish_then_exits(gateway, duro):
    conn = gateway.connect()
    result = {}

    def run():
        result["rows"] = conn.execute("select pg_sleep(2), 'finished'").fetchall()

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    gateway.proc.send_signal(signal.SIGTERM)
    # No new sessions once stopping...
    wait_until(lambda: not _try_connect(gateway), 10, "the gateway to stop accepting",
               gateway.proc)
    t.join(30)
    # ...but the running one finished its query.
    assert result["rows"][0][1] == "finished"
    assert conn.execute("select 'after'").fetchone() == ("after",)
    conn.close()
    assert gateway.proc.wait(30) == 0
    assert "client sessions have" in gateway.logs()


def test_sigterm_closes_idle_sessions_after_the_grace_period(gateway_factory):
    gw = gateway_factory(worker={"grace": "1s", "poll": "1s", "concurrency": 2})
    conn = gw.connect()
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(30) == 0
    with pytest.raises(psycopg.OperationalError) as e:
        conn.execute("select 1")
    assert "terminating connection due to administrator command" in str(e.value)
    conn.close()
