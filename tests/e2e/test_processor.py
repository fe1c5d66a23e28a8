"""Python processor views (README, "Python processors") against a real PostgreSQL: the example
first.countries; the round trip select -> IN.csv -> processor -> COPY of awkward values and of a
large result; failures that keep the live table (exit status, bad CSV, a DDL for another table,
failing tests); the processor killed on SIGTERM and at the view's timeout; requirements installed
into a virtual environment that is kept until the requirements file changes; two processors in
parallel; and `duro serve` building the whole example repository.

Every refresh runs with TMPDIR set to a directory of the test's own and checks that Duro left
nothing there: a build's work directory goes whatever happens.
"""
import base64
import hashlib
import json
import os
import signal
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from conftest import report

EXAMPLE_VIEWS = ["finances.detailed", "finances.simplified", "first.cities", "first.countries",
                 "first.people", "first.shops", "second.child"]

def work_root(duro):
    path = duro.tmp_path / "tmp"
    path.mkdir(exist_ok=True)
    return path


def refresh(duro, *views, check=None, env=None, **kw):
    """duro refresh with TMPDIR set to tmp_path/tmp; asserts nothing was left there."""
    tmp = work_root(duro)
    r = duro.refresh(*views, check=check, env={"TMPDIR": str(tmp), **(env or {})}, **kw)
    left = sorted(p.name for p in tmp.iterdir())
    assert left == [], f"work directories left behind: {left}\n{r.stdout}{r.stderr}"
    return r


def add_processor(repo, name, select, script, ddl, interval="1h", tests=None, requirements=None):
    """Writes the processor view name (schema.table) into repo: <table>_select.sql, <table>.py,
    '<table> - <interval>.sql' (the DDL), and optionally <table>_test.sql and
    <table>_requirements.txt."""
    schema, table = name.split(".")
    d = repo / schema
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{table}_select.sql").write_text(select)
    (d / f"{table}.py").write_text(textwrap.dedent(script))
    (d / f"{table} - {interval}.sql").write_text(ddl)
    if tests is not None:
        (d / f"{table}_test.sql").write_text(tests)
    if requirements is not None:
        (d / f"{table}_requirements.txt").write_text(requirements)
    return d


def last_run(duro, view):
    return duro.catalog.runs(view)[-1]


def steps(duro, run):
    return [s["step"] for s in duro.catalog.steps(run["id"])]


def alive(pid):
    """Whether pid runs (a zombie does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


COPY_THROUGH = textwrap.dedent("""\
    import sys
    with open(sys.argv[1], "rb") as src, open(sys.argv[2], "wb") as dst:
        dst.write(src.read())
    """)


# -- 1. the example ------------------------------------------------------------------------------


def size_class(cities):
    return "large" if cities >= 20 else "medium" if cities >= 5 else "small"


def expected_countries(wh):
    rows = wh.sql("select country, count(*) from first.cities_raw group by country")
    return sorted((country, n, size_class(n)) for country, n in rows)


def test_the_example_processor_builds(duro, wh, full_repo):
    duro.write_conf(dbname=wh.dbname)
    r = refresh(duro, "first.countries", check=0)
    out = report(r.stdout, strict=False)
    assert set(out) == {"first.cities", "first.countries"}, r.stdout  # its stale dependency first
    want = expected_countries(wh)
    assert len({c for _, _, c in want}) >= 2  # the sample data has more than one size class
    assert out["first.countries"].startswith(f"ok, {len(want)} rows in "), r.stdout
    assert sorted(wh.sql("select * from first.countries")) == want
    cols = wh.sql("select column_name, data_type from information_schema.columns where "
                  "table_schema = 'first' and table_name = 'countries' order by ordinal_position")
    assert cols == [("country", "text"), ("cities", "integer"), ("size_class", "text")]
    assert wh.can_select("metabase", "first.countries")  # global.conf's grant
    assert wh.leftovers() == []

    run = last_run(duro, "first.countries")
    assert (run["outcome"], run["rows"], run["error"]) == ("ok", len(want), None)
    assert steps(duro, run)[:2] == ["create_temp", "swap"]
    view = duro.catalog.view("first.countries")
    assert view["built_hash"] == view["hash"]
    # Its requirements file is only comments: no virtual environment.
    assert not (duro.tmp_path / "venvs").exists()

    # A rebuild sees new data and goes through every step.
    wh.sql("insert into first.cities_raw "
           "select 'Town ' || i, 'Atlantis' from generate_series(1, 25) i")
    r = refresh(duro, "first.countries", tree=True, check=0)
    assert set(report(r.stdout, strict=False)) == {"first.cities", "first.countries"}
    assert sorted(wh.sql("select * from first.countries")) == expected_countries(wh)
    assert ("Atlantis", 25, "large") in expected_countries(wh)
    run = last_run(duro, "first.countries")
    assert steps(duro, run) == ["create_temp", "swap", "drop_old"]
    assert wh.leftovers() == []


# -- 2. the CSV round trip -----------------------------------------------------------------------

AWKWARD = [
    None, "", " ", "plain", "a,b", ",", 'say "hi"', '"', '""', "two\nlines", "cr\r\nlf\rcr",
    "\n", "é€😀 日本語", "\\.", "\\N", "NULL", "tab\there", "it's", " padded ",
    "-- not a comment",
]


def copy_csv(wh, query):
    """What PostgreSQL's COPY (query) TO STDOUT WITH (FORMAT csv, HEADER true) writes."""
    with wh.connect() as conn, conn.cursor() as cur:
        with cur.copy(f"copy ({query}) to stdout with (format csv, header true)") as copy:
            return b"".join(bytes(block) for block in copy)


def test_awkward_values_survive_the_round_trip(duro, wh, tmp_path):
    wh.sql("create schema rt")
    wh.sql("create table rt.source (id int, t text, n numeric, b boolean, d date)")
    for i, t in enumerate(AWKWARD):
        wh.sql("insert into rt.source values (%s, %s, %s, %s, %s)",
               (i, t, None if t is None else i * 1.5, None if t is None else i % 2 == 0,
                None if t is None else f"2024-01-{i + 1:02d}"))
    seen = tmp_path / "seen"
    seen.mkdir()
    # Copies its input through and keeps a copy, with what it was given, for the test.
    script = COPY_THROUGH + textwrap.dedent(f"""\
    import json, os, shutil
    name = os.path.basename(sys.argv[0])[:-3]
    shutil.copyfile(sys.argv[1], os.path.join({str(seen)!r}, name + ".csv"))
    with open(os.path.join({str(seen)!r}, name + ".json"), "w") as f:
        json.dump({{"argv": sys.argv, "cwd": os.getcwd(), "stdin": sys.stdin.read(),
                   "duro_env": sorted(k for k in os.environ if k.startswith("DURO_"))}}, f)
    """)
    repo = tmp_path / "views"
    select = 'select id, t as "odd, name", n, b, d from rt.source order by id'
    add_processor(repo, "rt.echo", select + "\n", script, 'create table rt.echo (id int, '
                  '"odd, name" text, n numeric, b boolean, d date);\n')
    # One column: a lone \. must be quoted, or COPY FROM STDIN would stop there.
    single = "select t from rt.source order by id"
    add_processor(repo, "rt.single", single, script, "create table rt.single (t text)")

    duro.write_conf(dbname=wh.dbname)
    # A DURO_* variable of Duro's own environment does not reach the processor.
    r = refresh(duro, "rt.echo", "rt.single", check=0, env={"DURO_WAREHOUSE_SSLMODE": "disable"})
    out = report(r.stdout, strict=False)
    assert out["rt.echo"].startswith(f"ok, {len(AWKWARD)} rows"), r.stdout
    assert out["rt.single"].startswith(f"ok, {len(AWKWARD)} rows"), r.stdout

    # IN.csv is byte for byte what COPY ... CSV HEADER writes.
    assert (seen / "echo.csv").read_bytes() == copy_csv(wh, select)
    assert (seen / "single.csv").read_bytes() == copy_csv(wh, single)
    assert b'\n"\\."\n' in (seen / "single.csv").read_bytes()
    # And what comes back is what went in: NULL stays NULL, '' stays ''.
    assert wh.rows("rt.echo") == wh.rows("select id, t, n, b, d from rt.source")
    assert wh.rows("rt.single") == wh.rows("select t from rt.source")
    assert wh.sql("select count(*) from rt.echo where \"odd, name\" is null")[0][0] == 1
    assert wh.sql("select count(*) from rt.echo where \"odd, name\" = ''")[0][0] == 1

    # How it was called: python3 <table>.py IN.csv OUT.csv in its directory, stdin empty, in a
    # private work directory under TMPDIR that is gone now.
    call = json.loads((seen / "echo.json").read_text())
    assert call["argv"][0] == "echo.py"
    in_csv, out_csv = Path(call["argv"][1]), Path(call["argv"][2])
    assert (in_csv.name, out_csv.name) == ("IN.csv", "OUT.csv")
    assert in_csv.parent == out_csv.parent
    assert in_csv.parent.parent == work_root(duro)
    assert in_csv.parent.name.startswith("duro-rt.echo-")
    assert not in_csv.parent.exists()
    assert call["cwd"] == os.path.realpath(repo / "rt")
    assert call["stdin"] == ""
    assert call["duro_env"] == []
    assert wh.leftovers() == []


def test_a_large_result_streams_through(duro, wh, tmp_path):
    # Some 20 MB each way: rows are written as they arrive and the load is sent in pieces.
    n = 200_000
    repo = tmp_path / "views"
    add_processor(repo, "rt.big", f"select i, repeat(md5(i::text), 3) as t "
                                  f"from generate_series(1, {n}) i", COPY_THROUGH,
                  "create table rt.big (i int, t text)")
    duro.write_conf(dbname=wh.dbname)
    r = refresh(duro, "rt.big", check=0)
    assert report(r.stdout, strict=False)["rt.big"].startswith(f"ok, {n} rows"), r.stdout
    assert wh.sql("select count(*), sum(i), bool_and(t = repeat(md5(i::text), 3)) "
                  "from rt.big")[0] == (n, n * (n + 1) // 2, True)


# -- 3. failures keep the live table -------------------------------------------------------------


def failed_build(duro, wh, view, check_error, live):
    """Refreshes view, which must fail in create_temp with an error check_error accepts, leaving
    the live table as live and no leftovers; returns the run's error."""
    r = refresh(duro, view, check=1)
    assert report(r.stdout, strict=False)[view].startswith("failed: create_temp: "), r.stdout
    run = last_run(duro, view)
    assert run["outcome"] == "failed", run
    assert run["error"].startswith("create_temp: "), run["error"]
    assert check_error(run["error"]), run["error"]
    recorded = duro.catalog.steps(run["id"])
    assert [s["step"] for s in recorded] == ["create_temp"]
    assert "create_temp: " + recorded[0]["error"] == run["error"]
    assert wh.rows(view) == live
    assert wh.leftovers() == []
    return run["error"]


def test_a_failing_processor_keeps_the_live_table(duro, wh, tmp_path):
    wh.sql("create schema rt")
    wh.sql("create table rt.source as select i as x from generate_series(1, 3) i")
    repo = tmp_path / "views"
    d = add_processor(repo, "rt.fails", "select x from rt.source", COPY_THROUGH,
                      "create table rt.fails (x int)")
    duro.write_conf(dbname=wh.dbname)
    refresh(duro, "rt.fails", check=0)
    live = wh.rows("rt.fails")
    assert live == [(1,), (2,), (3,)]

    # Exit status 3: the error has the status and the end of its output (stdout and stderr).
    (d / "fails.py").write_text(textwrap.dedent("""\
        import sys
        sys.stdout.write("x" * 5000 + "\\n")
        sys.stdout.flush()
        sys.stderr.write("Traceback (most recent call last):\\nValueError: bad input \\u00e9\\n")
        sys.exit(3)
        """))
    error = failed_build(
        duro, wh, "rt.fails",
        lambda e: e.startswith("create_temp: processor fails.py exited with status 3: ...xxx"),
        live)
    assert error.endswith("xxx\nTraceback (most recent call last):\nValueError: bad input é")
    assert len(error.encode()) < 2200  # only the tail of 5 kB of output

    # Killed by a signal.
    (d / "fails.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    failed_build(duro, wh, "rt.fails",
                 lambda e: e == "create_temp: processor fails.py was killed by signal 9: "
                               "(no output)", live)

    # Exit status 0 without writing its output.
    (d / "fails.py").write_text("print('did nothing')\n")
    failed_build(duro, wh, "rt.fails",
                 lambda e: e == "create_temp: processor fails.py exited with status 0 but wrote "
                               "no output file", live)

    # A failing input query: named as such, the processor never runs.
    (d / "fails.py").write_text(COPY_THROUGH)
    (d / "fails_select.sql").write_text("select x / 0 as x from rt.source")
    failed_build(duro, wh, "rt.fails",
                 lambda e: e == "create_temp: input query failed: division by zero", live)

    # Working again.
    (d / "fails_select.sql").write_text("select x * 10 as x from rt.source")
    refresh(duro, "rt.fails", check=0)
    assert wh.rows("rt.fails") == [(10,), (20,), (30,)]


def test_bad_output_fails_at_the_load(duro, wh, tmp_path):
    wh.sql("create schema rt")
    wh.sql("create table rt.source as select i as x, 'v' || i as y from generate_series(1, 3) i")
    repo = tmp_path / "views"
    d = add_processor(repo, "rt.bad", "select x, y from rt.source", COPY_THROUGH,
                      "create table rt.bad (x int, y text)")
    duro.write_conf(dbname=wh.dbname)
    refresh(duro, "rt.bad", check=0)
    live = wh.rows("rt.bad")
    assert len(live) == 3

    def writes(csv_text):
        (d / "bad.py").write_text(
            f"import sys\nopen(sys.argv[2], 'w').write({csv_text!r})\n")

    loading = "create_temp: loading the processor's output failed: "
    writes("x,y\n1,a\n2,b,extra\n")  # a column too many
    failed_build(duro, wh, "rt.bad",
                 lambda e: e.startswith(loading) and "extra data after last expected column" in e,
                 live)
    writes("x,y\n1\n")  # a column too few
    failed_build(duro, wh, "rt.bad",
                 lambda e: e.startswith(loading) and "missing data for column" in e, live)
    writes("x,y\nnot a number,a\n")
    failed_build(duro, wh, "rt.bad",
                 lambda e: e.startswith(loading) and "invalid input syntax for type integer" in e,
                 live)
    writes('x,y\n1,"unterminated\n')
    failed_build(duro, wh, "rt.bad", lambda e: e.startswith(loading), live)

    # A header only: an empty table is a valid result.
    writes("x,y\n")
    r = refresh(duro, "rt.bad", check=0)
    assert report(r.stdout, strict=False)["rt.bad"].startswith("ok, 0 rows"), r.stdout
    assert wh.count("rt.bad") == 0


def test_the_ddl_must_create_the_view_itself(duro, wh, tmp_path):
    wh.sql("create schema rt")
    repo = tmp_path / "views"
    ran = tmp_path / "ran"
    d = add_processor(repo, "rt.named", "select 1 as x",
                      f"open({str(ran)!r}, 'w').close()\n" + COPY_THROUGH,
                      "create table rt.elsewhere (x int)")
    duro.write_conf(dbname=wh.dbname)
    # A problem of the repository, reported with its file and line before anything is built.
    problem = f"{repo}/rt/named - 1h.sql:1: the DDL creates rt.elsewhere, not rt.named"
    r = duro.run("check", repo, check=1)
    assert problem in r.stdout + r.stderr, r.stdout + r.stderr
    r = refresh(duro, "rt.named", check=2)
    assert problem in r.stderr and r.stdout == "", r.stdout + r.stderr
    assert not ran.exists()
    assert not wh.exists("rt.elsewhere") and not wh.exists("rt.named")

    # Quoted and commented, the view's own name is accepted.
    (d / "named - 1h.sql").write_text(
        '-- the result\ncreate table if not exists /* mine */ "rt" . "named" (\n  x int\n);\n')
    refresh(duro, "rt.named", check=0)
    assert wh.rows("rt.named") == [(1,)]
    assert ran.exists()


def test_tests_run_against_the_processors_table(duro, wh, tmp_path):
    wh.sql("create schema rt")
    wh.sql("create table rt.source as select i as x from generate_series(1, 3) i")
    repo = tmp_path / "views"
    add_processor(repo, "rt.tested", "select x from rt.source", COPY_THROUGH,
                  "create table rt.tested (x int)",
                  tests="select count(*) = 3 as three_rows from rt.tested;\n"
                        "select bool_and(x > 0) as positive from rt.tested t;\n")
    duro.write_conf(dbname=wh.dbname)
    refresh(duro, "rt.tested", check=0)
    assert steps(duro, last_run(duro, "rt.tested"))[:3] == ["create_temp", "tests", "swap"]
    live = wh.rows("rt.tested")

    wh.sql("update rt.source set x = -x where x = 2")
    r = refresh(duro, "rt.tested", check=1)
    assert report(r.stdout, strict=False)["rt.tested"].startswith("tests_failed: tests: test positive"), r.stdout
    run = last_run(duro, "rt.tested")
    assert run["outcome"] == "tests_failed"
    assert steps(duro, run) == ["create_temp", "tests"]
    assert wh.rows("rt.tested") == live
    assert wh.leftovers() == []


# -- 4. stopping a processor ---------------------------------------------------------------------


def sleeper_script(pids):
    """A processor that starts a grandchild, writes both pids to pids, and sleeps."""
    return f"""\
    import os, subprocess, time
    child = subprocess.Popen(["sleep", "600"])
    with open({str(pids)!r} + ".tmp", "w") as f:
        f.write(f"{{os.getpid()}} {{child.pid}}")
    os.replace({str(pids)!r} + ".tmp", {str(pids)!r})
    time.sleep(600)
    """


def test_sigterm_kills_a_running_processor(duro, wh, tmp_path, wait_until):
    wh.sql("create schema rt")
    repo = tmp_path / "views"
    pids = tmp_path / "pids"
    add_processor(repo, "rt.slow", "select 1 as x", sleeper_script(pids),
                  "create table rt.slow (x int)")
    grace = 1
    duro.write_conf(dbname=wh.dbname, worker={"grace": f"{grace}s"})
    p = duro.start(env={"TMPDIR": str(work_root(duro))})
    wait_until(lambda: pids.exists(), 30, "the processor to start", p)
    pid, grandchild = map(int, pids.read_text().split())
    assert alive(pid) and alive(grandchild)
    assert [r["outcome"] for r in duro.catalog.runs("rt.slow")] == ["running"]

    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert p.wait(grace + 30) == 0, p.logs()
    assert time.monotonic() - t0 < grace + 5
    run = last_run(duro, "rt.slow")
    assert run["outcome"] == "cancelled", run
    assert run["error"] == "create_temp: processor slow.py cancelled: Duro is stopping"
    # The processor and what it started were killed, not left behind.
    wait_until(lambda: not alive(pid) and not alive(grandchild), 5, "the processor to be gone")
    assert not wh.exists("rt.slow") and wh.leftovers() == []
    assert list(work_root(duro).iterdir()) == []


@pytest.mark.slow
def test_the_timeout_kills_a_processor(duro, wh, tmp_path, wait_until):
    """The real timeout: `timeout = 1m` is the shortest a view can have, so this takes a
    minute."""
    wh.sql("create schema rt")
    repo = tmp_path / "views"
    pids = tmp_path / "pids"
    d = add_processor(repo, "rt.slow", "select 1 as x", sleeper_script(pids),
                      "create table rt.slow (x int)")
    (d / "slow.conf").write_text("timeout = 1m\n")
    duro.write_conf(dbname=wh.dbname)
    t0 = time.monotonic()
    r = refresh(duro, "rt.slow", check=1, timeout=180)
    assert 59 <= time.monotonic() - t0 < 90
    assert report(r.stdout, strict=False)["rt.slow"] == (
        "failed: create_temp: processor slow.py timed out: the refresh ran longer than its "
        "timeout of 1m")
    run = last_run(duro, "rt.slow")
    assert run["outcome"] == "failed" and "timed out" in run["error"]
    pid, grandchild = map(int, pids.read_text().split())
    wait_until(lambda: not alive(pid) and not alive(grandchild), 5, "the processor to be gone")
    assert not wh.exists("rt.slow") and wh.leftovers() == []


# -- 5. requirements and the virtual environment -------------------------------------------------


def make_wheel(directory, name, version, source):
    """Writes a minimal pure-Python wheel of module name into directory."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": source,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: duro-tests\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as z:
        for path, text in files.items():
            data = text.encode()
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
        record.append(f"{dist}/RECORD,,")
        z.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")


def test_requirements_get_a_virtual_environment(duro, wh, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "tinymod", "0.1", "VALUE = 1\n")
    make_wheel(wheels, "tinymod", "0.2", "VALUE = 2\n")

    def requirements(spec):
        return f"# local wheels only\n--no-index\n--find-links {wheels}\n\n{spec}\n"

    repo = tmp_path / "views"
    d = add_processor(repo, "req.tiny", "select 1 as one", """\
        import csv, sys
        import tinymod
        with open(sys.argv[2], "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["value", "prefix"])
            w.writerow([tinymod.VALUE, sys.prefix])
        """, "create table req.tiny (value int, prefix text)",
        requirements=requirements("tinymod==0.1"))
    req = d / "tiny_requirements.txt"
    duro.write_conf(dbname=wh.dbname)
    venv = duro.tmp_path / "venvs" / "req.tiny"  # beside the catalog, duro.db
    stamp = venv / "duro-requirements.sha256"

    def sha(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    refresh(duro, "req.tiny", check=0)
    assert wh.rows("req.tiny") == [(1, os.path.realpath(venv))]
    assert stamp.read_text().strip() == sha(req)
    built = (stamp.stat().st_mtime_ns, (venv / "pyvenv.cfg").stat().st_mtime_ns)

    # The same requirements: the environment is reused as it is.
    refresh(duro, "req.tiny", check=0)
    assert wh.rows("req.tiny") == [(1, os.path.realpath(venv))]
    assert (stamp.stat().st_mtime_ns, (venv / "pyvenv.cfg").stat().st_mtime_ns) == built

    # Changed requirements: rebuilt.
    req.write_text(requirements("tinymod==0.2"))
    refresh(duro, "req.tiny", check=0)
    assert wh.rows("req.tiny") == [(2, os.path.realpath(venv))]
    assert stamp.read_text().strip() == sha(req)
    assert (venv / "pyvenv.cfg").stat().st_mtime_ns != built[1]

    # An install that fails: the build fails, the live table stays, no stamp is left...
    req.write_text(requirements("nosuchpackage==1.0"))
    r = refresh(duro, "req.tiny", check=1)
    rest = report(r.stdout, strict=False)["req.tiny"]
    assert rest.startswith("failed: create_temp: installing req/tiny_requirements.txt failed: "
                           "pip install exited with status 1: "), r.stdout
    assert "nosuchpackage" in last_run(duro, "req.tiny")["error"]
    assert wh.rows("req.tiny") == [(2, os.path.realpath(venv))]
    assert not stamp.exists()
    # ... so the next build installs again, even of requirements seen before.
    req.write_text(requirements("tinymod==0.2"))
    refresh(duro, "req.tiny", check=0)
    assert wh.rows("req.tiny") == [(2, os.path.realpath(venv))]
    assert stamp.read_text().strip() == sha(req)

    # Requirements that are only comments: the system python3 again.
    req.write_text("# nothing\n\n   # still nothing\n")
    refresh(duro, "req.tiny", check=1)
    assert "No module named 'tinymod'" in last_run(duro, "req.tiny")["error"]


# -- 6. parallel builds and the scheduler --------------------------------------------------------


def test_two_processors_build_in_parallel(duro, wh, tmp_path):
    wh.sql("create schema par")
    repo = tmp_path / "views"
    script = "import time\ntime.sleep(1.5)\n" + COPY_THROUGH
    add_processor(repo, "par.x", "select 1 as x", script, "create table par.x (x int)")
    add_processor(repo, "par.y", "select 2 as y", script, "create table par.y (y int)")
    duro.write_conf(dbname=wh.dbname, worker={"concurrency": 2})
    refresh(duro, "par.x", "par.y", check=0)
    runs = {r["view"]: r for r in duro.catalog.runs()}
    a, b = runs["par.x"], runs["par.y"]
    assert a["started_us"] < b["finished_us"] and b["started_us"] < a["finished_us"], (a, b)
    assert wh.rows("par.x") == [(1,)] and wh.rows("par.y") == [(2,)]


def test_serve_builds_the_whole_example_repository(duro, wh, full_repo, wait_until):
    duro.write_conf(dbname=wh.dbname)
    p = duro.start(env={"TMPDIR": str(work_root(duro))})

    def all_built():
        rows = duro.catalog.views()
        return all(v in rows and rows[v]["built_hash"] == rows[v]["hash"] for v in EXAMPLE_VIEWS)

    wait_until(all_built, 60, "the first build of the example repository", p)
    assert sorted(wh.sql("select * from first.countries")) == expected_countries(wh)
    runs = duro.catalog.runs("first.countries")
    assert [r["outcome"] for r in runs] == ["ok"]
    assert wh.leftovers() == []
    assert list(work_root(duro).iterdir()) == []
