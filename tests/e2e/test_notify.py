"""Slack notifications against a local HTTP receiver standing in for Slack's incoming webhooks:
the JSON bodies of failures (view, step, error, link to the view's page), recoveries, successes
batched as "New views: … Updated views: …", alert_after breaches and their end; a failure is not
told again within 10 minutes, across a restart; a webhook that answers 500 or never answers slows
no refresh, is retried, and what it loses is logged once; the webhook URL (a credential) never
reaches the log.

x.v reads x.src: 1 / n, so n = 0 makes its build fail at the temp table step. Refreshes are asked
for with CALL duro_refresh through the gateway (poll 1h: the scheduler builds only what is stale).
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import built

TIMEOUT = 60
SECRET = "T000/B000/sekrit"


class Receiver:
    """An HTTP server on a thread recording each POST's JSON body, per path. mode: "ok" answers
    200, "fail" 500, "hang" holds the connection without answering until closed."""

    def __init__(self):
        self.bodies = []  # (path, dict) in arrival order, every attempt included
        self.mode = "ok"
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n))
                receiver.bodies.append((self.path, body))
                if receiver.mode == "hang":
                    receiver.release.wait(60)
                    return
                code = 200 if receiver.mode == "ok" else 500
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name):
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/{name}/{SECRET}"

    def texts(self, name):
        return [b["text"] for p, b in self.bodies if p.startswith(f"/services/{name}/")]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def repo(tmp_path, wh):
    wh.sql("create schema x")
    wh.sql("create table x.src (n int)")
    wh.sql("insert into x.src values (1)")
    views = tmp_path / "views"
    views.mkdir()
    (views / "x.v - 1h.sql").write_text("select n, 1 / n as inv from x.src\n")
    (views / "x.other - 1h.sql").write_text("select 42 as answer\n")
    return views


def serve(gateway_factory, duro, wait_until, receiver, repo, web=False, **slack):
    hooks = {"failure_webhook": receiver.url("failure"),
             "success_webhook": receiver.url("success"), "success_every": "1s"}
    hooks.update(slack)
    gw = gateway_factory(worker={"poll": "1h"}, slack=hooks, web=web)
    wait_until(lambda: built(duro.catalog, ["x.v", "x.other"]), TIMEOUT, "the first builds",
               gw.proc)
    return gw


def call(gw, view="x.v", check=False):
    return gw.psql("-c", f"call duro_refresh('{view}')", check=check)


def test_failure_recovery_and_successes(duro, wh, repo, gateway_factory, receiver, wait_until):
    gw = serve(gateway_factory, duro, wait_until, receiver, repo, web=True)
    wait_until(lambda: receiver.texts("success"), TIMEOUT, "the first successes", gw.proc)
    first = receiver.texts("success")
    assert len(first) == 1, first  # both builds in one message
    assert first[0].startswith("New views: ") and "x.v" in first[0] and "x.other" in first[0]
    assert "Updated views" not in first[0]

    wh.sql("update x.src set n = 0")
    assert call(gw).returncode != 0
    wait_until(lambda: receiver.texts("failure"), TIMEOUT, "the failure message", gw.proc)
    failure = receiver.texts("failure")[0]
    assert failure.startswith(":x: Refresh of x.v failed at step create_temp: "), failure
    assert "division by zero" in failure
    assert f"<http://127.0.0.1:{duro.web_port}/views/x.v|" in failure

    wh.sql("update x.src set n = 1")
    call(gw, check=True)
    wait_until(lambda: len(receiver.texts("failure")) == 2, TIMEOUT, "the recovery", gw.proc)
    assert receiver.texts("failure")[1].startswith(":white_check_mark: x.v is fresh again")
    wait_until(lambda: len(receiver.texts("success")) == 2, TIMEOUT, "the update", gw.proc)
    assert receiver.texts("success")[1] == "Updated views: x.v"
    logs = gw.logs()
    assert "sekrit" not in logs and "notifications: on (failures, successes)" in logs


def test_a_failure_is_not_repeated_within_ten_minutes_across_a_restart(
        duro, wh, repo, gateway_factory, receiver, wait_until):
    gw = serve(gateway_factory, duro, wait_until, receiver, repo)
    wh.sql("update x.src set n = 0")
    call(gw)
    wait_until(lambda: receiver.texts("failure"), TIMEOUT, "the failure message", gw.proc)
    call(gw)
    gw.proc.stop()
    duro.start().wait_listening(duro.gateway_port)
    call(gw)
    call(gw)
    failed_runs = [r for r in duro.catalog.runs("x.v") if r["outcome"] == "failed"]
    assert len(failed_runs) == 4
    time.sleep(2)  # what would have been told is told well within this
    assert len(receiver.texts("failure")) == 1, receiver.texts("failure")
    # Ten minutes later (the record of the last one told, moved back), it is told again.
    duro.catalog.execute("update notices set failure_sent_us = failure_sent_us - 601000000")
    call(gw)
    wait_until(lambda: len(receiver.texts("failure")) == 2, TIMEOUT, "the failure told again")


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_a_dead_webhook_slows_nothing_and_its_losses_are_logged(
        duro, wh, repo, gateway_factory, receiver, wait_until, mode):
    receiver.mode = mode
    gw = serve(gateway_factory, duro, wait_until, receiver, repo)
    wh.sql("update x.src set n = 0")
    for _ in range(5):
        t0 = time.monotonic()
        assert call(gw).returncode != 0
        call(gw, "x.other", check=True)
        assert time.monotonic() - t0 < 5, "a refresh waited for the webhook"
    if mode == "fail":
        # The first message (the successes) is tried 4 times, 1, 2 and 4 s apart, then dropped.
        wait_until(lambda: len(receiver.texts("success")) >= 4, TIMEOUT, "the retries", gw.proc)
        assert len(set(receiver.texts("success")[:4])) == 1
        wait_until(lambda: "notifications: a message was dropped" in gw.logs(), TIMEOUT,
                   "the drop logged", gw.proc)
    else:
        wait_until(lambda: receiver.bodies, TIMEOUT, "a post", gw.proc)
    t0 = time.monotonic()
    assert gw.proc.stop(grace=15) == 0
    assert time.monotonic() - t0 < 10, "the stop waited for the webhook"
    logs = gw.logs()
    assert logs.count("notifications: a message was dropped") == 1, logs
    assert "sekrit" not in logs


def test_alert_after_fires_and_recovers(duro, wh, repo, gateway_factory, receiver, wait_until):
    (repo / "x.v.conf").write_text("alert_after = 2h\n")
    gw = serve(gateway_factory, duro, wait_until, receiver, repo)
    assert not [t for t in receiver.texts("failure") if "alert_after" in t]
    # The view fails from now on; its last success is three hours old.
    wh.sql("update x.src set n = 0")
    duro.catalog.age("x.v", seconds=3 * 3600)
    wait_until(lambda: [t for t in receiver.texts("failure") if "alert_after" in t], TIMEOUT,
               "the alert_after breach", gw.proc)
    alert = [t for t in receiver.texts("failure") if "alert_after" in t][0]
    assert alert.startswith(":warning: x.v has had no successful refresh for 108")  # 3 h = 10800 s
    assert "(alert_after 7200 s)" in alert and "division by zero" in alert
    told = len(receiver.texts("failure"))
    time.sleep(7)  # a check runs every 5 s: the breach is not told again
    assert not [t for t in receiver.texts("failure")[told:] if "alert_after" in t]

    wh.sql("update x.src set n = 1")
    call(gw, check=True)
    wait_until(lambda: any(t.startswith(":white_check_mark: x.v is fresh again")
                           for t in receiver.texts("failure")[told:]), TIMEOUT, "the recovery",
               gw.proc)
    assert not [t for t in receiver.texts("failure") if t.startswith(":warning: x.other")]


def test_summary_on_the_log_webhook(duro, wh, repo, gateway_factory, receiver, wait_until):
    gw = serve(gateway_factory, duro, wait_until, receiver, repo,
               log_webhook=receiver.url("log"), log_every="2s")
    wait_until(lambda: any("2 fresh" in t for t in receiver.texts("log")), TIMEOUT,
               "a summary", gw.proc)
    summary = next(t for t in receiver.texts("log") if "2 fresh" in t)
    assert summary.startswith("Duro: ") and "0 failed, 0 never built" in summary, summary
