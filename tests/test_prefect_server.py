"""Prefect as an operator runs it: a real ``prefect server start`` whose own scheduler starts
the served discovery deployment, its CLI, API and UI; and the CLI's temporary server on a
busy machine.

Every test starts its own processes, each in its own session with a PREFECT_HOME of its own,
and ends them (and whatever they started) when it is done. The tests poll with a generous
deadline for giving up and never judge how long anything took.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from pipeline.storage import Store
from tests.conftest import ROOT, small_issue
from tests.httpserver import Reply, ScriptedServer

PREFECT = Path(sys.executable).with_name("prefect")  # the venv's CLI, as the README runs it
HTML = {"Content-Type": "text/html; charset=utf-8"}
DEADLINE_S = 480  # when to give up waiting for something on a busy 2-core machine
POLL_S = 1.0
STOP_WAIT_S = 30  # for a process to end after SIGTERM before it gets SIGKILL
SCHEDULER_LOOP_S = 2  # the server's scheduler looks for deployments to schedule this often
SERVE_INTERVAL_S = 15  # between the served deployment's runs: room for a run on 2 busy cores
RUNNER_POLL_S = 1  # how often the served process asks the server for runs that are due
CLI_TIMEOUT_S = 300  # one `prefect ... ls` or `gazette discover` call
ISSUES = (41, 42)  # gazette issues the listing links: the first at once, the second from its second fetch


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONPATH=str(ROOT),
               COLUMNS="250")  # the CLI's tables are cut to the terminal's width
    return env


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """End a process started in its own session, then anything left in its process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children that outlived it (a served flow run)


@contextlib.contextmanager
def started(args: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            yield proc
        finally:
            stop(proc)


def tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:]


def wait_for(what: str, check, *watched: tuple[subprocess.Popen, Path]):
    """Poll ``check`` until it returns something true; fail if a watched process ends first."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = check()
        if value:
            return value
        for proc, log in watched:
            if proc.poll() is not None:
                pytest.fail(f"{log.name} ended (exit {proc.returncode}) while waiting for {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}:\n" + "\n".join(tail(log) for _, log in watched))
        time.sleep(POLL_S)


def healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                          stdin=subprocess.DEVNULL)


def listing(numbers) -> bytes:
    items = "".join(f'<li><a href="/gz/{n}.pdf">2022年第{n}期</a></li>' for n in numbers)
    return f"<html><body><h1>市政府公报</h1><ul>{items}</ul></body></html>".encode()


@pytest.fixture
def site(pdf_factory):
    """A gazette listing on 127.0.0.1 that links one issue, and a second one from its next fetch on."""
    with ScriptedServer() as srv:
        srv.route("/gz/", Reply(200, listing(ISSUES[:1]), HTML), Reply(200, listing(ISSUES), HTML))
        for n in ISSUES:
            pdf = pdf_factory(small_issue(n), f"scheduled-{n}.pdf").read_bytes()
            srv.route(f"/gz/{n}.pdf", Reply(200, pdf, {"Content-Type": "application/pdf", "ETag": f'"{n}"'}))
        yield srv


@pytest.mark.timeout(1500)
def test_the_servers_scheduler_runs_the_served_deployment(site, tmp_path):
    home, out, raw = tmp_path / "prefect", tmp_path / "out", tmp_path / "raw"
    home.mkdir()
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = base_env(home)
    server_env = {**env, "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
                  "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": str(SCHEDULER_LOOP_S)}
    client_env = {**env, "PREFECT_API_URL": api, "PREFECT_RUNNER_POLL_FREQUENCY": str(RUNNER_POLL_S)}
    server_log, serve_log, daily_log = tmp_path / "server.log", tmp_path / "serve.log", tmp_path / "daily.log"
    deploy = [sys.executable, "-m", "flows.deploy", site.url("/gz/"), "--out", str(out), "--raw", str(raw),
              "--allow-private"]

    with started([str(PREFECT), "server", "start"], server_log, server_env) as server, \
            httpx.Client(base_url=api, timeout=60) as rest:
        wait_for("the server to answer", lambda: healthy(api), (server, server_log))

        def deployment(name: str) -> dict | None:
            response = rest.get(f"/deployments/name/discover_and_ingest/{name}")
            return response.json() if response.status_code == 200 else None

        def runs_of(deployment_id: str, *state_types: str) -> list[dict]:
            body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "sort": "EXPECTED_START_TIME_ASC"}
            if state_types:
                body["flow_runs"]["state"] = {"type": {"any_": list(state_types)}}
            response = rest.post("/flow_runs/filter", json=body)
            response.raise_for_status()
            return response.json()

        with started([*deploy, "--interval", str(SERVE_INTERVAL_S), "--name", "scheduled"], serve_log,
                     client_env) as serving:
            scheduled = wait_for("the served deployment", lambda: deployment("scheduled"), (serving, serve_log))
            assert [s["schedule"].get("interval") for s in scheduled["schedules"]] == [SERVE_INTERVAL_S]

            def two_completed() -> list[dict]:
                # a failing scheduler service logs a traceback on every loop and creates no runs
                assert "Traceback" not in server_log.read_text(errors="replace"), tail(server_log)
                failed = runs_of(scheduled["id"], "FAILED", "CRASHED")
                assert not failed, f"{failed[0]['state']}\n{tail(serve_log)}"
                done = runs_of(scheduled["id"], "COMPLETED")
                return done if len(done) >= 2 else []

            completed = wait_for("two completed runs", two_completed, (serving, serve_log), (server, server_log))
            assert all(r["auto_scheduled"] for r in completed)  # created by the server's scheduler
            upcoming = runs_of(scheduled["id"], "SCHEDULED")
            assert upcoming and all(r["auto_scheduled"] for r in upcoming)

            # the operator's view while the deployment is served: its next runs
            listed = cli([str(PREFECT), "flow-run", "ls"], client_env)
            assert listed.returncode == 0, listed.stderr
            assert any(r["name"] in listed.stdout for r in upcoming), listed.stdout
            listed = cli([str(PREFECT), "deployment", "ls"], client_env)
            assert listed.returncode == 0, listed.stderr
            assert "discover_and_ingest/scheduled" in listed.stdout and scheduled["id"] in listed.stdout
        completed = runs_of(scheduled["id"], "COMPLETED")  # a run may have finished meanwhile

        listed = cli([str(PREFECT), "flow-run", "ls", "--state-type", "COMPLETED"], client_env)
        assert listed.returncode == 0, listed.stderr
        assert all(r["id"] in listed.stdout for r in completed), listed.stdout

        # the runs landed documents: each issue once, from two runs that added something
        store = Store(out)
        assert sorted(d["doc_number"] for d in store.read("documents").to_pylist()) == [
            f"测府办〔2022〕{n}号" for n in ISSUES]
        runs = [r for r in store.read("runs").to_pylist() if r["flow"] == "discover_and_ingest"]
        assert len([r for r in runs if r["documents"] > 0]) >= 2
        assert len(runs) >= len(completed)

        # each run's summary and 目录 artifacts, read back through the server's API
        response = rest.post("/artifacts/filter", json={"flow_runs": {"id": {"any_": [r["id"] for r in completed]}}})
        response.raise_for_status()
        artifacts = response.json()
        summaries = [a for a in artifacts if a["key"] == "discover-and-ingest-summary"]
        assert {a["flow_run_id"] for a in summaries} == {r["id"] for r in completed}
        assert any("| 1 |" in a["data"] and a["data"].startswith("## discover_and_ingest:") for a in summaries)
        toc_rows = [row for a in artifacts if a["key"] == "toc-check" for row in json.loads(a["data"])]
        assert toc_rows and all(row.get("status") for row in toc_rows)
        assert any(a["key"] == "toc-report" and a["data"].strip() for a in artifacts)

        # the UI: its pages, its settings pointing at this API, and the calls its Runs page makes
        page = httpx.get(f"http://127.0.0.1:{port}/runs", headers={"Accept": "text/html"}, timeout=60)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert httpx.get(f"http://127.0.0.1:{port}/ui-settings", timeout=60).json()["api_url"] == api
        week_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=7)).isoformat()
        runs_page = rest.post("/flow_runs/paginate", json={
            "flow_runs": {"start_time": {"after_": week_ago}}, "sort": "START_TIME_DESC", "limit": 100, "page": 1})
        assert runs_page.status_code == 200 and runs_page.json()["count"] >= len(completed)
        history = rest.post("/ui/flow_runs/history", json={
            "flow_runs": {"start_time": {"after_": week_ago}}, "sort": "START_TIME_DESC", "limit": 100, "offset": 0})
        assert history.status_code == 200 and len(history.json()) >= len(completed)

        # a cron deployment (the README's daily run) gets its next runs from the scheduler too
        with started([*deploy, "--cron", "0 6 * * *", "--name", "daily"], daily_log, client_env) as serving:
            daily = wait_for("the daily deployment", lambda: deployment("daily"), (serving, daily_log))
            assert [s["schedule"].get("cron") for s in daily["schedules"]] == ["0 6 * * *"]
            upcoming = wait_for("the daily deployment's next runs",
                                lambda: runs_of(daily["id"], "SCHEDULED"), (serving, daily_log))
        starts = [dt.datetime.fromisoformat(r["expected_start_time"]) for r in upcoming]
        assert all((s.hour, s.minute) == (6, 0) for s in starts) and all(r["auto_scheduled"] for r in upcoming)

        log = server_log.read_text(errors="replace")  # before the server is stopped
        assert server.poll() is None, log[-4000:]
    assert "Traceback" not in log and "InvalidRequestError" not in log, log[-4000:]


def _discover(site_url: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return cli([sys.executable, "-m", "gazette.cli", "discover", site_url, "--out", str(tmp_path / "out"),
                "--raw", str(tmp_path / "raw"), "--allow-private"], env)


@pytest.mark.timeout(900)
def test_discover_starts_its_temporary_server_with_both_cores_busy(site, tmp_path):
    """A first run (fresh PREFECT_HOME: the temporary server migrates its database) while
    every core is taken by a CPU-bound process."""
    home = tmp_path / "prefect"
    home.mkdir()
    burn = [sys.executable, "-c", "while True: pass"]
    burners = [subprocess.Popen(burn, start_new_session=True) for _ in range(os.cpu_count() or 2)]
    try:
        done = _discover(site.url("/gz/"), tmp_path, base_env(home))
    finally:
        for proc in burners:
            stop(proc)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "1 documents" in done.stdout
    assert "Traceback" not in done.stderr
    docs = Store(tmp_path / "out").read("documents").to_pylist()
    assert [d["doc_number"] for d in docs] == [f"测府办〔2022〕{ISSUES[0]}号"]


def _processes_with_home(home: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("PREFECT_HOME") == str(home):
                found.append(proc)
    return found


def test_a_temporary_server_that_does_not_start_is_one_line_and_exit_2(site, tmp_path):
    home = tmp_path / "prefect"
    home.mkdir()
    # no wait at all: the start fails on both tries, whatever the machine's speed
    env = {**base_env(home), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0"}
    done = _discover(site.url("/gz/"), tmp_path, env)
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: the temporary Prefect server did not start within 0 s (2 tries; busy machine?); set "
        "PREFECT_API_URL to a running server, or PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher, or retry"]
    assert site.requests == []  # the flow never began
    assert _processes_with_home(home) == []  # neither half-started server was left behind
