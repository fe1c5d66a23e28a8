"""The gateway seen by psycopg 3: every test connects through `duro serve` (the `gateway`
fixture) and expects exactly what a direct PostgreSQL connection gives — simple and extended
query protocol, parameters of many types, prepared statements, binary results, COPY both ways,
pipeline mode, cancel, notices, LISTEN/NOTIFY, ParameterStatus, server-side cursors and the
transaction status. What landed in the warehouse is checked over a direct connection (`pg`).
"""
import hashlib
import select
import socket
import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from psycopg import errors, pq
from psycopg.types.json import Jsonb

from conftest import wait_until

TIMEOUT = 30


def direct(pg, gateway, **kw):
    """A psycopg connection straight to the warehouse database behind the gateway."""
    return pg.connect(dbname=gateway.dbname, **kw)


def wait_active(pg, gateway, query, n=1, timeout=TIMEOUT):
    """Waits until at least n warehouse backends run `query` (pg_stat_activity, state active);
    returns their pids, sorted."""
    def pids():
        rows = pg.sql("select pid from pg_stat_activity where state = 'active' and query = %s "
                      "order by pid", [query], dbname=gateway.dbname)
        return [r[0] for r in rows] if len(rows) >= n else None

    return wait_until(pids, timeout, f"the warehouse to run {query!r}", gateway.proc)


def run_in_thread(fn):
    """Starts fn() in a thread; returns (thread, outcome) where outcome gets 'result' or
    'error' once fn returns or raises."""
    outcome = {}

    def target():
        try:
            outcome["result"] = fn()
        except BaseException as e:  # noqa: B036 - handed to the test
            outcome["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, outcome


# -- queries and parameters -----------------------------------------------------------------------


def test_simple_query_protocol(gateway, pg):
    """Queries without parameters go as simple 'Q' messages, several statements in one."""
    with gateway.connect() as conn:
        assert conn.execute("select 1, 'one'").fetchone() == (1, "one")
        cur = conn.execute("create table t (a int, b text); "
                           "insert into t select i, 'row ' || i from generate_series(1, 500) i; "
                           "select count(*), sum(a) from t")
        assert cur.statusmessage == "CREATE TABLE"
        assert cur.nextset() and cur.rowcount == 500
        assert cur.nextset() and cur.fetchone() == (500, 125250)
        assert not cur.nextset()
        assert conn.execute("select b from t where a = 7").fetchone() == ("row 7",)
        assert conn.execute("select 1 where false").fetchall() == []
        assert conn.execute("").pgresult.status == pq.ExecStatus.EMPTY_QUERY
        with pytest.raises(errors.UndefinedTable):
            conn.execute("select * from no_such_table")
        with pytest.raises(errors.SyntaxError):
            conn.execute("selec 1")
        assert conn.execute("select current_database(), current_user").fetchone() == (
            gateway.dbname, "postgres")
    assert pg.sql("select count(*) from t", dbname=gateway.dbname) == [(500,)]


def test_client_side_binding_over_simple_protocol(gateway):
    """A ClientCursor merges parameters into the text and still uses the simple protocol."""
    with gateway.connect(cursor_factory=psycopg.ClientCursor) as conn:
        row = conn.execute("select %s, %s, %s, %s", [1, "it's ☃", None, b"\x00\xff"]).fetchone()
        assert row == (1, "it's ☃", None, b"\x00\xff")


TYPES_DDL = """create table typed (
    id int primary key, i int8, n numeric, f float8, t text, b bytea, ts timestamptz, d date,
    j jsonb, a int[], ta text[], u uuid, bo bool)"""

ROW = (
    1,
    -(2 ** 63),
    Decimal("12345678901234567890.000000000000000001"),
    -1.5e-300,
    "unicode: héllo wörld ☃ 🐘 — 'quotes' \"double\" \\back\\slash\ttab\nnewline",
    bytes(range(256)) * 40,
    datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=timezone.utc),
    date(1999, 12, 31),
    {"k": [1, 2.5, None, True], "ü": "✓", "nested": {"deep": "x"}},
    [1, None, -3, 2 ** 31 - 1],
    ["a", "b c", '"q"', None, "", "ü,{}"],
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    True,
)
NULLS = (2,) + (None,) * (len(ROW) - 1)


def as_params(row):
    return [Jsonb(v) if isinstance(v, dict) else v for v in row]


@pytest.mark.parametrize("placeholder", ["%s", "%b", "%t"])
def test_bound_parameters_of_many_types(gateway, pg, placeholder):
    """Parameters bound server-side (Parse/Bind, text or binary) of many types arrive intact in
    the warehouse and come back equal, NULLs included."""
    marks = ", ".join([placeholder] * len(ROW))
    with gateway.connect() as conn:
        conn.execute(TYPES_DDL)
        for row in (ROW, NULLS):
            conn.execute(f"insert into typed values ({marks})", as_params(row))
        assert conn.execute("select * from typed order by id").fetchall() == [ROW, NULLS]
        # The same values as parameters of a query, compared by the warehouse.
        cur = conn.execute(f"select count(*) from typed where i = {placeholder} and "
                           f"n = {placeholder} and t = {placeholder} and b = {placeholder} and "
                           f"ts = {placeholder} and j = {placeholder} and a = {placeholder}",
                           [ROW[1], ROW[2], ROW[4], ROW[5], ROW[6], Jsonb(ROW[8]), ROW[9]])
        assert cur.fetchone() == (1,)
        assert conn.execute(f"select {placeholder}::int is null", [None]).fetchone() == (True,)
    with direct(pg, gateway) as conn:
        assert conn.execute("select * from typed order by id").fetchall() == [ROW, NULLS]


def test_large_parameter_and_result(gateway):
    """A 20 MB bytea goes up as one Bind and comes back as one DataRow."""
    blob = hashlib.sha256(b"seed").digest() * (20 * 1024 * 1024 // 32)
    with gateway.connect() as conn:
        conn.execute("create table blobs (b bytea)")
        conn.execute("insert into blobs values (%b)", [blob])
        assert conn.execute("select md5(b), length(b) from blobs").fetchone() == (
            hashlib.md5(blob).hexdigest(), len(blob))
        assert conn.execute("select b from blobs").fetchone()[0] == blob
        text = conn.execute("select repeat('ü', 5000000)").fetchone()[0]
        assert text == "ü" * 5000000


def test_binary_results(gateway):
    """cursor(binary=True) gets binary result columns, decoded to the same values."""
    with gateway.connect() as conn:
        conn.execute(TYPES_DDL)
        conn.execute("insert into typed values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                     " %s)", as_params(ROW))
        conn.execute("insert into typed values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                     " %s)", as_params(NULLS))
        cur = conn.cursor(binary=True)
        cur.execute("select * from typed order by id")
        assert all(cur.pgresult.fformat(i) == 1 for i in range(len(ROW)))
        assert cur.fetchall() == [ROW, NULLS]
        cur.execute("select i, i::text, md5(i::text) from generate_series(1, 50000) i")
        rows = cur.fetchall()
        assert len(rows) == 50000
        assert rows[-1] == (50000, "50000", hashlib.md5(b"50000").hexdigest())


# -- prepared statements --------------------------------------------------------------------------


def prepared(conn):
    return [r[0] for r in conn.execute("select statement from pg_prepared_statements "
                                       "order by prepare_time").fetchall()]


def test_prepared_statements(gateway):
    """prepare=True prepares once and executes many times; prepare_threshold governs the
    automatic preparation; SQL PREPARE/EXECUTE works too."""
    with gateway.connect(prepare_threshold=1000) as conn:
        for i in range(50):
            assert conn.execute("select %s::int * 2, %s::text", [i, f"v{i}"],
                                prepare=True).fetchone() == (i * 2, f"v{i}")
        assert prepared(conn) == ["select $1::int * 2, $2::text"]
        conn.execute("select %s::int + 1", [1])
        assert len(prepared(conn)) == 1, "below the threshold, only prepare=True prepares"
        conn.execute("prepare p(int) as select $1 * 10")
        assert conn.execute("execute p(7)").fetchone() == (70,)
        conn.execute("deallocate p")

    with gateway.connect() as conn:
        conn.prepare_threshold = 2
        for i in range(10):
            assert conn.execute("select %s::int - 1", [i]).fetchone() == (i - 1,)
        assert "select $1::int - 1" in prepared(conn)

    with gateway.connect(prepare_threshold=0) as conn:
        assert conn.execute("select %s::text || '!'", ["a"]).fetchone() == ("a!",)
        assert "select $1::text || '!'" in prepared(conn)


def test_prepared_statements_are_per_session(gateway):
    """Two sessions use the same statement names (_pg3_0, ...) for different queries: each
    session executes its own."""
    with gateway.connect() as a, gateway.connect() as b:
        for i in range(20):
            assert a.execute("select 'a', %s::int", [i], prepare=True).fetchone() == ("a", i)
            assert b.execute("select 'b', %s::int * -1", [i], prepare=True).fetchone() == (
                "b", -i)
        assert prepared(a) == ["select 'a', $1::int"]
        assert prepared(b) == ["select 'b', $1::int * -1"]


def test_session_state_is_per_session(gateway):
    """Temporary tables, settings and advisory locks stay with their own session."""
    with gateway.connect() as a, gateway.connect() as b:
        a.execute("create temp table mine (x int)")
        a.execute("set work_mem = '7MB'")
        a.execute("select pg_advisory_lock(42)")
        for _ in range(10):
            a.execute("insert into mine values (1)")
        assert a.execute("select count(*) from mine").fetchone() == (10,)
        with pytest.raises(errors.UndefinedTable):
            b.execute("select * from mine")
        assert a.execute("show work_mem").fetchone() == ("7MB",)
        assert b.execute("show work_mem").fetchone() != ("7MB",)
        assert b.execute("select pg_try_advisory_lock(42)").fetchone() == (False,)
        assert a.execute("select pg_backend_pid()").fetchone() != b.execute(
            "select pg_backend_pid()").fetchone()


def test_many_concurrent_sessions(gateway):
    """40 sessions at once, each with its own prepared queries, temp table and results: no
    answer reaches the wrong session."""
    def work(n):
        with gateway.connect() as conn:
            conn.execute("create temp table mine (n int)")
            for i in range(25):
                conn.execute("insert into mine values (%s)", [n * 1000 + i])
                got = conn.execute("select %s::int, sum(n), count(*) from mine",
                                   [n]).fetchone()
                assert got == (n, sum(n * 1000 + j for j in range(i + 1)), i + 1)
            return n

    threads = [run_in_thread(lambda n=n: work(n)) for n in range(40)]
    for n, (t, out) in enumerate(threads):
        t.join(TIMEOUT * 4)
        assert not t.is_alive(), f"session {n} hangs"
        assert out == {"result": n}, out


def test_closing_a_session_closes_its_warehouse_connection(gateway, pg):
    """Closing a client (Terminate or a dropped socket) ends its warehouse backend."""
    conn = gateway.connect()
    pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    conn.close()
    conn = gateway.connect()
    pid2 = conn.execute("select pg_backend_pid()").fetchone()[0]
    with socket.fromfd(conn.fileno(), socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.shutdown(socket.SHUT_RDWR)  # gone without a Terminate
    conn.close()
    with direct(pg, gateway) as check:
        def gone(p):
            return lambda: check.execute("select count(*) from pg_stat_activity where pid = %s",
                                         [p]).fetchone() == (0,)
        wait_until(gone(pid), TIMEOUT, "the warehouse backend to exit", gateway.proc)
        wait_until(gone(pid2), TIMEOUT, "the warehouse backend to exit", gateway.proc)


def test_warehouse_terminates_a_session(gateway, pg):
    """pg_terminate_backend on the warehouse: the client gets the FATAL error (or loses the
    connection), other sessions and new ones work."""
    with gateway.connect() as victim, gateway.connect() as other:
        pid = victim.execute("select pg_backend_pid()").fetchone()[0]
        with direct(pg, gateway) as conn:
            assert conn.execute("select pg_terminate_backend(%s, 10000)", [pid]).fetchone() == (
                True,)
        with pytest.raises(psycopg.OperationalError):
            victim.execute("select 1")
        assert victim.closed
        assert other.execute("select 'other'").fetchone() == ("other",)
    with gateway.connect() as conn:
        assert conn.execute("select 'new'").fetchone() == ("new",)


# -- COPY -----------------------------------------------------------------------------------------

COPY_ROWS = [
    (1, "plain", b"\x00\x01"),
    (2, "tab\there, newline\nthere, backslash \\ and ☃", b"\xff" * 10),
    (3, None, None),
    (4, "", b""),
    (5, "\\N is not null", b"\\N"),
]


def test_copy_from_stdin(gateway, pg):
    """COPY FROM STDIN, text and binary, with awkward values: the warehouse has them all."""
    with gateway.connect() as conn:
        conn.execute("create table c (id int, name text, data bytea)")
        cur = conn.cursor()
        with cur.copy("copy c from stdin") as copy:
            for row in COPY_ROWS:
                copy.write_row(row)
        assert cur.rowcount == len(COPY_ROWS)
        with cur.copy("copy c from stdin (format binary)") as copy:
            copy.set_types(["int4", "text", "bytea"])
            for row in COPY_ROWS:
                copy.write_row((row[0] + 100,) + row[1:])
        with cur.copy("copy c (id, name) from stdin (format csv, header)") as copy:
            copy.write('id,name\n200,"quoted, with ""quotes"""\n201,\n')
        assert conn.execute("select count(*) from c").fetchone() == (12,)
    with direct(pg, gateway) as conn:
        got = conn.execute("select * from c order by id").fetchall()
    assert got == COPY_ROWS + [(r[0] + 100,) + r[1:] for r in COPY_ROWS] + [
        (200, 'quoted, with "quotes"', None), (201, None, None)]


def test_copy_to_stdout(gateway):
    """COPY TO STDOUT, text and binary, row by row and as raw data."""
    with gateway.connect() as conn:
        conn.execute("create table c (id int, name text, data bytea)")
        conn.cursor().executemany("insert into c values (%s, %s, %s)", COPY_ROWS)
        cur = conn.cursor()
        with cur.copy("copy (select * from c order by id) to stdout") as copy:
            copy.set_types(["int4", "text", "bytea"])
            assert list(copy.rows()) == COPY_ROWS
        with cur.copy("copy (select * from c order by id) to stdout (format binary)") as copy:
            copy.set_types(["int4", "text", "bytea"])
            assert list(copy.rows()) == COPY_ROWS
        with cur.copy("copy (select id, name from c where id < 3 order by id) to stdout "
                      "(format csv)") as copy:
            data = b"".join(copy)
        assert data == b'1,plain\n2,"tab\there, newline\nthere, backslash \\ and \xe2\x98\x83"\n'


def test_large_copy_in_and_out(gateway, pg):
    """200,000 rows COPYed in and back out byte for byte."""
    n = 200_000
    lines = [f"{i}\tname {i} {'x' * (i % 50)} ü\n" for i in range(1, n + 1)]
    payload = "".join(lines).encode()
    with gateway.connect() as conn:
        conn.execute("create table big (id int primary key, name text)")
        cur = conn.cursor()
        with cur.copy("copy big from stdin") as copy:
            for start in range(0, n, 7_000):
                copy.write("".join(lines[start:start + 7_000]))
        assert cur.rowcount == n
        with cur.copy("copy (select * from big order by id) to stdout") as copy:
            out = b"".join(bytes(chunk) for chunk in copy)
        assert len(out) == len(payload)
        assert out == payload
    with direct(pg, gateway) as conn:
        md5 = conn.execute("select md5(string_agg(id || E'\\t' || name || E'\\n', '' "
                           "order by id)) from big").fetchone()[0]
    assert md5 == hashlib.md5(payload).hexdigest()


def test_copy_errors_leave_the_session_usable(gateway, pg):
    """Bad COPY data, a client that aborts its COPY and an error in the middle of a COPY TO:
    each is reported, nothing is half-loaded, and the session carries on."""
    with gateway.connect() as conn:
        conn.execute("create table c (id int, name text)")
        cur = conn.cursor()
        with pytest.raises(errors.InvalidTextRepresentation):
            with cur.copy("copy c from stdin") as copy:
                copy.write("1\tok\n2\tok\nnot-a-number\tbad\n3\tok\n")
        assert conn.execute("select count(*) from c").fetchone() == (0,)

        class Abort(Exception):
            pass

        with pytest.raises((Abort, errors.QueryCanceled)):  # depends on psycopg's version
            with cur.copy("copy c from stdin") as copy:
                copy.write_row((1, "first"))
                raise Abort()
        assert conn.execute("select count(*) from c").fetchone() == (0,)

        got = []
        with pytest.raises(errors.DivisionByZero):
            with cur.copy("copy (select 1000 / (1000 - i) from generate_series(1, 2000) i) "
                          "to stdout") as copy:
                for row in copy.rows():
                    got.append(row)
        assert conn.execute("select 'still here'").fetchone() == ("still here",)
        with cur.copy("copy c from stdin") as copy:
            copy.write_row((9, "after"))
    assert pg.sql("select * from c", dbname=gateway.dbname) == [(9, "after")]


# -- pipeline mode --------------------------------------------------------------------------------


def test_pipeline(gateway, pg):
    """Many queries in one pipeline; an error aborts its own sync block only, and the blocks
    after it run."""
    with gateway.connect() as conn:
        conn.execute("create table p (id int primary key, v text)")
        with conn.pipeline() as pipe:
            curs = [conn.execute("insert into p values (%s, %s) returning id * 2", [i, f"v{i}"])
                    for i in range(1, 201)]
            pipe.sync()
            assert [c.fetchone()[0] for c in curs] == [i * 2 for i in range(1, 201)]

        with pytest.raises(errors.UniqueViolation):
            with conn.pipeline() as pipe:
                ok = conn.execute("insert into p values (1001, 'same block as the error')")
                conn.execute("insert into p values (1, 'duplicate')")
                conn.execute("insert into p values (1002, 'aborted with its block')")
                pipe.sync()
        assert ok.rowcount == 1

        with conn.pipeline() as pipe:
            first = conn.execute("select count(*) from p")
            pipe.sync()
            with pytest.raises(errors.DivisionByZero):
                conn.execute("select 1 / 0")
                pipe.sync()
            after = [conn.execute("insert into p values (%s, 'after the error') returning id",
                                  [2000 + i]) for i in range(50)]
            last = conn.execute("select count(*) from p")
        assert first.fetchone() == (200,)
        assert [c.fetchone()[0] for c in after] == [2000 + i for i in range(50)]
        assert last.fetchone() == (250,)
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
    rows = pg.sql("select count(*), count(*) filter (where id > 1000 and id < 2000) from p",
                  dbname=gateway.dbname)
    assert rows == [(250, 0)]


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_stops_only_its_own_query(gateway, pg):
    """conn.cancel() cancels that session's query through Duro; another session's query keeps
    running until it is cancelled in turn, and both sessions stay usable."""
    with gateway.connect() as a, gateway.connect() as b:
        pid_a = a.execute("select pg_backend_pid()").fetchone()[0]
        pid_b = b.execute("select pg_backend_pid()").fetchone()[0]
        ta, out_a = run_in_thread(lambda: a.execute("select pg_sleep(30)").fetchone())
        tb, out_b = run_in_thread(lambda: b.execute("select pg_sleep(30)").fetchone())
        query = "select pg_sleep(30)"
        assert wait_active(pg, gateway, query, n=2) == sorted([pid_a, pid_b])

        a.cancel()
        ta.join(TIMEOUT)
        assert not ta.is_alive(), "the cancelled query did not return"
        assert isinstance(out_a.get("error"), errors.QueryCanceled), out_a
        assert tb.is_alive() and not out_b, "the other session's query was cancelled too"
        assert wait_active(pg, gateway, query) == [pid_b]
        assert a.execute("select 'a is usable'").fetchone() == ("a is usable",)

        b.cancel()
        tb.join(TIMEOUT)
        assert not tb.is_alive()
        assert isinstance(out_b.get("error"), errors.QueryCanceled), out_b
        assert b.execute("select 'b is usable'").fetchone() == ("b is usable",)


def test_a_cancel_is_in_before_the_client_goes_on(gateway):
    """libpq's cancel returns once the server has closed the cancel connection, which PostgreSQL
    does only after signalling the backend. Duro keeps the client's cancel connection open until
    the warehouse has done so: a cancel sent while idle can never hit the next statement."""
    with gateway.connect() as conn:
        for _ in range(5):
            conn.cancel()
            assert conn.execute("select pg_sleep(0.2) is not null").fetchone() == (True,)


def test_cancel_in_a_transaction_and_when_idle(gateway, pg):
    """A cancel while idle does nothing; a cancelled statement in a transaction fails the
    transaction, which rolls back."""
    with gateway.connect(autocommit=False) as conn:
        conn.cancel()
        assert conn.execute("select 1").fetchone() == (1,)
        conn.execute("create table x (a int)")
        conn.execute("insert into x values (1)")
        t, out = run_in_thread(lambda: conn.execute("select pg_sleep(30)"))
        wait_active(pg, gateway, "select pg_sleep(30)")
        conn.cancel()
        t.join(TIMEOUT)
        assert isinstance(out.get("error"), errors.QueryCanceled), out
        assert conn.info.transaction_status == pq.TransactionStatus.INERROR
        conn.rollback()
        assert conn.execute("select to_regclass('x') is null").fetchone() == (True,)


# -- notices, notifications, parameter status -----------------------------------------------------


def test_notices(gateway):
    """RAISE NOTICE / WARNING reach the notice handler with their fields, in order."""
    got = []
    with gateway.connect() as conn:
        conn.add_notice_handler(lambda diag: got.append(
            (diag.severity_nonlocalized, diag.sqlstate, diag.message_primary)))
        conn.execute("do $$ begin raise notice 'hello %', 'wörld ☃'; "
                     "raise warning 'careful' using errcode = '01ABC'; "
                     "for i in 1..100 loop raise notice 'n%', i; end loop; end $$")
        conn.execute("drop table if exists no_such_table")
        assert conn.execute("select 'after notices'").fetchone() == ("after notices",)
    assert got[:2] == [("NOTICE", "00000", "hello wörld ☃"), ("WARNING", "01ABC", "careful")]
    assert [g[2] for g in got[2:102]] == [f"n{i}" for i in range(1, 101)]
    assert got[102] == ("NOTICE", "00000", 'table "no_such_table" does not exist, skipping')
    assert len(got) == 103


def receive_notifies(conn, count, got=None, timeout=TIMEOUT):
    """Waits (without sending anything) until conn's socket has data, then collects
    notifications until `count` arrived (in `got` when given: a list already registered as
    conn's notify handler)."""
    handler = got is None
    if handler:
        got = []
        conn.add_notify_handler(got.append)
    deadline = datetime.now() + timedelta(seconds=timeout)
    try:
        while len(got) < count:
            left = (deadline - datetime.now()).total_seconds()
            assert left > 0, f"only {len(got)} of {count} notifications arrived"
            ready, _, _ = select.select([conn.fileno()], [], [], left)
            if ready:
                conn.execute("select 1")  # reads what arrived; handlers are called
    finally:
        if handler:
            conn.remove_notify_handler(got.append)
    return got


def test_listen_notify_between_sessions(gateway, pg):
    """A session LISTENing through Duro gets, while idle, the notifications sent by another
    session through Duro and by a direct connection to the warehouse, payloads intact."""
    with gateway.connect() as listener, gateway.connect() as sender:
        listener.execute("listen chan")
        listener.execute('listen "Other Chan"')
        sender_pid = sender.execute("select pg_backend_pid()").fetchone()[0]
        sender.execute("notify chan, 'héllo ☃'")
        sender.execute("select pg_notify('Other Chan', %s)", ["x" * 7000])
        got = receive_notifies(listener, 2)
        assert [(n.channel, n.payload, n.pid) for n in got] == [
            ("chan", "héllo ☃", sender_pid), ("Other Chan", "x" * 7000, sender_pid)]

        with direct(pg, gateway) as conn:
            direct_pid = conn.execute("select pg_backend_pid()").fetchone()[0]
            for i in range(3):
                conn.execute("select pg_notify('chan', %s)", [f"direct {i}"])
        got = receive_notifies(listener, 3)
        assert [(n.channel, n.payload, n.pid) for n in got] == [
            ("chan", f"direct {i}", direct_pid) for i in range(3)]

        listener.execute("unlisten *")
        sender.execute("notify chan, 'nobody listens'")
        assert listener.execute("select 'quiet'").fetchone() == ("quiet",)


def test_own_notifications_are_recognisable(gateway):
    """The backend pid a client learns at startup (BackendKeyData) is the warehouse backend's,
    so a listener can tell its own notifications (Notify.pid) from others'."""
    with gateway.connect() as conn, gateway.connect() as other:
        assert conn.info.backend_pid == conn.execute("select pg_backend_pid()").fetchone()[0]
        got = []
        conn.add_notify_handler(got.append)
        conn.execute("listen self")
        conn.execute("notify self, 'mine'")
        other.execute("notify self, 'theirs'")
        receive_notifies(conn, 2, got)
        assert [(n.payload, n.pid == conn.info.backend_pid) for n in got] == [
            ("mine", True), ("theirs", False)]


def test_notifies_generator(gateway):
    """conn.notifies() yields a notification sent by another session through Duro."""
    with gateway.connect() as listener, gateway.connect() as sender:
        listener.execute("listen gen")
        sender.execute("notify gen, 'one'")
        sender.execute("notify gen, 'two'")
        assert select.select([listener.fileno()], [], [], TIMEOUT)[0], "nothing arrived"
        gen = listener.notifies()
        payloads = [next(gen).payload, next(gen).payload]
        gen.close()
        assert payloads == ["one", "two"]


def test_parameter_status(gateway):
    """The server's ParameterStatus messages reach the client at startup and after SET;
    startup parameters (application_name, options) are applied."""
    with gateway.connect(application_name="duro-e2e",
                         options="-c statement_timeout=1234 -c DateStyle=ISO,DMY") as conn:
        info = conn.info
        assert info.parameter_status("server_encoding") == "UTF8"
        assert info.parameter_status("client_encoding") == "UTF8"
        assert info.parameter_status("integer_datetimes") == "on"
        assert info.parameter_status("standard_conforming_strings") == "on"
        assert info.parameter_status("server_version").startswith("15")
        assert info.parameter_status("application_name") == "duro-e2e"
        assert info.parameter_status("DateStyle") == "ISO, DMY"
        assert conn.execute("show statement_timeout").fetchone() == ("1234ms",)
        assert conn.execute("select current_setting('application_name')").fetchone() == (
            "duro-e2e",)

        conn.execute("set application_name = 'renamed'")
        assert info.parameter_status("application_name") == "renamed"
        conn.execute("set timezone = 'Asia/Kathmandu'")
        assert info.parameter_status("TimeZone") == "Asia/Kathmandu"
        ts = conn.execute("select '2024-01-01 00:00:00+00'::timestamptz").fetchone()[0]
        assert ts.utcoffset() == timedelta(hours=5, minutes=45)
        assert ts == datetime(2024, 1, 1, tzinfo=timezone.utc)
        conn.execute("set client_encoding = 'LATIN1'")
        assert info.parameter_status("client_encoding") == "LATIN1"
        assert conn.execute("select 'åäö'").fetchone() == ("åäö",)
        assert info.encoding == "iso8859-1"


# -- cursors and transactions ---------------------------------------------------------------------


def test_server_side_cursors(gateway):
    """Named cursors fetch many rows in batches (itersize), scroll, and survive a commit
    WITH HOLD."""
    with gateway.connect(autocommit=False) as conn:
        with conn.cursor("big") as cur:
            cur.itersize = 1000
            cur.execute("select i, repeat('r', i % 20) from generate_series(1, 100000) i")
            total = count = 0
            for i, text in cur:
                total += i
                count += 1
                assert len(text) == i % 20
            assert (count, total) == (100000, 100000 * 100001 // 2)
        with conn.cursor("scroll", scrollable=True) as cur:
            cur.execute("select generate_series(1, 1000)")
            assert cur.fetchmany(3) == [(1,), (2,), (3,)]
            cur.scroll(500, mode="absolute")
            assert cur.fetchone() == (501,)
            cur.scroll(-101)
            assert cur.fetchone() == (401,)
        conn.commit()

    with gateway.connect() as conn:
        with conn.cursor("held", withhold=True) as cur:
            cur.execute("select %s::int * i from generate_series(1, 5000) i", [3])
            assert cur.fetchmany(2) == [(3,), (6,)]
            assert sum(r[0] for r in cur) == 3 * (5000 * 5001 // 2) - 9
        assert conn.execute("select count(*) from pg_cursors").fetchone() == (0,)


def test_transaction_status(gateway, pg):
    """conn.info.transaction_status follows BEGIN, an error in a transaction, ROLLBACK and
    COMMIT as the warehouse reports them in ReadyForQuery."""
    ts = pq.TransactionStatus
    with gateway.connect(autocommit=False) as conn:
        assert conn.info.transaction_status == ts.IDLE
        conn.execute("create table tx (a int)")
        assert conn.info.transaction_status == ts.INTRANS
        conn.commit()
        assert conn.info.transaction_status == ts.IDLE

        conn.execute("insert into tx values (1)")
        with pytest.raises(errors.DivisionByZero):
            conn.execute("select 1 / 0")
        assert conn.info.transaction_status == ts.INERROR
        with pytest.raises(errors.InFailedSqlTransaction):
            conn.execute("select 1")
        conn.rollback()
        assert conn.info.transaction_status == ts.IDLE

        with conn.transaction():
            conn.execute("insert into tx values (2)")
            with pytest.raises(errors.UniqueViolation):
                with conn.transaction():  # a savepoint
                    conn.execute("create unique index on tx (a)")
                    conn.execute("insert into tx values (2)")
            assert conn.info.transaction_status == ts.INTRANS
        conn.commit()

    with gateway.connect() as conn:
        assert conn.info.transaction_status == ts.IDLE
        conn.execute("begin")
        assert conn.info.transaction_status == ts.INTRANS
        conn.execute("insert into tx values (3)")
        conn.execute("commit")
        assert conn.info.transaction_status == ts.IDLE
    assert pg.sql("select a from tx order by a", dbname=gateway.dbname) == [(2,), (3,)]
