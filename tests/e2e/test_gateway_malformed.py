"""Raw bytes at the gateway port: malformed startup packets, unsupported protocol versions,
SSL/GSS negotiation without TLS, broken messages after a successful startup, clients that vanish
mid-message or mid-result, messages above `[gateway] max_message`, and 1,000 connections of random
garbage. Each must end with an ErrorResponse or a clean close, never a hang; afterwards the daemon
still runs, a normal client still works, and no warehouse connection is left behind.
"""
import random
import socket
import struct

import psycopg
import pytest

from conftest import wait_until

TIMEOUT = 15
MAX_MESSAGE = 1024 * 1024
PROTOCOL_3 = 3 << 16
CANCEL_REQUEST = 80877102
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


# -- a tiny PostgreSQL wire client ----------------------------------------------------------------


def startup_packet(params, version=PROTOCOL_3, terminate=True):
    """A StartupMessage: length, protocol version, name/value pairs, a final NUL."""
    body = struct.pack("!I", version)
    body += b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items())
    if terminate:
        body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def request_packet(code, extra=b""):
    """An SSLRequest, GSSENCRequest or CancelRequest (code plus any extra bytes)."""
    return struct.pack("!II", 8 + len(extra), code) + extra


def message(kind, payload=b""):
    """A frontend message: type byte, length, payload."""
    return kind + struct.pack("!I", len(payload) + 4) + payload


def parse_error(payload):
    """The fields of an ErrorResponse/NoticeResponse payload, by field code ('S', 'C', 'M')."""
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


class Wire:
    """A socket to the gateway that reads whole backend messages."""

    def __init__(self, gateway, timeout=TIMEOUT):
        self.sock = socket.create_connection((gateway.host, gateway.port), timeout=timeout)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        """Reads more bytes; False at EOF (a reset counts as one). Raises on timeout."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_all(self):
        """Everything up to EOF (unparsed)."""
        while self._fill():
            pass
        data, self.buf = self.buf, b""
        return data

    def read_byte(self):
        """One byte (the answer to an SSLRequest or GSSENCRequest), or None at EOF."""
        while not self.buf:
            if not self._fill():
                return None
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def read_message(self):
        """(type, payload) of the next backend message, or None at EOF."""
        while len(self.buf) < 5:
            if not self._fill():
                assert not self.buf, f"the connection ended inside a message: {self.buf!r}"
                return None
        kind, length = self.buf[:1], struct.unpack("!I", self.buf[1:5])[0]
        assert 4 <= length <= 1 << 30, f"bad backend message: {self.buf[:40]!r}"
        while len(self.buf) < 1 + length:
            if not self._fill():
                raise AssertionError(f"the connection ended inside a {kind!r} message")
        payload, self.buf = self.buf[5:1 + length], self.buf[1 + length:]
        return kind, payload

    def read_until(self, kind):
        """Messages up to and including the first of type kind; fails at EOF."""
        got = []
        while True:
            msg = self.read_message()
            assert msg is not None, f"closed before {kind!r}; got {got}"
            got.append(msg)
            if msg[0] == kind:
                return got

    def login(self, dbname, application_name="raw"):
        """Startup as postgres (trust) up to ReadyForQuery."""
        self.send(startup_packet({"user": "postgres", "database": dbname,
                                  "application_name": application_name}))
        msgs = self.read_until(b"Z")
        assert msgs[0] == (b"R", struct.pack("!I", 0)), msgs[0]  # AuthenticationOk
        assert not [m for m in msgs if m[0] == b"E"], msgs
        return msgs

    def query(self, sql):
        """A simple query; its messages up to ReadyForQuery."""
        self.send(message(b"Q", sql.encode() + b"\0"))
        return self.read_until(b"Z")

    def outcome(self):
        """How the gateway ended this session: the fields of the ErrorResponse it sent before
        closing, or None for a clean close without one. Fails on a hang (socket timeout) and
        when the connection stays open after a FATAL error."""
        error = None
        while True:
            msg = self.read_message()
            if msg is None:
                return error
            if msg[0] == b"E":
                error = parse_error(msg[1])

    def close(self):
        self.sock.close()

    def reset(self):
        """Closes with an RST (SO_LINGER 0): a client that vanished."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def assert_fatal(error, *sqlstates):
    """An ErrorResponse with severity FATAL (or ERROR), a message, and one of the SQLSTATEs."""
    assert error is not None, "expected an ErrorResponse before the close"
    assert error.get("V", error.get("S")) in ("FATAL", "ERROR"), error
    assert error.get("M"), error
    if sqlstates:
        assert error.get("C") in sqlstates, error


def assert_still_serving(gateway, pg):
    """Duro still runs, a normal client works through it, and no warehouse connection of a raw
    client is left (they all used application_name starting with 'raw')."""
    assert gateway.proc.running(), gateway.logs()
    with gateway.connect() as conn:
        assert conn.execute("select 'still fine'").fetchone() == ("still fine",)
    wait_until(lambda: pg.sql("select count(*) from pg_stat_activity where datname = %s and "
                              "application_name like 'raw%%'", [gateway.dbname]) == [(0,)],
               30, "raw clients' warehouse connections to close", gateway.proc)
    assert gateway.proc.running(), gateway.logs()


@pytest.fixture
def gw(gateway_factory):
    """The gateway with max_message = 1MB."""
    return gateway_factory(gateway={"max_message": "1MB"})


def session(gw, tag="raw"):
    """A raw connection after a successful startup."""
    w = Wire(gw)
    w.login(gw.dbname, application_name=tag)
    return w


# -- the startup phase ----------------------------------------------------------------------------


def test_raw_client_works(gw, pg):
    """The helper itself: startup, a query, Terminate."""
    w = session(gw)
    msgs = w.query("select 40 + 2")
    assert [m[0] for m in msgs] == [b"T", b"D", b"C", b"Z"]
    assert msgs[1][1].endswith(b"42")
    w.send(message(b"X"))
    assert w.outcome() is None
    assert_still_serving(gw, pg)


@pytest.mark.parametrize("packet", [
    pytest.param(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", id="http"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\xaa" * 64, id="tls-hello"),
    pytest.param(struct.pack("!I", 0), id="length-0"),
    pytest.param(struct.pack("!I", 4), id="length-4"),
    pytest.param(struct.pack("!II", 7, PROTOCOL_3), id="length-7"),
    pytest.param(struct.pack("!II", 0xFFFFFFFF, PROTOCOL_3), id="length-negative"),
    pytest.param(struct.pack("!II", 0x7FFFFFFF, PROTOCOL_3) + b"user\0postgres\0\0",
                 id="length-huge"),
    pytest.param(struct.pack("!II", 40, PROTOCOL_3) + b"user\0postgres\0", id="length-lies"),
    pytest.param(struct.pack("!II", 12, 0x12345678) + b"\0\0\0\0", id="garbage-version"),
])
def test_malformed_startup(gw, pg, packet):
    """A malformed startup packet ends the session with an error or a close."""
    w = Wire(gw)
    w.send(packet)
    w.sock.shutdown(socket.SHUT_WR)
    error = w.outcome()
    if error is not None:
        assert_fatal(error)
    w.close()
    assert_still_serving(gw, pg)


@pytest.mark.parametrize("major,minor", [(2, 0), (4, 0), (1, 0), (0, 0)])
def test_unsupported_protocol_version(gw, pg, major, minor):
    """Protocol versions other than 3.x get an error."""
    w = Wire(gw)
    w.send(startup_packet({"user": "postgres", "database": gw.dbname},
                          version=(major << 16) | minor))
    data = w.read_all()
    assert data[:1] == b"E", f"no error for protocol {major}.{minor}: {data!r}"
    length = struct.unpack("!I", data[1:5])[0] if len(data) >= 5 else 0
    if 4 <= length <= len(data) - 1:
        assert_fatal(parse_error(data[5:1 + length]), "0A000", "08P01")
    else:  # the message of protocol 2.0: 'E', then text
        assert b"protocol" in data, data
    w.close()
    assert_still_serving(gw, pg)


def test_protocol_3_1_is_negotiated_down(gw, pg):
    """Protocol 3.1 with an unknown _pq_ option gets NegotiateProtocolVersion (3.0, the option
    listed), then the session works."""
    w = Wire(gw)
    w.send(startup_packet({"user": "postgres", "database": gw.dbname, "_pq_.unknown": "x",
                           "application_name": "raw"}, version=PROTOCOL_3 | 1))
    msgs = w.read_until(b"Z")
    assert msgs[0] == (b"v", struct.pack("!II", PROTOCOL_3, 1) + b"_pq_.unknown\0"), msgs
    assert msgs[1] == (b"R", struct.pack("!I", 0)), msgs
    assert w.query("select 'ok'")[1] == (b"D", b"\0\x01\0\0\0\x02ok")
    w.close()
    assert_still_serving(gw, pg)


def test_byte_by_byte_and_batched(gw, pg):
    """A startup packet and a query sent one byte per write are reassembled; 100 queries in
    one write get 100 answers, in order."""
    w = Wire(gw)
    w.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for b in startup_packet({"user": "postgres", "database": gw.dbname,
                             "application_name": "raw"}):
        w.send(bytes([b]))
    assert w.read_until(b"Z")[0] == (b"R", struct.pack("!I", 0))
    for b in message(b"Q", b"select 'slow'\0"):
        w.send(bytes([b]))
    assert w.read_until(b"Z")[1] == (b"D", b"\0\x01\0\0\0\x04slow")
    w.send(b"".join(message(b"Q", f"select {i}".encode() + b"\0") for i in range(100)))
    for i in range(100):
        rows = [m for m in w.read_until(b"Z") if m[0] == b"D"]
        assert rows == [(b"D", b"\0\x01" + struct.pack("!I", len(str(i))) + str(i).encode())]
    w.send(message(b"X"))
    assert w.outcome() is None
    assert_still_serving(gw, pg)


def test_startup_without_user(gw, pg):
    """A startup packet without user gets an error."""
    w = Wire(gw)
    w.send(startup_packet({"database": gw.dbname}))
    assert_fatal(w.outcome(), "28000", "08P01")
    w.close()
    assert_still_serving(gw, pg)


def test_startup_without_terminator(gw, pg):
    """A startup packet whose parameters lack the final NUL gets an error or a close."""
    w = Wire(gw)
    w.send(startup_packet({"user": "postgres", "database": gw.dbname}, terminate=False))
    error = w.outcome()
    if error is not None:
        assert_fatal(error, "08P01")
    w.close()
    assert_still_serving(gw, pg)


@pytest.mark.parametrize("code", [SSL_REQUEST, GSSENC_REQUEST], ids=["ssl", "gssenc"])
def test_encryption_requests_without_tls(gw, pg, code):
    """Without [gateway] tls_cert an SSLRequest (and always a GSSENCRequest) is answered 'N',
    and the client goes on with a normal startup on the same connection."""
    w = Wire(gw)
    w.send(request_packet(code))
    assert w.read_byte() == b"N"
    w.login(gw.dbname)
    assert w.query("select 1")[1] == (b"D", b"\0\x01\0\0\0\x011")
    w.close()
    assert_still_serving(gw, pg)


def test_ssl_then_gss_request(gw, pg):
    """Both requests in turn (what libpq does with gssencmode=prefer, sslmode=prefer)."""
    w = Wire(gw)
    w.send(request_packet(GSSENC_REQUEST))
    assert w.read_byte() == b"N"
    w.send(request_packet(SSL_REQUEST))
    assert w.read_byte() == b"N"
    w.login(gw.dbname)
    w.close()
    assert_still_serving(gw, pg)


def test_bogus_cancel_requests(gw, pg):
    """CancelRequests with an unknown key or a wrong length are closed without an answer and
    cancel nothing."""
    busy = session(gw)
    busy.send(message(b"Q", b"select pg_sleep(3), 'survived'\0"))
    wait_until(lambda: pg.sql("select count(*) from pg_stat_activity where query like "
                              "'select pg_sleep(3)%%' and state = 'active'") == [(1,)],
               TIMEOUT, "the query to run", gw.proc)
    for packet in (request_packet(CANCEL_REQUEST, struct.pack("!II", 1, 2)),
                   request_packet(CANCEL_REQUEST, struct.pack("!II", 0xFFFFFFFF, 0)),
                   request_packet(CANCEL_REQUEST, b"\0" * 4),
                   request_packet(CANCEL_REQUEST, b"\0" * 40)):
        w = Wire(gw)
        w.send(packet)
        error = w.outcome()
        if error is not None:
            assert_fatal(error)
        w.close()
    msgs = busy.read_until(b"Z")
    assert not [m for m in msgs if m[0] == b"E"], msgs
    assert msgs[1][1].endswith(b"survived")
    busy.close()
    assert_still_serving(gw, pg)


def test_truncated_startup(gw, pg):
    """A startup packet cut short, then a close, or a half-close (shutdown of the sending
    side) which must end the session."""
    packet = startup_packet({"user": "postgres", "database": gw.dbname,
                             "application_name": "raw"})
    for cut in (1, 3, 4, 7, 8, 20, len(packet) - 1):
        w = Wire(gw)
        w.send(packet[:cut])
        w.close()
        w = Wire(gw)
        w.send(packet[:cut])
        w.sock.shutdown(socket.SHUT_WR)
        error = w.outcome()
        if error is not None:
            assert_fatal(error)
        w.close()
    assert_still_serving(gw, pg)


# -- the startup phase, compared with PostgreSQL ---------------------------------------------------


def answer_summary(data):
    """What a server answered in the startup phase, comparable between servers: single bytes
    (the answers to SSLRequest/GSSENCRequest), ('E', SQLSTATE, message) for an ErrorResponse,
    ('E2', text) for protocol 2's; [] is a close without a word."""
    out = []
    while data:
        if data[:1] in (b"N", b"S", b"G") and (len(data) == 1 or data[1] != 0):
            out.append(data[:1].decode())
            data = data[1:]
        elif data[:1] == b"E" and len(data) >= 5 and data[1] == 0:
            length = struct.unpack("!I", data[1:5])[0]
            fields = parse_error(data[5:1 + length])
            out.append(("E", fields.get("C"), fields.get("M")))
            data = data[1 + length:]
        elif data[:1] == b"E":
            text, _, data = data[1:].partition(b"\0")
            out.append(("E2", text.decode(errors="replace")))
        else:
            out.append(("?", data))
            break
    return out


def startup_answer(server, chunks):
    """Sends chunks to server (anything with .host and .port), reading the one-byte answer
    after each but the last, then half-closes and reads to the end: answer_summary of it all."""
    w = Wire(server)
    got = b""
    for chunk in chunks[:-1]:
        w.send(chunk)
        got += w.read_byte() or b""
    try:
        w.send(chunks[-1])
        w.sock.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass
    got += w.read_all()
    w.close()
    return answer_summary(got)


SSL = request_packet(SSL_REQUEST)
GSS = request_packet(GSSENC_REQUEST)
USER = {"user": "postgres", "database": "postgres", "application_name": "raw"}
SAME_AS_POSTGRESQL = {
    "http": [b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"],
    "tls-hello": [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\xaa" * 64],
    "terminate-first": [message(b"X")],  # node-postgres's connect(); end()
    "query-first": [message(b"Q", b"select 1\0")],
    "length-0": [struct.pack("!I", 0)],
    "length-7": [struct.pack("!II", 7, PROTOCOL_3)],
    "length-negative": [struct.pack("!II", 0xFFFFFFFF, PROTOCOL_3)],
    "length-10005": [struct.pack("!II", 10005, PROTOCOL_3) + b"\0" * 9997],
    "length-10004-zeros": [struct.pack("!II", 10004, PROTOCOL_3) + b"\0" * 9996],
    "length-lies": [struct.pack("!II", 40, PROTOCOL_3) + b"user\0postgres\0"],
    "three-bytes": [b"\0\0\0"],
    "garbage-version": [struct.pack("!II", 12, 0x12345678) + b"\0\0\0\0"],
    "protocol-2": [startup_packet(USER, version=2 << 16)],
    "protocol-1": [startup_packet(USER, version=1 << 16)],
    "protocol-4": [startup_packet(USER, version=4 << 16)],
    "request-1234.9": [startup_packet(USER, version=(1234 << 16) | 9)],
    "no-user": [startup_packet({"database": "postgres"})],
    "empty-user": [startup_packet({"user": "", "database": "postgres"})],
    "no-terminator": [startup_packet(USER, terminate=False)],
    "no-parameters": [struct.pack("!II", 8, PROTOCOL_3)],
    "bytes-after-terminator": [struct.pack("!II", 27, PROTOCOL_3) + b"user\0postgres\0\0xy"],
    "name-without-value": [struct.pack("!II", 13, PROTOCOL_3) + b"user\0"],
    "no-user-bad-layout": [startup_packet({"database": "postgres"}, terminate=False)],
    "cancel-short": [request_packet(CANCEL_REQUEST, b"\0" * 4)],
    "cancel-long": [request_packet(CANCEL_REQUEST, b"\0" * 40)],
    "cancel-unknown": [request_packet(CANCEL_REQUEST, struct.pack("!II", 1, 2))],
    "ssl-long": [request_packet(SSL_REQUEST, b"abcd")],
    "ssl-then-eof": [SSL],
    "ssl-ssl-pipelined": [SSL + SSL],
    "ssl-startup-pipelined": [SSL + startup_packet(USER)],
    "ssl-answered-ssl": [SSL, SSL],
    "ssl-answered-no-user": [SSL, startup_packet({"database": "postgres"})],
    "ssl-answered-bad-length": [SSL, struct.pack("!I", 3)],
    "ssl-answered-protocol-2": [SSL, startup_packet(USER, version=2 << 16)],
}


def test_startup_answers_as_postgresql(gw, pg):
    """The same bytes sent to the PostgreSQL 15 cluster directly and to Duro get the same answer:
    a close without a word (bad lengths, a Terminate or Query before the startup, malformed
    CancelRequests), the same FATAL SQLSTATE and message (0A000 for protocol versions, 28000
    without a user, 08P01 for a broken layout or data sent before reading an 'N'), protocol 2's
    format for a protocol-2 client, and 'N' to an SSLRequest once but not twice in a row."""
    assert pg.sql("show ssl") == [("off",)]  # so the cluster answers SSLRequest 'N' as Duro does
    differences = {}
    for name, chunks in SAME_AS_POSTGRESQL.items():
        direct, through = startup_answer(pg, chunks), startup_answer(gw, chunks)
        if direct != through:
            differences[name] = {"postgresql": direct, "duro": through}
    assert not differences, differences
    # The comparison compares something: each kind of answer occurs.
    seen = {str(startup_answer(pg, SAME_AS_POSTGRESQL[k])[:2]) for k in
            ("http", "protocol-2", "no-user", "ssl-answered-ssl")}
    assert len(seen) == 4, seen
    assert_still_serving(gw, pg)


def test_gssenc_requests_as_postgresql_without_gssapi(gw, pg):
    """Duro has no GSSAPI encryption, so it answers a GSSENCRequest 'N' (the cluster, built with
    GSSAPI, says 'G': no comparison there) and then follows PostgreSQL's rules: the same request
    again is an unsupported protocol 1234.5680 (0A000), data sent before reading the 'N' is
    refused (08P01), and alternating with SSLRequest goes on to a normal login."""
    assert startup_answer(gw, [GSS, GSS]) == [
        "N", ("E", "0A000", "unsupported frontend protocol 1234.5680: server supports 3.0 to 3.0")]
    assert startup_answer(gw, [GSS + GSS]) == [
        "N", ("E", "08P01", "received unencrypted data after GSSAPI encryption request")]
    assert startup_answer(gw, [GSS + startup_packet(USER)]) == [
        "N", ("E", "08P01", "received unencrypted data after GSSAPI encryption request")]
    w = Wire(gw)
    for packet in (GSS, SSL, GSS, SSL):
        w.send(packet)
        assert w.read_byte() == b"N"
    w.login(gw.dbname)
    assert w.query("select 1")[1] == (b"D", b"\0\x01\0\0\0\x011")
    w.close()
    assert_still_serving(gw, pg)


def test_terminate_before_startup_is_silent(gw, pg):
    """node-postgres's connect() then end() before the connection is up sends Terminate first:
    Duro closes without an error, as PostgreSQL does, and logs no warning."""
    w = Wire(gw)
    w.send(message(b"X"))
    assert w.read_all() == b""
    w.close()
    assert_still_serving(gw, pg)
    assert " WARN " not in gw.logs() and "FATAL" not in gw.logs(), gw.logs()


# -- after the startup ----------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 3, 0xFFFFFFFF, 0x80000000],
                         ids=["0", "1", "3", "-1", "min-int"])
def test_message_length_below_4(gw, pg, length):
    """A message whose length is below 4 (or negative) ends the session with an error or a
    close."""
    w = session(gw)
    w.send(b"Q" + struct.pack("!I", length) + b"select 1\0")
    error = w.outcome()
    if error is not None:
        assert_fatal(error, "08P01")
    w.close()
    assert_still_serving(gw, pg)


@pytest.mark.parametrize("length", [MAX_MESSAGE + 5, 64 * 1024 * 1024 + 5, 0x7FFFFFFF],
                         ids=["1MB+1", "64MB+1", "2GB"])
def test_message_above_max_message(gw, pg, length):
    """A message header announcing more than max_message gets ErrorResponse 08P01 and a
    close, without waiting for the body."""
    w = session(gw)
    w.send(b"Q" + struct.pack("!I", length) + b"select '" + b"x" * 1000)
    assert_fatal(w.outcome(), "08P01")
    w.close()
    assert_still_serving(gw, pg)


def test_psycopg_query_above_max_message(gw, pg):
    """Through psycopg: a query just under max_message works, one above it is refused with an
    error, and other sessions are unaffected."""
    with gw.connect() as other:
        with gw.connect() as conn:
            size = MAX_MESSAGE - 1000
            assert conn.execute("select length(%s)", ["x" * size]).fetchone() == (size,)
            with pytest.raises(psycopg.OperationalError):
                conn.execute("select length(%s)", ["x" * (2 * MAX_MESSAGE)])
        assert other.execute("select 'other'").fetchone() == ("other",)
    assert_still_serving(gw, pg)


def test_statement_nested_too_deep_for_a_stack(gw, pg):
    """A statement of 150,000 chained additions naming duro.status (300 kB): parsing it takes
    more stack than a thread has and, packed naively, minutes. Duro relays it unexamined in a
    second or so and the warehouse answers with its own error; the session and the daemon go on."""
    sql = "select 1" + "+1" * 150_000 + " from duro.status"
    with gw.connect() as conn:
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(sql)
        assert not isinstance(caught.value, psycopg.OperationalError), caught.value
        conn.rollback()
        assert conn.execute("select 'after'").fetchone() == ("after",)
    assert_still_serving(gw, pg)


@pytest.mark.parametrize("kind", [b"x", b"\0", b"\xff", b"A", b"v"])
def test_unknown_message_type(gw, pg, kind):
    """An unknown message type reaches the warehouse, whose ErrorResponse comes back."""
    w = session(gw)
    w.send(message(kind, b"some payload\0"))
    assert_fatal(w.outcome(), "08P01")
    w.close()
    assert_still_serving(gw, pg)


def test_malformed_message_bodies(gw, pg):
    """Messages with a valid frame but a broken body: the warehouse's error comes back (then
    Sync and Terminate end the session if the error did not)."""
    bodies = [
        message(b"Q", b"select 1"),                          # no NUL terminator
        message(b"P", b"stmt\0select $1\0\xff\xff"),          # truncated parameter count
        message(b"B", b"\0\0" + struct.pack("!h", 5)),        # 5 formats, none sent
        message(b"D", b"Z"),                                 # Describe of neither S nor P
        message(b"E", b"no-such-portal"),                    # unterminated portal name
    ]
    for body in bodies:
        w = session(gw)
        w.send(body + message(b"S") + message(b"X"))
        error = w.outcome()
        assert_fatal(error)
        w.close()
    assert_still_serving(gw, pg)


def test_truncated_message_then_close(gw, pg):
    """A client that closes (or half-closes) in the middle of a message: the session and its
    warehouse connection end."""
    full = message(b"Q", b"select 'never run'\0")
    for cut in (1, 3, 5, len(full) - 1):
        w = session(gw)
        w.send(full[:cut])
        w.close()
        w = session(gw)
        w.send(full[:cut])
        w.sock.shutdown(socket.SHUT_WR)
        error = w.outcome()
        if error is not None:
            assert_fatal(error)
        w.close()
    w = session(gw)
    w.send(full[:10])
    w.reset()
    assert_still_serving(gw, pg)


def test_client_vanishes_mid_result(gw, pg):
    """A client that resets its connection while a large result streams to it: the warehouse
    query is stopped (its connection closed) and Duro carries on."""
    for tag in ("raw-reset", "raw-close"):
        w = session(gw, tag)
        w.send(message(b"Q", b"select repeat('x', 1000) from generate_series(1, 10000000)\0"))
        assert w.read_message()[0] == b"T"
        assert w.read_message()[0] == b"D"
        if tag == "raw-reset":
            w.reset()
        else:
            w.close()
    assert_still_serving(gw, pg)


def test_client_vanishes_mid_copy(gw, pg):
    """A client that vanishes during COPY FROM STDIN: nothing is loaded."""
    with gw.connect() as conn:
        conn.execute("create table c (a int)")
    w = session(gw)
    msgs = w.query("select 1")  # warm up
    assert msgs[-1][0] == b"Z"
    w.send(message(b"Q", b"copy c from stdin\0"))
    assert w.read_message()[0] == b"G"
    w.send(message(b"d", b"1\n2\n3\n") + message(b"d", b"4\n")[:3])
    w.reset()
    assert_still_serving(gw, pg)
    assert pg.sql("select count(*) from c", dbname=gw.dbname) == [(0,)]


# -- random garbage -------------------------------------------------------------------------------


def garbage(rng, dbname):
    """Random bytes: pure noise, a plausible length then noise, a mutated startup packet, or a
    valid startup followed by noise."""
    noise = lambda n: bytes(rng.getrandbits(8) for _ in range(n))  # noqa: E731
    valid = startup_packet({"user": "postgres", "database": dbname,
                            "application_name": f"raw-{rng.getrandbits(32)}"})
    kind = rng.randrange(5)
    if kind == 0:
        return noise(rng.randint(1, 300))
    if kind == 1:
        n = rng.randint(0, 200)
        return struct.pack("!I", n + rng.choice([0, 4, 8, 100])) + noise(n)
    if kind == 2:
        body = noise(rng.randint(0, 100))
        return struct.pack("!II", len(body) + 8, PROTOCOL_3) + body
    if kind == 3:
        packet = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            packet[rng.randrange(len(packet))] = rng.getrandbits(8)
        return bytes(packet)
    return valid + noise(rng.randint(1, 300))


def test_random_garbage_connections(gw, pg):
    """1,000 connections of random garbage, closed at once or half-closed and read to the end:
    each ends (an error or a close) and Duro serves normally afterwards."""
    rng = random.Random(20240601)
    for i in range(1000):
        data = garbage(rng, gw.dbname)
        w = Wire(gw)
        try:
            w.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if i % 2:
            w.close()
            continue
        try:
            w.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        data = w.read_all()  # to the end, whatever it is (a timeout fails the test)
        if data[:1] == b"E" and len(data) >= 5:
            length = struct.unpack("!I", data[1:5])[0]
            if length <= len(data) - 1:
                assert_fatal(parse_error(data[5:1 + length]))
        w.close()
        if i % 100 == 0:
            assert gw.proc.running(), f"duro died after garbage {data!r}:\n{gw.logs()}"
    assert_still_serving(gw, pg)
