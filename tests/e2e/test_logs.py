"""What Duro's log holds for an operator: one line per event, whatever a client sends, and no
line per client session at the default level."""
import psycopg

FORGED = "2026-12-03T00:00:00Z INFO refresh first.cities ok, 3 rows in 0.01s (schedule)"


def test_a_client_cannot_write_a_line_of_its_own(gateway):
    """A user, database and application name carrying a newline and a fake log line are written
    escaped: the log gets no line that starts with the forged timestamp."""
    for params in ({"user": "alice\n" + FORGED}, {"dbname": "db\n" + FORGED},
                   {"application_name": "app\r\n" + FORGED}):
        try:
            gateway.connect(**params).close()
        except psycopg.OperationalError:
            pass  # the warehouse refuses the made-up role or database
    lines = gateway.logs().splitlines()
    assert not [line for line in lines if line.startswith("2026-12-03T00:00:00Z")], lines
    assert any("alice\\n2026-12-03T00:00:00Z" in line for line in lines), lines


def test_sessions_are_not_logged_one_by_one(gateway):
    """Opening and closing a session is a debug line; at info the log stays quiet."""
    for _ in range(5):
        with gateway.connect() as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    lines = gateway.logs().splitlines()
    assert not [line for line in lines if " INFO session " in line], lines


def test_a_multi_line_warehouse_error_is_one_line(duro, wh, tmp_path):
    """A build error from libpq that spans lines (ERROR plus DETAIL or HINT) is logged as one line."""
    views = tmp_path / "views" / "first"
    views.mkdir(parents=True)
    # A HINT follows the error: "No function matches the given name and argument types..."
    (views / "broken — 1h.sql").write_text("select no_such_function(1) as x\n")
    duro.write_conf(dbname=wh.dbname, views=tmp_path / "views")
    p = duro.refresh("first.broken")
    assert p.returncode != 0
    lines = (p.stderr + p.stdout).splitlines()
    failed = [line for line in lines if "no_such_function" in line]
    assert failed, lines
    assert not [line for line in lines if line.startswith("HINT") or line.startswith("LINE")], lines


def test_a_refresh_logs_its_start_and_its_end(duro, wh, example_repo, wait_until):
    """Each build is logged when it starts, with its trigger, and when it ends: a long build shows
    in the log while it runs."""
    duro.write_conf(dbname=wh.dbname)
    p = duro.start()
    wait_until(lambda: " INFO refresh first.people ok, " in p.logs(), 30, "first.people built", p)
    lines = p.logs().splitlines()
    for view in ("first.cities", "first.shops", "first.people"):
        start = [i for i, line in enumerate(lines)
                 if line.endswith(f" INFO refresh {view} started (schedule)")]
        end = [i for i, line in enumerate(lines) if f" INFO refresh {view} ok, " in line]
        assert len(start) == 1 and end and start[0] < end[0], lines


def test_a_warehouse_error_quoting_client_data_stays_on_its_line(duro, wh, tmp_path):
    """A build fails on data a client wrote (a value with a newline, a forged log line and a
    terminal escape, quoted by the warehouse's error): `duro refresh` reports it on the view's one
    line, the catalog stores it with the escape written out (no control character but newlines),
    and no line of the report or the log starts with the forged timestamp."""
    wh.sql("create schema raw_in")
    wh.sql("create table raw_in.t (v text)")
    wh.sql("insert into raw_in.t values (%s)", ["1\n" + FORGED + "\x1b[2J\r"])
    views = tmp_path / "views" / "first"
    views.mkdir(parents=True)
    (views / "numbers — 1h.sql").write_text("select v::int as n from raw_in.t\n")
    duro.write_conf(dbname=wh.dbname, views=tmp_path / "views")
    p = duro.refresh("first.numbers")
    assert p.returncode != 0
    lines = (p.stdout + p.stderr).splitlines()
    assert not [line for line in lines if line.startswith("2026-12-03T00:00:00Z")], lines
    report = [line for line in p.stdout.splitlines() if line.startswith("first.numbers: ")]
    assert len(report) == 1 and "\\n2026-12-03T00:00:00Z" in report[0], p.stdout
    assert "\x1b" not in p.stdout + p.stderr and "\\x1b[2J" in report[0], p.stdout
    (run,) = duro.catalog.runs("first.numbers")
    assert "invalid input syntax for type integer" in run["error"], run
    assert "\x1b" not in run["error"] and "\r" not in run["error"], run
    assert "\\x1b[2J" in run["error"], run
