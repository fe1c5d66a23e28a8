"""The command line as a user meets it: duro --help/--version, duro check and duro graph
on the example repository (examples/views) and on broken copies of it."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "views"
DURO = os.environ.get("DURO_BIN", str(ROOT / "duro"))


def duro(*args, cwd=None):
    return subprocess.run([DURO, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.fixture
def repo(tmp_path):
    """A private copy of the example repository to break."""
    dst = tmp_path / "views"
    shutil.copytree(EXAMPLES, dst)
    return dst


def rows(stdout):
    """The view lines of duro check's listing, by view name."""
    out = {}
    for line in stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4 and "." in parts[0]:
            out[parts[0]] = parts[1:]
    return out


def test_version_and_help():
    r = duro("--version")
    assert r.returncode == 0 and re.fullmatch(r"duro \d+\.\d+\.\d+\n", r.stdout)
    r = duro("--help")
    assert r.returncode == 0
    assert "check [-c FILE] [DIR]" in r.stdout and "graph" in r.stdout
    for cmd in ("check", "graph"):
        r = duro(cmd, "-h")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: duro {cmd}")
    r = duro("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr


def test_check_lists_the_example_repository():
    r = duro("check", EXAMPLES)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    views = rows(r.stdout)
    assert sorted(views) == [
        "finances.detailed", "finances.simplified", "first.cities", "first.countries",
        "first.people", "first.shops", "second.child",
    ]
    assert views["first.cities"][:3] == ["1d", "1d", "-"]
    # shops has no interval of its own: it inherits people's hour
    assert views["first.shops"][:3] == ["-", "1h", "first.cities"]
    assert views["first.people"][:3] == ["1h", "1h", "first.shops"]
    assert "python processor" in " ".join(views["first.countries"])
    assert r.stdout.rstrip().endswith("7 views, 0 problems")


def test_check_reports_every_problem_with_file_and_line(repo):
    (repo / "my-table - 1h.sql").write_text("select 1")
    (repo / "first" / "cities - 1.5h.sql").write_text("select 1")
    (repo / "first" / "cities.conf").write_text("distkey=city\ncolour=blue\nsortkey=nope\n")
    (repo / "first" / "orphan_test.sql").write_text("select true")
    (repo / "a.x - 1h.sql").write_text("select * from b.y")
    (repo / "b.y - 1h.sql").write_text("select * from a.x")
    r = duro("check", repo)
    assert r.returncode == 1
    problems = r.stderr.splitlines()
    expected = [
        f"{repo}/a.x - 1h.sql:1: dependency cycle: a.x -> b.y -> a.x",
        f"{repo}/first/cities - 1.5h.sql:1: invalid interval '1.5h'",
        f"{repo}/first/cities.conf:2: unknown key 'colour'",
        f"{repo}/first/cities.conf:3: sortkey column 'nope' is not an output column of first.cities",
        f"{repo}/first/orphan_test.sql:1: tests for first.orphan, which has no view file",
        f"{repo}/my-table - 1h.sql:1: view name 'my-table' is not an SQL identifier",
    ]
    for want in expected:
        assert any(p.startswith(want) for p in problems), (want, problems)
    assert len(problems) == len(expected)
    assert r.stdout.rstrip().endswith(f"{len(expected)} problems")


def test_check_reads_path_and_dialect_from_config(repo, tmp_path):
    long_name = "t" * 60
    (repo / "first" / f"{long_name} - 1h.sql").write_text("select 1 as a")
    conf = tmp_path / "duro.conf"
    conf.write_text("[views]\npath = views\n")
    r = duro("check", "-c", conf)
    assert r.returncode == 1
    assert f"table name '{long_name}' is too long: at most 53 characters" in r.stderr
    conf.write_text("[warehouse]\ndialect = redshift\n[views]\npath = views\n")
    r = duro("check", "-c", conf)
    assert r.returncode == 0, r.stderr
    assert f"first.{long_name}" in r.stdout


def test_check_default_directory_and_errors(tmp_path, repo):
    r = duro("check", cwd=tmp_path)  # ./views
    assert r.returncode == 0, r.stderr
    r = duro("check", tmp_path / "missing")
    assert r.returncode == 2
    assert "cannot read the views repository" in r.stderr
    r = duro("check", "a", "b")
    assert r.returncode == 2 and "usage:" in r.stderr


def test_check_reports_sql_syntax_errors_at_line_and_column(repo):
    # A trailing comma and an unfinished WHERE: the PostgreSQL dialect (no -c) and Redshift alike.
    (repo / "first" / "broken - 1h.sql").write_text(
        "select city,\n       country,\nfrom first.cities\n")
    (repo / "first" / "open - 1h.sql").write_text("select city from first.cities\nwhere\n")
    r = duro("check", repo)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f'{repo}/first/broken - 1h.sql:3:1: syntax error at or near "from"',
        f"{repo}/first/open - 1h.sql:2:6: syntax error at end of input",
    ]
    assert r.stdout.rstrip().endswith("2 problems")


def test_check_reads_redshift_syntax_only_with_the_redshift_dialect(repo, tmp_path):
    (repo / "first" / "top - 1h.sql").write_text(
        "select top 3 city\nfrom first.cities\nqualify row_number() over (order by city) = 1\n")
    conf = tmp_path / "duro.conf"
    conf.write_text("[warehouse]\ndialect = redshift\n[views]\npath = views\n")
    r = duro("check", "-c", conf)
    assert r.returncode == 0, r.stderr
    assert rows(r.stdout)["first.top"][:3] == ["1h", "1h", "first.cities"]
    assert "read by the tokenizer" in r.stdout

    r = duro("check", repo)  # PostgreSQL
    assert r.returncode == 1
    assert r.stderr.splitlines() == [f'{repo}/first/top - 1h.sql:1:12: syntax error at or near "3"']

    # A mistake next to Redshift-only syntax is still one with Redshift.
    (repo / "first" / "top - 1h.sql").write_text("select top 3 city,\nfrom first.cities\n")
    r = duro("check", "-c", conf)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f'{repo}/first/top - 1h.sql:2:1: syntax error at or near "from"']


def test_refresh_of_a_view_with_a_syntax_error_names_its_file(duro, repo):
    (repo / "first" / "broken - 1h.sql").write_text("select city,\nfrom first.cities\n")
    duro.write_conf(views=repo)
    r = duro.refresh("first.broken", check=2)
    assert f'{repo}/first/broken - 1h.sql:2:1: syntax error at or near "from"' in r.stderr
    assert "nothing was refreshed" in r.stderr


def test_check_of_a_one_view_repository(tmp_path):
    (tmp_path / "first").mkdir()
    (tmp_path / "first" / "cities-24h.sql").write_text("select city from first.cities_raw")
    r = duro("check", tmp_path)
    assert r.returncode == 0, r.stderr
    assert rows(r.stdout)["first.cities"][:2] == ["1d", "1d"]
    assert "1 view, 0 problems" in r.stdout


def test_graph_is_dot_with_data_flow_edges():
    r = duro("graph", EXAMPLES)
    assert r.returncode == 0, r.stderr
    dot = r.stdout
    assert dot.startswith("digraph duro {") and dot.rstrip().endswith("}")
    edges = set(re.findall(r'"([\w.]+)" -> "([\w.]+)";', dot))
    assert edges == {
        ("first.cities", "first.shops"),
        ("first.shops", "first.people"),
        ("first.people", "finances.detailed"),
        ("first.cities", "first.countries"),
        ("first.cities", "second.child"),
    }
    assert 'subgraph "cluster_first"' in dot
    assert '"first.shops" [label="shops\\n(1h)"]' in dot


def test_graph_marks_disabled_views_and_reports_problems(repo):
    (repo / "first" / "shops.conf").write_text("enabled=false\n")
    (repo / "first" / "bad.conf").write_text("x=1\n")
    r = duro("graph", repo)
    assert r.returncode == 1
    assert re.search(r'"first.shops" \[label=[^\]]*style=dashed', r.stdout)
    assert re.search(r'"first.people" \[label=[^\]]*style=dashed', r.stdout)  # reads shops
    assert f"{repo}/first/bad.conf:1: unknown key 'x'" in r.stderr


def test_check_and_refresh_ignore_sections_they_do_not_use(repo, tmp_path):
    """A configuration whose [gateway] or [web] part is wrong (say, written for a newer daemon)
    still serves `duro check` and `duro refresh`, which use neither; a typo in the part they use,
    or a key set twice, is still an error."""
    conf = tmp_path / "duro.conf"
    conf.write_text("[gateway]\nlisten = not an address\ntls = sometimes\n"
                    "[web]\nlisten = nowhere\n[views]\npath = views\n")
    r = duro("check", "-c", conf)
    assert r.returncode == 0, r.stderr
    r = duro("refresh", "-c", conf, "no.such_view")
    assert r.returncode == 2
    assert "unknown view no.such_view" in r.stderr  # the configuration was accepted
    conf.write_text("[gateway]\nlisten = not an address\n[views]\npath = views\n")
    r = duro("serve", "-c", conf)
    assert r.returncode == 2
    assert "invalid value 'not an address' for [gateway] listen" in r.stderr
    conf.write_text("[warehouse]\ndialect = oracle\n[views]\npath = views\n")
    r = duro("check", "-c", conf)
    assert r.returncode == 2
    assert "invalid value 'oracle' for [warehouse] dialect" in r.stderr
    conf.write_text("[views]\npath = views\n\n[views]\npath = other\n")
    r = duro("check", "-c", conf)
    assert r.returncode == 2
    assert f"{conf}:5: [views] path is set twice (first on line 2)" in r.stderr


def test_refresh_help_states_the_exit_codes():
    r = duro("refresh", "-h")
    assert r.returncode == 0
    assert "0 when every build succeeded" in r.stdout
    assert "1 when a build failed" in r.stdout
    assert "2 when nothing was built" in r.stdout
