"""Per-document isolation: every input is parsed in a worker process, with a time budget and a
memory cap, so a hung, crashing or memory-hungry document costs only its own error row.

The processes come from ``ParseService``: a small server process, started once per caller
process (``python -m pipeline.isolation``), that forks worker processes from its own single
thread. A worker takes one document after another (no process start per small page); the
service kills a worker whose document passes its time budget, and a document whose worker
dies (killed, out of memory, a crash in a C library) gets a ``worker_died`` record: either
way the next document goes to another worker, forked on demand. A worker retires after
``MAX_DOCS_PER_WORKER`` documents, above ``RETIRE_RSS_MB`` resident, or after a document ran
out of memory (``RLIMIT_AS``: the worker's share of ``Settings.memory_budget_mb``, for the whole worker), so one
document's leftovers cannot starve the ones after it for long. Any caller may use the
service: the CLI (``stream_jobs``/``run_jobs``, ``workers`` documents at a time) and Prefect's
task threads (``parse_isolated``), where forking the caller itself could copy a lock another
thread holds. Unlike multiprocessing's forkserver it does not re-run the caller's ``__main__``
in every process: under the ``gazette`` script or pytest that costs an import of the whole
entry point.

Protocol (pipes, little-endian): a request is ``u64 length`` + pickle of ``(job_id, path,
source, settings, meta, max_workers)``; a reply is ``u64 job_id`` + ``u64 length`` + the pickled
``SourceResult``. Job 0 is the service's "ready" reply. Closing its stdin stops the service
and its workers. Between the service and a worker: the same request frame, and a reply of
``u64 job_id`` + ``u64 length`` + ``u8 retiring`` + the pickled result.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import itertools
import math
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
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from pipeline.ingest import failed_result, process_source
from pipeline.model import SourceResult
from pipeline.settings import Settings, resolve

_LEN = struct.Struct("<Q")
_REPLY = struct.Struct("<QQ")
_WORKER_REPLY = struct.Struct("<QQ?")  # job id, length, "I exit after this reply"
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


def _timed_out(source: str, settings: Settings) -> SourceResult:
    return failed_result(source, None, "pipeline", "timeout", f"stopped after the {settings.doc_timeout_s:g} s time budget")


def _died(source: str, how: str) -> SourceResult:
    return failed_result(source, None, "pipeline", "worker_died", f"worker {how} (out of memory?)")


# --- the parse service: its server side ----------------------------------------------------------

# A worker handles documents one after the other until one of these ends it (the next document
# then goes to a new worker, forked in a few ms): a slow leak in a parsing library stays bounded.
MAX_DOCS_PER_WORKER = 2000
# A worker that holds more than this after a document (a large PDF's caches, a heap left
# fragmented) exits after replying, so the memory goes back to the system.
RETIRE_RSS_MB = 1024
# An idle worker beyond this goes away (a burst of parallel callers leaves no crowd behind).
WORKER_IDLE_S = 30.0
# Documents ``stream_jobs`` keeps in flight per worker: a worker's next document waits in its pipe
# and starts as soon as the last one's result is written, not after the result's round trip
# through the caller; two more wait at the service, since a small page parses in about a
# millisecond, less than the caller may take to hand over the next one on a busy machine.
# (Only requests wait: results still come back one by one as they end.)
IN_FLIGHT_PER_WORKER = 4


@dataclass
class _Running:
    job_id: int
    source: str
    settings: Settings
    frame: bytes  # the request, as the worker reads it
    max_workers: int | None  # the caller's limit on workers (None: a worker per concurrent document)
    deadline: float = math.inf  # set when its worker starts it


@dataclass
class _Worker:
    """A forked process that parses the documents it is sent, one at a time."""

    pid: int
    requests: int  # the service writes requests here
    replies: int  # and reads the replies here
    memory_mb: int  # the cap it was started with (RLIMIT_AS is per process)
    job: _Running | None = None  # the document it parses
    next: _Running | None = None  # the one waiting in its pipe: it starts as soon as the job's reply is written
    buffer: bytearray = field(default_factory=bytearray)
    retiring: bool = False  # it said it exits after its reply: no more documents for it
    idle_since: float = field(default_factory=time.monotonic)


class _Server:
    """Single-threaded: hands each request to a worker (an idle one, a new one while the caller's
    ``max_workers`` allows, else as the next document of a busy one), relays its pickled result,
    and kills a worker whose document passes its deadline."""

    def __init__(self, requests: int, replies: int) -> None:
        self.requests, self.replies = requests, replies
        self.selector = selectors.DefaultSelector()
        self.selector.register(requests, selectors.EVENT_READ)
        self.buffer = bytearray()
        self.workers: dict[int, _Worker] = {}  # by pid
        self.queue: deque[_Running] = deque()  # requests no worker can take yet

    def serve(self) -> None:
        self.reply(0, b"")  # ready
        while True:
            for key, _ in self.selector.select(self.wait_s()):
                if key.fd == self.requests:
                    data = os.read(self.requests, 1 << 16)
                    if not data:
                        return self.stop()
                    self.buffer += data
                    self.start_ready_requests()
                else:
                    self.read_worker(key.data)
            self.enforce_deadlines()
            self.close_idle_workers()

    def wait_s(self) -> float | None:
        now = time.monotonic()
        ends = [w.job.deadline for w in self.workers.values() if w.job is not None]
        ends += [w.idle_since + WORKER_IDLE_S for w in self.workers.values() if w.job is None and not w.retiring]
        return max(0.0, min(ends) - now) if ends else None

    def start_ready_requests(self) -> None:
        while len(self.buffer) >= _LEN.size:
            (size,) = _LEN.unpack_from(self.buffer)
            if len(self.buffer) < _LEN.size + size:
                return
            frame = bytes(self.buffer[_LEN.size:_LEN.size + size])
            del self.buffer[:_LEN.size + size]
            job_id, _, source, settings, _, max_workers = pickle.loads(frame)
            self.queue.append(_Running(job_id, source, settings, frame, max_workers))
        self.assign()

    def assign(self) -> None:
        """Hand the waiting requests to workers, in order, while some worker can take one."""
        while self.queue:
            run = self.queue[0]
            try:
                worker = self.worker_for(run)
            except OSError as exc:  # no process could start: the document fails, the service goes on
                self.queue.popleft()
                self.reply(run.job_id, _died(run.source, f"could not start ({exc})"))
                continue
            if worker is None:
                return  # every worker the caller allows is busy and has its next document
            self.queue.popleft()
            try:
                _write_all(worker.requests, _LEN.pack(len(run.frame)) + run.frame)
            except OSError:  # it died while idle: its end will be read; the request waits for another
                worker.retiring = True
                self.queue.appendleft(run)
                continue
            if worker.job is None:
                self.start(worker, run)
            else:
                worker.next = run

    def worker_for(self, run: _Running) -> _Worker | None:
        usable = [w for w in self.workers.values() if not w.retiring and w.memory_mb == run.settings.process_memory_mb()]
        busy = [w for w in usable if w.job is not None]
        if run.max_workers is not None and len(busy) >= run.max_workers:
            # as many parse at once as the caller allows (its memory budget is shared by that many),
            # even when an earlier caller left idle workers behind: this one waits as a next document
            return next((w for w in busy if w.next is None), None)
        idle = next((w for w in usable if w.job is None), None)
        if idle is not None:
            return idle
        if run.max_workers is None or len(usable) < run.max_workers:
            return self.fork(run.settings)
        return next((w for w in usable if w.next is None), None)

    @staticmethod
    def start(worker: _Worker, run: _Running) -> None:
        worker.job = run
        run.deadline = time.monotonic() + run.settings.doc_timeout_s

    def fork(self, settings: Settings) -> _Worker:
        from_service, to_worker = os.pipe()  # (read end, write end): requests
        from_worker, to_service = os.pipe()  # replies
        server = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: parse documents until told to stop, exit without the server's cleanup
            code = 1
            try:
                os.close(to_worker)
                os.close(from_worker)
                for fd in [self.requests, self.replies, self.selector.fileno(),
                           *(fd for w in self.workers.values() for fd in (w.requests, w.replies) if fd >= 0)]:
                    os.close(fd)  # another worker's pipe held open here would hide that worker's exit
                _die_with_parent(server)
                _limit_memory(settings)
                _work(from_service, to_service)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(from_service)
        os.close(to_service)
        worker = _Worker(pid, to_worker, from_worker, settings.process_memory_mb())
        self.workers[pid] = worker
        self.selector.register(from_worker, selectors.EVENT_READ, worker)
        return worker

    def read_worker(self, worker: _Worker) -> None:
        data = os.read(worker.replies, 1 << 20)
        if not data:  # the worker exited: retired, told to stop, or died (then its document is lost)
            status = self.reap(worker)
            if worker.job is not None:
                self.reply(worker.job.job_id, _died(worker.job.source, _exit_text(status)))
            self.assign()
            return
        worker.buffer += data
        while len(worker.buffer) >= _WORKER_REPLY.size:
            job_id, size, retiring = _WORKER_REPLY.unpack_from(worker.buffer)
            end = _WORKER_REPLY.size + size
            if len(worker.buffer) < end:
                break
            payload = bytes(worker.buffer[_WORKER_REPLY.size:end])
            del worker.buffer[:end]
            self.reply(job_id, payload)
            worker.job, worker.next = None, worker.next
            worker.retiring = worker.retiring or retiring
            if worker.next is not None and not worker.retiring:
                self.start(worker, worker.next)  # it reads its next document as soon as the reply is out
            elif worker.next is not None:  # it exits without reading it
                self.queue.appendleft(worker.next)
            worker.next, worker.idle_since = None, time.monotonic()
        self.assign()

    def reap(self, worker: _Worker, kill: bool = False) -> int:
        """Forget a worker that exited (or kill it); its next document, never started, waits for another."""
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
        self.selector.unregister(worker.replies)
        for fd in (worker.requests, worker.replies):
            if fd >= 0:
                os.close(fd)
        del self.workers[worker.pid]
        if worker.next is not None:
            self.queue.appendleft(worker.next)
            worker.next = None
        _, status = os.waitpid(worker.pid, 0)
        return status

    def enforce_deadlines(self) -> None:
        now = time.monotonic()
        for worker in [w for w in self.workers.values() if w.job is not None and w.job.deadline <= now]:
            self.reap(worker, kill=True)  # the rest of its stream goes to another worker
            self.reply(worker.job.job_id, _timed_out(worker.job.source, worker.job.settings))
        self.assign()

    def close_idle_workers(self) -> None:
        now = time.monotonic()
        for worker in [w for w in self.workers.values() if w.job is None and not w.retiring]:
            if now - worker.idle_since >= WORKER_IDLE_S:
                worker.retiring = True
                os.close(worker.requests)  # it reads the end of its requests and exits
                worker.requests = -1

    def reply(self, job_id: int, payload: SourceResult | bytes) -> None:
        if not isinstance(payload, bytes):
            payload = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        _write_all(self.replies, _REPLY.pack(job_id, len(payload)) + payload)

    def stop(self) -> None:
        for worker in list(self.workers.values()):
            self.reap(worker, kill=True)


def _work(requests: int, replies: int) -> None:
    """A worker's loop: a document per request, its pickled result per reply, until the end of
    its requests (or it retires: ``MAX_DOCS_PER_WORKER``, ``RETIRE_RSS_MB``, memory exhausted)."""
    source = os.fdopen(requests, "rb")
    for done in itertools.count(1):
        header = source.read(_LEN.size)
        if len(header) < _LEN.size:
            return
        (size,) = _LEN.unpack(header)
        job_id, path, source_name, settings, meta, _ = pickle.loads(source.read(size))
        result = process_source(path, source_name, settings, **meta)
        payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        retiring = (done >= MAX_DOCS_PER_WORKER or _resident_mb() > RETIRE_RSS_MB
                    or any(e.error_type == "too_much_memory" for e in result.errors))
        _write_all(replies, _WORKER_REPLY.pack(job_id, len(payload), retiring) + payload)
        if retiring:
            return


_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def _resident_mb() -> float:
    """This process's resident memory, read after every document: /proc/self/statm is one small
    read (psutil.Process() re-reads the process's identity, a good part of a small page's parse);
    without /proc, the peak (ru_maxrss, KiB on Linux) stands in for it."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE_MB
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _exit_text(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    return f"killed by signal {-code}" if code < 0 else f"exited with code {code}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _import_the_parsers() -> None:
    """The parsing stages, imported here once: ``pipeline.ingest`` imports them where it parses
    (a run with nothing to parse never loads them), so a worker forked before this would import
    them itself, a quarter second per worker."""
    import pipeline.extract.html
    import pipeline.extract.post
    import pipeline.issue
    import pipeline.outline
    import pipeline.process
    import pipeline.toc  # noqa: F401


def serve(parent: int) -> None:
    """Entry point of the service process (``python -m pipeline.isolation PARENT_PID``).

    It stops when its stdin closes, which the kernel does when the parent process dies. (Not
    PR_SET_PDEATHSIG: that fires when the parent *thread* that started it exits, and a flow's
    task thread may start the service and end long before the process does.)
    """
    if os.getppid() != parent:  # the parent died while this process started
        return
    _import_the_parsers()
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

    def submit(self, path: str | Path, source: str, settings: Settings | None = None, meta: dict | None = None,
               max_workers: int | None = None) -> Future:
        """A document to parse; ``max_workers``: at most so many worker processes for this caller
        (more documents in flight wait as a worker's next); None: a worker per document in flight."""
        settings = resolve(settings)
        job_id, future = next(self._ids), Future()
        request = (job_id, str(path), source, settings, meta or {}, max_workers)
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


def stream_jobs(jobs: Iterable[Job], settings: Settings, workers: int = 1,
                isolate: bool = True) -> Iterator[tuple[int, SourceResult]]:
    """``(job number, result)`` as each job ends, ``workers`` at a time through this process's
    parse service (its worker processes take one document after another, each with the time
    budget and the memory cap). Nothing is kept: a run of any length holds ``workers`` results."""
    if not isolate:
        for i, job in enumerate(jobs):
            yield i, process_source(job.path, job.source, settings, **job.meta)
        return
    settings = resolve(settings).with_(parse_workers=workers)  # the memory budget is shared by all of them
    queue = iter(enumerate(jobs))
    running: dict[Future, int] = {}

    def submit_next() -> None:
        for i, job in queue:
            running[_SERVICE.submit(job.path, job.source, settings, job.meta, max_workers=workers)] = i
            return

    for _ in range(max(1, workers) * IN_FLIGHT_PER_WORKER):
        submit_next()
    while running:  # the service stops each document at its time budget
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            i = running.pop(future)
            submit_next()  # the next document starts before this one's result is handled
            yield i, future.result()


def run_jobs(jobs: Sequence[Job], settings: Settings, workers: int = 1, isolate: bool = True,
             on_result: Callable[[SourceResult], None] | None = None) -> list[SourceResult]:
    """Process jobs as ``stream_jobs`` does; ``on_result`` sees each as it ends, the list comes
    back in job order."""
    results: list[SourceResult | None] = [None] * len(jobs)
    for i, result in stream_jobs(jobs, settings, workers, isolate):
        results[i] = result
        if on_result:
            on_result(result)
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
