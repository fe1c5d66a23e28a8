"""Message for message like PostgreSQL: whole protocol-3 sessions (tests/difffuzz/difffuzz.py)
run against PostgreSQL directly and through Duro must look the same to the client: the same
message types, SQLSTATEs, command tags, column shapes and transaction states, and every
ReadyForQuery. The regression cases the fuzzer shrank (tests/difffuzz/cases) are replayed, then a
short seeded run of fresh sessions; `make fuzz` runs a long one.

Also: a session that prepares many statements of Duro's gives their memory back when it ends.
"""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "difffuzz"))
import difffuzz  # noqa: E402
import prepares  # noqa: E402
from conftest import sanitized  # noqa: E402

SHORT_RUN = int(os.environ.get("DIFFFUZZ_SESSIONS", "300"))
SEED = int(os.environ.get("DIFFFUZZ_SEED", "19"))


@pytest.fixture
def sides(gateway_factory, pg, db):
    """(PostgreSQL directly, Duro) on the test's database, with duro.status, duro.runs and
    duro_refresh made in it for the direct side; Duro serves an empty repository."""
    gw = gateway_factory(worker={"poll": "1h"})
    duro = difffuzz.Side("duro", gw.host, gw.port, db)
    direct = difffuzz.Side("postgres", pg.host, pg.port, db)
    with pg.connect(dbname=db) as conn:
        difffuzz.prepare_database(conn, duro)
    return direct, duro, gw


def test_regression_cases_answer_as_postgresql(sides):
    direct, duro, gw = sides
    cases = difffuzz.load_cases()
    assert cases, "no regression cases in tests/difffuzz/cases"
    differing = []
    for path in cases:
        case = json.loads(path.read_text())
        a, b = difffuzz.compare(direct, duro, case)
        assert a[-1:] != ["HANG"], f"{path.name}: PostgreSQL itself did not finish: {a}"
        if a != b:
            differing.append(f"{path.name} ({case['note']})\n  PostgreSQL: {' '.join(a)}\n"
                             f"  Duro:       {' '.join(b)}")
    assert not differing, "\n".join(differing) + f"\n--- duro log\n{gw.logs()[-3000:]}"


def test_fresh_sessions_answer_as_postgresql(sides, tmp_path):
    """A short seeded run (DIFFFUZZ_SEED, DIFFFUZZ_SESSIONS); a session that differs is shrunk
    and written to tmp_path as a case to add to tests/difffuzz/cases."""
    direct, duro, gw = sides
    lines = []
    summary = difffuzz.fuzz(direct, duro, SEED, SHORT_RUN, save=tmp_path, log=lines.append,
                            max_failures=3)
    assert summary["sessions"] == SHORT_RUN
    assert summary["differ"] == 0, (f"{summary['differ']} of {SHORT_RUN} sessions differ "
                                    f"(seed {SEED}):\n" + "\n".join(lines)
                                    + f"\n--- duro log\n{gw.logs()[-3000:]}")


def test_memory_of_many_prepared_statements_is_given_back(sides):
    """20,000 named statements of Duro's in one session: the memory they took is returned to
    the system once the session ends (it stayed resident before)."""
    _direct, duro, gw = sides
    r = prepares.prepare_many(duro, gw.proc.pid, 20000, log=lambda line: None)
    grown = r["rss_prepared"] - r["rss_before"]
    assert grown > 20 * 2**20, f"20,000 statements took only {grown} bytes: nothing measured"
    left = r["rss_closed"] - r["rss_before"]
    # Duro gives the memory back with glibc's malloc_trim; an AddressSanitizer build has an
    # allocator of its own that keeps freed memory in quarantine (and the session's end
    # allocates a little more), so there only that closing it took no more than 16 MB is checked.
    bound = grown + 16 * 2**20 if sanitized(gw.duro.bin) else grown / 4
    assert left < bound, (f"{left / 2**20:.0f} MB of {grown / 2**20:.0f} MB stayed after "
                          f"the session closed")
    # Still serving, every statement gone with its session.
    a, b = difffuzz.compare(_direct, duro, {"mode": "burst",
                                            "messages": [["D", "S", "st1"]]})
    assert a == b
