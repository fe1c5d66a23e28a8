"""Duro's memory under clients that send without reading, and under large statements: raw
sockets pipeline Duro's own SQL or SSL/GSS requests and never read the answers, or send one
60 MB statement; Duro's resident memory (VmRSS in /proc) stays within a bound of its baseline,
the answers are all there once the client reads, and other clients are served meanwhile.
"""
import select
import threading
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
    """Two connections at once each pipeline a million GSSENCRequests (or SSLRequests) and never
    read: PostgreSQL answers the first and refuses what was sent before its answer was read, and
    so does Duro: one 'N', a FATAL 08P01, a close. RSS stays within the bound while they flood and
    after they close, and other clients are served."""
    pid = gateway.proc.pid
    baseline = rss(pid)
    socks = [socket.create_connection((gateway.host, gateway.port), timeout=30) for _ in range(2)]
    peaks = [[baseline], [baseline]]
    flood = struct.pack("!II", 8, code) * 1_000_000
    threads = [threading.Thread(target=send_without_reading, args=(sock, flood, pid, peak))
               for sock, peak in zip(socks, peaks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = max(peaks[0][0], peaks[1][0])
    assert peak - baseline < RSS_BOUND, (baseline, peak)
    assert_others_served(gateway)
    for sock in socks:
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


# -- statements over [gateway] inspect_limit --------------------------------------------------------


class RssSampler:
    """Samples a process's RSS every 10 ms in a thread, keeping the peak."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = rss(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss(self.pid))

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


def test_60mb_query_streams_through(gateway):
    """A 60 MB simple Query (over inspect_limit, under max_message) is relayed as it arrives:
    the warehouse's right answer comes back, Duro's RSS never grows by 64 MB, and afterwards it
    is within 16 MB of where it started. The same for a 60 MB Parse (psycopg)."""
    pid = gateway.proc.pid
    sock = login(gateway, "memory-big")
    sock.sendall(message(b"Q", b"select 1\0"))
    read_until_ready(sock)
    baseline = rss(pid)
    size = 60 * 1000 * 1000
    sampler = RssSampler(pid)
    sock.sendall(message(b"Q", b"select length('" + b"x" * size + b"')\0"))
    got = read_until_ready(sock)
    peak = sampler.stop()
    assert b"D\0\0\0\x12\0\x01\0\0\0\x0860000000" in got, got[:300]
    after = rss(pid)
    print(f"60 MB Query: RSS {baseline >> 20} MB before, {peak >> 20} MB at peak, "
          f"{after >> 20} MB after")
    assert peak - baseline < RSS_BOUND, (baseline, peak)
    assert after - baseline < 16 * 1024 * 1024, (baseline, after)
    sock.close()

    with gateway.connect() as conn:
        sampler = RssSampler(pid)
        assert conn.execute("select length(%s)", ["y" * size]).fetchone() == (size,)
        assert conn.execute("select length('" + "z" * size + "')").fetchone() == (size,)
        peak = sampler.stop()
        assert conn.execute("select count(*) from duro.status").fetchone() == (0,)
    assert peak - baseline < RSS_BOUND, (baseline, peak)

    # Statements just under the limit are held whole and looked at; memory comes back after.
    sock = login(gateway, "memory-held")
    held = 1000 * 1000
    sock.sendall(message(b"Q", b"select length('" + b"h" * held + b"')\0") * 30)
    got = b""
    while got.count(b"Z\0\0\0\x05") < 30:
        data = sock.recv(65536)
        assert data, got[-300:]
        got += data
    assert got.count(b"\0\0\0\x071000000") == 30, got[:300]
    sock.close()
    after = rss(pid)
    print(f"30 held 1 MB queries: RSS {after >> 20} MB after")
    assert after - baseline < 16 * 1024 * 1024, (baseline, after)
    assert gateway.proc.running()


def test_statement_over_inspect_limit_reads_a_stale_view_at_once(duro, wh, example_repo,
                                                                   gateway_factory):
    """The documented consequence of inspect_limit: a 2 MB statement that reads a stale view
    (stale_read = wait) is relayed unexamined, so it runs at once on the current table, with no
    NOTICE and no refresh; the same statement under the limit waits for the refresh."""
    from test_duro_sql import DAY, last_run_id, notices_of, serve, stale_notices

    gw = serve(gateway_factory, duro, wait_until)
    cat = duro.catalog
    wh.sql("update first.cities_raw set city = 'Edo' where city = 'Tokyo'")
    cat.age("first.cities", seconds=2 * DAY)
    mark = last_run_id(cat)
    sql = "select city from first.cities where city in ('Edo', 'Tokyo') -- "
    with gw.connect() as conn:
        notices = notices_of(conn)
        start = time.monotonic()
        assert conn.execute(sql + "x" * (2 << 20)).fetchall() == [("Tokyo",)]
        assert time.monotonic() - start < 5
        assert stale_notices(notices, "first.cities") == []
        assert last_run_id(cat) == mark, cat.runs()
        # Under the limit, the same read waits for the refresh and sees the new table.
        assert conn.execute(sql + "x" * 1000).fetchall() == [("Edo",)]
        assert len(stale_notices(notices, "first.cities")) == 1, notices
    assert [r["trigger"] for r in cat.runs()[-1:]] == ["read"]
