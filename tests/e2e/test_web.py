"""The web UI of `duro serve` ([web] listen) against a real PostgreSQL, with real HTTP clients:
every route, its status code and JSON shape; escaping of what a view's SQL and errors hold; the
token (Bearer header, login cookie), cross-site POSTs refused; the Refresh buttons building
through the scheduler (a `web` run); the start-up refusal of an open non-loopback address; the
limits (headers, body, connections, a slow client); and headless Chromium rendering /, /views
and a view page without console errors, screenshots kept in tests/artifacts/web/.
"""
import http.client
import json
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import psycopg
import pytest

from conftest import built
from pgcluster import SUPERUSER

ALL_VIEWS = ["finances.detailed", "finances.simplified", "first.cities", "first.people",
             "first.shops", "second.child"]
TOKEN = "s3cret-web-token-for-tests"
# Where the Chromium test keeps its screenshots (ignored by git).
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "web"


def request(port, method, path, body=None, headers=None, timeout=15):
    """One HTTP request on a fresh connection: (status, headers as a dict, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        conn.close()


def get(port, path, **kw):
    return request(port, "GET", path, **kw)


def get_json(port, path):
    status, headers, body = get(port, path)
    assert headers["content-type"] == "application/json", (path, headers)
    return status, json.loads(body)


def serve(duro, wait_until, wh, views=ALL_VIEWS, **web):
    """Starts duro serve with the web UI on duro.web_port ([web] keys as web) once the first
    builds are done."""
    duro.write_conf(dbname=wh.dbname, web=True)
    extra = "".join(f"{k} = {v}\n" for k, v in web.items())
    duro.conf_path.write_text(duro.conf_path.read_text().replace("[web]\n", "[web]\n" + extra))
    p = duro.start()
    p.wait_listening(duro.web_port)
    wait_until(lambda: built(duro.catalog, views), 60, f"the first build of {views}", p)
    return p


def web_runs(catalog, view):
    return [r for r in catalog.runs(view) if r["trigger"] == "web"]


# -- pages and the API ------------------------------------------------------------------------


def test_every_page_and_api_route_answers(duro, wh, example_repo, wait_until):
    p = serve(duro, wait_until, wh)
    port = duro.web_port
    assert "web UI listening on http://127.0.0.1:" in p.logs()

    status, headers, body = get(port, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in headers["content-security-policy"]
    assert re.search(r"Last 24h: 6 views, \d+ refreshes, load \d+\.\d%", body), body
    assert "<svg" in body and "first.cities" in body  # the timeline drew the first builds

    # A window in ISO timestamps zooms; one without runs draws none; a bad one is no page.
    status, _, body = get(port, "/2001-01-01T00:00:00Z/2001-01-01T01:00:00Z/")
    assert status == 200 and "Runs from 2001-01-01T00:00:00Z to 2001-01-01T01:00:00Z" in body
    assert "first.cities" not in body.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert get(port, "/2001-01-01T02:00:00Z/2001-01-01T01:00:00Z/")[0] == 404
    assert get(port, "/2001-01-01/2002-12-31/")[0] == 400  # longer than 31 days

    status, _, body = get(port, "/views")
    assert status == 200
    for v in ALL_VIEWS:
        assert f'href="/views/{v}"' in body
    assert body.count(">Refresh tree</button>") == 6 and "Views (6)" in body

    status, _, body = get(port, "/views/first.cities")
    assert status == 200
    assert "Run log" in body and "create_temp" in body
    assert "from first.cities_raw" in body  # its SQL, from the repository
    assert "correct_capital_of_france" in body  # its tests (first/cities_test.sql)
    assert "stale_read=" in body  # the resolved configuration
    assert 'href="/views/first.shops"' in body  # shops reads cities: drawn downstream
    assert get(port, "/views/first.nope")[0] == 404

    status, _, body = get(port, "/graph")
    assert status == 200 and body.count('class="node-ok') == 6 and 'class="edge"' in body

    status, data = get_json(port, "/api/views")
    assert status == 200 and data["total"] == 6 and data["page"] == 1 and data["next"] is None
    v = {x["name"]: x for x in data["views"]}
    assert set(v) == set(ALL_VIEWS)
    cities = v["first.cities"]
    assert cities["state"] == "ok" and cities["rows"] > 0 and cities["running"] is False
    assert cities["interval_s"] == 86400 and cities["last_refresh"].endswith("Z")
    assert isinstance(cities["mean_duration_ms"], int) and cities["depends_on"] == []
    assert v["first.people"]["depends_on"] == ["first.shops"]
    assert get_json(port, "/api/views?page=0")[0] == 400

    status, one = get_json(port, "/api/views/first.cities")
    assert status == 200 and one["name"] == "first.cities"
    assert one["dependents"] == ["first.shops", "second.child"]
    assert "stale_read=" in one["config"] and one["source"].startswith("first/cities")
    status, err = get_json(port, "/api/views/first.nope")
    assert status == 404 and err == {"error": "no such view"}

    status, runs = get_json(port, "/api/runs?limit=2")
    assert status == 200 and runs["limit"] == 2 and len(runs["runs"]) == 2
    r = runs["runs"][0]
    assert set(r) == {"id", "view", "trigger", "outcome", "started", "finished", "duration_ms",
                      "rows", "error", "steps"}
    assert r["outcome"] == "ok" and r["steps"][0]["step"] == "create_temp"
    seen = [x["id"] for x in runs["runs"]]
    while runs["next"]:  # the pages, followed to the end, list every run once, newest start first
        status, runs = get_json(port, runs["next"])
        assert status == 200
        seen += [x["id"] for x in runs["runs"]]
    # Concurrent workers' runs may start in another order than their ids: the order is by start,
    # then by id.
    started = {r["id"]: r["started_us"] for r in duro.catalog.runs()}
    assert seen == sorted(started, key=lambda i: (started[i], i), reverse=True)
    status, runs = get_json(port, "/api/runs?view=first.cities")
    assert [x["view"] for x in runs["runs"]] == ["first.cities"] and runs["next"] is None
    assert get_json(port, "/api/runs?since=2999-01-01T00:00:00Z")[1]["runs"] == []
    assert get_json(port, "/api/runs?limit=100000")[1]["limit"] == 500
    assert get_json(port, "/api/runs?since=yesterday")[0] == 400
    assert get_json(port, "/api/runs?limit=-1")[0] == 400

    wait_until(lambda: get(port, "/healthz")[2].startswith("ok\n"), 15, "/healthz to say ok", p)
    assert get(port, "/metrics")[0] == 200
    status, headers, _ = get(port, "/static/duro.css")
    assert status == 200 and headers["content-type"].startswith("text/css")
    assert get(port, "/nope")[0] == 404
    assert request(port, "PUT", "/views")[0] == 405
    assert request(port, "POST", "/views")[0] == 405


def metric(text, name, **labels):
    """The value of the sample name{labels} in a Prometheus text exposition, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    head = f"{name}{{{want}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(head):
            return float(line[len(head):].split()[0])
    return None


def test_metrics_count_what_the_daemon_did(duro, wh, example_repo, wait_until):
    """/metrics on the running daemon: the first builds are counted by view and outcome, a
    session through the gateway and its statements are counted, a CALL duro_refresh is counted
    by outcome, and each view's seconds since its last good refresh is there to alert on."""
    p = serve(duro, wait_until, wh)
    conn = psycopg.connect(host="127.0.0.1", port=duro.gateway_port, dbname=wh.dbname,
                           user=SUPERUSER, sslmode="disable", connect_timeout=10, autocommit=True)
    with conn:
        conn.execute("select count(*) from first.cities").fetchone()
        conn.execute("call duro_refresh('first.cities')")
    status, headers, body = get(duro.web_port, "/metrics")
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain"), headers
    assert "# TYPE duro_refreshes_total counter" in body
    assert metric(body, "duro_refreshes_total", view="first.cities", outcome="ok") >= 2, body
    assert metric(body, "duro_gateway_sessions_total") >= 1, body
    assert metric(body, "duro_gateway_statements_inspected_total") >= 2, body
    assert metric(body, "duro_refresh_calls_total", outcome="ok") >= 1, body
    since = metric(body, "duro_view_seconds_since_success", view="first.cities")
    assert since is not None and 0 <= since < 60, body
    assert p.running()


def test_what_views_hold_is_escaped(duro, wh, tmp_path, wait_until):
    """SQL and errors can hold markup: every page shows it as text."""
    repo = tmp_path / "views"
    (repo / "x").mkdir(parents=True)
    (repo / "x" / "good - 1h.sql").write_text("-- <script>alert('sql')</script>\nselect 1 as a\n")
    (repo / "x" / "bad - 1h.sql").write_text("select '<script>alert(1)</script>'::int as a\n")
    duro.write_conf(dbname=wh.dbname, web=True)
    p = duro.start()
    p.wait_listening(duro.web_port)
    wait_until(lambda: [r for r in duro.catalog.runs("x.bad") if r["outcome"] == "failed"], 30,
               "x.bad's failure", p)
    port = duro.web_port
    for path in ("/", "/views", "/views/x.bad", "/views/x.good", "/graph"):
        status, _, body = get(port, path)
        assert status == 200, path
        assert "<script" not in body, path
    body = get(port, "/views/x.good")[2]
    assert "&lt;script&gt;alert(&#39;sql&#39;)&lt;/script&gt;" in body
    body = get(port, "/views")[2]
    # Failed first, in red, with its error escaped on its page.
    rows = re.findall(r'<tr( class="failed")?><td><a href="/views/([^"]+)"', body)
    assert rows[0] == (' class="failed"', "x.bad") and rows[1] == ("", "x.good")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in get(port, "/views/x.bad")[2]
    status, data = get_json(port, "/api/views/x.bad")
    assert data["state"] == "failed" and "<script>alert(1)</script>" in data["last_error"]
    raw = get(port, "/api/views/x.bad")[2]
    assert "<script" not in raw  # JSON escapes < and > too


def test_a_run_in_progress_shows(duro, wh, tmp_path, wait_until):
    repo = tmp_path / "views"
    (repo / "x").mkdir(parents=True)
    (repo / "x" / "slow - 1h.sql").write_text("select 1 as a from (select pg_sleep(4)) s\n")
    duro.write_conf(dbname=wh.dbname, web=True)
    p = duro.start()
    p.wait_listening(duro.web_port)
    port = duro.web_port
    body = wait_until(lambda: (lambda b: b if "In progress (1)" in b else None)(get(port, "/")[2]),
                      15, "the run in progress on /", p)
    assert 'href="/views/x.slow"' in body.split("In progress (1)", 1)[1]
    assert get_json(port, "/api/views/x.slow")[1]["state"] == "running"
    assert 'class="node-running' in get(port, "/graph")[2]
    wait_until(lambda: "In progress (0)" in get(port, "/")[2], 30, "the run's end", p)
    assert get_json(port, "/api/views/x.slow")[1]["state"] == "ok"


# -- actions and the token --------------------------------------------------------------------


def test_refresh_buttons_go_through_the_scheduler(duro, wh, example_repo, wait_until):
    """Without a token, a same-site form POST refreshes: a `web` run of the view; Refresh tree
    rebuilds its dependencies too. A POST from another site is refused all the same."""
    p = serve(duro, wait_until, wh)
    port = duro.web_port
    status, headers, _ = request(port, "POST", "/views/first.people/refresh",
                                 headers={"Origin": f"http://127.0.0.1:{port}",
                                          "Sec-Fetch-Site": "same-origin"})
    assert status == 303 and headers["location"] == "/views/first.people?queued=view"
    wait_until(lambda: [r for r in web_runs(duro.catalog, "first.people") if r["outcome"] == "ok"],
               30, "a web run of first.people", p)
    assert "queued: its run appears below" in get(port, headers["location"])[2]

    mark = max(r["id"] for r in duro.catalog.runs())
    status, _, _ = request(port, "POST", "/views/first.people/refresh-tree")
    assert status == 303
    wait_until(lambda: [r for r in duro.catalog.runs("first.cities")
                        if r["id"] > mark and r["trigger"] == "dependency"
                        and r["outcome"] == "ok"], 30, "first.cities rebuilt as a dependency", p)
    wait_until(lambda: len(web_runs(duro.catalog, "first.people")) == 2, 30, "a second web run", p)

    # The API says 202 with JSON.
    status, headers, body = request(port, "POST", "/api/views/first.shops/refresh")
    assert status == 202 and json.loads(body) == {"queued": True, "view": "first.shops",
                                                  "tree": False}
    wait_until(lambda: web_runs(duro.catalog, "first.shops"), 30, "a web run of first.shops", p)

    # Another site's page cannot make a browser refresh.
    n = len(duro.catalog.runs())
    for hdrs in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                 {"Origin": "null"}):
        status, _, body = request(port, "POST", "/views/first.people/refresh", headers=hdrs)
        assert status == 403 and "another site" in body, hdrs
    assert request(port, "POST", "/views/first.nope/refresh")[0] == 404
    time.sleep(1.5)  # a poll: nothing was queued by the refused POSTs
    assert len([r for r in duro.catalog.runs() if r["trigger"] == "web"]) == 3
    assert len(duro.catalog.runs()) == n


def test_the_token_guards_actions(duro, wh, example_repo, wait_until):
    p = serve(duro, wait_until, wh, token=TOKEN)
    port = duro.web_port
    path = "/api/views/first.cities/refresh"
    for hdrs in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {TOKEN}x"},
                 {"Cookie": "duro_session=forged"}):
        status, headers, body = request(port, "POST", path, headers=hdrs)
        assert status == 401 and "token" in json.loads(body)["error"], hdrs
    assert request(port, "POST", "/views/first.cities/refresh")[0] == 401
    assert not web_runs(duro.catalog, "first.cities")

    status, _, body = request(port, "POST", path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 202
    wait_until(lambda: web_runs(duro.catalog, "first.cities"), 30, "a web run", p)

    # The login form: a wrong token is refused, the right one sets an HttpOnly, SameSite=Strict
    # cookie that is not the token, and the cookie is enough for the buttons.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, headers, _ = request(port, "POST", "/login", body="token=nope", headers=form)
    assert status == 401 and "set-cookie" not in headers
    status, headers, _ = request(port, "POST", "/login",
                                 body=urllib.parse.urlencode({"token": TOKEN}), headers=form)
    assert status == 303
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    session = cookie.split(";", 1)[0]
    status, _, _ = request(port, "POST", "/views/first.shops/refresh",
                           headers={"Cookie": session})
    assert status == 303
    wait_until(lambda: web_runs(duro.catalog, "first.shops"), 30, "a web run by cookie", p)
    # ... but not from another site's page, cookie or not.
    status, _, _ = request(port, "POST", "/views/first.shops/refresh",
                           headers={"Cookie": session, "Origin": "http://evil.example"})
    assert status == 403
    status, _, _ = request(port, "POST", "/login", body=urllib.parse.urlencode({"token": TOKEN}),
                           headers={**form, "Sec-Fetch-Site": "cross-site"})
    assert status == 403

    # Reading needs no token, and no page shows it.
    for route in ("/", "/views", "/views/first.cities", "/graph", "/login", "/api/views",
                  "/api/views/first.cities", "/api/runs", "/healthz"):
        status, _, body = get(port, route)
        assert status == 200 and TOKEN not in body, route
    assert TOKEN not in p.logs()


def test_an_open_address_without_a_token_is_refused(duro, wh, example_repo, wait_until):
    duro.write_conf(dbname=wh.dbname, web=True)
    conf = duro.conf_path.read_text().replace("listen = 127.0.0.1:" + str(duro.web_port),
                                              f"listen = 0.0.0.0:{duro.web_port}")
    duro.conf_path.write_text(conf)
    p = duro.start()
    assert p.wait(15) == 2
    assert "[web] listen = 0.0.0.0:" in p.logs() and "[web] token is empty" in p.logs()
    assert "[web] public = on" in p.logs()

    # With public = on, or with a token, it starts.
    duro.conf_path.write_text(conf.replace("[web]\n", "[web]\npublic = on\n"))
    p = duro.start()
    p.wait_listening(duro.web_port)
    wait_until(lambda: get(duro.web_port, "/healthz")[0] == 200, 15, "/healthz", p)
    p.send_signal(signal.SIGTERM)
    assert p.wait(15) == 0
    duro.conf_path.write_text(conf.replace("[web]\n", f"[web]\ntoken = {TOKEN}\n"))
    p = duro.start()
    p.wait_listening(duro.web_port)
    p.send_signal(signal.SIGTERM)
    assert p.wait(15) == 0


# -- health and limits ------------------------------------------------------------------------


def test_healthz_says_why_and_opens_one_connection(duro, wh, example_repo, wait_until):
    """/healthz answers from the last check of the warehouse: a hundred requests open no
    connection, and a warehouse that stops answering turns it to 503 with the reason."""
    p = serve(duro, wait_until, wh)
    port = duro.web_port

    def connections():
        return wh.sql("select count(*) from pg_stat_activity where datname = %s "
                      "and pid <> pg_backend_pid()", (wh.dbname,))[0][0]

    wait_until(lambda: get(port, "/healthz")[0] == 200, 15, "the first check", p)
    before = connections()
    for _ in range(100):
        assert get(port, "/healthz")[0] == 200
    assert connections() <= before + 1

    # The warehouse gone (its database renamed away): 503 and the reason, once the cache ends.
    wh.sql("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s "
           "and pid <> pg_backend_pid()", (wh.dbname,))
    duro.pg.sql(f'alter database "{wh.dbname}" allow_connections false')
    try:
        status, body = wait_until(
            lambda: (lambda r: (r[0], r[2]) if r[0] == 503 else None)(get(port, "/healthz")),
            30, "/healthz to say 503", p)
        assert body.startswith("unhealthy: warehouse: ") and "password" not in body
    finally:
        duro.pg.sql(f'alter database "{wh.dbname}" allow_connections true')
    wait_until(lambda: get(port, "/healthz")[0] == 200, 30, "/healthz to recover", p)


def test_hostile_clients_are_bounded(duro, wh, example_repo, wait_until):
    p = serve(duro, wait_until, wh)
    port = duro.web_port
    # Headers past the limit, a body past the limit: refused, the daemon serves on.
    status = request(port, "GET", "/", headers={"X-Big": "a" * 64 * 1024})[0]
    assert status in (400, 413, 431)
    status = request(port, "POST", "/login", body="token=" + "a" * 64 * 1024,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})[0]
    assert status == 413
    # A slow client that never finishes its request stalls no one.
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert get(port, "/healthz", timeout=5)[0] == 200
    slow.close()

    # Open connections are capped: past the cap the next one waits, unaccepted, until one ends.
    def fds():
        return len(list(Path(f"/proc/{p.pid}/fd").iterdir()))

    wait_until(lambda: get(port, "/healthz")[0] == 200, 10, "/healthz", p)
    base = fds()
    held = []
    try:
        for _ in range(64):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/static/duro.css")
            r = c.getresponse()
            r.read()
            assert r.status == 200
            held.append(c)  # kept alive
        waiting = socket.create_connection(("127.0.0.1", port))  # in the kernel's queue
        waiting.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        waiting.settimeout(1.5)
        with pytest.raises(socket.timeout):
            waiting.recv(100)
        held.pop().close()
        waiting.settimeout(10)
        assert waiting.recv(100).startswith(b"HTTP/1.1 200")
        waiting.close()
    finally:
        for c in held:
            c.close()
    # Hundreds of connections that send nothing hold at most the cap's file descriptors.
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
    time.sleep(1)
    assert fds() <= base + 64 + 2, (base, fds())
    for s in idle:
        s.close()
    wait_until(lambda: get(port, "/healthz", timeout=5)[0] == 200, 20, "room again", p)
    assert p.running()


# -- a real browser ---------------------------------------------------------------------------


def chromium():
    path = shutil.which("chromium")
    if not path:
        pytest.fail("chromium not found: install Debian's chromium (tools/install-deps test)")
    return path


def render(url, shot, profile):
    """Loads url in headless Chromium: (the DOM after load, the browser's log)."""
    argv = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", f"--user-data-dir={profile}", "--enable-logging=stderr",
            "--v=0", "--window-size=1280,900", f"--screenshot={shot}", "--dump-dom", url]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def test_pages_render_in_chromium(duro, wh, example_repo, wait_until, tmp_path):
    serve(duro, wait_until, wh)
    base = f"http://127.0.0.1:{duro.web_port}"
    shots = ARTIFACTS
    shots.mkdir(parents=True, exist_ok=True)
    for name, path, expect in (("runs", "/", "Last 24h: 6 views"),
                               ("views", "/views", "Refresh tree"),
                               ("view", "/views/first.people", "Run log"),
                               ("graph", "/graph", "Dependency graph")):
        dom, log = render(base + path, shots / f"{name}.png", tmp_path / f"profile-{name}")
        assert expect in dom, (path, dom[:2000])
        console = [line for line in log.splitlines() if "CONSOLE" in line or
                   "Content Security Policy" in line or "Refused to" in line]
        assert not console, (path, console)
        shot = shots / f"{name}.png"
        assert shot.exists() and shot.stat().st_size > 5000, path
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
