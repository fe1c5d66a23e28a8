"""A throwaway PostgreSQL 15 cluster, shared by the end-to-end tests, the benchmarks and the demo:
initdb + pg_ctl in a temporary directory (as the postgres OS user, through runuser, when we are
root), trust authentication, TCP on 127.0.0.1 at a free port, its socket inside the directory, no
fsync. Also a free port, an environment with nothing of the caller's PostgreSQL or Duro settings,
and the reaping of clusters left behind by a process that was killed outright.

Not a way to run a PostgreSQL that keeps data: everything here is made to be thrown away.

    cluster = Cluster()              # or Cluster(workdir): the cluster lives in workdir/pg
    cluster.start()
    cluster.sql("create database x")
    with cluster.connect("x") as conn: ...
    cluster.stop()                   # stops the server and removes the directory it made
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_OS_USER = "postgres"  # the OS user the server runs as when we are root
SUPERUSER = "postgres"  # the cluster's superuser (trust authentication, no password)
TMP_PREFIX = "duro-pg-"  # the temporary directories Cluster() makes, and reap_orphans() scans

# The server settings every cluster starts with; Cluster(settings=...) adds or overrides.
BASE_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": 200,
    "shared_buffers": "32MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": 0,
    "checkpoint_timeout": "1h",
    "lc_messages": "C",
    "timezone": "UTC",
    "log_timezone": "UTC",
}
# What the benchmarks add: room for a million-row table and pgbench without checkpoints mid-run.
BENCH_SETTINGS = {"shared_buffers": "256MB", "max_wal_size": "4GB"}


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_root():
    return os.geteuid() == 0


def clean_env(extra=None):
    """The environment for child processes: ours without DURO_* and PG* (a developer's shell must
    not leak a password or a host into a test or a measurement), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DURO_", "PG"))}
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


def as_pg_user(argv):
    """argv run as the postgres OS user when we are root (PostgreSQL refuses root), else as is."""
    if is_root():
        return ["runuser", "-u", PG_OS_USER, "--", *argv]
    return argv


def give_to_pg_user(path):
    """Makes path the postgres OS user's when we are root; nothing otherwise."""
    if is_root():
        pw = pwd.getpwnam(PG_OS_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _conf_value(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _pid_namespace():
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _pid_alive(pid):
    """True when pid exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _kill_postmaster(datadir):
    try:
        pid = int((Path(datadir) / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass


class Cluster:
    """One PostgreSQL cluster. Cluster() makes a temporary directory of its own (removed by stop);
    Cluster(workdir) lives in workdir/pg and leaves the files to whoever owns workdir. label names
    the cluster in postgresql.conf; settings add to or override BASE_SETTINGS."""

    superuser = SUPERUSER

    def __init__(self, workdir=None, max_connections=None, label="duro", settings=None):
        self.host = "127.0.0.1"
        self.port = None  # chosen by start()
        self._owns_dir = workdir is None
        if self._owns_dir:
            self.dir = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
        else:
            # The server must be able to reach its directory through workdir.
            give_to_pg_user(workdir)
            self.dir = Path(workdir) / "pg"
            self.dir.mkdir()
        self.datadir = self.dir / "data"
        self.sockdir = self.dir / "sock"
        self.log_path = self.dir / "postgres.log"
        self.hba_path = self.datadir / "pg_hba.conf"
        self.label = label
        self.settings = dict(BASE_SETTINGS, **(settings or {}))
        if max_connections is not None:
            self.settings["max_connections"] = max_connections
        self._started = False
        self._stopped = False
        # Lets a later process reap this cluster if this one is killed outright.
        (self.dir / "owner").write_text(f"{os.getpid()} {_pid_namespace()}\n")
        self.sockdir.mkdir()
        give_to_pg_user(self.dir)
        give_to_pg_user(self.sockdir)

    def run(self, *argv, timeout=120, check=True):
        """Runs one of PostgreSQL's programs (argv[0] in PG_BIN) as the cluster's OS user, in its
        directory. Returns the CompletedProcess; with check, raises RuntimeError (with the output
        and the server log) when it fails."""
        cmd = as_pg_user([str(PG_BIN / argv[0]), *map(str, argv[1:])])
        proc = subprocess.run(cmd, cwd=self.dir, env=clean_env({"LC_ALL": "C"}),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}"
                               f"{proc.stderr}\n{self.logs()}")
        return proc

    def start(self):
        """initdb, then pg_ctl start on a free port; returns when the server accepts connections.
        Raises RuntimeError when either fails."""
        self.port = free_port()
        self.run("initdb", "-D", self.datadir, "-A", "trust", "-U", self.superuser,
                 "-E", "UTF8", "--locale=C", "--no-sync")
        settings = dict(self.settings, port=self.port, unix_socket_directories=str(self.sockdir))
        conf = "".join(f"{k} = {_conf_value(v)}\n" for k, v in settings.items())
        # Appending (even as root) keeps the file's owner, postgres.
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write(f"\n# {self.label}\n" + conf)
        self._started = True
        self.run("pg_ctl", "-D", self.datadir, "-l", self.log_path, "-w", "-t", "60", "start")

    def stop(self):
        """Stops the server (SIGKILL when a fast shutdown fails) and removes the directory the
        cluster made. Safe to call twice and from atexit."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._started and (self.datadir / "postmaster.pid").exists():
                proc = self.run("pg_ctl", "-D", self.datadir, "-m", "fast", "-w", "-t", "30",
                                "stop", check=False, timeout=60)
                if proc.returncode != 0:
                    _kill_postmaster(self.datadir)
        finally:
            if self._owns_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def reload(self):
        """Re-reads postgresql.conf and pg_hba.conf (after an edit of hba_path)."""
        self.sql("select pg_reload_conf()")

    def logs(self):
        """The server log so far ("" when there is none)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def dsn(self, dbname="postgres", user=None):
        """A libpq connection string (TCP, trust auth, no password)."""
        return f"host={self.host} port={self.port} dbname={dbname} user={user or self.superuser}"

    def connect(self, dbname="postgres", **kw):
        """A psycopg connection, autocommit unless autocommit=False is passed. Keyword arguments
        are connection parameters (user, password, ...)."""
        params = {"host": self.host, "port": self.port, "dbname": dbname,
                  "user": self.superuser, "connect_timeout": 10}
        autocommit = kw.pop("autocommit", True)
        params.update(kw)
        return psycopg.connect(autocommit=autocommit, **params)

    def sql(self, text, params=None, dbname="postgres", user=None):
        """Runs one statement; returns its rows (a list of tuples) or None when it has none."""
        with self.connect(dbname, user=user or self.superuser) as conn:
            cur = conn.execute(text, params)
            return cur.fetchall() if cur.description else None

    def version(self):
        """The server's version, e.g. "15.8 (Debian 15.8-0+deb12u1)"."""
        return self.sql("show server_version")[0][0]


def reap_orphans():
    """Stops and removes the clusters of Cluster() left behind by processes that were killed
    outright (SIGKILL): those whose owner, in our pid namespace, no longer exists."""
    ns = _pid_namespace()
    for d in Path(tempfile.gettempdir()).glob(TMP_PREFIX + "*"):
        try:
            pid_text, owner_ns = (d / "owner").read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            continue
        if owner_ns != ns or _pid_alive(pid):
            continue
        if (d / "data" / "postmaster.pid").exists():
            cmd = as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(d / "data"),
                              "-m", "immediate", "-w", "stop"])
            try:
                subprocess.run(cmd, cwd=d, capture_output=True, timeout=60, env=clean_env())
            except (OSError, subprocess.TimeoutExpired):
                _kill_postmaster(d / "data")
        shutil.rmtree(d, ignore_errors=True)
