"""What the benchmarks share: a throwaway PostgreSQL 15 cluster (initdb + pg_ctl in a temp dir,
run as the postgres OS user when we are root, trust auth, TCP on 127.0.0.1, no fsync), a free
port, and an environment with nothing of the caller's PostgreSQL or Duro settings in it."""

import os
import pwd
import socket
import subprocess
from pathlib import Path

import psycopg

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_OS_USER = "postgres"
SUPERUSER = "postgres"


def clean_env(extra=None):
    """Our environment without DURO_* and PG* (nothing of the caller's may leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DURO_", "PG"))}
    env.update(extra or {})
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """initdb + pg_ctl in workdir/pg: trust auth, TCP on 127.0.0.1, no fsync."""

    def __init__(self, workdir, max_connections=50, label="bench"):
        self.dir = Path(workdir) / "pg"
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.max_connections = max_connections
        self.label = label
        self.started = False
        self.sock.mkdir(parents=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(PG_OS_USER)
            for p in (Path(workdir), self.dir, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)

    def _run(self, *argv, check=True):
        cmd = [str(PG_BIN / argv[0]), *map(str, argv[1:])]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", PG_OS_USER, "--", *cmd]
        p = subprocess.run(cmd, cwd=self.dir, env=clean_env({"LC_ALL": "C"}),
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stdout}{p.stderr}")
        return p

    def start(self):
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
                  "--locale=C", "--no-sync")
        settings = {
            "listen_addresses": "'127.0.0.1'", "port": self.port,
            "unix_socket_directories": f"'{self.sock}'",
            "max_connections": self.max_connections,
            "shared_buffers": "'256MB'", "fsync": "off", "synchronous_commit": "off",
            "full_page_writes": "off", "wal_level": "minimal", "max_wal_senders": 0,
            "checkpoint_timeout": "'1h'", "max_wal_size": "'4GB'", "lc_messages": "'C'",
            "timezone": "'UTC'",
        }
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"\n# {self.label}\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        self.started = True
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")

    def stop(self):
        if self.started and (self.data / "postmaster.pid").exists():
            self.started = False
            self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop",
                      check=False)

    def connect(self, dbname="postgres"):
        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=dbname,
                               autocommit=True)

    def version(self):
        with self.connect() as conn:
            return conn.execute("show server_version").fetchone()[0]
