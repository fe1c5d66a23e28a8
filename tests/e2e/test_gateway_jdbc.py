"""The gateway as a Java application meets it: pgjdbc (Debian's libpostgresql-jdbc-java) through
`duro serve` to the test's PostgreSQL database. DatabaseMetaData, server-side prepared statements
with binary transfer, cursors (fetch size, suspended portals), the queries Metabase syncs with,
Statement.cancel(), errors and notices, COPY, batches and large values, password
authentication.

The scenarios live in java/GatewayJdbc.java, compiled once per session; each prints
tab-separated lines (a tag first) that the tests here check, and exits non-zero on failure.
"""
import uuid

import pytest

from conftest import run_jdbc, tagged



def run(jdbc, gateway, scenario, *args, **kw):
    """One GatewayJdbc scenario (see conftest.run_jdbc)."""
    return run_jdbc(jdbc, "GatewayJdbc", gateway, scenario, *args, **kw)


# -- DatabaseMetaData ------------------------------------------------------------------------


def test_metadata_lists_tables_and_columns(jdbc, wh, gateway):
    wh.sql("comment on table finances.transactions_raw is 'Every booking'")
    wh.sql("comment on column finances.transactions_raw.amount is 'In euros'")
    wh.sql("create view finances.big as select * from finances.transactions_raw "
           "where amount > 1000")
    out = run(jdbc, gateway, "metadata", "finances", "transactions_raw")

    product = tagged(out, "product")
    assert product == [["PostgreSQL", "15"]]
    assert tagged(out, "table") == [
        ["finances", "transactions_raw", "TABLE", "Every booking"],
        ["finances", "big", "VIEW", "\\N"],
    ]
    assert tagged(out, "column") == [
        ["1", "id", "int4", "10", "0", "NO", "\\N"],
        ["2", "booked_at", "timestamptz", "35", "6", "NO", "\\N"],
        ["3", "account", "text", "2147483647", "0", "NO", "\\N"],
        ["4", "amount", "numeric", "12", "2", "NO", "In euros"],
        ["5", "person_id", "int4", "10", "0", "YES", "\\N"],
    ]
    assert tagged(out, "pk") == [["id", "1"]]


# -- server-side prepared statements, binary transfer ---------------------------------------


def test_prepared_statement_past_threshold_with_binary_transfer(jdbc, pg, db, gateway):
    with pg.connect(dbname=db) as conn:
        conn.execute("create table gw_values (id int primary key, n numeric(20, 4), "
                     "t timestamptz, s text, b bytea)")
        conn.execute(
            "insert into gw_values values "
            "(1, 12345678901234.5678, '2023-06-30 12:34:56.789012+02', 'caf\u00e9 \u2603', "
            "'\\x00ff10'), "
            "(2, -0.0001, '1999-12-31 23:59:59+00', '', ''), "
            "(3, null, null, null, null), "
            "(4, 4, '2030-01-01 00:00:00+00', 'not read', '\\x04')")
    out = run(jdbc, gateway, "prepared", prepareThreshold=3, binaryTransfer="true")

    # The same rows every run: text format in runs 1-2, then named statements, binary format.
    assert tagged(out, "row") == [
        ["1", "12345678901234.5678", "2023-06-30T10:34:56.789012Z", "caf\u00e9 \u2603", "00ff10"],
        ["2", "-0.0001", "1999-12-31T23:59:59Z", "", ""],
        ["3", "\\N", "\\N", "\\N", "\\N"],
    ]
    runs = tagged(out, "run")
    assert [r[0] for r in runs] == [str(n) for n in range(1, 11)]
    assert all(r[1:] == ["true", "true"] for r in runs[2:]), runs
    # Both statements are prepared, by name, in the session's backend.
    prepared = {stmt: name for name, stmt in tagged(out, "prepared")}
    roundtrip = ("select $1::int4 as i, $2::numeric as n, $3::timestamptz as t, "
                 "$4::text as s, $5::bytea as b")
    table = "select id, n, t, s, b from gw_values where id <= $1 order by id"
    assert set(prepared) >= {roundtrip, table}, prepared
    assert all(prepared[s].startswith("S_") for s in (roundtrip, table)), prepared


# -- cursors --------------------------------------------------------------------------------


def test_cursor_fetches_in_batches_in_order(jdbc, gateway):
    out = run(jdbc, gateway, "cursor")

    assert tagged(out, "rows") == [["ascending", "1000"], ["descending", "1000"]]
    # Half way, both queries are open portals in the backend, suspended between batches.
    portals = tagged(out, "cursor")
    statements = sorted(p[1] for p in portals)
    assert statements == [
        "select g, md5(g::text) as h from generate_series(1, $1) g order by g",
        "select g, repeat('x', g % 7) as pad from generate_series(1, 1000) g order by g desc",
    ], portals
    assert all(p[0].startswith("C_") for p in portals), portals
    assert tagged(out, "after") == [["1000"]]


# -- Metabase -------------------------------------------------------------------------------


def test_metabase_sync_queries(jdbc, wh, gateway):
    wh.sql("comment on table first.cities_raw is 'Cities and their countries'")
    wh.sql("comment on column first.shops_raw.city is 'Where the shop is'")
    wh.sql("create view second.countries as select distinct country from first.cities_raw")
    wh.sql("create materialized view second.shop_count as select count(*) as n "
           "from first.shops_raw")
    wh.sql("create table public.hidden (id int)")  # public is excluded by the query
    out = run(jdbc, gateway, "metabase", "first", "shops_raw")

    assert tagged(out, "isolation") == [["read committed"]]
    assert tagged(out, "setting") == [
        ["application_name", "Metabase v0.50.0 [5e1a-duro-e2e]"],
        ["extra_float_digits", "3"],
    ]
    assert tagged(out, "table") == [
        ["finances", "transactions_raw", "TABLE", "\\N"],
        ["first", "cities_raw", "TABLE", "Cities and their countries"],
        ["first", "people_raw", "TABLE", "\\N"],
        ["first", "shops_raw", "TABLE", "\\N"],
        ["second", "countries", "VIEW", "\\N"],
        ["second", "shop_count", "MATERIALIZED VIEW", "\\N"],
    ]
    assert tagged(out, "field") == [
        ["first", "shops_raw", "0", "id", "int4", "true", "true", "\\N"],
        ["first", "shops_raw", "1", "name", "text", "false", "true", "\\N"],
        ["first", "shops_raw", "2", "city", "text", "false", "true", "Where the shop is"],
    ]


# -- cancel ---------------------------------------------------------------------------------


def test_statement_cancel_ends_only_that_query(jdbc, gateway):
    out = run(jdbc, gateway, "cancel")

    # Without a working cancel, pg_sleep(30) would complete without an error ("none").
    assert tagged(out, "cancelled") == [["first", "57014"], ["second", "57014"]]
    assert tagged(out, "second_state") == [["active"]]  # still sleeping after the first cancel
    # Each connection kept its backend and works.
    assert tagged(out, "after") == [["first", "true", "2"], ["second", "true", "4"]]


# -- errors and notices ---------------------------------------------------------------------


def test_errors_and_notices_are_relayed(jdbc, gateway):
    out = run(jdbc, gateway, "errors")

    missing = 'relation "gw_no_such_table" does not exist'
    assert tagged(out, "error") == [
        ["simple", "42P01", missing, "\\N", "\\N", "15"],
        ["extended", "42P01", missing, "\\N", "\\N", "15"],
        ["division", "22012", "division by zero", "\\N", "\\N", "0"],
        ["raise", "P0001", "custom failure", "some detail", "some hint", "0"],
        ["in_transaction", "42P01", missing, "\\N", "\\N", "15"],
        ["aborted", "25P02",
         "current transaction is aborted, commands ignored until end of transaction block",
         "\\N", "\\N", "0"],
    ]
    assert tagged(out, "alive") == [["simple", "true", "1"], ["extended", "true", "2"],
                                    ["rollback", "true", "3"]]
    assert tagged(out, "warning") == [["00000", "gateway says 42"]]


# -- COPY, batches, large values ------------------------------------------------------------


def test_copy_manager_and_large_values(jdbc, db, pg, gateway):
    out = run(jdbc, gateway, "copy")

    assert tagged(out, "copied") == [["20000", "20000", "20000"]]
    assert tagged(out, "copy_error") == [["22P02", "20000"]]  # nothing of the bad COPY kept
    assert tagged(out, "large") == [[str(8 << 20)]]
    assert tagged(out, "alive") == [["true"]]
    assert pg.sql("select sum(amount) from gw_copy", dbname=db)[0][0] == 200015000


def test_batch_insert_pipelined(jdbc, gateway):
    out = run(jdbc, gateway, "batch")

    assert tagged(out, "batch") == [["5000"]]
    assert tagged(out, "batch_error") == [["23505"]]  # duplicate key
    assert tagged(out, "count") == [["5000", "5000"]]  # the failed batch rolled back


# -- password authentication ----------------------------------------------------------------


@pytest.fixture
def password_role(pg):
    """A login role with a password, and pg_hba.conf asking it for that password (method as
    requested: md5 or scram-sha-256) while every other role keeps trust; restored afterwards.
    Returns a function(method) -> (role, password)."""
    original = pg.hba_path.read_text()
    roles = []

    def make(method):
        role = "gw_jdbc_" + uuid.uuid4().hex[:8]
        password = "s3cret-" + uuid.uuid4().hex[:6]
        encryption = "md5" if method == "md5" else "scram-sha-256"
        with pg.connect() as conn:
            conn.execute(f"set password_encryption = '{encryption}'")
            conn.execute(f"create role {role} login password '{password}'")
        roles.append(role)
        pg.hba_path.write_text(f"host all {role} 127.0.0.1/32 {method}\n"
                               + pg.hba_path.read_text())
        pg.reload()
        return role, password

    yield make
    pg.hba_path.write_text(original)
    pg.reload()
    for role in roles:
        pg.sql(f"drop role if exists {role}")


@pytest.mark.parametrize("method", ["scram-sha-256", "md5"])
def test_password_authentication(jdbc, gateway, password_role, method):
    role, password = password_role(method)

    out = run(jdbc, gateway, "connect", user=role, password="wrong-" + password)
    assert tagged(out, "connect_error") == [
        ["28P01", f'FATAL: password authentication failed for user "{role}"']]

    out = run(jdbc, gateway, "connect", user=role, password=password)
    assert tagged(out, "connected") == [[role, "42"]]


