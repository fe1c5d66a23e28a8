"""A differential fuzzer of whole protocol-3 sessions: it generates sessions of frontend messages
(Query, Parse, Bind, Describe, Execute, Close, Flush, Sync) mixing Duro's SQL (duro.status,
duro.runs, CALL duro_refresh) with the warehouse's, runs each against PostgreSQL directly and
through Duro over raw sockets, and compares what the client sees: the sequence of message types,
SQLSTATEs, command tags, column shapes and transaction states.

PostgreSQL answers a query on duro.* with 42P01, so the direct database gets real tables of the
same name and shape (prepare_database: the shape is read from Duro's own Describe, so both sides
always agree on it) and a procedure duro_refresh that fails as Duro does for a view it does not
know. Duro serves an empty views repository: its duro.status and duro.runs have no rows, and
neither have the tables.

Sessions are seeded (session_for(seed, i)) and replayable; a session that differs is shrunk
(shrink) to a minimal one and can be written as a regression case (tests/difffuzz/cases/*.json),
which tests/e2e/test_difffuzz.py replays. Run as a program for a long run (make fuzz):
    python3 tests/difffuzz/difffuzz.py --duro build/duro --sessions 5000 --seed 1
"""
import argparse
import json
import random
import select
import socket
import struct
import sys
import time
from pathlib import Path

PROTOCOL_3 = 196608
CASES = Path(__file__).resolve().parent / "cases"
SESSION_TIMEOUT = 3.0  # seconds a session may take before it counts as hung (all is local)

# -- messages -------------------------------------------------------------------------------------
# A session is a list of messages, each a JSON-able list:
#   ["Q", sql]                          ["P", name, sql, [param type oids]]
#   ["B", portal, statement, [values: str or None], [result formats]]
#   ["D", "S" or "P", name]             ["E", portal, max_rows]
#   ["C", "S" or "P", name]             ["H"]                        ["S"]


def _cstr(s):
    return s.encode() + b"\0"


def _msg(kind, body=b""):
    return kind + struct.pack("!I", len(body) + 4) + body


def encode(m):
    """The bytes of one message."""
    k = m[0]
    if k == "Q":
        return _msg(b"Q", _cstr(m[1]))
    if k == "P":
        oids = m[3]
        return _msg(b"P", _cstr(m[1]) + _cstr(m[2]) + struct.pack("!h", len(oids))
                    + b"".join(struct.pack("!I", o) for o in oids))
    if k == "B":
        values, formats = m[3], m[4]
        body = _cstr(m[1]) + _cstr(m[2]) + struct.pack("!h", 0) + struct.pack("!h", len(values))
        for v in values:
            if v is None:
                body += struct.pack("!i", -1)
            else:
                body += struct.pack("!i", len(v.encode())) + v.encode()
        body += struct.pack("!h", len(formats)) + b"".join(struct.pack("!h", f) for f in formats)
        return _msg(b"B", body)
    if k in ("D", "C"):
        return _msg(k.encode(), m[1].encode() + _cstr(m[2]))
    if k == "E":
        return _msg(b"E", _cstr(m[1]) + struct.pack("!i", m[2]))
    if k in ("H", "S"):
        return _msg(k.encode())
    raise ValueError(f"unknown message {m!r}")


# -- the grammar ----------------------------------------------------------------------------------

# (sql, parameter values to bind it with): the warehouse's statements, valid and invalid.
WAREHOUSE = [
    ("select 1 as a", []),
    ("select g from generate_series(1, 5) g", []),
    ("select $1::int4 + 1 as a", [["1"], ["41"]]),
    ("select $1::text as t", [["x"], [None]]),
    ("select 1/0 as z", []),
    ("select * from fz_no_such_table", []),
    ("selec 1", []),
    ("begin", []),
    ("commit", []),
    ("rollback", []),
    ("", []),
]
# Duro's: duro.status, duro.runs and duro_refresh, valid and invalid.
DURO = [
    ("select * from duro.runs limit 2", []),
    ("select view, state from duro.status", []),
    ("select id, view from duro.runs where view = $1", [["first.cities"], [None]]),
    ("select count(*) from duro.runs", []),
    ("select view from duro.status where rows > $1 order by view", [["1"], ["0"]]),
    ("select * from duro.status", []),
    ("select no_such_column from duro.status", []),
    ("call duro_refresh('fz.no_such_view')", []),
    ("call duro_refresh($1)", [["fz.no_such_view"], ["not a view name"], [None]]),
]
STATEMENTS = WAREHOUSE + DURO
NAMES = ["", "s1", "s2"]
PORTALS = ["", "p1", "p2"]


def _values_for(sql):
    for s, values in STATEMENTS:
        if s == sql:
            return values
    return []


def generate(rng, length=None):
    """A random session (without its end: see finish)."""
    n = length or rng.randint(2, 16)
    stmts = {}  # statement name -> sql last parsed under it
    portals = []
    out = []
    for _ in range(n):
        r = rng.random()
        sql, _vals = rng.choice(STATEMENTS)
        if r < 0.14:
            out.append(["Q", sql])
        elif r < 0.34:
            name = rng.choice(NAMES)
            oids = [] if rng.random() < 0.8 or "$1" not in sql else [rng.choice([0, 25])]
            out.append(["P", name, sql, oids])
            stmts[name] = sql
        elif r < 0.54:
            name = rng.choice(list(stmts) or NAMES) if rng.random() < 0.9 else rng.choice(NAMES)
            values = _values_for(stmts.get(name, ""))
            if values and rng.random() < 0.9:
                params = list(rng.choice(values))
            else:
                params = [] if rng.random() < 0.9 else ["1"]
            formats = rng.choice([[], [], [0], [1]])
            portal = rng.choice(PORTALS)
            portals.append(portal)
            out.append(["B", portal, name, params, formats])
        elif r < 0.64:
            if rng.random() < 0.5:
                out.append(["D", "S", rng.choice(list(stmts) or NAMES)])
            else:
                out.append(["D", "P", rng.choice(portals or PORTALS)])
        elif r < 0.79:
            out.append(["E", rng.choice(portals or PORTALS) if rng.random() < 0.9
                        else rng.choice(PORTALS), rng.choice([0, 0, 1, 2])])
        elif r < 0.84:
            kind = rng.choice("SP")
            out.append(["C", kind, rng.choice(NAMES if kind == "S" else PORTALS)])
        elif r < 0.90:
            out.append(["H"])
        else:
            out.append(["S"])
    return out


def session_for(seed, i):
    """Session i of a run seeded with seed: {"mode", "messages"}."""
    rng = random.Random(f"{seed}/{i}")
    mode = rng.choice(["burst", "burst", "trickle"])
    return {"mode": mode, "messages": generate(rng)}


# -- running one session --------------------------------------------------------------------------

END = "fz-end"


def finish(messages):
    """The session as sent: a Sync (which ends any skipping after an error) and a Query whose row
    marks the end of what the session's messages caused."""
    return list(messages) + [["S"], ["Q", f"rollback; select '{END}' as fz_end"]]


class Side:
    """One place to run sessions against: host, port, database (user postgres, trust)."""

    def __init__(self, name, host, port, dbname, user="postgres"):
        self.name, self.host, self.port, self.dbname, self.user = name, host, port, dbname, user

    def connect(self, timeout=SESSION_TIMEOUT):
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        body = struct.pack("!I", PROTOCOL_3) + _cstr("user") + _cstr(self.user) + \
            _cstr("database") + _cstr(self.dbname) + _cstr("application_name") + \
            _cstr("difffuzz") + b"\0"
        sock.sendall(struct.pack("!I", len(body) + 4) + body)
        reader = Reader(sock)
        while True:
            kind, body = reader.next(time.monotonic() + timeout)
            if kind is None:
                raise AssertionError(f"{self.name}: no ReadyForQuery after the startup")
            if kind == b"E":
                raise AssertionError(f"{self.name}: startup refused: {body!r}")
            if kind == b"Z":
                return sock, reader


class Reader:
    """Backend messages from a socket, each (type, body); (None, None) at the deadline or EOF."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def next(self, deadline):
        while True:
            if len(self.buf) >= 5:
                (n,) = struct.unpack("!I", self.buf[1:5])
                if len(self.buf) >= n + 1:
                    kind, body = self.buf[:1], self.buf[5:n + 1]
                    self.buf = self.buf[n + 1:]
                    return kind, body
            if self.eof:
                return None, None
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                continue
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.eof = True
            self.buf += data


def _fields(body):
    """An ErrorResponse's fields as {code: text}."""
    out = {}
    for part in body.split(b"\0"):
        if part:
            out[part[:1].decode()] = part[1:].decode(errors="replace")
    return out


def token(kind, body):
    """What the comparison sees of one backend message, or None for what it ignores (notices,
    parameter statuses, notifications: Duro adds notices of its own)."""
    k = kind.decode()
    if k in ("N", "S", "A", "K"):
        return None
    if k == "E":
        f = _fields(body)
        return f"E:{f.get('C', '?')}" + ("" if f.get("S") == "ERROR" else f":{f.get('S')}")
    if k == "C":
        return "C:" + body.rstrip(b"\0").decode(errors="replace")
    if k == "Z":
        return "Z:" + body.decode()
    if k == "T":
        (n,) = struct.unpack("!h", body[:2])
        cols, off = [], 2
        for _ in range(n):
            end = body.index(b"\0", off)
            name = body[off:end].decode(errors="replace")
            _table, _att, oid, _len, _mod, fmt = struct.unpack("!IhIhih", body[end + 1:end + 19])
            cols.append(f"{name}/{oid}/{fmt}")
            off = end + 19
        return "T:" + ",".join(cols)
    if k == "t":
        (n,) = struct.unpack("!h", body[:2])
        return "t:" + ",".join(str(o) for o in struct.unpack(f"!{n}I", body[2:2 + 4 * n]))
    return k


def run_session(side, session, timeout=SESSION_TIMEOUT):
    """Runs one session on side; returns its tokens, ending with HANG when the end marker did
    not come within timeout, or CLOSED when the connection closed first."""
    sock, reader = side.connect()
    try:
        msgs = finish(session["messages"])
        deadline = time.monotonic() + timeout
        if session.get("mode") == "trickle":
            for m in msgs:
                sock.sendall(encode(m))
                time.sleep(0.0005)
        else:
            sock.sendall(b"".join(encode(m) for m in msgs))
        tokens, seen_end = [], False
        while True:
            kind, body = reader.next(deadline)
            if kind is None:
                tokens.append("CLOSED" if reader.eof else "HANG")
                return tokens
            t = token(kind, body)
            if t is None:
                continue
            tokens.append(t)
            if kind == b"D" and END.encode() in body:
                seen_end = True
            if kind == b"Z" and seen_end:
                return tokens
    finally:
        try:
            sock.sendall(_msg(b"X"))
        except OSError:
            pass
        sock.close()


def compare(direct, duro, session, timeout=SESSION_TIMEOUT):
    """(direct tokens, Duro's tokens) of one session."""
    return run_session(direct, session, timeout), run_session(duro, session, timeout)


# Differences Duro knowingly has, each (name, test on the two tokens at the first difference,
# whether the rest must be the same). The runs count them apart: they are reported, not failures.
KNOWN = [
    # A Parse of the warehouse's under the name of a statement of Duro's: PostgreSQL reports what
    # is wrong with the statement first, Duro 42P05 without sending the statement anywhere.
    ("42P05 before the warehouse's own error",
     lambda a, b: a.startswith("E:") and b == "E:42P05", True),
    # A Bind of Duro's under the name of a portal the client bound in the warehouse: Duro keeps
    # no list of the warehouse's portals, and binds it (and inside a transaction block, the
    # transaction goes on).
    # A Bind of the warehouse's under the name of a portal of Duro's: Duro answers 42P03 without
    # sending it anywhere; PostgreSQL first checks the Bind against the statement (08P01 for a
    # wrong number of parameters), which only the warehouse knows.
    ("42P03 before the warehouse's own error",
     lambda a, b: a.startswith("E:") and b == "E:42P03", True),
    ("a portal of Duro's under the name of one of the warehouse's",
     lambda a, b: a == "E:42P03" and b == "2", False),
]


def known(a, b):
    """The name of the known difference between token lists a and b, or None."""
    i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
    if i is None:
        return None
    for name, test, same_rest in KNOWN:
        if test(a[i], b[i]) and (a[i + 1:] == b[i + 1:] or not same_rest):
            return name
    return None


def differs(direct, duro, session, timeout=SESSION_TIMEOUT):
    a, b = compare(direct, duro, session, timeout)
    return a != b and known(a, b) is None


def shrink(direct, duro, session, budget=300):
    """A smaller session that still differs: whole chunks, then single messages, are left out
    while the difference stays (ddmin), then Flushes and row limits are simplified."""
    msgs = list(session["messages"])
    mode = session.get("mode", "burst")
    tries = 0

    def still(candidate):
        nonlocal tries
        tries += 1
        return differs(direct, duro, {"mode": mode, "messages": candidate})

    chunk = max(1, len(msgs) // 2)
    while chunk >= 1 and tries < budget:
        i, removed = 0, False
        while i < len(msgs) and tries < budget:
            candidate = msgs[:i] + msgs[i + chunk:]
            if candidate and still(candidate):
                msgs, removed = candidate, True
            else:
                i += chunk
        if not removed:
            chunk //= 2
    if mode == "trickle" and tries < budget and still_burst(direct, duro, msgs):
        mode = "burst"
    return {"mode": mode, "messages": msgs}


def still_burst(direct, duro, msgs):
    return differs(direct, duro, {"mode": "burst", "messages": msgs})


def describe(session):
    """One line per message, as a reader of a regression case sees them."""
    return [json.dumps(m) for m in session["messages"]]


def write_case(session, name, note, directory=CASES):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    case = {"note": note, "mode": session.get("mode", "burst"), "messages": session["messages"]}
    path.write_text(json.dumps(case, indent=1) + "\n")
    return path


def load_cases(directory=CASES):
    return sorted(directory.glob("*.json"))


# -- the direct database --------------------------------------------------------------------------

TYPE_NAMES = {25: "text", 20: "int8", 23: "int4", 701: "float8", 1184: "timestamptz", 16: "bool",
              1043: "varchar", 1082: "date", 1186: "interval", 1700: "numeric"}

REFRESH_PROCEDURE = r"""
create or replace procedure public.duro_refresh(inout view text, inout refreshed text default null,
                                                inout duration_s float8 default null)
language plpgsql as $$
begin
    if view is null then
        raise exception 'duro_refresh: the view name is NULL' using errcode = '22004';
    end if;
    -- as Duro reads a name: schema.table or a table of public, each part quoted or bare
    if view !~ '^([ \t\r\n]*("([^"]|"")+"|[ \t\r\n]*[^ \t\r\n."]+[ \t\r\n]*)\.)?("([^"]|"")+"|[ \t\r\n]*[^ \t\r\n."]+)[ \t\r\n]*$' then
        raise exception 'duro_refresh: "%" is not a view name', view using errcode = '42602';
    end if;
    raise exception 'duro_refresh: % is not a view of the repository', view
        using errcode = '42P01';
end $$
"""


def duro_shape(duro_side, table):
    """The columns of duro.<table> as Duro describes them: [(name, type oid)]."""
    sock, reader = duro_side.connect()
    try:
        sock.sendall(encode(["P", "", f"select * from duro.{table}", []])
                     + encode(["D", "S", ""]) + encode(["S"]))
        cols = None
        while True:
            kind, body = reader.next(time.monotonic() + SESSION_TIMEOUT)
            if kind is None:
                raise AssertionError(f"Duro did not describe duro.{table}")
            if kind == b"E":
                raise AssertionError(f"Duro cannot describe duro.{table}: {_fields(body)}")
            if kind == b"T":
                cols = [tuple(c.rsplit("/", 2)[:2]) for c in token(kind, body)[2:].split(",")]
            if kind == b"Z":
                return [(name, int(oid)) for name, oid in cols]
    finally:
        sock.close()


def prepare_database(conn, duro_side):
    """Creates, in the database conn (psycopg, autocommit) is on, schema duro with tables status
    and runs of the shape Duro answers them with, and the procedure duro_refresh."""
    conn.execute("create schema if not exists duro")
    for table in ("status", "runs"):
        cols = ", ".join(f'"{name}" {TYPE_NAMES[oid]}' for name, oid in duro_shape(duro_side,
                                                                                     table))
        conn.execute(f"drop table if exists duro.{table}")
        conn.execute(f"create table duro.{table} ({cols})")
    conn.execute(REFRESH_PROCEDURE)


# -- a run ----------------------------------------------------------------------------------------


def fuzz(direct, duro, seed, sessions, out=None, save=None, log=print, max_failures=5):
    """Runs sessions [0, sessions) of seed; shrinks each that differs (up to max_failures) and
    writes it to save (a directory) when given. Returns a summary dict."""
    summary = {"sessions": 0, "differ": 0, "hang_duro": 0, "xx000": 0, "failures": [],
               "known": {}}
    started = time.monotonic()
    for i in range(sessions):
        s = session_for(seed, i)
        a, b = compare(direct, duro, s)
        summary["sessions"] += 1
        if a == b:
            continue
        k = known(a, b)
        if k:
            summary["known"][k] = summary["known"].get(k, 0) + 1
            continue
        summary["differ"] += 1
        summary.setdefault("indexes", []).append(i)
        summary["hang_duro"] += b[-1:] == ["HANG"]
        summary["xx000"] += any(t.startswith("E:XX000") for t in b)
        if len(summary["failures"]) >= max_failures:
            continue
        small = shrink(direct, duro, s)
        a, b = compare(direct, duro, small)
        failure = {"seed": seed, "index": i, "session": small, "direct": a, "duro": b}
        summary["failures"].append(failure)
        log(f"session {seed}/{i} differs; shrunk to {len(small['messages'])} messages "
            f"({small['mode']}):")
        for line in describe(small):
            log(f"    {line}")
        log(f"  PostgreSQL: {' '.join(a)}")
        log(f"  Duro:       {' '.join(b)}")
        if save:
            path = write_case(small, f"seed{seed}-{i}", "found by difffuzz", Path(save))
            log(f"  written to {path}")
    summary["seconds"] = round(time.monotonic() - started, 1)
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duro", required=True, help="the duro binary")
    ap.add_argument("--sessions", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--save", help="directory to write shrunk failing sessions to")
    ap.add_argument("--shrink", type=int, default=20, help="failing sessions to shrink, at most")
    ap.add_argument("--replay", nargs="*", help="case files to replay instead of fuzzing")
    args = ap.parse_args(argv)
    with Environment(Path(args.duro).resolve()) as env:
        if args.replay is not None:
            bad = 0
            for path in args.replay or load_cases():
                case = json.loads(Path(path).read_text())
                a, b = compare(env.direct, env.duro, case)
                print(f"{path}: {'same' if a == b else 'DIFFERS'}")
                if a != b:
                    bad += 1
                    print(f"  PostgreSQL: {' '.join(a)}\n  Duro:       {' '.join(b)}")
            return 1 if bad else 0
        summary = fuzz(env.direct, env.duro, args.seed, args.sessions, save=args.save,
                       max_failures=args.shrink)
    print(f"difffuzz: seed {args.seed}: {summary['sessions']} sessions in {summary['seconds']} s, "
          f"{summary['differ']} differ ({summary['hang_duro']} hung through Duro, "
          f"{summary['xx000']} with XX000); known differences: {summary['known'] or 'none'}")
    if summary["differ"]:
        print(f"difffuzz: the sessions that differ: {summary['indexes']}")
    return 1 if summary["differ"] else 0


class Environment:
    """For the program: a throwaway PostgreSQL cluster (tools/pgcluster.py), a database, and
    `duro serve` on an empty views repository relaying to it (publishing off: the stand-in tables
    duro.status and duro.runs are made here, and Duro making its own at the same time would race)."""

    def __init__(self, duro_bin):
        self.duro_bin = duro_bin

    def __enter__(self):
        import subprocess
        import tempfile

        repo = Path(__file__).resolve().parents[2]
        sys.path.insert(0, str(repo / "tools"))
        from pgcluster import SUPERUSER, Cluster, clean_env, free_port

        self.cluster = Cluster(label="difffuzz")
        self.cluster.start()
        self.tmp = tempfile.TemporaryDirectory(prefix="difffuzz-")
        tmp = Path(self.tmp.name)
        (tmp / "views").mkdir()
        self.cluster.sql("create database difffuzz")
        port = free_port()
        pg = self.cluster
        (tmp / "duro.conf").write_text(
            f"[gateway]\nlisten = 127.0.0.1:{port}\n"
            f"[warehouse]\ndialect = postgres\nhost = {pg.host}\nport = {pg.port}\n"
            f"dbname = difffuzz\nuser = {SUPERUSER}\nsslmode = disable\n"
            f"[views]\npath = {tmp / 'views'}\nrescan = 1s\n"
            f"[catalog]\npath = {tmp / 'duro.db'}\npublish = off\n[worker]\npoll = 1h\n[web]\nlisten =\n")
        self.log = open(tmp / "duro.log", "wb")
        self.proc = subprocess.Popen([str(self.duro_bin), "serve", "-c", str(tmp / "duro.conf")],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=clean_env(),
                                     cwd=tmp, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError("duro serve did not start")
                time.sleep(0.05)
        self.duro = Side("duro", "127.0.0.1", port, "difffuzz")
        self.direct = Side("postgres", pg.host, pg.port, "difffuzz")
        with pg.connect(dbname="difffuzz", autocommit=True) as conn:
            prepare_database(conn, self.duro)
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is not None:
            self.log.flush()
            tail = (Path(self.tmp.name) / "duro.log").read_text(errors="replace")[-3000:]
            print(f"duro serve exited with {self.proc.returncode}:\n{tail}", file=sys.stderr)
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
        self.log.close()
        self.cluster.stop()
        self.tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
