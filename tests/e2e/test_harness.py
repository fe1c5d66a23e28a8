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
    assert Path(conf["catalog"]["path"]).parent == tmp_path
    assert conf["gateway"]["listen"] == f"127.0.0.1:{duro.gateway_port}"
    assert conf["web"]["listen"] == ""
    assert conf["worker"]["concurrency"] == "3"
    assert not conf.has_section("slack") or "log_webhook" not in conf["slack"]
    # The warehouse it names accepts the connection duro would make.
    with pg.connect(dbname=conf["warehouse"]["dbname"], user=conf["warehouse"]["user"]) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == db
