"""Hostile inputs and hosts (issue 14): each numbered finding, reproduced and handled.

Every test builds its attack itself (files in a temporary folder, a server on 127.0.0.1) and
checks the handled outcome: the bad input gets its ``errors`` row, the rest of the batch
lands, nothing leaks, nothing hangs (a test that would hang runs into pytest-timeout, and
no verdict depends on the machine's speed), nothing blows up (memory is measured, as a
child process's peak RSS).
"""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import json
import os
import resource
import socketserver
import stat
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from gazette.cli import main
from pipeline.discover import (
    ITEMS_BEYOND_CAP,
    LINKS_BEYOND_CAP,
    MAX_ITEMS_PER_CRAWL,
    MAX_LINKS_PER_PAGE,
    REFUSED_LINKS,
    crawl_listing,
)
from pipeline.extract.pdf import open_pdf
from pipeline.fetch import TIMEOUT_TRIES, Fetcher, FetchSettings, UrlPolicy
from pipeline.ingest import find_inputs, process_source
from pipeline.isolation import ParseService
from pipeline.model import InputError
from pipeline.quality import GARBLED_INPUT_SHARE, GARBLED_PAGE_SHARE
from pipeline.rawstore import RawStore
from pipeline.settings import Settings
from pipeline.storage import Store
from tests.fixtures.bad_inputs import (
    HELVETICA,
    MAPPED,
    UNMAPPED,
    article_html,
    cid_codes,
    content_bomb_pdf,
    text_layer_pdf,
)
from tests.httpserver import Reply, ScriptedServer

ROOT = Path(__file__).resolve().parents[1]
HTML = {"Content-Type": "text/html; charset=utf-8"}
SECRET = b"root:*:20228:0:99999:7:::\nsecret-token-7f3a\n"  # what /etc/shadow looks like
LOOPBACK = UrlPolicy(frozenset({"127.0.0.1"}), allow_private=True)


def write_article(path: Path, title: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(article_html(title), encoding="utf-8")
    return path


def errors_by_name(out: Path) -> dict[str, tuple[str, str]]:
    return {Path(e["source"]).name: (e["error_type"], e["message"]) for e in Store(out).read("errors").to_pylist()}


def document_names(out: Path) -> list[str]:
    return sorted(Path(s).name for s in Store(out).read("documents")["source"].to_pylist())


def blobs(raw: Path) -> list[Path]:
    return list(RawStore(raw).iter_blobs()) if raw.exists() else []


def leftovers(raw: Path) -> list[Path]:
    """Temp files a copy or a download left in the raw store."""
    return [p for p in raw.rglob("*") if p.is_file() and (p.name.endswith((".part", ".tmp")) or ".tmp" in p.parts)]


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# --- a run that file modes bind: root reads chmod-000 files and writes into read-only folders -----------

CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2  # linux/capability.h
PR_CAPBSET_DROP = 24  # linux/prctl.h


def _without_permission_override() -> None:
    """In the child before exec: take the capabilities that let root ignore file modes out of
    the bounding set, so the program run (and its children) has them no more."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_cli_bound_by_file_modes(*args: str) -> subprocess.CompletedProcess:
    """``gazette`` in a fresh interpreter for which ``chmod`` means what it says."""
    preexec = _without_permission_override if os.geteuid() == 0 else None
    return subprocess.run([sys.executable, "-m", "gazette.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, preexec_fn=preexec)


# === 1. secrets copied out through symlinks =========================================================


def secret_outside(tmp: Path) -> Path:
    secret = tmp / "elsewhere" / "shadow"
    secret.parent.mkdir()
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    return secret


def test_f1_symlink_out_of_the_input_folder_is_not_followed(tmp_path, capsys):
    """An input folder holding ``shadow.html -> /etc/shadow``: it must not be copied into the raw
    store, parsed, or quoted; a symlink that stays inside the folder is fine."""
    secret = secret_outside(tmp_path)
    folder = tmp_path / "in"
    write_article(folder / "good.html", "正常的文章")
    write_article(folder / "sub" / "real.html", "子目录里的文章")
    (folder / "shadow.html").symlink_to(secret)
    (folder / "inside.html").symlink_to(folder / "sub" / "real.html")
    (folder / "secrets").symlink_to(secret.parent, target_is_directory=True)  # a folder leading out
    out, raw = tmp_path / "out", tmp_path / "raw"
    with umask(0o077):
        code = main(["ingest", str(folder), "--out", str(out), "--raw", str(raw), "-q"])
    captured = capsys.readouterr()
    assert code == 1
    errors = errors_by_name(out)
    assert {name: kind for name, (kind, _) in errors.items()} == {
        "shadow.html": "symlink_outside_input", "secrets": "symlink_outside_input"}
    assert document_names(out) == ["good.html", "real.html"]  # inside.html: the same bytes as real.html, one unit
    statuses = {Path(r["source"]).name: r["status"] for r in Store(out).read("inputs").to_pylist()}
    assert statuses == {"good.html": "ok", "inside.html": "ok", "real.html": "ok", "shadow.html": "error",
                        "secrets": "error"}
    shown = captured.out + captured.err + json.dumps(Store(out).read("errors").to_pylist(), default=str)
    assert "root:" not in shown and "secret-token" not in shown
    stored = [p.read_bytes() for p in blobs(raw)]
    assert len(stored) == 2 and not any(b"secret-token" in b for b in stored)  # good.html, real.html
    assert {stat.S_IMODE(p.stat().st_mode) for p in blobs(raw)} == {0o400}  # read-only, through the umask
    assert leftovers(raw) == []


def test_f1_a_glob_names_the_symlink_and_it_is_still_refused(tmp_path):
    """``gazette ingest in/*`` names each link itself: the link is held to its own folder."""
    secret = secret_outside(tmp_path)
    folder = tmp_path / "in"
    good = write_article(folder / "good.html", "正常的文章")
    (folder / "shadow.html").symlink_to(secret)
    out, raw = tmp_path / "out", tmp_path / "raw"
    assert main(["ingest", str(folder / "shadow.html"), str(good), "--out", str(out), "--raw", str(raw), "-q"]) == 1
    assert errors_by_name(out)["shadow.html"][0] == "symlink_outside_input"
    assert document_names(out) == ["good.html"]
    assert not any(b"secret-token" in p.read_bytes() for p in blobs(raw))


def test_f1_a_folder_link_moved_between_runs_is_followed_where_it_points_now(tmp_path):
    """A long-lived process (a served flow) keeps resolved folders: after ``current`` moves to a
    new release, an input under it is read from there, not refused as outside; and a folder
    inside the input folder that became a link leading out is refused, whatever was remembered."""
    from pipeline.ingest import open_input

    releases = tmp_path / "data"
    for release in ("r1", "r2"):
        write_article(releases / release / "a.html", f"{release} 的文章")
    current = releases / "current"
    current.symlink_to(releases / "r1", target_is_directory=True)

    def read(name: str) -> bytes:
        root = os.path.realpath(current)  # the run's input folder, resolved as find_inputs does
        with open_input(current / name, root) as fh:
            return fh.read()

    assert "r1 的文章".encode() in read("a.html")
    current.unlink()
    current.symlink_to(releases / "r2", target_is_directory=True)
    assert "r2 的文章".encode() in read("a.html")

    secret = secret_outside(tmp_path)
    folder = tmp_path / "in"
    write_article(folder / "sub" / "a.html", "子目录里的文章")
    with open_input(folder / "sub" / "a.html", folder):  # "sub" is remembered inside
        pass
    os.rename(folder / "sub", tmp_path / "old-sub")
    (folder / "sub").symlink_to(secret.parent, target_is_directory=True)
    with pytest.raises(InputError) as refused, open_input(folder / "sub" / "shadow", folder):
        pass
    assert refused.value.reason == "symlink_outside_input"
    assert "leads outside the input folder" in str(refused.value)


def test_f1_error_messages_never_quote_the_bytes(tmp_path, capsys):
    """A secret that is a plain file in the input folder (not a link) is not HTML or PDF: its
    error says what it is not, never what it holds."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "shadow.html").write_bytes(SECRET)
    out = tmp_path / "out"
    assert main(["ingest", str(folder), "--out", str(out), "--raw", "", "-q"]) == 1
    kind, message = errors_by_name(out)["shadow.html"]
    assert (kind, message) == ("unsupported_type", f"neither PDF nor HTML ({len(SECRET)} bytes without a PDF header "
                                                   "or markup)")
    assert "root:" not in capsys.readouterr().err


@pytest.mark.usefixtures("prefect_server")
def test_f1_the_ingest_flow_refuses_the_symlink_too(tmp_path):
    """The flows' path to the raw store (``put_file``) holds inputs to the same rules."""
    import flows.pipeline_flows as pf

    secret = secret_outside(tmp_path)
    folder = tmp_path / "in"
    good = write_article(folder / "good.html", "正常的文章")
    (folder / "shadow.html").symlink_to(secret)
    out, raw = tmp_path / "out", tmp_path / "raw"
    with umask(0o077):
        run = pf.ingest([str(folder / "shadow.html"), str(good)], out=str(out), raw=str(raw))
    assert run["errors"] == 1 and run["documents"] == 1
    assert errors_by_name(out)["shadow.html"][0] == "symlink_outside_input"
    assert not any(b"secret-token" in p.read_bytes() for p in blobs(raw))
    assert {stat.S_IMODE(p.stat().st_mode) for p in blobs(raw)} == {0o400}


# === 2. the raw-store copy inside the per-input boundary ============================================


def test_f2_fifo_and_device_inputs_get_errors_rows_with_the_default_raw_store(tmp_path):
    """``mkfifo in/fifo.pdf`` and ``/dev/zero`` hung the whole run while the raw store copied them."""
    folder = tmp_path / "in"
    write_article(folder / "good.html", "正常的文章")
    os.mkfifo(folder / "fifo.pdf")
    out, raw = tmp_path / "out", tmp_path / "raw"
    for raw_option in (str(raw), ""):  # with the raw store (the default) and without it
        assert main(["ingest", str(folder), "/dev/zero", "--out", str(out), "--raw", raw_option, "-q"]) == 1
        assert {name: kind for name, (kind, _) in errors_by_name(out).items()} == {
            "fifo.pdf": "not_a_regular_file", "zero": "not_a_regular_file"}
        assert document_names(out) == ["good.html"]
    assert "a FIFO (named pipe)" in errors_by_name(out)["fifo.pdf"][1]
    assert "a character device" in errors_by_name(out)["zero"][1]
    assert len(blobs(raw)) == 1 and leftovers(raw) == []


def test_f2_an_unreadable_file_costs_only_its_own_row(tmp_path):
    """``chmod 000`` on one input ended the run with exit 2 and nothing written."""
    folder = tmp_path / "in"
    write_article(folder / "good.html", "正常的文章")
    locked = write_article(folder / "locked.html", "读不到的文章")
    locked.chmod(0)
    out, raw = tmp_path / "out", tmp_path / "raw"
    proc = run_cli_bound_by_file_modes("ingest", str(folder), "--out", str(out), "--raw", str(raw), "-q")
    assert proc.returncode == 1, proc.stderr
    assert errors_by_name(out) == {"locked.html": ("unreadable_file", "PermissionError: Permission denied")}
    assert document_names(out) == ["good.html"]
    assert len(blobs(raw)) == 1 and leftovers(raw) == []


def test_f2_a_full_raw_store_costs_only_the_input_being_copied(tmp_path):
    """A raw store that runs out of room (here: a file-size limit, as a full disk fails a write)
    fails the input being copied; its temp file is removed and the batch lands."""
    folder = tmp_path / "in"
    write_article(folder / "small.html", "小文章")
    big = folder / "big.html"
    big.write_text(article_html("大文章", ["很长的段落。" * 40_000]), encoding="utf-8")  # ~720 KB
    limit = 256 * 1024  # larger than every output part file, smaller than big.html
    assert big.stat().st_size > limit
    out, raw = tmp_path / "out", tmp_path / "raw"
    code = ("import resource, sys\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"  # Python ignores SIGXFSZ: writes fail
            "from gazette.cli import main\n"
            f"sys.exit(main(['ingest', {str(folder)!r}, '--out', {str(out)!r}, '--raw', {str(raw)!r}, '-q']))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    kind, message = errors_by_name(out)["big.html"]
    assert (kind, message.split(":")[0]) == ("raw_store_failed", "OSError")
    assert "File too large" in message
    assert document_names(out) == ["small.html"]
    assert len(blobs(raw)) == 1 and leftovers(raw) == []


# === 3. stacked compression =========================================================================

GIB = 1024**3
FETCH_RSS_LIMIT_MB = 300  # the acceptance's bound on the fetching process


def four_gib_of_zeros_gzipped() -> bytes:
    """4 GiB of zeros as gzip in 4 MB: 256 members (RFC 1952 allows a sequence) of 16 MiB each."""
    member = gzip.compress(bytes(16 * 1024**2), 9)
    return member * 256


FETCH_IN_A_CHILD = """
import json, sys
from pipeline.fetch import Fetcher, FetchSettings, UrlPolicy
from pipeline.rawstore import FetchManifest, RawStore
url, raw, max_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
manifest = FetchManifest()
policy = UrlPolicy(frozenset({"127.0.0.1"}), allow_private=True)
with Fetcher(RawStore(raw), policy, FetchSettings(max_bytes=max_bytes, retries=0), manifest=manifest) as fetcher:
    fetcher.fetch(url)
print(json.dumps(manifest.to_table().to_pylist(), default=str))
"""


# a small fresh interpreter runs the fetching process and reports its peak RSS: a child's ru_maxrss
# also counts what its parent had mapped when it forked, and pytest's process is large
MEASURE = """
import resource, subprocess, sys
proc = subprocess.run([sys.executable, "-c", *sys.argv[1:]], capture_output=True, text=True)
sys.stderr.write(proc.stderr)
print(proc.stdout.strip())
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(proc.returncode)
"""


def fetch_in_a_child(url: str, raw: Path, max_bytes: int) -> tuple[dict, float]:
    """The ``fetches`` row of one fetch made by a fresh process, and that process's peak RSS in MB."""
    proc = subprocess.run([sys.executable, "-c", MEASURE, FETCH_IN_A_CHILD, url, str(raw), str(max_bytes)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    row_json, peak_kib = proc.stdout.strip().splitlines()
    [row] = json.loads(row_json)
    return row, int(peak_kib) / 1024  # ru_maxrss is in KiB on Linux


def test_f3_stacked_gzip_is_refused_in_bounded_memory(tmp_path):
    """6.5 KB of ``Content-Encoding: gzip, gzip`` inflates to 4 GiB: refused, one coding at most."""
    bomb = gzip.compress(four_gib_of_zeros_gzipped(), 9)
    assert len(bomb) < 10_000
    with ScriptedServer() as srv:
        srv.route("/bomb.html", Reply(200, bomb, {**HTML, "Content-Encoding": "gzip, gzip"}))
        row, peak_mb = fetch_in_a_child(srv.url("/bomb.html"), tmp_path / "raw", 200 * 1024**2)
        assert srv.requests[0].headers["accept-encoding"] == "gzip"  # what we ask for
    assert row["error"] == "content_encoding: gzip, gzip refused (one gzip layer at most)"
    assert row["sha256"] is None and blobs(tmp_path / "raw") == [] and leftovers(tmp_path / "raw") == []
    assert peak_mb <= FETCH_RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"


def test_f3_one_gzip_layer_is_limited_by_its_decoded_bytes(tmp_path):
    """A single gzip layer of 4 GiB (4 MB on the wire): the byte limit counts decoded bytes as they
    come, a bounded step at a time, so the fetch stops at the limit."""
    limit = 20 * 1024**2
    with ScriptedServer() as srv:
        srv.route("/bomb.html", Reply(200, four_gib_of_zeros_gzipped(), {**HTML, "Content-Encoding": "gzip"}))
        row, peak_mb = fetch_in_a_child(srv.url("/bomb.html"), tmp_path / "raw", limit)
    assert row["error"] == f"too_large: more than {limit} bytes once decoded"
    assert blobs(tmp_path / "raw") == [] and leftovers(tmp_path / "raw") == []
    assert peak_mb <= FETCH_RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"


def test_f3_a_good_gzip_body_is_decoded(tmp_path):
    """What the fetcher decodes itself must still come out right (several members included)."""
    page = article_html("压缩传输的网页").encode()
    with ScriptedServer() as srv:
        srv.route("/a.html", Reply(200, gzip.compress(page[:100]) + gzip.compress(page[100:]),
                                   {**HTML, "Content-Encoding": "gzip"}))
        srv.route("/cut.html", Reply(200, gzip.compress(page)[:-20], {**HTML, "Content-Encoding": "gzip"}))
        with Fetcher(RawStore(tmp_path / "raw"), LOOPBACK, FetchSettings(retries=0)) as f:
            good, cut = f.fetch(srv.url("/a.html")), f.fetch(srv.url("/cut.html"))
    assert good.ok and good.path.read_bytes() == page and good.bytes == len(page)
    assert cut.error == "truncated: the gzip stream ends inside a member"


# === 4. slow servers ================================================================================


class DripServer:
    """A TCP server on 127.0.0.1 that answers every request with ``head`` and then one byte of
    ``drip`` every ``every`` seconds, for as long as the client listens."""

    def __init__(self, head: bytes, drip: bytes = b"x", every: float = 0.05) -> None:
        owner = self
        self.connections = 0
        self.stop = threading.Event()

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner.connections += 1
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                with contextlib.suppress(OSError):
                    self.request.sendall(head)
                    while not owner.stop.wait(every):
                        self.request.sendall(drip)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> DripServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


# httpx's read timeout (5 s) is never hit by a byte every 0.05 s; only the attempt's deadline can end it
DRIPPING = FetchSettings(max_seconds=1.0, page_max_seconds=1.0, read_timeout=5.0, connect_timeout=1.0, retries=4,
                         backoff_base=0.01, backoff_max=0.02)


def test_f4_headers_dripped_a_byte_at_a_time_hit_the_deadline(tmp_path):
    """The deadline covers the headers: a status line that never ends ends the fetch with a
    timeout, tried once more (not five times)."""
    with DripServer(b"HTTP/1.1 200 OK\r\nX-Slow: ", drip=b"a") as srv, \
            Fetcher(RawStore(tmp_path / "raw"), LOOPBACK, DRIPPING) as f:
        result = f.fetch(srv.url("/a.pdf"))
    assert result.error == "timeout: no complete response within max_seconds=1 s"
    assert srv.connections == TIMEOUT_TRIES == 2


def test_f4_a_dripped_body_hits_the_same_deadline(tmp_path):
    head = b"HTTP/1.0 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: 1000000\r\n\r\n%PDF-1.4\n"
    with DripServer(head) as srv, Fetcher(RawStore(tmp_path / "raw"), LOOPBACK, DRIPPING) as f:
        result = f.fetch(srv.url("/a.pdf"))
    assert result.error == "timeout: no complete response within max_seconds=1 s"
    assert srv.connections == TIMEOUT_TRIES
    assert leftovers(tmp_path / "raw") == []


def test_f4_a_slow_listing_page_does_not_stall_the_crawl(tmp_path):
    """Listing pages get the short page deadline (the PDF deadline here is ten minutes)."""
    settings = FetchSettings(max_seconds=600.0, page_max_seconds=1.0, read_timeout=5.0, retries=1,
                             backoff_base=0.01, backoff_max=0.02)
    with DripServer(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body>") as slow, ScriptedServer() as srv:
        listing = f'<ul><li><a href="a.pdf">2022年第1期</a></li></ul><a href="{slow.url("/gz/index_2.html")}">下一页</a>'
        srv.route("/gz/index.html", Reply(200, listing.encode(), HTML))
        with Fetcher(RawStore(tmp_path / "raw"), LOOPBACK, settings) as f:
            crawl = crawl_listing(f, srv.url("/gz/index.html"))
    assert [i.url for i in crawl.items] == [srv.url("/gz/a.pdf")]
    assert [e.error for e in crawl.errors] == ["timeout: no complete response within max_seconds=1 s"]


# === 5. unchecked numbers ===========================================================================


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--timeout", "nan", "--timeout must be between 0.001 and 604800, got nan"),
    ("--timeout", "inf", "--timeout must be between 0.001 and 604800, got inf"),
    ("--timeout", "1e300", "--timeout must be between 0.001 and 604800, got 1e300"),
    ("--timeout", "0", "--timeout must be between 0.001 and 604800, got 0"),
    ("--timeout", "-5", "--timeout must be between 0.001 and 604800, got -5"),
    ("--workers", "0", "--workers must be between 1 and 32, got 0"),
    ("--workers", "-1", "--workers must be between 1 and 32, got -1"),
    ("--workers", "1000", "--workers must be between 1 and 32, got 1000"),
    ("--workers", "2.5", "'2.5' is not a number"),
    ("--workers", "20", "--workers 20 leaves 204 MB of the 4096 MB memory budget (--memory-mb) to each document; "
                        "each needs 256 MB"),
])
def test_f5_out_of_range_numbers_are_usage_errors(tmp_path, capsys, option, value, message):
    good = write_article(tmp_path / "in" / "good.html", "正常的文章")
    with pytest.raises(SystemExit) as stopped:
        main(["ingest", str(good), "--out", str(tmp_path / "out"), "--raw", "", option, value])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("value", "message"), [
    ("0", "--max-pages must be between 1 and 1000, got 0"),
    ("1000000", "--max-pages must be between 1 and 1000, got 1000000"),
    ("nan", "'nan' is not a number"),
])
def test_f5_discover_checks_its_page_count(capsys, value, message):
    with pytest.raises(SystemExit) as stopped:
        main(["discover", "http://127.0.0.1/gz/", "--max-pages", value, "--out", "unused"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().endswith(message)


def test_f5_library_settings_refuse_them_too():
    """Flows and library callers pass ``Settings``: a nan budget must not switch the limit off."""
    for bad in ({"doc_timeout_s": float("nan")}, {"doc_timeout_s": float("inf")}, {"doc_timeout_s": 0},
                {"parse_workers": 0}, {"parse_workers": 1000}, {"memory_budget_mb": 100}):
        with pytest.raises(ValueError):
            Settings(**bad)


def test_f5_parallel_documents_share_one_memory_budget(tmp_path, inject_faults):
    """Each parse process's address-space cap is its share of the run's budget (what it maps at
    start plus budget / documents at once), not a full budget each."""
    doc = write_article(tmp_path / "stuck.html", "不会结束的文章")
    inject_faults("parse=hang")  # the processes wait at their start, so their limits can be read
    settings = Settings(memory_budget_mb=2048, parse_workers=4, doc_timeout_s=300)
    service = ParseService()
    try:
        futures = [service.submit(doc, f"doc-{i}", settings) for i in range(2)]
        server = psutil.Process(service._connection().proc.pid)
        children = []
        while len(children) < 2:  # bounded by the test's timeout
            children = [c for c in server.children() if c.status() != psutil.STATUS_ZOMBIE]
            threading.Event().wait(0.05)
        for child in children:
            limit = child.rlimit(resource.RLIMIT_AS)[0]
            while limit == resource.RLIM_INFINITY:  # not set yet
                threading.Event().wait(0.05)
                limit = child.rlimit(resource.RLIMIT_AS)[0]
            headroom_mb = (limit - child.memory_info().vms) / 1024**2
            assert 2048 / 4 - 64 < headroom_mb <= 2048 / 4  # the share, less what it mapped since
    finally:
        service.close()
    assert all(f.result(timeout=60).errors[0].error_type == "worker_died" for f in futures)


def test_f5_a_memory_bomb_costs_its_own_row_within_its_share(tmp_path, capsys):
    """Two documents at a time share --memory-mb 512: a PDF that must inflate 400 MB to be read
    stops at its 256 MB share (each worker had its own 4 GB before) and the batch goes on."""
    folder = tmp_path / "in"
    write_article(folder / "good.html", "正常的文章")
    (folder / "bomb.pdf").write_bytes(content_bomb_pdf(400))
    out = tmp_path / "out"
    assert main(["ingest", str(folder), "--out", str(out), "--raw", "", "-q", "--workers", "2", "--memory-mb", "512"]) == 1
    kind, message = errors_by_name(out)["bomb.pdf"]
    assert kind in ("worker_died", "too_much_memory"), message
    assert document_names(out) == ["good.html"]


# === 6. garbage stored as clean text ================================================================

READABLE = b"This line of the text layer reads as it should, word by word."


@pytest.mark.parametrize("backend", ["auto", "pdfium", "pdfplumber"])
def test_f6_an_identity_h_font_without_tounicode_fails_alike_in_both_backends(tmp_path, backend):
    """Before: ``ĀāĂă...`` (PDFium) or ``����`` (pdfminer) stored as clean text, exit 0."""
    pdf = tmp_path / "nomap.pdf"
    pdf.write_bytes(text_layer_pdf([(UNMAPPED, cid_codes(range(0x100 + 20 * k, 0x114 + 20 * k))) for k in range(5)]))
    result = process_source(pdf, settings=Settings(backend=backend))
    assert [(e.error_type, e.message) for e in result.errors] == [("garbled_text_layer", (
        "100 of 100 characters (100%) are unmapped glyphs (U+FFFD), private-use or control characters: the fonts "
        "carry no usable Unicode mapping; run OCR first"))]


def test_f6_both_backends_read_unmapped_glyphs_as_u_fffd(tmp_path):
    pdf = tmp_path / "mixed.pdf"
    pdf.write_bytes(text_layer_pdf([(HELVETICA, READABLE), (UNMAPPED, cid_codes([0x100, 0x101, 0x3042])),
                                    (MAPPED, cid_codes([1, 2, 3]))], {1: 0xE000, 2: 0x4E2D, 3: 0x07}))
    lines = {}
    for backend in ("pdfium", "pdfplumber"):
        with open_pdf(pdf, backend) as reader:
            lines[backend] = [line.text for page in reader.pages() for line in page.lines]
    assert lines["pdfium"] == lines["pdfplumber"] == [READABLE.decode(), "\ufffd" * 3, "\ue000中\x07"]


@pytest.mark.parametrize(("name", "mapping"), [
    ("private_use", {c: 0xE000 + c for c in range(1, 41)}),  # a symbol font's private encoding
    ("controls", {c: c % 31 + 1 for c in range(1, 41)}),  # mapped to C0 control characters
])
def test_f6_private_use_and_control_text_fails(tmp_path, name, mapping):
    pdf = tmp_path / f"{name}.pdf"
    pdf.write_bytes(text_layer_pdf([(MAPPED, cid_codes(list(range(1, 41))))], mapping))
    assert [e.error_type for e in process_source(pdf).errors] == ["garbled_text_layer"]


def test_f6_a_partly_garbled_page_is_kept_with_a_warning(tmp_path, capsys):
    """One line in an unmapped font among readable text: under GARBLED_INPUT_SHARE, so the
    document is kept, and its page is named in the document's warnings; in the same batch a
    wholly garbled input fails alone."""
    folder = tmp_path / "in"
    folder.mkdir()
    runs = [(HELVETICA, READABLE)] * 8 + [(UNMAPPED, cid_codes(range(0x100, 0x100 + 30)))]
    n = 30 + 8 * len(READABLE.replace(b" ", b""))
    assert GARBLED_PAGE_SHARE < 30 / n < GARBLED_INPUT_SHARE
    (folder / "partly.pdf").write_bytes(text_layer_pdf(runs))
    (folder / "wholly.pdf").write_bytes(text_layer_pdf([(UNMAPPED, cid_codes(range(0x100, 0x140)))]))
    out = tmp_path / "out"
    assert main(["ingest", str(folder), "--out", str(out), "--raw", "", "-q"]) == 1
    assert {n: kind for n, (kind, _) in errors_by_name(out).items()} == {"wholly.pdf": "garbled_text_layer"}
    [doc] = Store(out).read("documents").to_pylist()
    assert Path(doc["source"]).name == "partly.pdf"
    assert f"page 1: 30 of {n} characters are unmapped glyphs (U+FFFD), private-use or control characters" in doc["warnings"]


# === 7. front-matter bombs ==========================================================================


def alias_bomb(key: str) -> str:
    """A YAML billion-laughs in 2 KB: nine levels of nine aliases each (9^9 leaves)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, 9):
        lines.append(f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]")
    lines.append(f"{key}: *a8")
    return "\n".join(lines)


@pytest.mark.parametrize("key", ["title", "tags"])
def test_f7_an_alias_bomb_is_not_expanded(tmp_path, key):
    post = tmp_path / "bomb.md"
    front = alias_bomb(key) + ("\ntitle: 正常标题" if key == "tags" else "")
    post.write_text(f"---\n{front}\ndate: 2022-05-26 14:18:58 +0800\n---\n\n"
                    "中国人民银行今日以利率招标方式开展了一百亿元七天期逆回购操作，中标利率为百分之二点一。\n",
                    encoding="utf-8")
    assert post.stat().st_size < 2048
    result = process_source(post)
    [doc] = result.documents
    assert any("YAML anchors and aliases are not read" in w for w in doc.warnings)
    if key == "title":
        assert doc.title == "*a8"  # the line as written, not 9^9 lols
    else:
        assert doc.title == "正常标题" and doc.tags == ["*a8"]


def test_f7_known_keys_take_values_or_lists_of_values(tmp_path):
    post = tmp_path / "shapes.md"
    post.write_text("---\ntitle: [央行, 逆回购]\ntags: {a: b}\ncategories: [finance, [nested], news]\n"
                    "date: 2022-05-26 14:18:58 +0800\n---\n\n"
                    "中国人民银行今日以利率招标方式开展了一百亿元七天期逆回购操作，中标利率为百分之二点一。\n",
                    encoding="utf-8")
    [doc] = process_source(post).documents
    assert (doc.title, doc.tags, doc.categories) == ("央行 逆回购", [], ["finance", "news"])
    assert [w for w in doc.warnings if w.startswith("front matter '")] == [
        "front matter 'title' is a list where one value belongs: its items are joined",
        "front matter 'categories' is a list with nested items: only its plain values are read",
        "front matter 'tags' is a mapping: only its plain values are read",
    ]


# === 8. a hostile listing page ======================================================================


def many_links(n: int, href: str) -> bytes:
    links = "".join(f'<li><a href="{href.format(i=i)}">2022年第{i}期</a></li>' for i in range(n))
    return f"<html><body><ul>{links}</ul></body></html>".encode()


def test_f8_a_page_of_100000_off_host_links_gives_two_rows(tmp_path):
    with ScriptedServer() as srv:
        srv.route("/gz/index.html", Reply(200, many_links(100_000, "http://evil{i}.example/x.pdf"), HTML))
        with Fetcher(RawStore(tmp_path / "raw"), LOOPBACK, FetchSettings(retries=0)) as f:
            crawl = crawl_listing(f, srv.url("/gz/index.html"))
    page = srv.url("/gz/index.html")
    assert crawl.items == []
    assert [(r.url, r.count) for r in crawl.refused] == [
        (page + REFUSED_LINKS, MAX_LINKS_PER_PAGE), (page + LINKS_BEYOND_CAP, 100_000 - MAX_LINKS_PER_PAGE)]
    refused = crawl.refused[0]
    assert refused.reason.startswith(f"{MAX_LINKS_PER_PAGE} links refused: host not allowed ({MAX_LINKS_PER_PAGE}); "
                                     "e.g. http://evil0.example/x.pdf (host not allowed: evil0.example), ")
    assert len(refused.examples) == 5
    assert crawl.warnings == [f"{page}: {100_000 - MAX_LINKS_PER_PAGE} links not read: a page is read up to "
                              f"{MAX_LINKS_PER_PAGE} links"]


def test_f8_a_page_of_100000_same_host_pdfs_is_capped(tmp_path):
    with ScriptedServer() as srv:
        srv.route("/gz/index.html", Reply(200, many_links(100_000, "/gz/{i}.pdf"), HTML))
        with Fetcher(RawStore(tmp_path / "raw"), LOOPBACK, FetchSettings(retries=0)) as f:
            crawl = crawl_listing(f, srv.url("/gz/index.html"))
        assert [r.path for r in srv.requests] == ["/gz/index.html"]  # the PDFs are the caller's
    page = srv.url("/gz/index.html")
    assert len(crawl.items) == MAX_ITEMS_PER_CRAWL and crawl.items[-1].url == srv.url(f"/gz/{MAX_ITEMS_PER_CRAWL - 1}.pdf")
    assert [(r.url, r.count) for r in crawl.refused] == [
        (page + LINKS_BEYOND_CAP, 100_000 - MAX_LINKS_PER_PAGE),
        (page + ITEMS_BEYOND_CAP, MAX_LINKS_PER_PAGE - MAX_ITEMS_PER_CRAWL)]
    assert len(crawl.warnings) == 2


@pytest.mark.usefixtures("prefect_server")
def test_f8_the_flow_writes_one_row_per_page_and_cause(tmp_path):
    """Before: 100,000 errors rows and 100,000 inputs rows, each its own Parquet file."""
    import flows.pipeline_flows as pf

    with ScriptedServer() as srv:
        srv.route("/gz/index.html", Reply(200, many_links(100_000, "http://evil{i}.example/x.pdf"), HTML))
        out = tmp_path / "out"
        run = pf.discover_and_ingest(srv.url("/gz/index.html"), out=str(out), raw=str(tmp_path / "raw"),
                                     allow_private=True, fetch_settings=FetchSettings(retries=0))
    store = Store(out)
    page = srv.url("/gz/index.html")
    expected = {page + REFUSED_LINKS, page + LINKS_BEYOND_CAP}
    assert run["errors"] == 2
    assert {r["source"] for r in store.read("errors").to_pylist()} == expected
    assert {r["source"] for r in store.read("inputs").to_pylist()} == expected
    assert {r["url"] for r in store.read("fetches").to_pylist() if r["refused"]} == expected


# === 9. forged log lines ============================================================================


def test_f9_names_are_printed_with_their_control_characters_escaped(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "x\nerror: forged: ok: all fine.html").write_bytes(b"")
    (folder / "\x1b[31mred\x1b[0m.html").write_bytes(b"")
    write_article(folder / "good.html", "正常的文章")
    assert main(["ingest", str(folder), "--out", str(tmp_path / "out"), "--raw", "", "-q"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {folder}/") for line in lines)
    assert f"error: {folder}/x\\nerror: forged: ok: all fine.html: empty_file: the file is empty" in lines
    assert f"error: {folder}/\\x1b[31mred\\x1b[0m.html: empty_file: the file is empty" in lines
    assert "\x1b" not in captured.err + captured.out


# === 10. smaller contract breaks ====================================================================


def test_f10_missing_paths_dangling_links_and_fifos_count_as_errors(tmp_path, capsys):
    folder = tmp_path / "in"
    write_article(folder / "good.html", "正常的文章")
    (folder / "dangling.pdf").symlink_to(folder / "gone.pdf")
    os.mkfifo(folder / "pipe.html")
    (folder / "notes.txt").write_text("not an input")  # other files in a folder are not inputs
    out = tmp_path / "out"
    assert main(["ingest", str(folder), str(tmp_path / "missing.pdf"), "--out", str(out), "--raw", "", "-q"]) == 1
    assert errors_by_name(out) == {
        "dangling.pdf": ("no_such_file", "a dangling symlink (its target does not exist)"),
        "pipe.html": ("not_a_regular_file", "a FIFO (named pipe), not a regular file: not read"),
        "missing.pdf": ("no_such_file", "no such file"),
    }
    assert "4 inputs: 1 documents" in capsys.readouterr().out
    [run] = Store(out).read("runs").to_pylist()
    assert (run["errors"], len(run["inputs"])) == (3, 4)


def test_f10_an_empty_selection_exits_non_zero(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["ingest", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (f"error: no input files (.pdf, .html, .htm, .md, .markdown, .shtml) in "
                                       f"{tmp_path / 'empty'}\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["empty", "regular_file", "foreign_documents"])
def test_f10_an_unusable_out_is_refused_before_any_parsing(tmp_path, capsys, monkeypatch, case):
    good = write_article(tmp_path / "in" / "good.html", "正常的文章")
    monkeypatch.chdir(tmp_path)
    out = {"empty": "", "regular_file": str(tmp_path / "file"), "foreign_documents": str(tmp_path / "out")}[case]
    (tmp_path / "file").write_text("a file")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "documents").write_text("someone else's file")
    raw = tmp_path / "raw"
    assert main(["ingest", str(good), "--out", out, "--raw", str(raw), "-q"]) == 2
    message = {"empty": "error: --out is empty: name an output directory",
               "regular_file": f"error: --out {out} is not a directory",
               "foreign_documents": f"error: --out {out}: {out}/documents exists and is not a gazette dataset link: "
                                    "choose another --out"}[case]
    assert capsys.readouterr().err == message + "\n"
    assert not raw.exists() and not (tmp_path / ".gazette").exists()  # nothing copied, nothing parsed


def test_f10_a_read_only_out_is_refused_before_any_parsing(tmp_path):
    good = write_article(tmp_path / "in" / "good.html", "正常的文章")
    out = tmp_path / "out"
    out.mkdir(mode=0o555)
    out.chmod(0o555)
    proc = run_cli_bound_by_file_modes("ingest", str(good), "--out", str(out), "--raw", str(tmp_path / "raw"), "-q")
    assert proc.returncode == 2
    assert proc.stderr == f"error: --out {out} is not writable (PermissionError: Permission denied)\n"
    assert not (tmp_path / "raw").exists()


@pytest.mark.parametrize("command", ["tables", "validate"])
def test_f10_reading_a_missing_output_exits_non_zero(tmp_path, capsys, command):
    assert main([command, "--out", str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err == (f"error: no gazette output in {tmp_path / 'nothing'} "
                                       f"(run gazette ingest --out {tmp_path / 'nothing'} first)\n")


def test_f10_process_source_never_raises_for_a_bad_path():
    result = process_source("in/bad\x00name.pdf")
    assert [(e.error_type, e.message) for e in result.errors] == [("bad_path", "unusable path (embedded null byte)")]
    assert find_inputs(["in/bad\x00name.pdf"])[0].path == Path("in/bad\x00name.pdf")


def test_f10_a_host_whose_name_does_not_resolve_is_refused():
    """Fail closed: a name the policy cannot check might resolve to anything later."""
    policy = UrlPolicy(frozenset({"gazette.invalid"}))  # .invalid never resolves (RFC 2606)
    assert policy.check("http://gazette.invalid/a.pdf") == "host does not resolve: gazette.invalid"
