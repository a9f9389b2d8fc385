"""Per-document isolation: forked children from the CLI and the parse service for threaded callers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from pipeline.ingest import process_source
from pipeline.isolation import Job, ParseService, parse_isolated, run_jobs
from pipeline.settings import Settings
from tests.conftest import ROOT, SAMPLE_PDF


def _digest(result) -> list:
    return [(d.doc_id, d.doc_number, [s.title for s in d.sections], len(d.tables)) for d in result.documents]


@pytest.fixture
def service():
    svc = ParseService()
    yield svc
    svc.close()


def _service_process(svc: ParseService) -> psutil.Process:
    return psutil.Process(svc._conn.proc.pid)


def test_service_result_equals_in_process_parse(service):
    direct = process_source(SAMPLE_PDF, "sample")
    isolated = service.parse(SAMPLE_PDF, "sample")
    assert isolated.errors == [] and _digest(isolated) == _digest(direct)
    assert len(isolated.removed) == len(direct.removed) > 0


def test_service_parses_from_many_threads_in_job_order(service, pdf_factory):
    from tests.conftest import small_issue

    paths = [pdf_factory(small_issue(n), f"iso-{n}.pdf") for n in range(1, 5)]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda p: service.parse(p, p.name), paths))
    assert [r.source for r in results] == [p.name for p in paths]
    assert [r.documents[-1].doc_number for r in results] == [f"测府办〔2022〕{n}号" for n in range(1, 5)]


@pytest.fixture
def stuck(monkeypatch):
    """Documents whose source contains "stuck" hang and never finish (``pipeline/faults.py``);
    a service started in the test sees it."""
    from pipeline import faults

    monkeypatch.setenv(faults.ENV, "parse=hang@stuck")


def test_service_timeout_kills_only_that_document(service, stuck):
    timed_out = service.parse(SAMPLE_PDF, "stuck", Settings(doc_timeout_s=0.3))
    assert [e.error_type for e in timed_out.errors] == ["timeout"]
    assert _service_process(service).children() == []  # the stuck child is gone
    assert service.parse(SAMPLE_PDF, "next").errors == []  # and the service goes on


def test_killed_child_is_a_worker_died_record(service, stuck):
    service.start()
    future = service.submit(SAMPLE_PDF, "stuck")  # its process is still there when it is killed
    proc = _service_process(service)
    deadline = time.monotonic() + 30
    while not proc.children() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.children()[0].send_signal(signal.SIGKILL)
    result = future.result(timeout=60)
    assert [e.error_type for e in result.errors] == ["worker_died"]
    assert "killed by signal 9" in result.errors[0].message


def test_a_dead_service_fails_its_jobs_and_is_restarted(service, stuck):
    service.start()
    first = _service_process(service)
    future = service.submit(SAMPLE_PDF, "stuck")  # still running when its service is killed
    first.send_signal(signal.SIGKILL)
    result = future.result(timeout=60)
    assert [e.error_type for e in result.errors] == ["worker_died"]
    assert service.parse(SAMPLE_PDF, "again").errors == []
    assert _service_process(service).pid != first.pid


def test_parse_isolated_gives_the_same_from_any_thread():
    alone = parse_isolated(SAMPLE_PDF, "alone")
    holder = threading.Event()
    thread = threading.Thread(target=holder.wait)
    thread.start()
    try:
        threaded = parse_isolated(SAMPLE_PDF, "threaded")  # another thread runs
    finally:
        holder.set()
        thread.join()
    assert _digest(alone) == _digest(threaded) and alone.errors == threaded.errors == []


def test_children_do_not_rerun_the_callers_main_module(tmp_path):
    """multiprocessing's forkserver re-runs ``__main__`` in every child; the service must not."""
    marker = tmp_path / "ran"
    script = tmp_path / "caller.py"
    script.write_text(
        "import threading\n"
        f"open({str(marker)!r}, 'a').write('x')\n"  # module-level side effect, no __main__ guard
        "from pipeline.isolation import parse_isolated\n"
        "hold = threading.Event(); threading.Thread(target=hold.wait, daemon=True).start()\n"
        f"results = [parse_isolated({str(SAMPLE_PDF)!r}, str(i)) for i in range(2)]\n"
        "assert all(not r.errors and r.documents for r in results), [r.errors for r in results]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert marker.read_text() == "x"


def test_service_dies_with_its_parent(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(
        "import time\n"
        "from pipeline.isolation import start_parse_service\n"
        "start_parse_service()\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        service_proc = psutil.Process(parent.pid).children()[0]
        parent.kill()
        parent.wait(10)
        service_proc.wait(60)  # raises psutil.TimeoutExpired if it outlived its parent
    finally:
        parent.kill()


def test_run_jobs_leaves_garbage_collection_as_it_found_it():
    import gc

    before = gc.get_freeze_count()
    results = run_jobs([Job(SAMPLE_PDF, "a"), Job(SAMPLE_PDF, "b")], Settings(), workers=2)
    assert [r.source for r in results] == ["a", "b"] and all(not r.errors for r in results)
    assert gc.get_freeze_count() == before


def test_service_outlives_the_thread_that_started_it(service):
    starter = threading.Thread(target=service.start)
    starter.start()
    starter.join()  # PR_SET_PDEATHSIG would kill the service here: it watches the starting thread
    first = service._conn.proc.pid
    time.sleep(0.3)
    assert service.parse(SAMPLE_PDF, "after").errors == []
    assert service._conn.proc.pid == first and service._conn.proc.poll() is None


def test_only_quick_small_documents_wait_deep_in_a_workers_pipe():
    """Any document may wait as a worker's next; beyond that only small inputs queue up, and only
    while the worker's documents take little time each, so that a PDF never waits behind a row of
    others while another worker could start it."""
    from pipeline.isolation import (
        WORKER_QUEUE_DOCS,
        WORKER_QUEUE_INPUT_BYTES,
        WORKER_QUEUE_S,
        _Running,
        _Worker,
    )

    def doc(size: int) -> _Running:
        return _Running(1, "doc", 60.0, 512, size, None, b"", b"")

    small, large, unknown = doc(20_000), doc(WORKER_QUEUE_INPUT_BYTES + 1), doc(0)
    worker = _Worker(pid=0, requests=-1, replies=-1, memory_mb=512)
    assert worker.takes(large)  # idle
    worker.queue.append(large)
    assert worker.takes(large) and worker.takes(unknown)  # as its next
    worker.queue.append(small)
    assert not worker.takes(small)  # its pace is not known yet
    worker.parsed(0.001)  # a small page's millisecond
    assert worker.takes(small) and not worker.takes(large) and not worker.takes(unknown)
    worker.queue[1] = large
    assert not worker.takes(small)  # nothing queues behind a large next
    worker.queue[1] = small
    while worker.takes(small):
        worker.queue.append(small)
    assert len(worker.queue) == WORKER_QUEUE_DOCS
    worker.queue.clear()
    worker.queue.extend([small, doc(WORKER_QUEUE_INPUT_BYTES // 2), doc(WORKER_QUEUE_INPUT_BYTES // 2)])
    assert not worker.takes(small)  # the bytes waiting are bounded too
    worker.queue.clear()
    worker.queue.extend([small, small])
    for _ in range(20):
        worker.parsed(WORKER_QUEUE_S)  # PDFs: a twentieth of a second each, and more
    assert not worker.takes(small)  # only its next waits
