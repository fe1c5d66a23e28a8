"""TLS and authentication through the gateway: TLS on the client leg (tls = allow | require, Duro's
certificate), TLS on the warehouse leg (sslmode = require | verify-full against a cluster with
ssl = on, and require against one without), and md5 / SCRAM-SHA-256 password authentication relayed
to the warehouse, with SCRAM's channel binding (-PLUS) never offered since Duro terminates TLS.

Certificates are made by the test with the openssl CLI. The clusters that change ssl or pg_hba are
this module's own; the session cluster (`pg`) is never changed.
"""
import ctypes
import ctypes.util
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import time
from types import SimpleNamespace

import psycopg
import pytest

from pgcluster import Cluster, give_to_pg_user

PASSWORDS = {"md5user": "md5-secret", "scramuser": "scrâm-secret"}
METHODS = {"md5user": "md5", "scramuser": "scram-sha-256"}
# libpq's message when channel_binding=require and the server offers no SCRAM-SHA-256-PLUS.
NO_PLUS = ("channel binding is required, but server did not offer an authentication method that "
           "supports channel binding")


# -- certificates and clusters --------------------------------------------------------------------


def openssl(cwd, *args):
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True,
                   timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA; two server certificates it signed for localhost and 127.0.0.1, one for Duro (.cert,
    .key) and one for the warehouse (.wh_cert, .wh_key), distinct so a channel binding made with
    Duro's could never pass at the warehouse; and a second CA that signed nothing (.other_ca)."""
    d = tmp_path_factory.mktemp("certs")
    for ca in ("ca", "other_ca"):
        openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", f"/CN=Duro test {ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.crt")
    (d / "server.ext").write_text("subjectAltName = DNS:localhost, IP:127.0.0.1\n"
                                  "basicConstraints = CA:FALSE\n"
                                  "keyUsage = critical, digitalSignature, keyEncipherment\n"
                                  "extendedKeyUsage = serverAuth\n")
    for name in ("gateway", "warehouse"):
        openssl(d, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr")
        openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", f"{name}.crt")
    return SimpleNamespace(ca=d / "ca.crt", other_ca=d / "other_ca.crt",
                           cert=d / "gateway.crt", key=d / "gateway.key",
                           wh_cert=d / "warehouse.crt", wh_key=d / "warehouse.key")


class SecureCluster(Cluster):
    """A cluster with ssl = on (the test CA's server certificate) and pg_hba requiring md5 for
    md5user and scram-sha-256 for scramuser over TCP; the superuser keeps trust."""

    def __init__(self, certs):
        super().__init__()
        self.certs = certs

    def start(self):
        super().start()
        for name, src in (("server.crt", self.certs.wh_cert),
                          ("server.key", self.certs.wh_key)):
            dst = self.datadir / name
            shutil.copyfile(src, dst)
            give_to_pg_user(dst)
            os.chmod(dst, 0o600)
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        hba = ["local all all trust", f"host all {self.superuser} 127.0.0.1/32 trust"]
        hba += [f"host all {user} 127.0.0.1/32 {method}" for user, method in METHODS.items()]
        self.hba_path.write_text("\n".join(hba) + "\n")
        self.run("pg_ctl", "-D", self.datadir, "-l", self.log_path, "-w", "-t", "60", "restart")
        for user, method in METHODS.items():
            with self.connect() as conn:
                conn.execute(f"set password_encryption = '{method}'")
                conn.execute(f"create role {user} login password '{PASSWORDS[user]}'")


@pytest.fixture(scope="module")
def secure_pg(certs):
    """This module's cluster: ssl = on, md5 and SCRAM users (a SecureCluster), stopped at the
    end of the module."""
    cluster = SecureCluster(certs)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def to_secure(secure_pg, sslmode):
    """gateway_factory sections relaying to secure_pg's postgres database with sslmode."""
    return {"dbname": "postgres",
            "warehouse": {"host": secure_pg.host, "port": secure_pg.port, "sslmode": sslmode}}


def gateway_tls(certs, tls="allow"):
    return {"tls_cert": certs.cert, "tls_key": certs.key, "tls": tls}


# -- what a client sees ---------------------------------------------------------------------------

_libpq = ctypes.CDLL(ctypes.util.find_library("pq") or "libpq.so.5")
_libpq.PQconnectStart.restype = ctypes.c_void_p
_libpq.PQconnectStart.argtypes = [ctypes.c_char_p]
_libpq.PQsetErrorVerbosity.argtypes = [ctypes.c_void_p, ctypes.c_int]
_libpq.PQconnectPoll.argtypes = [ctypes.c_void_p]
_libpq.PQsocket.argtypes = [ctypes.c_void_p]
_libpq.PQerrorMessage.restype = ctypes.c_char_p
_libpq.PQerrorMessage.argtypes = [ctypes.c_void_p]
_libpq.PQfinish.argtypes = [ctypes.c_void_p]
PQERRORS_VERBOSE = 2
POLLING_FAILED, POLLING_READING, POLLING_WRITING, POLLING_OK = 0, 1, 2, 3


def connect_error(dsn):
    """The message libpq gives when connecting with dsn fails, in verbose form, so a server's
    error reads 'FATAL:  <SQLSTATE>: <message>'. Fails the test if the connection succeeds."""
    conn = _libpq.PQconnectStart(dsn.encode())
    assert conn, "out of memory"
    try:
        _libpq.PQsetErrorVerbosity(conn, PQERRORS_VERBOSE)
        status = POLLING_WRITING
        while status in (POLLING_READING, POLLING_WRITING):
            sock = _libpq.PQsocket(conn)
            if sock >= 0:
                want = ([sock], [], []) if status == POLLING_READING else ([], [sock], [])
                assert select.select(*want, 30)[:2] != ([], []), f"{dsn}: no answer in 30 s"
            status = _libpq.PQconnectPoll(conn)
        assert status == POLLING_FAILED, f"{dsn} connected, expected a failure"
        return _libpq.PQerrorMessage(conn).decode(errors="replace")
    finally:
        _libpq.PQfinish(conn)


def sqlstates(message):
    """The SQLSTATEs in a verbose libpq message ('FATAL:  28P01: ...')."""
    return re.findall(r"(?:FATAL|ERROR):  ([0-9A-Z]{5}): ", message)


def backend_ssl(conn):
    """Whether the warehouse backend serving conn uses TLS: pg_stat_ssl, the Duro→warehouse
    leg."""
    return conn.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone()[0]


def conninfo(gateway, **params):
    """psql's \\conninfo through Duro with the given connection parameters."""
    return gateway.psql("-c", r"\conninfo", dsn=gateway.dsn(**params)).stdout


# -- the client leg -------------------------------------------------------------------------------


def test_tls_client_leg_with_duros_certificate(gateway_factory, certs):
    """With tls_cert/tls_key, sslmode=require and verify-full (the test CA, host 127.0.0.1)
    connect over TLS with the configured certificate; queries work; \\conninfo says SSL."""
    gateway = gateway_factory(gateway=gateway_tls(certs))
    with gateway.connect(sslmode="require") as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("select 40 + 2").fetchone() == (42,)
    with gateway.connect(sslmode="verify-full", sslrootcert=certs.ca) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("select current_database()").fetchone() == (gateway.dbname,)
        assert conn.execute("select g from generate_series(1, 50000) g").rowcount == 50_000
    out = conninfo(gateway, sslmode="verify-full", sslrootcert=certs.ca)
    assert "SSL connection (protocol: TLSv1." in out
    out = gateway.psql("-At", "-c", "select count(*) from generate_series(1, 100000)",
                       dsn=gateway.dsn(sslmode="require"))
    assert out.stdout == "100000\n"
    # A CA that did not sign Duro's certificate: libpq refuses it.
    msg = connect_error(gateway.dsn(sslmode="verify-full", sslrootcert=certs.other_ca))
    assert "certificate verify failed" in msg


def test_tls_require_refuses_plaintext_clients(gateway_factory, certs):
    """tls = require: sslmode=disable is refused with FATAL 28000 that says TLS/SSL is needed;
    sslmode=prefer and require connect over TLS."""
    gateway = gateway_factory(gateway=gateway_tls(certs, tls="require"))
    msg = connect_error(gateway.dsn(sslmode="disable"))
    assert "FATAL:  28000: " in msg
    assert re.search(r"(?i)\b(ssl|tls)\b", msg), msg
    refused = gateway.psql("-c", "select 1", dsn=gateway.dsn(sslmode="disable"), check=False)
    assert refused.returncode == 2
    assert "FATAL:" in refused.stderr and re.search(r"(?i)\b(ssl|tls)\b", refused.stderr)
    for sslmode in ("prefer", "require"):
        with gateway.connect(sslmode=sslmode) as conn:
            assert conn.pgconn.ssl_in_use
            assert conn.execute("select 'ok'").fetchone() == ("ok",)
        assert "SSL connection" in conninfo(gateway, sslmode=sslmode)


def test_tls_allow_accepts_both(gateway_factory, certs):
    """tls = allow: sslmode=disable connects in plaintext, prefer and require over TLS."""
    gateway = gateway_factory(gateway=gateway_tls(certs, tls="allow"))
    with gateway.connect(sslmode="disable") as conn:
        assert not conn.pgconn.ssl_in_use
        assert conn.execute("select 1").fetchone() == (1,)
    assert "SSL connection" not in conninfo(gateway, sslmode="disable")
    for sslmode in ("prefer", "require"):
        with gateway.connect(sslmode=sslmode) as conn:
            assert conn.pgconn.ssl_in_use
            assert conn.execute("select 1").fetchone() == (1,)
        assert "SSL connection" in conninfo(gateway, sslmode=sslmode)


def test_no_certificate_means_no_tls(gateway):
    """Without tls_cert, sslmode=prefer falls back to plaintext and sslmode=require fails with
    libpq's own message."""
    with gateway.connect(sslmode="prefer") as conn:
        assert not conn.pgconn.ssl_in_use
        assert conn.execute("select 1").fetchone() == (1,)
    msg = connect_error(gateway.dsn(sslmode="require"))
    assert "server does not support SSL, but SSL was required" in msg


# -- the warehouse leg ----------------------------------------------------------------------------


def test_warehouse_sslmode_require(gateway_factory, secure_pg):
    """sslmode = require to a cluster with ssl = on: the relayed session's backend uses TLS
    (pg_stat_ssl), for a plaintext client too."""
    gateway = gateway_factory(**to_secure(secure_pg, "require"))
    with gateway.connect() as conn:
        assert not conn.pgconn.ssl_in_use
        assert backend_ssl(conn) is True
        version = conn.execute("select version from pg_stat_ssl "
                               "where pid = pg_backend_pid()").fetchone()[0]
        assert version.startswith("TLSv1.")
    out = gateway.psql("-At", "-c", "select ssl from pg_stat_ssl where pid = pg_backend_pid()")
    assert out.stdout == "t\n"


def test_warehouse_sslmode_disable_stays_plaintext(gateway_factory, secure_pg):
    """sslmode = disable to the same cluster: the backend has no TLS."""
    gateway = gateway_factory(**to_secure(secure_pg, "disable"))
    with gateway.connect() as conn:
        assert backend_ssl(conn) is False


def test_warehouse_verify_full_with_the_right_ca(gateway_factory, secure_pg, certs):
    """sslmode = verify-full with SSL_CERT_FILE = the CA that signed the cluster's certificate
    connects with TLS, and TLS on both legs works together."""
    gateway = gateway_factory(**to_secure(secure_pg, "verify-full"),
                              gateway=gateway_tls(certs), env={"SSL_CERT_FILE": certs.ca})
    with gateway.connect() as conn:
        assert backend_ssl(conn) is True
    with gateway.connect(sslmode="verify-full", sslrootcert=certs.ca) as conn:
        assert conn.pgconn.ssl_in_use
        assert backend_ssl(conn) is True
        assert conn.execute("select count(*) from generate_series(1, 100000)").fetchone() \
            == (100_000,)


def test_warehouse_verify_full_with_another_ca_fails(gateway_factory, secure_pg, certs):
    """sslmode = verify-full with SSL_CERT_FILE = a CA that did not sign the cluster's
    certificate: the client gets a class-08 error about the certificate, not a session."""
    gateway = gateway_factory(**to_secure(secure_pg, "verify-full"),
                              env={"SSL_CERT_FILE": certs.other_ca})
    msg = connect_error(gateway.dsn())
    assert [s[:2] for s in sqlstates(msg)] == ["08"], msg
    assert re.search(r"(?i)certificate|verif", msg), msg
    out = gateway.psql("-c", "select 1", check=False)
    assert out.returncode == 2
    assert re.search(r"(?i)certificate|verif", out.stderr), out.stderr
    assert gateway.proc.running()


def test_warehouse_sslmode_require_without_server_ssl_fails(gateway_factory, pg):
    """sslmode = require to the session cluster (ssl = off): the client gets a class-08 error
    saying the warehouse has no SSL."""
    assert pg.sql("show ssl") == [("off",)]
    gateway = gateway_factory(warehouse={"sslmode": "require"})
    msg = connect_error(gateway.dsn())
    assert [s[:2] for s in sqlstates(msg)] == ["08"], msg
    assert re.search(r"(?i)\b(ssl|tls)\b", msg), msg
    out = gateway.psql("-c", "select 1", check=False)
    assert out.returncode == 2
    assert re.search(r"(?i)\b(ssl|tls)\b", out.stderr), out.stderr
    assert gateway.proc.running()


# -- password authentication ----------------------------------------------------------------------


def test_passwords_are_stored_as_configured(secure_pg):
    """The module cluster stores md5user's password as md5 and scramuser's as SCRAM, and pg_hba
    asks each for its method (checked direct, without Duro)."""
    rows = dict(secure_pg.sql("select rolname, left(rolpassword, 14) from pg_authid "
                              "where rolname in ('md5user', 'scramuser')"))
    assert rows["md5user"].startswith("md5")
    assert rows["scramuser"] == "SCRAM-SHA-256$"
    rules = secure_pg.sql("select user_name[1], auth_method from pg_hba_file_rules "
                          "where type = 'host'")
    assert ("md5user", "md5") in rules and ("scramuser", "scram-sha-256") in rules


# (user, client leg sslmode, warehouse leg sslmode). SCRAM with TLS on both legs is
# test_scram_with_tls_on_both_legs below: libpq's default channel_binding=prefer cannot work there.
AUTH_CASES = [(user, client, warehouse) for user in METHODS
              for client in ("disable", "require") for warehouse in ("disable", "require")
              if (user, client, warehouse) != ("scramuser", "require", "require")]


@pytest.mark.parametrize("user,client_ssl,warehouse_ssl", AUTH_CASES)
def test_password_auth_through_duro(gateway_factory, secure_pg, certs, user, client_ssl,
                                    warehouse_ssl):
    """The right password works through Duro (psycopg, and psql with PGPASSWORD); a wrong one
    gets the warehouse's own FATAL 28P01 'password authentication failed for user ...'; with TLS
    on either leg or both."""
    gateway = gateway_factory(**to_secure(secure_pg, warehouse_ssl),
                              gateway=gateway_tls(certs))
    password = PASSWORDS[user]
    with gateway.connect(user=user, password=password, sslmode=client_ssl) as conn:
        assert conn.execute("select current_user").fetchone() == (user,)
        assert conn.pgconn.ssl_in_use == (client_ssl == "require")
        assert backend_ssl(conn) == (warehouse_ssl == "require")
    out = gateway.psql("-At", "-c", "select current_user, 6 * 7",
                       dsn=gateway.dsn(user=user, sslmode=client_ssl),
                       env={"PGPASSWORD": password})
    assert out.stdout == f"{user}|42\n"

    wrong = f'password authentication failed for user "{user}"'
    msg = connect_error(gateway.dsn(user=user, password="wrong", sslmode=client_ssl))
    assert f"FATAL:  28P01: {wrong}" in msg
    with pytest.raises(psycopg.OperationalError, match=re.escape(wrong)):
        gateway.connect(user=user, password="not " + password, sslmode=client_ssl)
    out = gateway.psql("-c", "select 1", dsn=gateway.dsn(user=user, sslmode=client_ssl),
                       env={"PGPASSWORD": "wrong"}, check=False)
    assert out.returncode == 2
    assert f"FATAL:  {wrong}" in out.stderr
    assert gateway.proc.running()


def test_scram_channel_binding_direct(secure_pg):
    """Direct to the cluster over TLS, SCRAM uses channel binding: channel_binding=require
    connects (the contrast for the next test)."""
    with secure_pg.connect(user="scramuser", password=PASSWORDS["scramuser"], sslmode="require",
                           channel_binding="require") as conn:
        assert conn.execute("select current_user").fetchone() == ("scramuser",)


def test_scram_with_tls_on_the_client_leg(gateway_factory, secure_pg, certs):
    """SCRAM with TLS between client and Duro only: no channel binding is attempted, so
    channel_binding=prefer (libpq's default) connects, and require fails in libpq since no
    -PLUS mechanism is offered."""
    gateway = gateway_factory(**to_secure(secure_pg, "disable"), gateway=gateway_tls(certs))
    password = PASSWORDS["scramuser"]
    with gateway.connect(user="scramuser", password=password, sslmode="require",
                         channel_binding="prefer") as conn:
        assert conn.pgconn.ssl_in_use and backend_ssl(conn) is False
        assert conn.execute("select current_user").fetchone() == ("scramuser",)
    out = gateway.psql("-At", "-c", "select current_user",
                       dsn=gateway.dsn(user="scramuser", sslmode="verify-full",
                                       sslrootcert=certs.ca),
                       env={"PGPASSWORD": password})
    assert out.stdout == "scramuser\n"
    msg = connect_error(gateway.dsn(user="scramuser", password=password, sslmode="require",
                                    channel_binding="require"))
    assert NO_PLUS in msg


def test_scram_with_tls_on_both_legs(gateway_factory, secure_pg, certs):
    """SCRAM with TLS on both legs: Duro strips SCRAM-SHA-256-PLUS (channel_binding=require
    fails in libpq, before any exchange) and channel_binding=disable connects. libpq's default,
    prefer, then announces "client supports binding, thinks the server does not" (gs2 flag y),
    which a warehouse with TLS must reject as a downgrade (RFC 5802) and which the client signs
    into its proof, so no relay can rewrite it: the client gets FATAL 28000 telling it to use
    channel_binding=disable."""
    gateway = gateway_factory(**to_secure(secure_pg, "require"), gateway=gateway_tls(certs))
    password = PASSWORDS["scramuser"]
    msg = connect_error(gateway.dsn(user="scramuser", password=password, sslmode="require",
                                    channel_binding="require"))
    assert NO_PLUS in msg
    with gateway.connect(user="scramuser", password=password, sslmode="require",
                         channel_binding="disable") as conn:
        assert conn.pgconn.ssl_in_use and backend_ssl(conn) is True
        assert conn.execute("select current_user").fetchone() == ("scramuser",)
    msg = connect_error(gateway.dsn(user="scramuser", password=password, sslmode="require",
                                    channel_binding="prefer"))
    assert "FATAL:  28000: " in msg and "channel_binding=disable" in msg, msg
    assert "TLS on both legs" in msg, msg
    assert gateway.proc.running()


def _read_message(sock, buf):
    """(type, payload, rest of buf) of the next backend message on sock."""
    while len(buf) < 5 or len(buf) < 1 + struct.unpack("!I", buf[1:5])[0]:
        data = sock.recv(65536)
        assert data, f"closed; got {buf!r}"
        buf += data
    length = struct.unpack("!I", buf[1:5])[0]
    return buf[:1], buf[5:1 + length], buf[1 + length:]


def test_scram_channel_binding_names_the_tls_leg(gateway_factory, secure_pg, certs):
    """A client without TLS to Duro that announces channel binding support all the same (gs2
    flag y, sent here by hand) while Duro reaches the warehouse over TLS: the FATAL 28000 says
    the warehouse leg uses TLS, not that both do."""
    gateway = gateway_factory(**to_secure(secure_pg, "require"), gateway=gateway_tls(certs))
    sock = socket.create_connection((gateway.host, gateway.port), timeout=15)
    params = b"user\0scramuser\0database\0postgres\0\0"
    sock.sendall(struct.pack("!II", 8 + len(params), 3 << 16) + params)
    kind, payload, buf = _read_message(sock, b"")
    assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == 10, (kind, payload)
    assert b"SCRAM-SHA-256\0" in payload and b"PLUS" not in payload, payload
    first = b"y,,n=,r=rOprNGfwEbeRWgbNEkqO"
    body = b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first
    sock.sendall(b"p" + struct.pack("!I", 4 + len(body)) + body)
    kind, payload, buf = _read_message(sock, buf)
    sock.close()
    fields = {part[:1]: part[1:].decode() for part in payload.split(b"\0") if part}
    assert kind == b"E" and fields[b"V"] == "FATAL" and fields[b"C"] == "28000", fields
    assert "TLS on the warehouse leg" in fields[b"M"], fields
    assert "both" not in fields[b"M"], fields
    assert "channel_binding=disable" in fields[b"H"], fields
    assert gateway.proc.running()


# -- Duro's own connections -----------------------------------------------------------------------


def test_a_missing_warehouse_password_is_named_and_retried_with_backoff(
        gateway_factory, secure_pg, tmp_path):
    """Duro's own warehouse user needs a password and none is set: the log names the variable
    to set, and the clean-up that must precede every build is retried with backoff (1 s, 2 s,
    4 s... with poll = 1s), not at every poll."""
    views = tmp_path / "views" / "first"
    views.mkdir(parents=True)
    (views / "one — 1h.sql").write_text("select 1 as x\n")
    sections = to_secure(secure_pg, "disable")
    sections["warehouse"]["user"] = "md5user"
    gw = gateway_factory(**sections)
    time.sleep(7.5)
    tries = [line for line in gw.logs().splitlines() if "cannot clean up" in line]
    assert tries, gw.logs()
    assert all("DURO_WAREHOUSE_PASSWORD" in line for line in tries), tries
    assert all("trying again in" in line for line in tries), tries
    assert len(tries) <= 4, tries  # at every poll it would be 7 or 8
