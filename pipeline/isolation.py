"""Per-document isolation: each input is parsed in its own process, with a time budget and a
memory cap, so a hung, crashing or memory-hungry document costs only its own error row.

The processes come from ``ParseService``: a small server process, started once per caller
process (``python -m pipeline.isolation``), that forks one child per document from its own
single thread and enforces the time budget. Any caller may use it: the CLI (``run_jobs``,
``workers`` documents at a time) and Prefect's task threads (``parse_isolated``), where
forking the caller itself could copy a lock another thread holds. Unlike multiprocessing's
forkserver it does not re-run the caller's ``__main__`` in every child: under the
``gazette`` script or pytest that costs an import of the whole entry point per document.

Protocol (pipes, little-endian): a request is ``u64 length`` + pickle of ``(job_id, path,
source, settings, meta)``; a reply is ``u64 job_id`` + ``u64 length`` + the pickled
``SourceResult``. Job 0 is the service's "ready" reply. Closing its stdin stops the service
and its children.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import itertools
import multiprocessing as mp
import os
import pickle
import resource
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from pipeline.ingest import failed_result, process_source
from pipeline.model import SourceResult
from pipeline.settings import Settings, resolve

_LEN = struct.Struct("<Q")
_REPLY = struct.Struct("<QQ")
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _die_with_parent(parent: int) -> None:
    """A document's process must not outlive a killed service (it would sit on its pipe
    forever). The service is single-threaded, so its one thread is the parent that counts."""
    with contextlib.suppress(OSError, AttributeError):  # PR_SET_PDEATHSIG exists on Linux only
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _limit_memory(settings: Settings) -> None:
    """Cap this parse process's address space at what it maps now (the interpreter and the
    libraries it shares with the service) plus its share of the run's memory budget."""
    limit = psutil.Process().memory_info().vms + settings.process_memory_mb() * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _parse_in_child(path, source: str, settings: Settings, meta: dict) -> bytes:
    return pickle.dumps(_for_storage(process_source(path, source, settings, **meta)), protocol=pickle.HIGHEST_PROTOCOL)


def _for_storage(result: SourceResult) -> SourceResult:
    """What leaves the child: everything the datasets store. A document's paragraph blocks are
    an intermediate stage (their text is in the sections) and half the pickled size."""
    for doc in result.documents:
        doc.blocks = []
    return result


def _timed_out(source: str, settings: Settings) -> SourceResult:
    return failed_result(source, None, "pipeline", "timeout", f"stopped after the {settings.doc_timeout_s:g} s time budget")


def _died(source: str, how: str) -> SourceResult:
    return failed_result(source, None, "pipeline", "worker_died", f"worker {how} (out of memory?)")


# --- the parse service: its server side ----------------------------------------------------------


@dataclass
class _Running:
    job_id: int
    pid: int
    fd: int
    source: str
    settings: Settings
    deadline: float
    chunks: list[bytes] = field(default_factory=list)


class _Server:
    """Single-threaded: forks a child per request, relays its pickled result, kills it at its deadline."""

    def __init__(self, requests: int, replies: int) -> None:
        self.requests, self.replies = requests, replies
        self.selector = selectors.DefaultSelector()
        self.selector.register(requests, selectors.EVENT_READ)
        self.buffer = bytearray()
        self.running: dict[int, _Running] = {}

    def serve(self) -> None:
        self.reply(0, b"")  # ready
        while True:
            now = time.monotonic()
            wait = min((r.deadline - now for r in self.running.values()), default=None)
            for key, _ in self.selector.select(None if wait is None else max(0.0, wait)):
                if key.fd == self.requests:
                    data = os.read(self.requests, 1 << 16)
                    if not data:
                        return self.stop()
                    self.buffer += data
                    self.start_ready_requests()
                else:
                    self.read_child(key.data)
            now = time.monotonic()
            for run in [r for r in self.running.values() if r.deadline <= now]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(run.pid, signal.SIGKILL)
                self.finish(run, _timed_out(run.source, run.settings))

    def start_ready_requests(self) -> None:
        while len(self.buffer) >= _LEN.size:
            (size,) = _LEN.unpack_from(self.buffer)
            if len(self.buffer) < _LEN.size + size:
                return
            job_id, path, source, settings, meta = pickle.loads(self.buffer[_LEN.size:_LEN.size + size])
            del self.buffer[:_LEN.size + size]
            self.fork(job_id, path, source, settings, meta)

    def fork(self, job_id: int, path: str, source: str, settings: Settings, meta: dict) -> None:
        read, write = os.pipe()
        server = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: parse, send, exit without running the server's cleanup
            code = 1
            try:
                os.close(read)
                os.close(self.requests)
                os.close(self.replies)
                _die_with_parent(server)
                _limit_memory(settings)
                _write_all(write, _parse_in_child(path, source, settings, meta))
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(write)
        run = _Running(job_id, pid, read, source, settings, time.monotonic() + settings.doc_timeout_s)
        self.running[job_id] = run
        self.selector.register(read, selectors.EVENT_READ, run)

    def read_child(self, run: _Running) -> None:
        data = os.read(run.fd, 1 << 20)
        if data:
            run.chunks.append(data)
            return
        _, status = os.waitpid(run.pid, 0)
        if os.waitstatus_to_exitcode(status) == 0 and run.chunks:
            self.finish(run, b"".join(run.chunks), reaped=True)
        else:
            self.finish(run, _died(run.source, _exit_text(status)), reaped=True)

    def finish(self, run: _Running, result: SourceResult | bytes, reaped: bool = False) -> None:
        self.selector.unregister(run.fd)
        os.close(run.fd)
        if not reaped:
            os.waitpid(run.pid, 0)
        del self.running[run.job_id]
        payload = result if isinstance(result, bytes) else pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        self.reply(run.job_id, payload)

    def reply(self, job_id: int, payload: bytes) -> None:
        _write_all(self.replies, _REPLY.pack(job_id, len(payload)) + payload)

    def stop(self) -> None:
        for run in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(run.pid, signal.SIGKILL)
            os.waitpid(run.pid, 0)


def _exit_text(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    return f"killed by signal {-code}" if code < 0 else f"exited with code {code}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def serve(parent: int) -> None:
    """Entry point of the service process (``python -m pipeline.isolation PARENT_PID``).

    It stops when its stdin closes, which the kernel does when the parent process dies. (Not
    PR_SET_PDEATHSIG: that fires when the parent *thread* that started it exits, and a flow's
    task thread may start the service and end long before the process does.)
    """
    if os.getppid() != parent:  # the parent died while this process started
        return
    gc.freeze()  # children then leave the imported objects' pages shared (no copy-on-write from GC)
    replies = os.dup(1)
    os.dup2(2, 1)  # a stray print() from a library must not corrupt the reply stream
    _Server(0, replies).serve()


# --- the parse service: the caller's side --------------------------------------------------------


class _Connection:
    """One running service process and the jobs waiting on it."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.isolation", str(os.getpid())],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.pending: dict[int, tuple[Future, str]] = {}
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._read_replies, name="parse-service-replies", daemon=True).start()

    def send(self, job_id: int, request: tuple, future: Future, source: str) -> None:
        frame = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        with self.lock:
            if self.closed:
                raise BrokenPipeError("the parse service has exited")
            self.pending[job_id] = (future, source)
            try:
                self.proc.stdin.write(_LEN.pack(len(frame)) + frame)
                self.proc.stdin.flush()
            except OSError:
                self.closed = True  # the next submit starts a new service
                del self.pending[job_id]
                raise

    def _read_replies(self) -> None:
        out = self.proc.stdout
        try:
            while header := out.read(_REPLY.size):
                if len(header) < _REPLY.size:
                    break
                job_id, size = _REPLY.unpack(header)
                payload = out.read(size)
                if len(payload) < size:
                    break
                if job_id == 0:
                    self.ready.set()
                    continue
                with self.lock:
                    future, source = self.pending.pop(job_id)
                try:
                    result = pickle.loads(payload)
                except Exception as exc:  # one bad reply fails its document, not the others
                    result = failed_result(source, None, "pipeline", "bad_reply", f"{type(exc).__name__}: {exc}"[:300])
                future.set_result(result)
        finally:
            self._fail_pending()

    def _fail_pending(self) -> None:
        with self.lock:
            self.closed = True
            pending, self.pending = self.pending, {}
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # a service still running (its reply stream broke) stops too
        try:
            code = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.ready.set()
        for future, source in pending.values():
            future.set_result(_died(source, f"service exited with code {code}"))

    def close(self) -> None:
        with self.lock:
            self.closed = True
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class ParseService:
    """Parse documents in isolated processes from any thread: ``ParseService().parse(path, source)``.

    The service process starts on first use (or with ``start()``) and again if it dies.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: _Connection | None = None
        self._ids = itertools.count(1)

    def start(self, wait: bool = True) -> None:
        conn = self._connection()
        if wait:
            conn.ready.wait(60)

    def _connection(self) -> _Connection:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = _Connection()
            return self._conn

    def submit(self, path: str | Path, source: str, settings: Settings | None = None, meta: dict | None = None) -> Future:
        settings = resolve(settings)
        job_id, future = next(self._ids), Future()
        request = (job_id, str(path), source, settings, meta or {})
        for attempt in (1, 2):  # a service that died since the last job is restarted once
            try:
                self._connection().send(job_id, request, future, source)
                return future
            except (BrokenPipeError, OSError):
                if attempt == 2:
                    raise
        return future

    def parse(self, path: str | Path, source: str, settings: Settings | None = None) -> SourceResult:
        settings = resolve(settings)
        future = self.submit(path, source, settings)
        try:  # the service enforces the budget; this only guards against a wedged service
            return future.result(timeout=settings.doc_timeout_s + 60)
        except TimeoutError:
            return _timed_out(source, settings)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


_SERVICE = ParseService()
atexit.register(_SERVICE.close)


@dataclass
class Job:
    path: Path
    source: str
    meta: dict = field(default_factory=dict)


def run_jobs(jobs: Sequence[Job], settings: Settings, workers: int = 1, isolate: bool = True,
             on_result: Callable[[SourceResult], None] | None = None) -> list[SourceResult]:
    """Process jobs, ``workers`` at a time, each in its own process (through this process's
    parse service); ``on_result`` sees each as it ends, the list comes back in job order."""
    if not isolate:
        results = []
        for job in jobs:
            results.append(process_source(job.path, job.source, settings, **job.meta))
            if on_result:
                on_result(results[-1])
        return results
    settings = resolve(settings).with_(parse_workers=workers)  # the memory budget is shared by all of them
    results: list[SourceResult | None] = [None] * len(jobs)
    queue = iter(enumerate(jobs))
    running: dict[Future, int] = {}

    def submit_next() -> None:
        for i, job in queue:
            running[_SERVICE.submit(job.path, job.source, settings, job.meta)] = i
            return

    for _ in range(workers):
        submit_next()
    while running:  # the service stops each document at its time budget
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            i = running.pop(future)
            results[i] = future.result()
            if on_result:
                on_result(results[i])
            submit_next()
    return [r for r in results if r is not None]


def start_parse_service(wait: bool = True) -> None:
    """Start this process's parse service now, so that a long-lived process (the CLI while
    Prefect starts, a benchmark) pays its start-up once, up front; no-op when it runs."""
    _SERVICE.start(wait)


def stop_parse_service() -> None:
    """Stop this process's parse service (its running documents too); the next document
    starts a new one, which reads the environment as it is then."""
    _SERVICE.close()


def parse_isolated(path: str | Path, source: str, settings: Settings | None = None) -> SourceResult:
    """One input in its own process, with the time budget and memory cap, from any thread.

    Inside a daemonic process (a Dask worker), which may not start children, it parses in
    place.
    """
    settings = resolve(settings)
    if mp.current_process().daemon or not hasattr(os, "fork"):
        return process_source(path, source, settings)
    return _SERVICE.parse(path, source, settings)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
