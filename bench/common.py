"""Shared helpers for ``bench/run.py``: timing, fresh-subprocess runs with peak RSS, fixtures, the table.

Kept free of heavy imports so that a child process started for a memory measurement pays only for
what it measures.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "data" / "seeds" / "002_5861feff4b853c8c.txt"
SAMPLE = ROOT / "raw" / "samples" / "gz-2021-29.pdf"
JSON_MARK = "BENCH_JSON "

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --- timing -----------------------------------------------------------------------------------


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Smallest wall time of ``repeats`` calls (``time.perf_counter``) and the last return value."""
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


# --- memory -----------------------------------------------------------------------------------


def vm_hwm_mb() -> float:
    """Peak resident set of this process in MB (``VmHWM``: per address space, so a parent's pages
    copied before ``exec`` do not count); falls back to ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@dataclass
class ChildRun:
    data: dict  # the JSON the child printed last (after JSON_MARK)
    maxrss_mb: float  # ru_maxrss of exactly this child (os.wait4), MB
    wall_s: float  # wall time of the whole child, interpreter start included
    stdout: str
    stderr: str


def run_child(args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 1800) -> ChildRun:
    """Run ``python bench/run.py --child ARGS`` in a fresh interpreter; the child prints one
    ``BENCH_JSON {...}`` line. Peak RSS comes from ``os.wait4`` (the rusage of that one child,
    like ``RUSAGE_CHILDREN`` but not mixed with earlier children)."""
    cmd = [sys.executable, str(ROOT / "bench" / "run.py"), "--child", *args]
    with tempfile.TemporaryDirectory(prefix="bench-child-") as tmp:
        out_path, err_path = Path(tmp) / "out", Path(tmp) / "err"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            t0 = time.perf_counter()
            # own process group: whatever the child leaves behind (a Prefect temporary server after a
            # crash) is ended below by that group's id
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT, start_new_session=True)
            deadline = t0 + timeout
            try:
                while True:
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        break
                    if time.perf_counter() > deadline:
                        proc.kill()
                        pid, status, usage = os.wait4(proc.pid, 0)
                        break
                    time.sleep(0.01)
            finally:
                _end_group(proc.pid)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
        stdout = out_path.read_text(errors="replace")
        stderr = err_path.read_text(errors="replace")
    lines = [ln for ln in stdout.splitlines() if ln.startswith(JSON_MARK)]
    if proc.returncode != 0 or not lines:
        raise ChildFailed(args, proc.returncode, stdout, stderr)
    data = json.loads(lines[-1][len(JSON_MARK):])
    return ChildRun(data, usage.ru_maxrss / 1024, wall, stdout, stderr)


class ChildFailed(RuntimeError):
    def __init__(self, args: Sequence[str], returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        how = f"killed by signal {-returncode} ({signal.Signals(-returncode).name})" if returncode < 0 else \
            f"exit {returncode}"
        self.how = how
        tail = "\n".join((stderr or stdout).splitlines()[-25:])
        super().__init__(f"child {' '.join(args)[:200]} failed ({how}):\n{tail}")


_LEFTOVER_CPU = [0.0]  # CPU-seconds of child-started processes ended by _end_group (not reaped by us)


def _end_group(pgid: int) -> None:
    """Terminate what is left of the child's process group (its id is the child's pid), counting the
    CPU those processes used as ours."""
    try:
        import psutil

        for proc in psutil.process_iter():
            try:
                if os.getpgid(proc.pid) == pgid:
                    t = proc.cpu_times()
                    _LEFTOVER_CPU[0] += t.user + t.system
            except (ProcessLookupError, psutil.Error):
                continue
    except ImportError:
        pass
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        end = time.perf_counter() + wait
        while time.perf_counter() < end:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)


def emit(data: dict) -> None:
    """The child's answer to ``run_child``."""
    print(JSON_MARK + json.dumps(data), flush=True)


def machine_busy_s() -> float:
    """CPU-seconds all processes on the machine have used since boot (``/proc/stat``)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU-seconds of this process and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system + _LEFTOVER_CPU[0]


# --- fixtures ---------------------------------------------------------------------------------


def seed_text() -> str:
    from tests.fixtures.build_gazette import find_seed

    path = SEED if SEED.is_file() else find_seed()
    if path is None:
        raise SystemExit(f"gazette seed text not found ({SEED}); set GAZETTE_SEED")
    return path.read_text(encoding="utf-8")


def sample_pdf(tmp: Path) -> tuple[Path, str]:
    """The committed sample issue, or the same file built from the seed into ``tmp``."""
    if SAMPLE.is_file():
        return SAMPLE, "committed"
    from tests.fixtures.build_gazette import build_pdf

    path = tmp / SAMPLE.name
    build_pdf(seed_text(), path)
    return path, "built from seed"


def issue_batch(tmp: Path, n: int) -> list[Path]:
    """``n`` issues made from the sample issue: each has its own issue number on the cover and in
    the running header, so they are ``n`` different issues (one issue's corrected file would
    replace the previous one's rows) whose bytes and sha256 differ (no cache short-cuts one with
    another)."""
    import re

    from tests.fixtures.build_gazette import build_pdf

    text = seed_text()
    folder = tmp / "issues"
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"gz-2021-{29 + i}.pdf"
        numbered = re.sub(r"(第\s*)(\d+)(\s*期)", lambda m, i=i: f"{m[1]}{int(m[2]) + i}{m[3]}", text)
        build_pdf(numbered, path, header=f"广州市人民政府公报 2021年第{29 + i}期")
        paths.append(path)
    return paths


def long_pdf(tmp: Path, n_pages: int) -> Path:
    from tests.fixtures.build_gazette import build_long_pdf

    path = tmp / f"long-{n_pages}.pdf"
    if not path.exists():
        info = build_long_pdf(path, n_pages)
        if info.n_pages != n_pages:
            raise RuntimeError(f"build_long_pdf made {info.n_pages} pages, wanted {n_pages}")
    return path


# --- results table ----------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    metric: str
    value: float | None
    unit: str = ""
    baseline: float | None = None
    baseline_unit: str = ""
    ratio: float | None = None
    target: str = ""  # e.g. ">= 5"; empty = informational
    passed: bool | None = None
    note: str = ""
    noisy: bool = False  # other processes used much CPU during this row's section

    def as_dict(self) -> dict:
        return asdict(self)


def check(ratio: float | None, target: str) -> bool | None:
    """``ratio`` against a target written as ``>= x`` or ``<= x``."""
    if ratio is None or not target:
        return None
    op, _, num = target.partition(" ")
    limit = float(num)
    return ratio >= limit if op == ">=" else ratio <= limit


def _fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "—"
    if abs(x) >= 100:
        s = f"{x:,.0f}"
    elif abs(x) >= 10:
        s = f"{x:.1f}"
    else:
        s = f"{x:.2f}" if abs(x) >= 0.1 or x == 0 else f"{x:.3f}"
    return f"{s} {unit}".rstrip()


def format_table(rows: Sequence[Row]) -> str:
    head = ["metric", "value", "baseline", "ratio", "target", "pass/fail"]
    body = []
    for r in rows:
        verdict = "—" if r.passed is None else ("PASS" if r.passed else "FAIL")
        if r.noisy and r.passed is not None and r.value is not None:
            verdict += " (busy)"
        ratio = "—" if r.ratio is None else (f"{r.ratio:.3f}" if r.ratio < 0.1 else f"{r.ratio:.2f}")
        body.append([f"{r.section}: {r.metric}", _fmt(r.value, r.unit), _fmt(r.baseline, r.baseline_unit),
                     ratio, r.target or "—", verdict])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=False)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    out = [line, sep]
    for b in body:
        out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(b, widths, strict=True)) + " |")
    return "\n".join(out)
