"""Duro's memory under clients that send without reading, and under large statements: raw
sockets pipeline Duro's own SQL or SSL/GSS requests and never read the answers, or send one
60 MB statement; Duro's resident memory (VmRSS in /proc) stays within a bound of its baseline,
the answers are all there once the client reads, and other clients are served meanwhile.
"""
import select
import socket
import struct
import time

import pytest

from conftest import wait_until

RSS_BOUND = 64 * 1024 * 1024  # bytes above the baseline Duro may grow by
STALL = 2.0  # seconds without progress after which a sender stops: Duro has stopped reading
PROTOCOL_3 = 3 << 16


def rss(pid):
    """Resident memory of process pid in bytes (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def message(kind, payload=b""):
    return kind + struct.pack("!I", len(payload) + 4) + payload


def startup_packet(params):
    body = struct.pack("!I", PROTOCOL_3)
    body += b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
    return struct.pack("!I", len(body) + 4) + body


def read_until_ready(sock):
    """Reads up to the first ReadyForQuery; returns everything read."""
    got = b""
    while b"Z\0\0\0\x05" not in got:
        data = sock.recv(65536)
        assert data, f"closed before ReadyForQuery: {got[-200:]!r}"
        got += data
    return got


def login(gateway, application_name):
    sock = socket.create_connection((gateway.host, gateway.port), timeout=30)
    sock.sendall(startup_packet({"user": "postgres", "database": gateway.dbname,
                                 "application_name": application_name}))
    got = read_until_ready(sock)
    assert got.startswith(b"R\0\0\0\x08\0\0\0\0"), got[:100]
    return sock


def send_without_reading(sock, data, pid, peak):
    """Sends data without ever reading, until all of it is sent or nothing more was taken for
    STALL seconds. Samples Duro's RSS into peak[0] meanwhile. Returns the bytes sent."""
    sock.setblocking(False)
    view = memoryview(data)
    sent = 0
    last = time.monotonic()
    while sent < len(data) and time.monotonic() - last < STALL:
        peak[0] = max(peak[0], rss(pid))
        if not select.select([], [sock], [], 0.1)[1]:
            continue
        try:
            n = sock.send(view[sent:sent + 1024 * 1024])
        except BlockingIOError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += n
        last = time.monotonic()
    peak[0] = max(peak[0], rss(pid))
    sock.setblocking(True)
    return sent


def assert_others_served(gateway, within=5.0):
    """A new client logs in and gets an answer of the warehouse's and one of Duro's, promptly."""
    start = time.monotonic()
    sock = login(gateway, "memory-other")
    sock.sendall(message(b"Q", b"select 'other'\0"))
    assert b"other" in read_until_ready(sock)
    sock.sendall(message(b"Q", b"select count(*) from duro.status\0"))
    assert b"SELECT 1" in read_until_ready(sock)
    sock.close()
    assert time.monotonic() - start < within, "another client waited"


def sample_rss(pid, baseline, peak, seconds):
    """Samples RSS into peak[0] for seconds, or until it is over the bound."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and peak[0] - baseline < RSS_BOUND:
        peak[0] = max(peak[0], rss(pid))
        time.sleep(0.1)


def test_pipelined_duro_queries_without_reading(gateway):
    """2,000 pipelined queries of Duro's own (`select *, *, ... from duro.status`, ~40 kB of
    RowDescription each) from a client that reads nothing: Duro stops reading that client once
    its answers pile up over the high-water mark, so its RSS stays within 64 MB of the baseline
    while other clients are served; once the client reads, every answer is there."""
    pid = gateway.proc.pid
    flood = login(gateway, "memory-flood")
    baseline = rss(pid)
    one = message(b"Q", b"select " + b"*, " * 135 + b"* from duro.status\0")
    count = 2000
    peak = [baseline]
    sent = send_without_reading(flood, one * count, pid, peak)
    sample_rss(pid, baseline, peak, 15)  # what Duro took in, it answers meanwhile
    assert peak[0] - baseline < RSS_BOUND, f"RSS from {baseline} to {peak[0]} bytes"
    assert_others_served(gateway)
    # Now the client reads: one ReadyForQuery per whole query sent, none lost.
    whole = sent // len(one)
    assert whole > 0
    flood.settimeout(60)
    got = 0
    tail = b""
    while got < whole:
        data = flood.recv(1 << 20)
        assert data, f"closed after {got} of {whole} answers"
        chunk = tail + data
        got += chunk.count(b"Z\0\0\0\x05I")
        tail = chunk[-5:]
    assert got == whole
    flood.close()
    assert gateway.proc.running()


@pytest.mark.parametrize("code", [80877104, 80877103], ids=["gssenc", "ssl"])
def test_encryption_request_flood(gateway, code):
    """A million pipelined GSSENCRequests (or SSLRequests) never read: PostgreSQL answers the
    first and refuses what was sent before its answer was read, and so does Duro: one 'N', a
    FATAL 08P01, a close. RSS stays within the bound and other clients are served."""
    pid = gateway.proc.pid
    baseline = rss(pid)
    sock = socket.create_connection((gateway.host, gateway.port), timeout=30)
    peak = [baseline]
    send_without_reading(sock, struct.pack("!II", 8, code) * 1_000_000, pid, peak)
    assert peak[0] - baseline < RSS_BOUND, (baseline, peak[0])
    assert_others_served(gateway)
    got = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        got += data
    assert got[:1] == b"N" and got[1:2] == b"E" and b"C08P01\0" in got, got[:200]
    sock.close()
    wait_until(lambda: rss(pid) - baseline < RSS_BOUND, 10, "RSS to settle", gateway.proc)
