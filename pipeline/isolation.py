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

Small documents come in batches, as a stream: a caller writes many requests at once, the
service writes every reply it has at once, and the caller's reader hands over every reply a
read brings. What a document costs around its parse (pickling, system calls, waking a process
or a thread) is then paid per batch, not per page, while each document keeps its own time
budget and its own reply: a worker that dies costs only the document it was parsing.

Protocol (pipes, little-endian): a request is ``u64 length`` + a frame: ``_REQUEST`` (job id,
the caller's ``max_workers`` or -1, the worker's memory cap in MB, the time budget in s, the
input's size, and the byte lengths of the next two parts) + the source name (UTF-8) + the
pickled ``Settings``, left out (length 0) when they are those of the last frame that had them
+ the pickle of ``(path, meta)``. The service reads only the fixed part and hands the frame to a
worker (with the settings when that worker has others). A reply is ``u64 job_id`` + ``u64
length`` + the pickled ``SourceResult``; job 0 is the service's "ready" reply. Closing its stdin
stops the service and its workers. From a worker to the service: ``u64 job_id`` + ``u64 length``
+ ``u8 retiring`` + ``f64`` its parse time in seconds + the pickled result.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import functools
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
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from queue import SimpleQueue

import psutil

from pipeline.ingest import failed_result, process_source
from pipeline.model import SourceResult
from pipeline.settings import Settings, resolve

_LEN = struct.Struct("<Q")
_REQUEST = struct.Struct("<QiIdQII")  # job id, max workers (-1: none), memory MB, budget s, input bytes, len(source), len(settings)
_REPLY = struct.Struct("<QQ")
_WORKER_REPLY = struct.Struct("<QQ?d")  # job id, length, "I exit after this reply", parse seconds
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _die_with_parent(parent: int) -> None:
    """A document's process must not outlive a killed service (it would sit on its pipe
    forever). The service is single-threaded, so its one thread is the parent that counts."""
    with contextlib.suppress(OSError, AttributeError):  # PR_SET_PDEATHSIG exists on Linux only
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _limit_memory(memory_mb: int) -> None:
    """Cap this parse process's address space at what it maps now (the interpreter and the
    libraries it shares with the service) plus its share of the run's memory budget."""
    limit = psutil.Process().memory_info().vms + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _timed_out(source: str, budget_s: float) -> SourceResult:
    return failed_result(source, None, "pipeline", "timeout", f"stopped after the {budget_s:g} s time budget")


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
# A worker's next documents wait in its pipe, so that it starts each as soon as it has written
# the last one's result, without waiting for the service. Any document may wait as its next;
# beyond that only quick ones queue up: while the worker's documents take little time each
# (``WORKER_QUEUE_S`` for the queue, at its recent pace) and their inputs are small, up to this
# many documents and bytes of input. A small page parses in about a millisecond; a PDF issue
# takes a good part of a second, and one queued behind another would wait for it although
# another worker may be free.
WORKER_QUEUE_DOCS = 32
WORKER_QUEUE_INPUT_BYTES = 1 << 20
WORKER_QUEUE_S = 0.05
PACE_WEIGHT = 0.2  # a worker's pace: the moving average of its documents' parse times, this weight on the last
# While every parsing worker has a next document in its pipe, the service waits this long after
# a wake-up before it reads their results: it then relays many results in one write and wakes
# the caller once for them, instead of waking itself, and interrupting a worker's core, for
# every small page. A document's budget starts when the previous one's result is read, so it
# may start up to this much late, which is nothing next to any time budget.
GATHER_S = 0.010
# Documents ``stream_jobs`` keeps in flight per worker: enough for a full queue in the worker's
# pipe while the results of as many again are on their way back; half of them are topped up in
# one write.
IN_FLIGHT_PER_WORKER = 2 * WORKER_QUEUE_DOCS


@dataclass
class _Running:
    job_id: int
    source: str
    budget_s: float  # its time budget
    memory_mb: int  # its worker's memory cap
    input_bytes: int  # the size of its input (0: unknown, taken as large)
    max_workers: int | None  # the caller's limit on workers (None: a worker per concurrent document)
    settings: bytes  # its pickled settings
    frame: bytes  # its request without the settings (a settings length of 0)
    deadline: float = math.inf  # set when its worker starts it

    @classmethod
    def read(cls, frame: bytes, last_settings: bytes) -> _Running:
        """The fixed part of a request frame (the service never unpickles what a worker reads);
        a frame without settings has those of the caller's last frame that had them."""
        job_id, max_workers, memory_mb, budget_s, input_bytes, source_len, settings_len = _REQUEST.unpack_from(frame)
        at = _REQUEST.size + source_len
        source = frame[_REQUEST.size:at].decode("utf-8", "surrogatepass")
        settings = frame[at:at + settings_len] if settings_len else last_settings
        if settings_len:
            frame = _frame(job_id, max_workers, memory_mb, budget_s, input_bytes, frame[_REQUEST.size:at], b"",
                           frame[at + settings_len:])
        return cls(job_id, source, budget_s, memory_mb, input_bytes, None if max_workers < 0 else max_workers,
                   settings, frame)

    def frame_for(self, worker: _Worker) -> bytes:
        """Its frame for ``worker``, with the settings unless the worker has them already."""
        if worker.settings == self.settings:
            return self.frame
        *head, source_len, _ = _REQUEST.unpack_from(self.frame)
        at = _REQUEST.size + source_len
        return _frame(*head, self.frame[_REQUEST.size:at], self.settings, self.frame[at:])

    @property
    def small(self) -> bool:
        return 0 < self.input_bytes <= WORKER_QUEUE_INPUT_BYTES


@dataclass
class _Worker:
    """A forked process that parses the documents it is sent, one at a time, in order."""

    pid: int
    requests: int  # the service writes requests here
    replies: int  # and reads the replies here
    memory_mb: int  # the cap it was started with (RLIMIT_AS is per process)
    # the documents in its pipe, in order: the first is the one it parses (its deadline runs)
    queue: deque[_Running] = field(default_factory=deque)
    settings: bytes = b""  # the settings it was last sent: later frames with the same leave them out
    buffer: bytearray = field(default_factory=bytearray)
    retiring: bool = False  # it said it exits after its reply: no more documents for it
    idle_since: float = field(default_factory=time.monotonic)
    pace_s: float | None = None  # its recent parse time per document (None: none parsed yet)

    def parsed(self, seconds: float) -> None:
        self.pace_s = seconds if self.pace_s is None else self.pace_s + PACE_WEIGHT * (seconds - self.pace_s)

    @property
    def job(self) -> _Running | None:
        return self.queue[0] if self.queue else None

    def takes(self, run: _Running) -> bool:
        """Whether ``run`` may wait in its pipe: any document as its next, quick small ones further."""
        if len(self.queue) < 2:
            return True
        if len(self.queue) >= WORKER_QUEUE_DOCS or self.pace_s is None or len(self.queue) * self.pace_s > WORKER_QUEUE_S:
            return False
        waiting = list(itertools.islice(self.queue, 1, None))
        return (run.small and all(r.small for r in waiting)
                and sum(r.input_bytes for r in waiting) + run.input_bytes <= WORKER_QUEUE_INPUT_BYTES)


class _Server:
    """Single-threaded: hands each request to a worker (an idle one, a new one while the caller's
    ``max_workers`` allows, else into the queue of a busy one), relays its pickled result, and
    kills a worker whose document passes its deadline."""

    def __init__(self, requests: int, replies: int) -> None:
        self.requests, self.replies = requests, replies
        self.selector = selectors.DefaultSelector()
        self.selector.register(requests, selectors.EVENT_READ)
        self.buffer = bytearray()
        self.workers: dict[int, _Worker] = {}  # by pid
        self.queue: deque[_Running] = deque()  # requests no worker can take yet
        self.out = bytearray()  # replies not yet written: all that one wake-up brought, in one write
        self.settings = b""  # the settings of the caller's last frame that had them

    def serve(self) -> None:
        self.reply(0, b"")  # ready
        while True:
            self.flush_replies()
            results = False
            for key, _ in self.selector.select(self.wait_s()):
                if key.fd == self.requests:
                    data = os.read(self.requests, 1 << 20)
                    if not data:
                        return self.stop()
                    self.buffer += data
                    self.start_ready_requests()
                else:
                    results = True
                    self.read_worker(key.data)
            self.enforce_deadlines()
            self.close_idle_workers()
            if results and self.every_worker_has_a_next():
                self.flush_replies()
                time.sleep(GATHER_S)

    def every_worker_has_a_next(self) -> bool:
        parsing = [w for w in self.workers.values() if w.queue]
        return bool(parsing) and all(len(w.queue) >= 2 for w in parsing) and (not self.queue or all(
            not w.takes(self.queue[0]) for w in parsing))

    def wait_s(self) -> float | None:
        now = time.monotonic()
        ends = [w.job.deadline for w in self.workers.values() if w.job is not None]
        ends += [w.idle_since + WORKER_IDLE_S for w in self.workers.values() if w.job is None and not w.retiring]
        return max(0.0, min(ends) - now) if ends else None

    def start_ready_requests(self) -> None:
        while len(self.buffer) >= _LEN.size:
            (size,) = _LEN.unpack_from(self.buffer)
            if len(self.buffer) < _LEN.size + size:
                break
            frame = bytes(self.buffer[_LEN.size:_LEN.size + size])
            del self.buffer[:_LEN.size + size]
            run = _Running.read(frame, self.settings)
            self.settings = run.settings
            self.queue.append(run)
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
                return  # every worker the caller allows is busy and has its next documents
            self.queue.popleft()
            frame = run.frame_for(worker)
            try:
                _write_all(worker.requests, _LEN.pack(len(frame)) + frame)
            except OSError:  # it died while idle: its end will be read; the request waits for another
                worker.retiring = True
                self.queue.appendleft(run)
                continue
            worker.settings = run.settings
            worker.queue.append(run)
            if len(worker.queue) == 1:
                self.start(run)

    def worker_for(self, run: _Running) -> _Worker | None:
        usable = [w for w in self.workers.values() if not w.retiring and w.memory_mb == run.memory_mb]
        busy = [w for w in usable if w.queue]
        if run.max_workers is not None and len(busy) >= run.max_workers:
            # as many parse at once as the caller allows (its memory budget is shared by that many),
            # even when an earlier caller left idle workers behind: this one waits in a queue
            return self.least_busy(busy, run)
        idle = next((w for w in usable if not w.queue), None)
        if idle is not None:
            return idle
        if run.max_workers is None or len(usable) < run.max_workers:
            return self.fork(run.memory_mb)
        return self.least_busy(usable, run)

    @staticmethod
    def least_busy(workers: list[_Worker], run: _Running) -> _Worker | None:
        return min((w for w in workers if w.takes(run)), key=lambda w: len(w.queue), default=None)

    @staticmethod
    def start(run: _Running) -> None:
        run.deadline = time.monotonic() + run.budget_s

    def fork(self, memory_mb: int) -> _Worker:
        from_service, to_worker = os.pipe()  # (read end, write end): requests
        from_worker, to_service = os.pipe()  # replies
        _widen(from_worker)
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
                _limit_memory(memory_mb)
                _work(from_service, to_service)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(from_service)
        os.close(to_service)
        worker = _Worker(pid, to_worker, from_worker, memory_mb)
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
            job_id, size, retiring, seconds = _WORKER_REPLY.unpack_from(worker.buffer)
            end = _WORKER_REPLY.size + size
            if len(worker.buffer) < end:
                break
            self.out += _REPLY.pack(job_id, size)
            self.out += worker.buffer[_WORKER_REPLY.size:end]
            del worker.buffer[:end]
            worker.queue.popleft()
            worker.parsed(seconds)
            worker.retiring = worker.retiring or retiring
            if worker.retiring:  # it exits without reading the rest of its queue
                self.requeue(worker)
            elif worker.queue:
                self.start(worker.queue[0])  # it reads its next document as soon as the reply is out
            else:
                worker.idle_since = time.monotonic()
        self.assign()

    def requeue(self, worker: _Worker, keep: int = 0) -> None:
        """The documents of a worker's queue after its first ``keep``, which it will never start,
        go back to the front of the queue, in order."""
        while len(worker.queue) > keep:
            self.queue.appendleft(worker.queue.pop())

    def reap(self, worker: _Worker, kill: bool = False) -> int:
        """Forget a worker that exited (or kill it). The document it parsed stays its ``job``; the
        rest of its queue waits for another worker."""
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
        self.selector.unregister(worker.replies)
        for fd in (worker.requests, worker.replies):
            if fd >= 0:
                os.close(fd)
        del self.workers[worker.pid]
        self.requeue(worker, keep=1)
        _, status = os.waitpid(worker.pid, 0)
        return status

    def enforce_deadlines(self) -> None:
        now = time.monotonic()
        for worker in [w for w in self.workers.values() if w.job is not None and w.job.deadline <= now]:
            self.reap(worker, kill=True)  # the rest of its queue goes to another worker
            self.reply(worker.job.job_id, _timed_out(worker.job.source, worker.job.budget_s))
        self.assign()

    def close_idle_workers(self) -> None:
        now = time.monotonic()
        for worker in [w for w in self.workers.values() if w.job is None and not w.retiring]:
            if now - worker.idle_since >= WORKER_IDLE_S:
                worker.retiring = True
                os.close(worker.requests)  # it reads the end of its requests and exits
                worker.requests = -1

    def reply(self, job_id: int, payload: SourceResult | bytes) -> None:
        """Queue a reply; ``flush_replies`` writes what a wake-up gathered, before the next wait."""
        if not isinstance(payload, bytes):
            payload = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        self.out += _REPLY.pack(job_id, len(payload))
        self.out += payload

    def flush_replies(self) -> None:
        if self.out:
            _write_all(self.replies, self.out)
            self.out.clear()

    def stop(self) -> None:
        for worker in list(self.workers.values()):
            self.reap(worker, kill=True)


def _work(requests: int, replies: int) -> None:
    """A worker's loop: a document per request, its pickled result per reply, until the end of
    its requests (or it retires: ``MAX_DOCS_PER_WORKER``, ``RETIRE_RSS_MB``, memory exhausted)."""
    source = os.fdopen(requests, "rb")
    settings = Settings()
    for done in itertools.count(1):
        header = source.read(_LEN.size)
        if len(header) < _LEN.size:
            return
        (size,) = _LEN.unpack(header)
        frame = source.read(size)
        job_id, *_, source_len, settings_len = _REQUEST.unpack_from(frame)
        at = _REQUEST.size + source_len
        source_name = frame[_REQUEST.size:at].decode("utf-8", "surrogatepass")
        if settings_len:  # else the same settings as the last document
            settings = pickle.loads(frame[at:at + settings_len])
        path, meta = pickle.loads(frame[at + settings_len:])
        started = time.perf_counter()
        result = process_source(path, source_name, settings, **meta)
        seconds = time.perf_counter() - started
        payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        retiring = (done >= MAX_DOCS_PER_WORKER or _resident_mb() > RETIRE_RSS_MB
                    or any(e.error_type == "too_much_memory" for e in result.errors))
        _write_all(replies, _WORKER_REPLY.pack(job_id, len(payload), retiring, seconds) + payload)
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


# Replies gathered while the service waits (``GATHER_S``) must fit in a pipe, or a worker would
# block on its write: a page's result is a few KB, a pipe holds 64 KB unless widened (Linux).
PIPE_BYTES = 1 << 20


def _widen(fd: int) -> None:
    with contextlib.suppress(OSError, AttributeError):  # F_SETPIPE_SZ: Linux only, capped by pipe-max-size
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


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
    _widen(replies)
    os.dup2(2, 1)  # a stray print() from a library must not corrupt the reply stream
    server = _Server(0, replies)
    try:
        server.serve()
    except BrokenPipeError:  # the caller went away (killed, or closed its end) while replies were due
        server.stop()


# --- the parse service: the caller's side --------------------------------------------------------


Deliver = Callable[[SourceResult], None]  # what the reader thread calls with a job's result


@dataclass
class _Request:
    job_id: int
    head: tuple[int, int, float, int]  # max workers (-1: none), memory MB, budget s, input bytes
    source: str
    body: bytes  # the pickle of (path, meta)
    deliver: Deliver


class _Connection:
    """One running service process and the jobs waiting on it."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.isolation", str(os.getpid())],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        _widen(self.proc.stdin.fileno())
        self.pending: dict[int, tuple[Deliver, str]] = {}
        self.settings = b""  # the settings of the last frame sent that had them
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._read_replies, name="parse-service-replies", daemon=True).start()

    def send(self, requests: list[_Request], settings: bytes) -> None:
        """Write the requests in one write, with their settings unless the last frame had the same."""
        with self.lock:
            if self.closed:
                raise BrokenPipeError("the parse service has exited")
            frames = []
            for r in requests:
                frame = _frame(r.job_id, *r.head, r.source.encode("utf-8", "surrogatepass"),
                               b"" if settings == self.settings else settings, r.body)
                frames += [_LEN.pack(len(frame)), frame]
                self.settings = settings
                self.pending[r.job_id] = (r.deliver, r.source)
            try:
                self.proc.stdin.write(b"".join(frames))
                self.proc.stdin.flush()
            except OSError:
                self.closed = True  # the next submit starts a new service
                for r in requests:
                    del self.pending[r.job_id]
                raise

    def _read_replies(self) -> None:
        """Every complete reply a read brings is handed over at once (one wake-up for a batch)."""
        fd, buffer = self.proc.stdout.fileno(), bytearray()
        try:
            while data := os.read(fd, 1 << 20):
                buffer += data
                replies, used = _split_replies(buffer)
                del buffer[:used]
                if not replies:
                    continue
                with self.lock:
                    waiting = [(self.pending.pop(job_id), payload) for job_id, payload in replies if job_id != 0]
                if len(waiting) < len(replies):
                    self.ready.set()
                for (deliver, source), payload in waiting:
                    deliver(_unpickle(payload, source))
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
        for deliver, source in pending.values():
            deliver(_died(source, f"service exited with code {code}"))

    def close(self) -> None:
        with self.lock:
            self.closed = True
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _frame(job_id: int, max_workers: int, memory_mb: int, budget_s: float, input_bytes: int, source: bytes,
           settings: bytes, body: bytes) -> bytes:
    """A request frame (see the module's docstring); ``settings`` empty: the last ones sent."""
    head = _REQUEST.pack(job_id, max_workers, memory_mb, budget_s, input_bytes, len(source), len(settings))
    return b"".join([head, source, settings, body])


def _input_bytes(path: str | Path) -> int:
    """An input's size, which decides whether it may wait in a busy worker's queue (0: unknown)."""
    try:
        return os.stat(path).st_size
    except (OSError, ValueError):
        return 0


def _split_replies(buffer: bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """The complete ``(job id, payload)`` replies at the start of ``buffer``, and the bytes they use."""
    replies, at = [], 0
    while len(buffer) - at >= _REPLY.size:
        job_id, size = _REPLY.unpack_from(buffer, at)
        end = at + _REPLY.size + size
        if len(buffer) < end:
            break
        replies.append((job_id, bytes(buffer[at + _REPLY.size:end])))
        at = end
    return replies, at


def _unpickle(payload: bytes, source: str) -> SourceResult:
    try:
        return pickle.loads(payload)
    except Exception as exc:  # one bad reply fails its document, not the others
        return failed_result(source, None, "pipeline", "bad_reply", f"{type(exc).__name__}: {exc}"[:300])


class ParseService:
    """Parse documents in isolated processes from any thread: ``ParseService().parse(path, source)``.

    The service process starts on first use (or with ``start()``) and again if it dies.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: _Connection | None = None
        self._ids = itertools.count(1)
        self._settings: tuple[Settings, bytes] | None = None  # the last settings sent, pickled

    def start(self, wait: bool = True) -> None:
        conn = self._connection()
        if wait:
            conn.ready.wait(60)

    def _connection(self) -> _Connection:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = _Connection()
            return self._conn

    def _settings_bytes(self, settings: Settings) -> bytes:
        cached = self._settings
        if cached is None or (cached[0] is not settings and cached[0] != settings):
            cached = self._settings = (settings, pickle.dumps(settings, protocol=pickle.HIGHEST_PROTOCOL))
        return cached[1]

    def submit_many(self, docs: Iterable[tuple[str | Path, str, dict]], deliver: Callable[[int, SourceResult], None],
                    settings: Settings | None = None, max_workers: int | None = None) -> int:
        """Documents ``(path, source, meta)`` to parse, sent in one write; ``deliver(k, result)``
        is called (on the reader thread) with the k-th one's result as it ends. ``max_workers``:
        at most so many worker processes for this caller (more documents wait as a worker's
        next); None: a worker per document in flight. Returns how many were sent."""
        settings = resolve(settings)
        settings_bytes = self._settings_bytes(settings)
        limits = (-1 if max_workers is None else max_workers, settings.process_memory_mb(), settings.doc_timeout_s)
        requests = [_Request(next(self._ids), (*limits, _input_bytes(path)), source,
                             pickle.dumps((str(path), meta), protocol=pickle.HIGHEST_PROTOCOL),
                             functools.partial(deliver, k))
                    for k, (path, source, meta) in enumerate(docs)]
        for attempt in (1, 2):  # a service that died since the last job is restarted once
            try:
                self._connection().send(requests, settings_bytes)
                break
            except OSError:
                if attempt == 2:
                    raise
        return len(requests)

    def submit(self, path: str | Path, source: str, settings: Settings | None = None, meta: dict | None = None,
               max_workers: int | None = None) -> Future:
        """A document to parse; its ``Future`` gets the result (see ``submit_many``)."""
        future: Future = Future()
        self.submit_many([(path, source, meta or {})], lambda _, result: future.set_result(result), settings, max_workers)
        return future

    def parse(self, path: str | Path, source: str, settings: Settings | None = None) -> SourceResult:
        settings = resolve(settings)
        future = self.submit(path, source, settings)
        try:  # the service enforces the budget; this only guards against a wedged service
            return future.result(timeout=settings.doc_timeout_s + 60)
        except TimeoutError:
            return _timed_out(source, settings.doc_timeout_s)

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
    budget and the memory cap). Jobs go out in batches: when half of the ``IN_FLIGHT_PER_WORKER``
    per worker have ended, as many again in one write. Nothing is kept: a run of any length
    holds the results of the jobs in flight."""
    if not isolate:
        for i, job in enumerate(jobs):
            yield i, process_source(job.path, job.source, settings, **job.meta)
        return
    settings = resolve(settings).with_(parse_workers=workers)  # the memory budget is shared by all of them
    queue = iter(enumerate(jobs))
    ended: SimpleQueue[tuple[int, SourceResult]] = SimpleQueue()
    most = max(1, workers) * IN_FLIGHT_PER_WORKER
    in_flight = 0

    def top_up() -> None:
        nonlocal in_flight
        batch = list(itertools.islice(queue, most - in_flight))
        if batch:
            numbers = [i for i, _ in batch]
            in_flight += _SERVICE.submit_many([(job.path, job.source, job.meta) for _, job in batch],
                                              lambda k, result: ended.put((numbers[k], result)), settings, workers)

    top_up()
    while in_flight:  # the service stops each document at its time budget
        i, result = ended.get()
        in_flight -= 1
        if in_flight <= most // 2:
            top_up()  # the next documents start before this one's result is handled
        yield i, result


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
