"""End-to-end fixtures: a throwaway PostgreSQL 15 cluster for the whole session (`pg`), a fresh
database per test (`db`, `db_factory`), and a helper that writes a duro.conf pointing at them and
runs or starts the duro binary (`duro`). For the refresh engine: `wh` (the test's database loaded
with examples/sampledata.py, with helpers), `example_repo` (examples/views without the Python processor),
`duro.catalog` (the catalog, as dicts), `duro.refresh(...)` and `wait_until`.

The binary is $DURO_BIN (set by `make e2e`), else <repo>/duro. Run with Debian's
/usr/bin/python3 -m pytest; the cluster is tools/pgcluster.py's (PostgreSQL 15).

The catalog: SQLite (`[catalog] path`, a file in the test's tmp_path) by default; with
DURO_TEST_CATALOG=postgres (`make e2e-pg`) each Duro gets a database of its own on the session
cluster (`[catalog] url = postgresql://...`, created when first needed, dropped after the test),
and `duro.catalog` runs the same queries there. Tests that are about the SQLite file itself are
marked `sqlite_only` and deselected in that mode (listed at the end of the run).
"""

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

REPO = Path(__file__).resolve().parents[2]
# examples/sampledata.py: the sample warehouse data the example repository reads.
sys.path.insert(0, str(REPO / "examples"))
# tools/pgcluster.py: the throwaway PostgreSQL cluster (shared with the benchmarks and the demo).
sys.path.insert(0, str(REPO / "tools"))
from pgcluster import PG_BIN, SUPERUSER, Cluster, clean_env, free_port, reap_orphans  # noqa: E402

# The catalog backend of every Duro the tests start: "sqlite" (the default) or "postgres".
CATALOG_BACKENDS = ("sqlite", "postgres")
CATALOG_BACKEND = (os.environ.get("DURO_TEST_CATALOG") or "sqlite").strip().lower()


def _raise_on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def pg():
    """The session's PostgreSQL 15 cluster (a pgcluster.Cluster)."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"{PG_BIN}/initdb not found: install postgresql-15 (tools/install-deps)")
    # A plain SIGTERM would skip every finalizer; turn it into an interrupt pytest unwinds.
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_on_sigterm)
    reap_orphans()
    cluster = None
    try:
        cluster = Cluster()
        atexit.register(cluster.stop)
        cluster.start()
        yield cluster
    finally:
        if cluster:
            cluster.stop()


@pytest.fixture
def db_factory(pg):
    """Creates fresh databases on demand (db_factory() -> name); drops them after the test."""
    created = []

    def make():
        name = "t_" + uuid.uuid4().hex[:12]
        pg.sql(f'create database "{name}"')
        created.append(name)
        return name

    yield make
    for name in created:
        # FORCE: a daemon or a leaked connection may still be attached.
        pg.sql(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def db(db_factory):
    """The name of a database of this test's own, dropped afterwards."""
    return db_factory()


# -- the duro binary -----------------------------------------------------------------------------


def duro_bin():
    return Path(os.environ.get("DURO_BIN") or REPO / "duro")


class DuroProcess:
    """A `duro serve` started in the background; its stdout and stderr go to one log file."""

    def __init__(self, argv, log_path, env, cwd):
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env, cwd=cwd)

    @property
    def pid(self):
        return self.proc.pid

    @property
    def returncode(self):
        return self.proc.poll()

    def running(self):
        return self.proc.poll() is None

    def logs(self):
        """Everything the process wrote so far (stdout and stderr interleaved)."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_bytes().decode(errors="replace")

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_listening(self, port, timeout=15, host="127.0.0.1"):
        """Waits until host:port accepts TCP connections; fails early if the process exits."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                raise AssertionError(f"duro exited with {self.returncode} before listening on "
                                     f"{host}:{port}:\n{self.logs()}")
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"duro is not listening on {host}:{port} after {timeout}s:"
                                     f"\n{self.logs()}")
            time.sleep(0.05)

    def wait(self, timeout=30):
        return self.proc.wait(timeout)

    def stop(self, grace=10):
        """SIGTERM, then SIGKILL after grace seconds. Returns the exit status (negative for a
        signal, as in subprocess)."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


class InstanceConf:
    """Another instance's duro.conf (Duro.instance_conf): its path, its catalog (a Catalog or
    PgCatalog), its gateway port and its web port (None when the web UI is off)."""

    def __init__(self, name, conf, catalog, gateway_port, web_port):
        self.name = name
        self.conf = conf
        self.catalog = catalog
        self.gateway_port = gateway_port
        self.web_port = web_port

    def __repr__(self):
        return (f"InstanceConf({self.name!r}, gateway {self.gateway_port}, "
                f"web {self.web_port})")


def set_conf_keys(text, changes):
    """duro.conf text with keys set: changes is {section: {key: value}} (value None removes the
    key); a key not in its section is added at the section's end, a missing section at the end
    of the text."""
    lines = text.splitlines()
    out, section, done = [], None, set()

    def flush(sec):
        for k, v in (changes.get(sec) or {}).items():
            if (sec, k) not in done and v is not None:
                out.append(f"{k} = {v}")
            done.add((sec, k))

    for line in lines:
        m = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if m:
            # The keys this section lacks go before the blank lines that end it.
            blanks = []
            while out and not out[-1].strip():
                blanks.append(out.pop())
            flush(section)
            out += blanks
            section = m[1].strip()
            out.append(line)
            continue
        m = re.match(r"^\s*([A-Za-z0-9_]+)\s*=", line)
        if m and section in changes and m[1] in changes[section]:
            key = m[1]
            value = changes[section][key]
            if (section, key) not in done and value is not None:
                out.append(f"{key} = {value}")
            done.add((section, key))
            continue
        out.append(line)
    flush(section)
    for sec, values in changes.items():
        missing = {k: v for k, v in values.items() if (sec, k) not in done and v is not None}
        if missing:
            out += ["", f"[{sec}]"] + [f"{k} = {v}" for k, v in missing.items()]
    return "\n".join(out) + "\n"


class Duro:
    """Writes a duro.conf into the test's tmp_path and runs the binary against it.

    Its catalog is CATALOG_BACKEND's (see the module's docstring) unless use_pg_catalog() is
    called before write_conf: then a database of its own on the given cluster."""

    def __init__(self, request, tmp_path):
        self._request = request
        self.tmp_path = tmp_path
        self.bin = duro_bin()
        self.conf_path = tmp_path / "duro.conf"
        self.gateway_port = None
        self.web_port = None
        self.processes = []
        self.catalog_backend = CATALOG_BACKEND
        self._catalog_cluster = None  # None: the session cluster
        self._catalog_db = None  # the database of the catalog write_conf configures
        self._catalog_dbs = []  # (cluster, database) of every catalog database made

    def use_pg_catalog(self, cluster=None):
        """Makes this Duro's catalogs PostgreSQL databases on cluster (default: the session
        cluster, the one of the warehouse), whatever DURO_TEST_CATALOG says. Call it before
        write_conf."""
        assert self._catalog_db is None, "use_pg_catalog() after the catalog was made"
        self.catalog_backend = "postgres"
        self._catalog_cluster = cluster

    @property
    def pg_catalog(self):
        """Whether this Duro's catalog is a PostgreSQL database."""
        return self.catalog_backend == "postgres"

    @property
    def catalog_cluster(self):
        """The cluster of the PostgreSQL catalogs (the session cluster unless use_pg_catalog
        named another)."""
        return self._catalog_cluster or self.pg

    def new_catalog_db(self):
        """A fresh, empty database on catalog_cluster, dropped after the test: its name."""
        cluster = self.catalog_cluster
        name = "c_" + uuid.uuid4().hex[:12]
        cluster.sql(f'create database "{name}"')
        self._catalog_dbs.append((cluster, name))
        return name

    def catalog_db(self):
        """The database of the catalog write_conf configures (made on first use)."""
        assert self.pg_catalog, "the catalog is SQLite"
        if self._catalog_db is None:
            self._catalog_db = self.new_catalog_db()
        return self._catalog_db

    def catalog_url(self, dbname=None):
        """The `[catalog] url` of a catalog database (default: catalog_db()): the cluster's
        superuser, trust authentication, no password."""
        cluster = self.catalog_cluster
        return (f"postgresql://{cluster.superuser}@{cluster.host}:{cluster.port}/"
                f"{dbname or self.catalog_db()}")

    def _catalog_keys(self, dbname=None, file=None):
        """The [catalog] keys that say where a catalog is: url (PostgreSQL) or path (SQLite,
        tmp_path/<file>, default duro.db)."""
        if self.pg_catalog:
            return {"url": self.catalog_url(dbname)}
        return {"path": str(self.tmp_path / (file or "duro.db"))}

    def _catalog_of(self, dbname=None, file=None):
        if self.pg_catalog:
            return PgCatalog(self.catalog_cluster, dbname or self.catalog_db())
        return Catalog(self.tmp_path / (file or "duro.db"))

    def _check_bin(self):
        if not self.bin.exists():
            pytest.fail(f"duro binary not found at {self.bin}: run `make` or set DURO_BIN")

    @property
    def pg(self):
        # Requested lazily: tests that only run `duro check` need no cluster.
        return self._request.getfixturevalue("pg")

    def write_conf(self, dbname="postgres", views="views", user=None, web=False, **sections):
        """Writes tmp_path/duro.conf: the warehouse is the session cluster's dbname (as user,
        default its superuser), views the repository path (relative = under tmp_path), the
        catalog tmp_path/duro.db (SQLite, `path`) or a database of this Duro's own (PostgreSQL,
        `url`; see use_pg_catalog), the gateway on a free port (self.gateway_port), the web UI
        off unless web=True (then on self.web_port). More keys as sections, e.g.
        worker={"poll": "1s"}; a value None removes the key; views may be a dict of the [views]
        section's keys (its path among them). Returns the path."""
        views_keys = dict(views) if isinstance(views, dict) else {"path": str(views)}
        pg = self.pg
        self.gateway_port = free_port()
        self.web_port = free_port() if web else None
        conf = {
            "gateway": {"listen": f"127.0.0.1:{self.gateway_port}"},
            "warehouse": {"dialect": "postgres", "host": pg.host, "port": pg.port,
                          "dbname": dbname, "user": user or pg.superuser, "sslmode": "disable"},
            "views": {"rescan": "1s", **views_keys},
            # Publishing duro.status/duro.runs in the warehouse is on by default; the tests
            # that are not about it keep the warehouse as they made it (test_publish.py turns
            # it on).
            "catalog": {**self._catalog_keys(), "publish": "off"},
            "worker": {"poll": "1s", "concurrency": 2},
            "web": {"listen": f"127.0.0.1:{self.web_port}" if web else ""},
        }
        for section, values in sections.items():
            conf.setdefault(section, {}).update(values)
        lines = ["# written by tests/e2e/conftest.py"]
        for section, values in conf.items():
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {v}" for k, v in values.items() if v is not None]
        self.conf_path.write_text("\n".join(lines) + "\n")
        return self.conf_path

    def run(self, *args, check=None, timeout=60, env=None, input=None, cwd=None):
        """Runs duro with args (str() of each) and waits. check=None accepts any exit status,
        True requires 0, an int requires that status. Returns the CompletedProcess (text)."""
        self._check_bin()
        argv = [str(self.bin), *map(str, args)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=clean_env(env), input=input,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              cwd=cwd or self.tmp_path)
        want = 0 if check is True else check
        if want is not None and want is not False and proc.returncode != want:
            raise AssertionError(f"{' '.join(argv)} exited with {proc.returncode}, expected "
                                 f"{want}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}")
        return proc

    def start(self, *args, conf=None, env=None):
        """Starts `duro serve -c CONF [args...]` in the background (CONF: the written duro.conf
        unless given). The process is stopped at the end of the test."""
        self._check_bin()
        conf = conf or self.conf_path
        n = len(self.processes) + 1
        argv = [str(self.bin), "serve", "-c", str(conf), *map(str, args)]
        if sanitized(self.bin) and "ASAN_OPTIONS" not in os.environ:
            # AddressSanitizer keeps 256 MB of freed memory from reuse by default, which
            # measures its quarantine, not Duro: tests of Duro's memory need it small.
            env = {"ASAN_OPTIONS": "quarantine_size_mb=4:allocator_release_to_os_interval_ms=100", **(env or {})}
        p = DuroProcess(argv, self.tmp_path / f"duro-serve-{n}.log", clean_env(env),
                        self.tmp_path)
        self.processes.append(p)
        return p

    def another_conf(self, name):
        """A copy of the written duro.conf with a catalog and a gateway port of its own, for a
        second instance on the same warehouse: (conf path, Catalog, gateway port)."""
        inst = self.instance_conf(name, shared_catalog=False)
        return inst.conf, inst.catalog, inst.gateway_port

    def instance_conf(self, name, shared_catalog=True):
        """A copy of the written duro.conf (tmp_path/<name>.conf) for another instance: a gateway
        port of its own, a web port of its own when the web UI is on, and the same catalog
        (shared_catalog, for a catalog in PostgreSQL) or one of its own. An InstanceConf."""
        port = free_port()
        web_port = free_port() if self.web_port else None
        changes = {"gateway": {"listen": f"127.0.0.1:{port}"}}
        if web_port:
            changes["web"] = {"listen": f"127.0.0.1:{web_port}"}
        if shared_catalog:
            catalog = self.catalog
        elif self.pg_catalog:
            dbname = self.new_catalog_db()
            changes["catalog"] = self._catalog_keys(dbname)
            catalog = self._catalog_of(dbname)
        else:
            changes["catalog"] = self._catalog_keys(file=f"{name}.db")
            catalog = self._catalog_of(file=f"{name}.db")
        conf = self.tmp_path / f"{name}.conf"
        conf.write_text(set_conf_keys(self.conf_path.read_text(), changes))
        return InstanceConf(name, conf, catalog, port, web_port)

    @property
    def catalog(self):
        """The catalog write_conf configures: a Catalog (tmp_path/duro.db) or a PgCatalog."""
        return self._catalog_of()

    def refresh(self, *views, tree=False, check=None, env=None, timeout=120, conf=None):
        """Runs `duro refresh -c CONF [--tree] VIEW...` (CONF: the written duro.conf unless
        given); check as in run()."""
        args = ["refresh", "-c", conf or self.conf_path]
        if tree:
            args.append("--tree")
        return self.run(*args, *views, check=check, env=env, timeout=timeout)

    def close(self):
        for p in self.processes:
            was_running = p.running()
            status = p.stop(grace=5)
            tail = "\n".join(p.logs().splitlines()[-200:])
            # Shown by pytest when the test fails.
            print(f"--- {' '.join(p.argv)} (pid {p.pid}, {'stopped' if was_running else 'exited'}"
                  f" with {status}); last log lines:\n{tail}")
        for cluster, name in self._catalog_dbs:
            try:
                # FORCE: a `duro refresh` or a leaked connection may still be attached.
                cluster.sql(f'drop database if exists "{name}" with (force)')
            except psycopg.OperationalError as e:  # a cluster a test stopped: thrown away
                print(f"--- catalog database {name} not dropped: {e}")
        self._catalog_dbs = []


@pytest.fixture
def duro(request, tmp_path):
    """A Duro helper for this test; every process it started is stopped afterwards."""
    helper = Duro(request, tmp_path)
    try:
        yield helper
    finally:
        helper.close()


# -- the refresh engine: the warehouse's sample data, the catalog, waiting --------------------

EXAMPLES = REPO / "examples" / "views"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: takes a minute or more (deselect with -m 'not slow')")
    config.addinivalue_line(
        "markers", "sqlite_only(reason): about the SQLite catalog file itself; deselected when "
        "DURO_TEST_CATALOG=postgres")
    if CATALOG_BACKEND not in CATALOG_BACKENDS:
        raise pytest.UsageError(f"DURO_TEST_CATALOG={CATALOG_BACKEND!r}: expected one of "
                                f"{', '.join(CATALOG_BACKENDS)}")


# (node id, reason) of the SQLite-only tests deselected in this run.
_SQLITE_ONLY_DESELECTED = []


def pytest_collection_modifyitems(config, items):
    """With a catalog in PostgreSQL, the tests marked sqlite_only are deselected (not skipped):
    they are not about Duro on that backend at all."""
    if CATALOG_BACKEND != "postgres":
        return
    keep, drop = [], []
    for item in items:
        mark = item.get_closest_marker("sqlite_only")
        if mark is None:
            keep.append(item)
            continue
        reason = mark.args[0] if mark.args else mark.kwargs.get("reason", "")
        drop.append(item)
        _SQLITE_ONLY_DESELECTED.append((item.nodeid, reason))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter):
    if _SQLITE_ONLY_DESELECTED:
        terminalreporter.write_sep("=", f"{len(_SQLITE_ONLY_DESELECTED)} deselected: SQLite-only "
                                        "(DURO_TEST_CATALOG=postgres)")
        for nodeid, reason in _SQLITE_ONLY_DESELECTED:
            terminalreporter.write_line(f"{nodeid}: {reason}")


def wait_until(predicate, timeout, what, proc=None, interval=0.05):
    """Calls predicate() until it returns something truthy, and returns that. Fails after
    timeout seconds with `what` (and proc's log when given), or at once when proc exited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and not proc.running():
            raise AssertionError(f"duro exited with {proc.returncode} while waiting for {what}:"
                                 f"\n{proc.logs()}")
        if time.monotonic() > deadline:
            logs = f"\n--- duro log:\n{proc.logs()}" if proc is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{logs}")
        time.sleep(interval)


_SANITIZED = {}


def sanitized(binary):
    """Whether binary was built with AddressSanitizer (make asan)."""
    key = str(binary)
    if key not in _SANITIZED:
        _SANITIZED[key] = b"__asan_init" in Path(binary).read_bytes()
    return _SANITIZED[key]


def write_atomic(path, text):
    """Replaces a repository file in one rename, so a re-scan never reads half of it (the
    temporary name is hidden, which the repository loader ignores)."""
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path)


def built(catalog, views):
    """Every view is in the catalog, built from its current definition, and none is running."""
    rows = catalog.views()
    if not all(v in rows and rows[v]["built_hash"] == rows[v]["hash"] for v in views):
        return False
    return not any(r["outcome"] == "running" for r in catalog.runs())


@pytest.fixture(name="wait_until")
def wait_until_fixture():
    """The wait_until function, for tests."""
    return wait_until


class _CatalogQueries:
    """What a test reads and changes in a catalog, over query() and execute() of a backend."""

    # How run_steps rows of one start are put in the order they were recorded.
    _INSERT_ORDER = "rowid"

    def runs(self, view=None):
        """Runs oldest first (by id), optionally of one view."""
        if view is None:
            return self.query("select * from runs order by id")
        return self.query('select * from runs where "view" = ? order by id', (view,))

    def steps(self, run_id):
        """The steps of a run in the order they were recorded."""
        return self.query("select * from run_steps where run_id = ? "
                          f"order by started_us, {self._INSERT_ORDER}", (run_id,))

    def view(self, name):
        rows = self.query("select * from views where name = ?", (name,))
        return rows[0] if rows else None

    def views(self):
        return {r["name"]: r for r in self.query("select * from views order by name")}

    def age(self, *names, seconds=2 * 3600):
        """Moves the last successful build of each view `seconds` into the past: how tests make
        a view stale by its interval without waiting for it."""
        for name in names:
            n = self.execute("update views set last_success_us = last_success_us - ? "
                             "where name = ? and last_success_us is not null",
                             (int(seconds * 1_000_000), name))
            assert n == 1, f"{name} has no successful build in the catalog to age"


class Catalog(_CatalogQueries):
    """Duro's SQLite catalog seen from a test: rows as dicts, read with a fresh connection each
    time (duro writes it concurrently; WAL lets us read). A missing file or a schema not yet
    created reads as empty. SQL as SQLite takes it (`?` parameters)."""

    backend = "sqlite"

    def __init__(self, path):
        self.path = Path(path)

    def _connect(self):
        return sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, timeout=10,
                               isolation_level=None)

    def query(self, text, params=()):
        if not self.path.exists():
            return []
        conn = self._connect()
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(text, params).fetchall()]
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return []
            raise
        finally:
            conn.close()

    def execute(self, text, params=()):
        """Runs one writing statement; returns the number of rows it changed."""
        conn = self._connect()
        try:
            return conn.execute(text, params).rowcount
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self):
        """A transaction, committed at the end of the block (rolled back on an exception): an
        object whose execute(text, params) returns the statement's rows as dicts (INSERT ...
        RETURNING id for the id of a new row)."""
        conn = self._connect()
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("BEGIN")
            yield _SqliteTx(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()


class _SqliteTx:
    def __init__(self, conn):
        self._conn = conn

    def execute(self, text, params=()):
        return [dict(r) for r in self._conn.execute(text, params).fetchall()]


def pg_params(text, params=()):
    """SQLite's SQL with `?` and `?N` parameters as psycopg takes it: (text with %s, the
    parameters in that order). `%` is doubled; quoted strings and names are left alone."""
    out, values, i, n, next_index = [], [], 0, len(text), 0
    params = list(params or ())
    while i < n:
        c = text[i]
        if c in "'\"":
            j = i + 1
            while j < n:
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:  # a doubled quote
                        j += 2
                        continue
                    break
                j += 1
            out.append(text[i:j + 1].replace("%", "%%"))
            i = j + 1
        elif c == "?":
            j = i + 1
            while j < n and text[j].isdigit():
                j += 1
            index = int(text[i + 1:j]) - 1 if j > i + 1 else next_index
            next_index = index + 1
            values.append(params[index])
            out.append("%s")
            i = j
        elif c == "%":
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out), values


class PgCatalog(_CatalogQueries):
    """Duro's catalog in a PostgreSQL database seen from a test, with the API of Catalog: the
    same SQL (`?` parameters are translated), rows as dicts, a fresh connection each time. A
    schema not yet created reads as empty."""

    backend = "postgres"
    path = None  # no file
    # No rowid: the physical order of an append-only table.
    _INSERT_ORDER = "ctid"

    def __init__(self, cluster, dbname):
        self.cluster = cluster
        self.dbname = dbname

    def connect(self, **kw):
        """A psycopg connection to the catalog database (autocommit, rows as dicts)."""
        return self.cluster.connect(self.dbname, row_factory=dict_row, **kw)

    def query(self, text, params=()):
        sql, values = pg_params(text, params)
        try:
            with self.connect() as conn:
                cur = conn.execute(sql, values)
                return cur.fetchall() if cur.description else []
        except psycopg.errors.UndefinedTable:
            return []

    def execute(self, text, params=()):
        """Runs one writing statement; returns the number of rows it changed."""
        sql, values = pg_params(text, params)
        with self.connect() as conn:
            return conn.execute(sql, values).rowcount

    @contextlib.contextmanager
    def transaction(self):
        """As Catalog.transaction."""
        with self.connect() as conn:
            with conn.transaction():
                yield _PgTx(conn)


class _PgTx:
    def __init__(self, conn):
        self._conn = conn

    def execute(self, text, params=()):
        sql, values = pg_params(text, params)
        cur = self._conn.execute(sql, values)
        return cur.fetchall() if cur.description else []


class Warehouse:
    """One test database seen from the test, as the cluster's superuser."""

    def __init__(self, pg, dbname):
        self.pg = pg
        self.dbname = dbname

    def connect(self, **kw):
        return self.pg.connect(dbname=self.dbname, **kw)

    def sql(self, text, params=None):
        return self.pg.sql(text, params, dbname=self.dbname)

    def exists(self, table):
        return self.sql("select to_regclass(%s) is not null", (table,))[0][0]

    def rows(self, table_or_query):
        """Every row of a table (or of a query, when it starts with select), sorted."""
        q = table_or_query
        if not q.lstrip().lower().startswith(("select", "with")):
            q = f"select * from {q}"
        return sorted(self.sql(q), key=lambda r: tuple((v is None, str(v)) for v in r))

    def count(self, table):
        return self.sql(f"select count(*) from {table}")[0][0]

    def leftovers(self):
        """Duro's working tables left in the database: schema.table of every *_duro_temp and
        *_duro_old relation."""
        rows = self.sql(
            "select n.nspname || '.' || c.relname from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where c.relname like '%%\\_duro\\_temp' or c.relname like '%%\\_duro\\_old' "
            "order by 1")
        return [r[0] for r in rows]

    def can_select(self, role, table):
        return self.sql("select has_table_privilege(%s, %s, 'SELECT')", (role, table))[0][0]


@pytest.fixture
def wh(pg, db):
    """The test's database loaded with examples/sampledata.py (roles, schemas, raw tables)."""
    import sampledata

    with pg.connect(dbname=db) as conn:
        sampledata.load(conn)
    return Warehouse(pg, db)


@pytest.fixture
def example_repo(tmp_path):
    """tmp_path/views: a copy of examples/views without the Python processor first.countries,
    for the tests of SQL views (test_processor.py builds the whole example)."""
    dst = tmp_path / "views"
    shutil.copytree(EXAMPLES, dst, ignore=shutil.ignore_patterns("countries*"))
    return dst


@pytest.fixture
def full_repo(tmp_path):
    """tmp_path/views: a copy of the whole of examples/views, its Python processor included."""
    dst = tmp_path / "views"
    shutil.copytree(EXAMPLES, dst)
    return dst


REPORT_LINE = re.compile(r"^(?P<view>[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*): (?P<rest>.*)$")


def report(stdout, strict=True):
    """duro refresh's stdout as {view: what follows 'view: '}. strict: every line must be a view
    line and no view may appear twice; else lines that are not (the rest of a multi-line error)
    are skipped."""
    out = {}
    for line in stdout.splitlines():
        m = REPORT_LINE.match(line)
        if not m and not strict:
            continue
        assert m, f"unexpected line in duro refresh's output: {line!r}\n{stdout}"
        assert m["view"] not in out, f"{m['view']} reported twice:\n{stdout}"
        out[m["view"]] = m["rest"]
    return out


# -- the gateway ---------------------------------------------------------------------------------

PSQL = PG_BIN / "psql"


class Gateway:
    """A running `duro serve` seen as a PostgreSQL server: its gateway port, and helpers that
    connect through it the way a user would (psycopg, psql)."""

    def __init__(self, duro, proc, dbname):
        self.duro = duro
        self.proc = proc
        self.host = "127.0.0.1"
        self.port = duro.gateway_port
        self.dbname = dbname

    def dsn(self, dbname=None, user=None, **params):
        """A libpq connection string to Duro (default: the test database, the superuser,
        sslmode=disable); more keyword parameters are added as they are."""
        p = {"host": self.host, "port": self.port, "dbname": dbname or self.dbname,
             "user": user or SUPERUSER, "sslmode": "disable", "connect_timeout": 10}
        p.update(params)
        return " ".join(f"{k}={v}" for k, v in p.items() if v is not None)

    def connect(self, **kw):
        """A psycopg connection through Duro, autocommit unless autocommit=False is passed."""
        params = {"host": self.host, "port": self.port, "dbname": self.dbname,
                  "user": SUPERUSER, "sslmode": "disable", "connect_timeout": 10}
        autocommit = kw.pop("autocommit", True)
        params.update(kw)
        return psycopg.connect(autocommit=autocommit, **params)

    def psql(self, *args, dsn=None, input=None, check=True, timeout=120, env=None):
        """Runs psql (-X, ON_ERROR_STOP) against Duro; returns the CompletedProcess (text).
        check=True requires exit status 0."""
        argv = [str(PSQL), "-X", "-v", "ON_ERROR_STOP=1", "-d", dsn or self.dsn(),
                *map(str, args)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              input=input, stdin=None if input is not None else subprocess.DEVNULL,
                              env=clean_env(env), cwd=self.duro.tmp_path)
        if check and proc.returncode != 0:
            raise AssertionError(f"psql exited with {proc.returncode}\n--- stdout\n{proc.stdout}"
                                 f"--- stderr\n{proc.stderr}--- duro log\n{self.proc.logs()}")
        return proc

    def logs(self):
        return self.proc.logs()


@pytest.fixture
def gateway_factory(duro, db, tmp_path):
    """Starts `duro serve` on the test database with an empty views repository and waits for
    its gateway: gateway_factory(**sections) -> Gateway, sections as in Duro.write_conf (e.g.
    gateway={"max_clients": 3}, warehouse={"sslmode": "require"})."""

    def start(dbname=None, env=None, **sections):
        views = tmp_path / "views"
        views.mkdir(exist_ok=True)
        duro.write_conf(dbname=dbname or db, views=views, **sections)
        proc = duro.start(env=env)
        proc.wait_listening(duro.gateway_port)
        return Gateway(duro, proc, dbname or db)

    return start


@pytest.fixture
def gateway(gateway_factory):
    """`duro serve` with its gateway on a free port, relaying to the test database."""
    return gateway_factory()


# -- pgjdbc ---------------------------------------------------------------------------------------

PGJDBC = Path("/usr/share/java/postgresql.jar")
JAVA_DIR = Path(__file__).resolve().parent / "java"


@pytest.fixture(scope="session")
def jdbc(tmp_path_factory):
    """Every program in tests/e2e/java compiled once (javac -Werror, against Debian's pgjdbc):
    the classpath to run them with."""
    for tool in ("javac", "java"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not found: install a JDK 17 (tools/install-deps)")
    if not PGJDBC.exists():
        pytest.fail(f"{PGJDBC} not found: install libpostgresql-jdbc-java (tools/install-deps)")
    out = tmp_path_factory.mktemp("jdbc")
    sources = sorted(str(p) for p in JAVA_DIR.glob("*.java"))
    proc = subprocess.run(["javac", "-Xlint:all", "-Werror", "-d", str(out), "-cp", str(PGJDBC),
                           *sources], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"javac failed:\n{proc.stdout}{proc.stderr}"
    return f"{out}:{PGJDBC}"


def run_jdbc(classpath, program, gateway, scenario, *args, user="postgres", password="",
             timeout=120, **params):
    """Runs one scenario of a tests/e2e/java program against the gateway's database; returns its
    output lines split on tabs (the final "done" line checked and dropped). Keyword arguments are
    added to the JDBC URL (e.g. prepareThreshold=3)."""
    query = {"sslmode": "disable", "connectTimeout": 10, "socketTimeout": 90,
             "ApplicationName": "duro-e2e", **params}
    url = (f"jdbc:postgresql://{gateway.host}:{gateway.port}/{gateway.dbname}?"
           + "&".join(f"{k}={v}" for k, v in query.items()))
    argv = ["java", "-Duser.timezone=UTC", "-cp", classpath, program, url, user, password,
            scenario, *map(str, args)]
    proc = subprocess.run(argv, capture_output=True, timeout=timeout)
    stdout = proc.stdout.decode("utf-8")
    stderr = proc.stderr.decode("utf-8", errors="replace")
    assert proc.returncode == 0, (f"{program} {scenario} exited with {proc.returncode}\n"
                                  f"--- stdout\n{stdout}--- stderr\n{stderr}"
                                  f"--- duro log\n{gateway.logs()}")
    lines = [line.split("\t") for line in stdout.splitlines()]
    assert lines and lines[-1] == ["done", scenario], stdout
    return lines[:-1]


def tagged(lines, tag):
    """The fields after the tag of every line with that tag."""
    return [line[1:] for line in lines if line[0] == tag]
