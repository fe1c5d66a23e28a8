"""The end-to-end harness itself: the session's PostgreSQL cluster works, each test gets a database
of its own, the cluster runs as the postgres OS user when we are root, and the generated duro.conf
points at all of it."""

import configparser
import os
import pwd
from pathlib import Path


# Filled by test_db_is_fresh_per_test_a, checked by ..._b (pytest runs a file's tests in order).
_seen = {}


def test_cluster_round_trips_a_table(pg, db):
    with pg.connect(dbname=db) as conn:
        assert conn.execute("show server_version").fetchone()[0].startswith("15.")
        conn.execute("create table cities (city text primary key, country text not null)")
        conn.execute("insert into cities values (%s, %s), (%s, %s)",
                     ("Paris", "France", "Lyon", "France"))
        rows = conn.execute("select city, country from cities order by city").fetchall()
    assert rows == [("Lyon", "France"), ("Paris", "France")]
    assert pg.sql("select count(*) from cities", dbname=db) == [(2,)]


def test_cluster_listens_on_loopback_only(pg):
    assert pg.sql("show listen_addresses") == [("127.0.0.1",)]
    assert pg.sql("show port") == [(str(pg.port),)]
    assert pg.sql("select rolsuper from pg_roles where rolname = current_user") == [(True,)]


def test_databases_are_isolated(pg, db, db_factory):
    other = db_factory()
    assert other != db
    pg.sql("create table only_here (x int)", dbname=db)
    assert pg.sql("select to_regclass('only_here') is not null", dbname=db) == [(True,)]
    assert pg.sql("select to_regclass('only_here') is not null", dbname=other) == [(False,)]


def test_db_is_fresh_per_test_a(pg, db):
    pg.sql("create table leftover (x int)", dbname=db)
    _seen["db"] = db


def test_db_is_fresh_per_test_b(pg, db):
    assert "db" in _seen, "pytest runs a module's tests in order: _a comes first"
    assert db != _seen["db"]
    assert pg.sql("select 1 from pg_database where datname = %s", (_seen["db"],)) == []
    assert pg.sql("select to_regclass('leftover') is null", dbname=db) == [(True,)]


def test_cluster_runs_as_postgres_when_root(pg):
    # PostgreSQL refuses to run as root: as root the harness runs it as postgres, else as us.
    postgres_uid = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert pg.datadir.stat().st_uid == postgres_uid
    assert Path(pg.sql("show data_directory")[0][0]) == pg.datadir
    with pg.connect() as conn:  # the backend lives as long as its connection
        pid = conn.execute("select pg_backend_pid()").fetchone()[0]
        status = Path(f"/proc/{pid}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert int(uid_line.split()[1]) == postgres_uid


def test_generated_conf_points_at_the_cluster(pg, db, duro, tmp_path):
    path = duro.write_conf(dbname=db, views="repo", worker={"concurrency": 3},
                           slack={"log_webhook": None})
    conf = configparser.ConfigParser(inline_comment_prefixes=(";",))
    conf.read(path)
    assert conf["warehouse"]["host"] == pg.host
    assert conf["warehouse"]["port"] == str(pg.port)
    assert conf["warehouse"]["dbname"] == db
    assert conf["views"]["path"] == "repo"
    if duro.pg_catalog:
        url = conf["catalog"]["url"]
        assert "path" not in conf["catalog"]
        assert url == f"postgresql://postgres@{pg.host}:{pg.port}/{duro.catalog_db()}"
    else:
        assert Path(conf["catalog"]["path"]).parent == tmp_path
        assert "url" not in conf["catalog"]
    assert conf["gateway"]["listen"] == f"127.0.0.1:{duro.gateway_port}"
    assert conf["web"]["listen"] == ""
    assert conf["worker"]["concurrency"] == "3"
    assert not conf.has_section("slack") or "log_webhook" not in conf["slack"]
    # The warehouse it names accepts the connection duro would make.
    with pg.connect(dbname=conf["warehouse"]["dbname"], user=conf["warehouse"]["user"]) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == db


def databases(pg):
    return {r[0] for r in pg.sql("select datname from pg_database")}


def test_a_postgresql_catalog_is_a_database_of_its_own_dropped_afterwards(pg, db, duro,
                                                                           tmp_path):
    """use_pg_catalog (what DURO_TEST_CATALOG=postgres does for every Duro): the conf names a
    fresh database on the cluster as `[catalog] url`, instances get it shared or one of their
    own, the catalog reads as empty before Duro made its tables, and close() drops them all."""
    duro.use_pg_catalog()
    path = duro.write_conf(dbname=db, web=True)
    conf = configparser.ConfigParser(inline_comment_prefixes=(";",))
    conf.read(path)
    name = duro.catalog_db()
    assert name != db and name in databases(pg)
    assert conf["catalog"]["url"] == f"postgresql://postgres@{pg.host}:{pg.port}/{name}"
    assert "path" not in conf["catalog"] and conf["catalog"]["publish"] == "off"
    assert duro.catalog.backend == "postgres" and duro.catalog.dbname == name
    assert duro.catalog.runs() == [] and duro.catalog.views() == {}
    assert pg.sql("select count(*) from pg_tables where schemaname = 'public'", dbname=name) == [
        (0,)]

    shared = duro.instance_conf("two")
    own = duro.instance_conf("three", shared_catalog=False)
    for inst in (shared, own):
        c = configparser.ConfigParser(inline_comment_prefixes=(";",))
        c.read(inst.conf)
        assert c["gateway"]["listen"] == f"127.0.0.1:{inst.gateway_port}"
        assert c["web"]["listen"] == f"127.0.0.1:{inst.web_port}"
        assert len({inst.gateway_port, inst.web_port, duro.gateway_port, duro.web_port}) == 4
        assert c["warehouse"]["dbname"] == db and c["catalog"]["publish"] == "off"
        assert c["catalog"]["url"].endswith("/" + inst.catalog.dbname)
    assert shared.catalog.dbname == name and own.catalog.dbname not in (name, db)
    assert own.catalog.dbname in databases(pg)
    conf_b, cat_b, port_b = duro.another_conf("b")
    assert cat_b.dbname not in (name, own.catalog.dbname) and f":{port_b}" in conf_b.read_text()

    duro.close()
    assert not databases(pg) & {name, own.catalog.dbname, cat_b.dbname}
    assert db in databases(pg)


def test_catalog_sql_is_translated_for_postgresql():
    from conftest import pg_params, set_conf_keys

    assert pg_params('select * from runs where "view" = ? and id > ? order by id', ("a.b", 3)) == (
        'select * from runs where "view" = %s and id > %s order by id', ["a.b", 3])
    assert pg_params("select '?', \"a?b\", 'it''s ?' , ?2, ?1, ?", (1, 2)) == (
        "select '?', \"a?b\", 'it''s ?' , %s, %s, %s", [2, 1, 2])
    assert pg_params("select 100 % 7, '50%' where x like 'a%'") == (
        "select 100 %% 7, '50%%' where x like 'a%%'", [])
    text = "# c\n\n[gateway]\nlisten = 127.0.0.1:1\n\n[catalog]\npath = /x.db\npublish = off\n"
    assert set_conf_keys(text, {"gateway": {"listen": "127.0.0.1:2"},
                                "catalog": {"path": None, "url": "postgresql://h/d"},
                                "web": {"listen": "127.0.0.1:3"}}) == (
        "# c\n\n[gateway]\nlisten = 127.0.0.1:2\n\n[catalog]\npublish = off\n"
        "url = postgresql://h/d\n\n[web]\nlisten = 127.0.0.1:3\n")
