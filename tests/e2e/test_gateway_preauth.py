"""Clients that have not logged in yet: whatever they do is cheap for Duro. Raw sockets hold
connections idle, trickle a startup packet or a TLS handshake one byte at a time, stall at the
password, send a 63 MB SASL message, or pipeline a query with their password; Duro runs under a low
open-files limit (set on the running daemon with prlimit). Each test checks what a user would
notice: logins still work, promptly; idle logins end at `[gateway] login_timeout`; connections over
`[gateway] max_logins` are refused with 53300; memory stays flat; a pipelined query is Duro's to
answer, not the warehouse's.
"""
import os
import resource
import select
import socket
import ssl
import struct
import subprocess
import time

import psycopg
import pytest

from conftest import wait_until
from pgcluster import Cluster
from test_gateway_malformed import Wire, assert_still_serving, message, parse_error, startup_packet
from test_gateway_memory import RssSampler, rss

PASSWORD = "pre-auth secret"
SASL_REQUEST = 10
CLEARTEXT_REQUEST = 3


# -- helpers --------------------------------------------------------------------------------------


def limit_open_files(pid, n):
    """Lowers the running daemon's open-files limit (soft and hard) to n."""
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (n, n))


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid):
    """User plus system CPU time the process used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_sockets(gateway, n):
    """n connections to the gateway that send nothing."""
    return [socket.create_connection((gateway.host, gateway.port), timeout=10) for _ in range(n)]


def wait_closed(socks, timeout):
    """Waits up to timeout seconds for the server to close each socket. Returns
    ({socket: (seconds until closed, what it read before)}, [sockets still open])."""
    start = time.monotonic()
    closed, got = {}, {s: b"" for s in socks}
    open_ = set(socks)
    while open_ and time.monotonic() - start < timeout:
        ready, _, _ = select.select(list(open_), [], [], 0.1)
        for s in ready:
            try:
                data = s.recv(65536)
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                data = b""
            if data:
                got[s] += data
                continue
            closed[s] = (time.monotonic() - start, got[s])
            open_.discard(s)
    return closed, [s for s in socks if s in open_]


def error_fields(data):
    """The fields of the ErrorResponse data starts with, or None when it holds none."""
    if len(data) < 5 or data[:1] != b"E":
        return None
    length = struct.unpack("!I", data[1:5])[0]
    return parse_error(data[5:1 + length])


def login_time(gateway, **kw):
    """Seconds a psycopg login plus one query through the gateway takes."""
    start = time.monotonic()
    with gateway.connect(connect_timeout=20, **kw) as conn:
        assert conn.execute("select 'in'").fetchone() == ("in",)
    return time.monotonic() - start


def auth_request(w):
    """Reads the warehouse's authentication request; returns its code."""
    kind, payload = w.read_message()
    assert kind == b"R", (kind, payload)
    return struct.unpack("!I", payload[:4])[0]


# -- a warehouse that asks for passwords ----------------------------------------------------------


@pytest.fixture(scope="module")
def auth_pg():
    """This module's cluster: pwuser logs in with a cleartext password, scramuser with
    SCRAM-SHA-256, the superuser with trust."""
    cluster = Cluster(label="duro-preauth")
    try:
        cluster.start()
        cluster.sql("set password_encryption = 'scram-sha-256'")
        for user in ("pwuser", "scramuser"):
            cluster.sql(f"create role {user} login password '{PASSWORD}'")
        cluster.hba_path.write_text(
            "local all all trust\n"
            f"host all {cluster.superuser} 127.0.0.1/32 trust\n"
            "host all pwuser 127.0.0.1/32 password\n"
            "host all scramuser 127.0.0.1/32 scram-sha-256\n")
        cluster.reload()
        yield cluster
    finally:
        cluster.stop()


def gateway_to(gateway_factory, auth_pg, **gateway):
    return gateway_factory(dbname="postgres", gateway=gateway,
                           warehouse={"host": auth_pg.host, "port": auth_pg.port})


# -- 1. the login deadline ------------------------------------------------------------------------


def test_login_timeout_ends_idle_and_trickling_connections(gateway_factory, pg):
    """With login_timeout = 2s, a connection that sends nothing and one that sends its startup
    packet one byte every 0.3 s (it would take 15 s) are both closed about 2 s after they
    connected; a normal login is unaffected."""
    gw = gateway_factory(gateway={"login_timeout": "2s"})
    idle = Wire(gw)
    trickle = Wire(gw)
    packet = startup_packet({"user": "postgres", "database": gw.dbname,
                             "application_name": "raw-trickle-" + "x" * 20})
    start = time.monotonic()
    closed_at = None
    for i in range(len(packet)):
        try:
            trickle.send(packet[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            closed_at = time.monotonic() - start
            break
        time.sleep(0.3)
    assert closed_at is not None, "the trickling client was never closed"
    assert 1.5 < closed_at < 6, closed_at
    error = idle.outcome()
    assert error is None or error["C"] == "57014", error
    assert time.monotonic() - start < 8
    assert login_time(gw) < 5
    assert_still_serving(gw, pg)


def test_login_timeout_covers_the_password_stage(gateway_factory, auth_pg):
    """A client that sends its startup packet and never answers the warehouse's password request
    gets 57014 'canceling authentication due to timeout' at login_timeout, not at the warehouse's
    own authentication_timeout (60 s); its warehouse connection goes too."""
    gw = gateway_to(gateway_factory, auth_pg, login_timeout="2s")
    w = Wire(gw)
    start = time.monotonic()
    w.send(startup_packet({"user": "pwuser", "database": "postgres",
                           "application_name": "raw-stall"}))
    assert auth_request(w) == CLEARTEXT_REQUEST
    error = w.outcome()
    took = time.monotonic() - start
    assert error is not None and error["C"] == "57014", error
    assert "timeout" in error["M"], error
    assert 1.5 < took < 6, took
    wait_until(lambda: auth_pg.sql("select count(*) from pg_stat_activity "
                                   "where usename = 'pwuser'") == [(0,)],
               10, "the warehouse connection to close", gw.proc)
    with gw.connect(dbname="postgres", user="pwuser", password=PASSWORD) as conn:
        assert conn.execute("select current_user").fetchone() == ("pwuser",)


@pytest.fixture
def certs(tmp_path):
    """A self-signed certificate and key for Duro's TLS."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", "key.pem", "-out", "cert.pem"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=60)
    return tmp_path / "cert.pem", tmp_path / "key.pem"


def client_hello():
    """The first flight of a TLS client: a ClientHello record."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_login_timeout_covers_the_tls_handshake(gateway_factory, pg, certs):
    """50 TLS connections that send their ClientHello one byte every 0.5 s, and 10 that finish
    the handshake and then send nothing, are all closed at login_timeout (2 s), not left open
    for as long as they keep trickling; TLS logins still work meanwhile."""
    cert, key = certs
    gw = gateway_factory(gateway={"login_timeout": "2s", "tls_cert": cert, "tls_key": key})
    hello = client_hello()
    trickling = []
    for _ in range(50):
        s = socket.create_connection((gw.host, gw.port), timeout=10)
        s.sendall(struct.pack("!II", 8, 80877103))
        assert s.recv(1) == b"S"
        trickling.append(s)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    silent = []
    for _ in range(10):
        s = socket.create_connection((gw.host, gw.port), timeout=10)
        s.sendall(struct.pack("!II", 8, 80877103))
        assert s.recv(1) == b"S"
        silent.append(ctx.wrap_socket(s))
    start = time.monotonic()
    open_ = set(trickling)
    sent = 0
    while open_ and time.monotonic() - start < 15:
        for s in list(open_):
            try:
                s.sendall(hello[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                open_.discard(s)
        sent += 1
        assert sent < len(hello), "the whole ClientHello went through"
        assert login_time(gw, sslmode="require") < 5
        time.sleep(0.5)
    took = time.monotonic() - start
    assert not open_, f"{len(open_)} trickling TLS connections still open after {took:.0f} s"
    assert took < 8, took
    closed, still = wait_closed(silent, 5)
    assert not still, "TLS connections that never sent a startup packet are still open"
    for _, data in closed.values():
        assert data == b"" or error_fields(data)["C"] == "57014", data
    assert_still_serving(gw, pg)


# -- 1. the cap on logins, the open-files limit ---------------------------------------------------


def test_max_logins_refuses_the_newest_and_lets_real_logins_in(gateway_factory, pg):
    """Under an open-files limit of 128 and max_logins = 20, 300 connections that never send a
    startup packet: 20 are held, the 280 others are refused at once (53300 'sorry, too many
    clients already', or a close), as is a psycopg login meanwhile; Duro's descriptors stay under
    the limit, and no accept() fails.
    A real login a second later gets in within seconds (it takes the place of the idle connection
    that waited longest, which gets 53300), and so does the next one."""
    gw = gateway_factory(gateway={"max_logins": 20})
    pid = gw.proc.pid
    limit_open_files(pid, 128)
    # The readiness probe's connection may still hold a login slot for a moment: top up until
    # 20 idle connections are held.
    socks = idle_sockets(gw, 20)
    for _ in range(10):
        refused, socks = wait_closed(socks, 0.1)
        if not refused:
            break
        socks += idle_sockets(gw, len(refused))
    assert not refused, "idle connections refused below max_logins"
    # While the idle ones are under a second old, a login is refused the way libpq reports it.
    with pytest.raises(psycopg.OperationalError, match="sorry, too many clients already"):
        gw.connect()
    socks += idle_sockets(gw, 280)
    closed, still = wait_closed(socks, 5)
    assert len(still) == 20 and len(closed) == 280, (len(still), len(closed))
    for took, data in closed.values():
        error = error_fields(data)
        assert error is None or (error["C"] == "53300" and "too many clients" in error["M"]), data
    assert open_fds(pid) < 128
    time.sleep(1.2)
    took = [login_time(gw) for _ in range(3)]
    print(f"logins with max_logins full of idle connections: {', '.join(f'{t:.3f}' for t in took)} s")
    assert max(took) < 3, took
    evicted, still = wait_closed(still, 2)
    assert len(evicted) >= 1 and len(still) >= 17, (len(evicted), len(still))
    for _, data in evicted.values():
        assert error_fields(data)["C"] == "53300", data
    logs = gw.logs()
    assert "accept failed" not in logs, logs
    assert len([line for line in logs.splitlines() if "[gateway] max_logins" in line]) == 1, logs
    for s in still:
        s.close()
    assert_still_serving(gw, pg)


def test_accept_failures_back_off_quietly(gateway_factory, pg):
    """When Duro runs out of descriptors (an open-files limit 20 above what it uses at rest, 60
    idle connections, max_logins above that), accept() failing is logged once, not retried in a
    busy loop (Duro uses well under a second of CPU in 3 s); once descriptors are free again new
    connections are accepted and a login works."""
    gw = gateway_factory(gateway={"max_logins": 1000})
    pid = gw.proc.pid
    limit_open_files(pid, open_fds(pid) + 20)
    socks = idle_sockets(gw, 60)
    time.sleep(0.5)
    cpu = cpu_seconds(pid)
    time.sleep(3)
    used = cpu_seconds(pid) - cpu
    logs = gw.logs()
    failures = [line for line in logs.splitlines() if "accept failed" in line]
    assert len(failures) == 1, failures
    assert "open files limit" in failures[0], failures
    assert used < 1, f"{used:.2f} s of CPU in 3 s while accept() fails"
    for s in socks:
        s.close()
    assert login_time(gw) < 10
    assert_still_serving(gw, pg)


def test_bogus_cancel_requests_are_not_logged_one_by_one(gateway, pg):
    """500 CancelRequests with made-up PIDs and keys are each closed without an answer and leave
    no line each in the log at the default level (a count comes once a minute)."""
    for i in range(500):
        w = Wire(gateway)
        w.send(struct.pack("!IIII", 16, 80877102, 100000 + i, 12345))
        assert w.outcome() is None
        w.close()
    lines = [line for line in gateway.logs().splitlines() if "cancel request" in line]
    assert len(lines) <= 1, lines[:5]
    assert_still_serving(gateway, pg)


# -- 1. memory before login -----------------------------------------------------------------------


def test_sasl_message_over_the_auth_limit_is_refused(gateway_factory, auth_pg):
    """10 connections that start a SCRAM login and send a 63 MB SASLInitialResponse (and one a
    1 MB cleartext password) are refused at its header with 08P01 whatever max_message says (64MB
    here): PostgreSQL takes at most 65535 bytes before login. Duro's memory stays within 16 MB of
    where it was, and SCRAM logins still work."""
    gw = gateway_to(gateway_factory, auth_pg)
    pid = gw.proc.pid
    baseline = rss(pid)
    sampler = RssSampler(pid)
    size = 63 * 1024 * 1024
    wires = []
    for _ in range(10):
        w = Wire(gw)
        w.send(startup_packet({"user": "scramuser", "database": "postgres",
                               "application_name": "raw-sasl"}))
        assert auth_request(w) == SASL_REQUEST
        wires.append(w)
    body = b"SCRAM-SHA-256\0" + struct.pack("!I", size) + b"n,," + b"x" * (size - 3)
    big = b"p" + struct.pack("!I", len(body) + 4) + body
    for w in wires:
        w.sock.settimeout(0.2)
        view = memoryview(big)
        sent = 0
        deadline = time.monotonic() + 10
        while sent < len(big) and time.monotonic() < deadline:
            try:
                sent += w.sock.send(view[sent:sent + (1 << 20)])
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        assert sent < len(big), "Duro read the whole 63 MB message"
        w.sock.settimeout(10)
    peak = sampler.stop()
    print(f"10 clients sending 63 MB SASLInitialResponses: RSS {baseline >> 20} MB before, "
          f"{peak >> 20} MB at peak")
    assert peak - baseline < 16 << 20, (baseline, peak)
    for w in wires:
        error = w.outcome()
        assert error is not None and error["C"] == "08P01", error
        assert "65535" in error["M"], error

    w = Wire(gw)
    w.send(startup_packet({"user": "pwuser", "database": "postgres",
                           "application_name": "raw-pw"}))
    assert auth_request(w) == CLEARTEXT_REQUEST
    try:
        w.send(message(b"p", b"y" * (1 << 20) + b"\0"))
    except (BrokenPipeError, ConnectionResetError):
        pass
    error = w.outcome()
    assert error is not None and error["C"] == "08P01", error
    with gw.connect(dbname="postgres", user="scramuser", password=PASSWORD) as conn:
        assert conn.execute("select current_user").fetchone() == ("scramuser",)


def held_sasl_message():
    """All but the last 5 bytes of a 65,535-byte SASLInitialResponse: the largest message a client
    may send before login, which Duro holds whole."""
    length = 65535
    body = b"SCRAM-SHA-256\0" + struct.pack("!I", length - 4 - 14 - 4) + b"n,,"
    body += b"z" * (length - 4 - len(body))
    return (b"p" + struct.pack("!I", length) + body)[:-5]


def tls_socket(gw, handshake=True):
    """A connection that asked for TLS; with handshake, a TLS socket, else a plain socket that has
    sent its ClientHello and waits."""
    s = socket.create_connection((gw.host, gw.port), timeout=10)
    s.sendall(struct.pack("!II", 8, 80877103))
    assert s.recv(1) == b"S"
    if not handshake:
        s.sendall(client_hello())
        return s
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(s)


def tls_sasl_started(gw):
    """A TLS connection that started a SCRAM login and sent held_sasl_message()."""
    s = tls_socket(gw)
    s.sendall(startup_packet({"user": "scramuser", "database": "postgres",
                              "application_name": "raw-held"}))
    got = b""
    while len(got) < 9 or len(got) < 1 + struct.unpack("!I", got[1:5])[0]:
        data = s.recv(4096)
        assert data, got
        got += data
    assert got[:1] == b"R" and struct.unpack("!I", got[5:9])[0] == SASL_REQUEST, got
    s.sendall(held_sasl_message())
    return s


def plain_sasl_started(gw):
    """A plain connection that started a SCRAM login and sent held_sasl_message()."""
    w = Wire(gw)
    w.send(startup_packet({"user": "scramuser", "database": "postgres",
                           "application_name": "raw-held"}))
    assert auth_request(w) == SASL_REQUEST
    w.send(held_sasl_message())
    return w.sock


def test_memory_per_connection_before_login(gateway_factory, auth_pg, certs):
    """What one connection that has not logged in costs Duro, each kind measured on a fresh daemon
    (TLS allowed): idle, in a TLS handshake (ClientHello sent), and holding all but 5 bytes of a
    65,535-byte SASLInitialResponse (the largest message allowed before login) over a plain or a
    TLS connection. The figures are printed (docs/benchmarks.md); each stays under 1 MB a connection,
    kilobytes rather than megabytes even under AddressSanitizer (about 400 kB at most there, 110 kB
    in a normal build)."""
    cert, key = certs
    kinds = [("idle", 1000, lambda gw: socket.create_connection((gw.host, gw.port), timeout=10)),
             ("in a TLS handshake", 200, lambda gw: tls_socket(gw, handshake=False)),
             ("holding 64 kB of SASL", 200, plain_sasl_started),
             ("holding 64 kB of SASL over TLS", 200, tls_sasl_started)]
    figures = {}
    for name, n, open_one in kinds:
        gw = gateway_to(gateway_factory, auth_pg, max_logins=2000, tls_cert=cert, tls_key=key)
        pid = gw.proc.pid
        time.sleep(0.5)
        baseline = rss(pid)
        socks = [open_one(gw) for _ in range(n)]
        wait_until(lambda: open_fds(pid) >= n, 10, f"{n} connections accepted", gw.proc)
        time.sleep(1)
        figures[name] = (rss(pid) - baseline) / n
        assert gw.proc.running()
        for s in socks:
            s.close()
        gw.proc.stop()
    print("before login, per connection: "
          + ", ".join(f"{name} {size / 1024:.1f} kB" for name, size in figures.items()))
    assert max(figures.values()) < 1024 * 1024, figures


# -- 2. a query pipelined with the password -------------------------------------------------------


def duro_status_answer(msgs):
    """Asserts that msgs (up to ReadyForQuery) are Duro's answer to a query on duro.status."""
    errors = [parse_error(p) for k, p in msgs if k == b"E"]
    assert not errors, errors
    assert any(k == b"C" and p.startswith(b"SELECT") for k, p in msgs), msgs


@pytest.mark.parametrize("user", ["pwuser", "postgres"])
def test_query_pipelined_with_the_login_is_inspected(gateway_factory, auth_pg, user):
    """A query on duro.status sent in the same packet as the password (pwuser) or the startup
    packet (trust): Duro answers it, as it would once the session is ready, instead of relaying it
    to the warehouse (where duro.status does not exist); so does a 200 kB query after it, which is
    over PostgreSQL's limit for a password message but not for a query."""
    gw = gateway_to(gateway_factory, auth_pg)
    w = Wire(gw)
    hello = startup_packet({"user": user, "database": "postgres", "application_name": "raw-pipe"})
    big = "select count(*) from duro.status where view <> '" + "b" * 200_000 + "'"
    queries = (message(b"Q", b"select count(*) from duro.status\0")
               + message(b"Q", big.encode() + b"\0"))
    if user == "pwuser":
        w.send(hello)
        assert auth_request(w) == CLEARTEXT_REQUEST
        w.send(message(b"p", PASSWORD.encode() + b"\0") + queries)
    else:
        w.send(hello + queries)
    login = w.read_until(b"Z")
    assert login[0] == (b"R", struct.pack("!I", 0)), login
    duro_status_answer(w.read_until(b"Z"))
    duro_status_answer(w.read_until(b"Z"))
    assert w.query("select 'after'")[1] == (b"D", b"\0\x01\0\0\0\x05after")
    w.close()
