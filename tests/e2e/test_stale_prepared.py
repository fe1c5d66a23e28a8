"""Reads of stale views by prepared statements: a statement is parsed once per connection, so the
gateway decides again at each Bind whether a managed view it reads must be refreshed first
(stale_read = wait), with psycopg's server-side prepared statements and with a raw client that
binds one statement many times.
"""
import socket
import struct

from test_duro_sql import (CITIES_SQL, DAY, TIMEOUT, _msg, _until_ready, last_run_id,
                           notices_of, serve, stale_notices)

QUERY = "select city from first.cities where city in (%s, %s) order by city"


def test_psycopg_prepared_statement_waits_for_a_stale_view(duro, wh, example_repo,
                                                           gateway_factory, wait_until):
    gw = serve(gateway_factory, duro, wait_until)
    cat = duro.catalog
    with gw.connect() as conn:
        notices = notices_of(conn)
        # Parsed once (prepare=True), while the view is fresh.
        assert conn.execute(QUERY, ["Edo", "Tokyo"], prepare=True).fetchall() == [("Tokyo",)]
        assert stale_notices(notices, "first.cities") == []

        for old, new in [("Tokyo", "Edo"), ("Edo", "Tokyo")]:
            wh.sql("update first.cities_raw set city = %s where city = %s", (new, old))
            cat.age("first.cities", seconds=2 * DAY)
            mark = last_run_id(cat)
            seen = len(stale_notices(notices, "first.cities"))
            # Bound and executed again, without a Parse: the refreshed table is read.
            assert conn.execute(QUERY, ["Edo", "Tokyo"], prepare=True).fetchall() == [(new,)]
            assert len(stale_notices(notices, "first.cities")) == seen + 1, notices
            runs = conn.execute("select view, trigger, outcome from duro.runs where id > %s "
                                "order by id", [mark]).fetchall()
            assert runs == [("first.cities", "read", "ok")]
    assert wh.rows("first.cities") == wh.rows(CITIES_SQL)


def test_each_bind_of_a_named_statement_is_gated(duro, wh, example_repo, gateway_factory,
                                                 wait_until):
    """A raw client: Parse once, then Bind/Execute/Sync after the view went stale; a fresh view
    is bound at once (no refresh)."""
    gw = serve(gateway_factory, duro, wait_until)
    cat = duro.catalog
    with socket.create_connection((gw.host, gw.port), timeout=TIMEOUT) as sock:
        body = struct.pack("!I", 196608) + f"user\0postgres\0database\0{gw.dbname}\0\0".encode()
        sock.sendall(struct.pack("!I", len(body) + 4) + body)
        assert _until_ready(sock)[-1] == (b"Z", b"I")
        sql = b"select count(*) from first.cities where city = 'Atlantis'\0"
        sock.sendall(_msg(b"P", b"st\0" + sql + b"\0\0") + _msg(b"S"))
        assert [k for k, _ in _until_ready(sock)] == [b"1", b"Z"]

        def run():
            sock.sendall(_msg(b"B", b"\0st\0\0\0\0\0\0\0") + _msg(b"E", b"\0\0\0\0\0")
                         + _msg(b"S"))
            return _until_ready(sock)

        mark = last_run_id(cat)
        assert [k for k, _ in run()] == [b"2", b"D", b"C", b"Z"]
        assert last_run_id(cat) == mark  # fresh: no refresh

        wh.sql("insert into first.cities_raw values ('Atlantis', 'Nowhere')")
        cat.age("first.cities", seconds=2 * DAY)
        got = run()
        kinds = [k for k, _ in got]
        assert kinds == [b"N", b"2", b"D", b"C", b"Z"], got
        assert b"stale" in got[0][1]
        assert got[2][1][6:] == b"1"  # the refreshed table has Atlantis
        assert [(r["trigger"], r["outcome"]) for r in cat.runs("first.cities")
                if r["id"] > mark] == [("read", "ok")]
