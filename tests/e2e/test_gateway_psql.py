"""psql through the gateway, as a user runs it: queries, \\d, \\copy both ways, a large result, a
script, an error in the middle of a script and notices. Wherever psql's output is compared, the same
command is also run straight against PostgreSQL and the two outputs must be identical.
"""
import csv
import hashlib
import subprocess

from conftest import PSQL, clean_env

SCHEMA = """
create schema shop;
comment on schema shop is 'the shop';
create type shop.status as enum ('new', 'paid', 'shipped');
create table shop.customers (
    id int generated always as identity primary key,
    email text not null unique,
    name text
);
create table shop.orders (
    id bigserial primary key,
    customer_id int not null references shop.customers (id) on delete cascade,
    status shop.status not null default 'new',
    total numeric(12, 2) check (total >= 0),
    note text collate "C",
    created timestamptz not null default now()
);
create index orders_customer on shop.orders (customer_id, created desc);
create index orders_open on shop.orders (id) where status <> 'shipped';
comment on table shop.orders is 'one row per order';
comment on column shop.orders.total is 'in euros';
create view shop.open_orders as select * from shop.orders where status <> 'shipped';
create function shop.order_count(c int) returns bigint language sql stable
    as 'select count(*) from shop.orders where customer_id = c';
create table items (id int primary key, name text, price numeric(8, 2), tags text[]);
"""


def direct_psql(pg, dbname, *args, input=None, check=True, cwd=None):
    """psql with the options Gateway.psql uses, straight to the session's PostgreSQL."""
    argv = [str(PSQL), "-X", "-v", "ON_ERROR_STOP=1", "-d", f"{pg.dsn(dbname)} sslmode=disable",
            *map(str, args)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL,
                          env=clean_env(), cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"direct psql exited with {proc.returncode}\n{proc.stdout}"
                             f"{proc.stderr}")
    return proc


def both(gateway, pg, *args, input=None, check=True):
    """Runs psql with args through Duro and direct; returns both CompletedProcesses."""
    via = gateway.psql(*args, input=input, check=check)
    direct = direct_psql(pg, gateway.dbname, *args, input=input, check=check)
    return via, direct


def test_queries_print_what_postgres_prints(gateway, pg):
    """Plain queries of many types print exactly as they do direct, NULLs and Unicode included."""
    queries = [
        "select 1 as one, 'two' as two, null::int as nothing",
        "select 42::numeric(10, 3) as n, 1.5::float8 as f, true as b, 'x'::bytea as raw",
        "select '2024-02-29 12:34:56+00'::timestamptz as ts, '1 day 2 hours'::interval as iv",
        "select 'héllo wörld ✓' as unicode, array[1, 2, null] as arr, "
        "'{\"a\": [1, 2]}'::jsonb as j",
        "select g, g * g as sq from generate_series(1, 5) g",
        "select * from pg_catalog.pg_class where false",
        "show server_encoding",
    ]
    for q in queries:
        via, direct = both(gateway, pg, "-c", q)
        assert via.stdout == direct.stdout, q
        assert via.stderr == direct.stderr == "", q
    out = gateway.psql("-At", "-c", "select current_database(), current_user").stdout
    assert out == f"{gateway.dbname}|postgres\n"
    assert gateway.psql("-c", "select 'héllo wörld ✓' as u").stdout.splitlines()[2] \
        == " héllo wörld ✓"


def test_describe_matches_direct(gateway, pg):
    """\\d, \\d on a table and a view, \\d+, \\dn+, \\df and \\dT print what they print direct."""
    pg.sql(SCHEMA, dbname=gateway.dbname)
    for cmd in (r"\d", r"\d shop.*", r"\d shop.orders", r"\d+ shop.orders", r"\d shop.open_orders",
                r"\d items", r"\dn+", r"\df shop.*", r"\dT shop.*", r"\di shop.*", r"\dt+ shop.*"):
        via, direct = both(gateway, pg, "-c", cmd)
        assert via.stdout == direct.stdout, cmd
        assert via.stderr == direct.stderr == "", cmd
    out = gateway.psql("-c", r"\d shop.orders").stdout
    assert 'Table "shop.orders"' in out
    assert '"orders_customer" btree (customer_id, created DESC)' in out
    assert "FOREIGN KEY (customer_id) REFERENCES shop.customers(id) ON DELETE CASCADE" in out
    assert "CHECK (total >= 0::numeric)" in out
    assert "one row per order" in gateway.psql("-c", r"\dt+ shop.orders").stdout
    missing = gateway.psql("-c", r"\d no_such_table", check=False)
    assert missing.stderr == 'Did not find any relation named "no_such_table".\n'


def test_copy_from_file(gateway, pg, tmp_path):
    """\\copy table from a CSV file (quotes, commas, newlines, NULLs, Unicode, arrays) and from a
    100,000-line text file loads exactly those rows; a bad line fails the whole COPY with the
    warehouse's error and the session stays usable."""
    pg.sql(SCHEMA, dbname=gateway.dbname)
    rows = [
        ["1", "plain", "9.99", "{a,b}"],
        ["2", 'with "quotes", and commas', "0.50", "{}"],
        ["3", "two\nlines", "", '{"x y"}'],
        ["4", "", "123456.78", ""],
        ["5", "ünïcødé ✓", "1.00", "{é}"],
    ]
    path = tmp_path / "items.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "price", "tags"])
        w.writerows(rows)
    out = gateway.psql("-c", rf"\copy items from '{path}' with (format csv, header)")
    assert out.stdout == "COPY 5\n"
    got = pg.sql("select id, name, price::text, tags::text from items order by id",
                 dbname=gateway.dbname)
    assert got == [(1, "plain", "9.99", "{a,b}"),
                   (2, 'with "quotes", and commas', "0.50", "{}"),
                   (3, "two\nlines", None, '{"x y"}'),
                   (4, None, "123456.78", None),
                   (5, "ünïcødé ✓", "1.00", "{é}")]

    ids = range(100, 100_100)
    big = tmp_path / "big.tsv"
    big.write_text("".join(f"{i}\titem {i}\t{i % 1000}.25\t\\N\n" for i in ids))
    out = gateway.psql("-c", rf"\copy items from '{big}'")
    assert out.stdout == "COPY 100000\n"
    price_sum = f"{sum(i % 1000 for i in ids) + 25_000}.00"
    assert pg.sql("select count(*), sum(id), sum(price)::text from items where id >= 100",
                  dbname=gateway.dbname) == [(100_000, sum(ids), price_sum)]

    bad = tmp_path / "bad.csv"
    bad.write_text("200000,ok,1\n200001,bad,not-a-number\n")
    script = rf"""\set ON_ERROR_STOP 0
\copy items (id, name, price) from '{bad}' with (format csv)
select count(*) as loaded from items where id >= 200000;
"""
    via = gateway.psql("-f", "-", input=script)
    assert 'ERROR:  invalid input syntax for type numeric: "not-a-number"' in via.stderr
    assert "CONTEXT:  COPY items, line 2, column price" in via.stderr
    assert via.stdout.split() == ["loaded", "--------", "0", "(1", "row)"]


def test_copy_to_file(gateway, pg, tmp_path):
    """\\copy (query) to a file and \\copy table to a file write what they write direct, and the
    file copied out through Duro loads back through Duro to the same rows."""
    pg.sql(SCHEMA, dbname=gateway.dbname)
    pg.sql("insert into items select g, 'item ' || g || case when g % 7 = 0 then E'\\n\"q\"' "
           "else '' end, g * 1.5, array['t' || g % 3] from generate_series(1, 20000) g",
           dbname=gateway.dbname)
    query = "select id, name, price, tags from items where id % 2 = 0 order by id"
    for name, fmt in (("even", "with (format csv, header)"), ("even_text", "")):
        via_file, direct_file = tmp_path / f"{name}_via", tmp_path / f"{name}_direct"
        out = gateway.psql("-c", rf"\copy ({query}) to '{via_file}' {fmt}")
        assert out.stdout == "COPY 10000\n"
        direct_psql(pg, gateway.dbname, "-c", rf"\copy ({query}) to '{direct_file}' {fmt}")
        assert via_file.read_bytes() == direct_file.read_bytes()
    with open(tmp_path / "even_via", newline="") as f:
        got = list(csv.reader(f))
    assert got[0] == ["id", "name", "price", "tags"]
    assert len(got) == 10_001
    assert got[7] == ["14", 'item 14\n"q"', "21.00", "{t2}"]

    table_file = tmp_path / "items.txt"
    assert gateway.psql("-c", rf"\copy items to '{table_file}'").stdout == "COPY 20000\n"
    lines = table_file.read_text().splitlines()
    assert len(lines) == 20_000
    assert lines[6] == '7\titem 7\\n"q"\t10.50\t{t1}'

    pg.sql("create table items_back (like items)", dbname=gateway.dbname)
    out = gateway.psql("-c", rf"\copy items_back from '{table_file}'")
    assert out.stdout == "COPY 20000\n"
    diff = pg.sql("select count(*) from ((table items except table items_back) union all "
                  "(table items_back except table items)) d", dbname=gateway.dbname)
    assert diff == [(0,)]


def test_large_result_set(gateway, pg):
    """A 1,000,000-row result reaches psql complete and byte-identical to the direct output, both
    in one piece and fetched through a cursor (FETCH_COUNT)."""
    query = ("select g, md5(g::text), repeat('x', g % 37), g % 3 = 0 "
             "from generate_series(1, 1000000) g")
    for extra in ([], ["-v", "FETCH_COUNT=10000"]):
        via, direct = both(gateway, pg, "-A", "-t", *extra, "-c", query)
        lines = via.stdout.splitlines()
        assert len(lines) == 1_000_000
        assert lines[0] == "1|c4ca4238a0b923820dcc509a6f75849b|x|f"
        assert lines[-1] == "1000000|8155bc545f84d9652f1012ef2bdfb6eb|x|f"
        assert hashlib.sha256(via.stdout.encode()).hexdigest() == \
            hashlib.sha256(direct.stdout.encode()).hexdigest()
        assert via.stderr == ""
    out = gateway.psql("-c", "select count(*), sum(length(md5(g::text))) "
                       "from generate_series(1, 1000000) g", "-At").stdout
    assert out == "1000000|32000000\n"


SCRIPT = r"""
create table t (id int primary key, name text);
insert into t values (1, 'one'), (2, 'two'), (3, 'three');
begin;
update t set name = upper(name) where id = 2;
savepoint s;
delete from t;
rollback to savepoint s;
commit;
select * from t order by id;
select count(*) as n from t \gset
\echo rows: :n
select 1 as a; select 'b' as b;
select * from t where id = 3 \gdesc
prepare by_id(int) as select name from t where id = $1;
execute by_id(2);
\x on
select id, name from t where id = 1;
\x off
create temp table scratch as select g from generate_series(1, 3) g;
select sum(g) from scratch;
with d as (delete from t where id = 3 returning *) select name from d;
select count(*) from t;
"""


def test_multi_statement_script(gateway, pg, db_factory):
    """A script with a transaction and savepoint, \\gset, two statements on a line, \\gdesc,
    PREPARE/EXECUTE, expanded output and a temp table prints what it prints direct and leaves
    the same table behind."""
    other = db_factory()
    via = gateway.psql("-f", "-", input=SCRIPT)
    direct = direct_psql(pg, other, "-f", "-", input=SCRIPT)
    assert via.stdout == direct.stdout
    assert via.stderr == direct.stderr == ""
    assert "rows: 3\n" in via.stdout
    assert " 1 | one\n  2 | TWO\n  3 | three\n" in via.stdout
    assert "-[ RECORD 1 ]\nid   | 1\nname | one\n" in via.stdout
    assert " name   | text\n" in via.stdout
    assert pg.sql("select * from t order by id", dbname=gateway.dbname) == [(1, "one"),
                                                                          (2, "TWO")]
    # A multi-statement string sent as one simple Query: every result is printed.
    out = gateway.psql("-At", "-c", "select 1; select 2; select 'three'").stdout
    assert out == "1\n2\nthree\n"


def test_error_mid_script_stops_with_the_warehouse_error(gateway, pg, tmp_path, db_factory):
    """With ON_ERROR_STOP, the failing statement's error (the warehouse's text, its SQLSTATE,
    the LINE pointer) is printed, psql exits with 3 and nothing after it runs."""
    script = tmp_path / "load.sql"
    script.write_text("\\set VERBOSITY verbose\n"
                      "create table t (id int);\n"
                      "insert into t values (1);\n"
                      "insert into no_such_table values (2);\n"
                      "insert into t values (3);\n")
    via = gateway.psql("-f", script, check=False)
    assert via.returncode == 3
    assert via.stdout == "CREATE TABLE\nINSERT 0 1\n"
    assert via.stderr.startswith(
        f'psql:{script}:4: ERROR:  42P01: relation "no_such_table" does not exist\n'
        "LINE 1: insert into no_such_table values (2);\n"
        "                    ^\n")
    assert pg.sql("select id from t", dbname=gateway.dbname) == [(1,)]
    other = db_factory()
    direct = direct_psql(pg, other, "-f", script, check=False, cwd=tmp_path)
    assert (via.returncode, via.stdout, via.stderr) == \
        (direct.returncode, direct.stdout, direct.stderr)

    # An error raised at run time inside a transaction: the transaction is rolled back.
    out = gateway.psql("-c", "begin; insert into t values (10); select 1 / (id - 1) from t; "
                       "commit;", check=False)
    assert out.returncode == 1
    assert out.stderr == "ERROR:  division by zero\n"
    assert pg.sql("select id from t", dbname=gateway.dbname) == [(1,)]


def test_notices_from_a_do_block(gateway, pg):
    """RAISE NOTICE / WARNING in a DO block and the server's own notices are shown by psql, with
    DETAIL and HINT, in order, exactly as direct."""
    do = ("do $$ begin raise notice 'hello from %', 'plpgsql'; "
          "raise notice 'second' using detail = 'some detail', hint = 'a hint'; "
          "raise warning 'careful'; end $$")
    via, direct = both(gateway, pg, "-c", do)
    assert via.stdout == direct.stdout == "DO\n"
    assert via.stderr == direct.stderr == ("NOTICE:  hello from plpgsql\n"
                                           "NOTICE:  second\nDETAIL:  some detail\n"
                                           "HINT:  a hint\n"
                                           "WARNING:  careful\n")
    script = ("create table if not exists t (x int);\n"
              "create table if not exists t (x int);\n"
              "set client_min_messages = warning;\n"
              "do $$ begin raise notice 'hidden'; raise warning 'shown'; end $$;\n")
    out = gateway.psql("-f", "-", input=script)
    assert out.stderr == ('psql:<stdin>:2: NOTICE:  relation "t" already exists, skipping\n'
                          "psql:<stdin>:4: WARNING:  shown\n")
