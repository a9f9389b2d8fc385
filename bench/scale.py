"""Section 6 of ``bench/run.py``: an archive of many inputs in one output.

Generated inputs, nothing downloaded: news pages as the finews site serves them (the 24 real
posts of ``tests/data/corpus/finews`` in turn, each copy with its own title, date, URL and a
sentence of its own, rendered with the site's layout by ``bench/html_quality.py``) and small
gazette issues (``tests.conftest.small_issue`` drawn by the fixture builder). Every ``gazette
ingest`` runs as the command does, in a fresh process (``bench/run.py --child cli``), so its
wall time includes the interpreter's start and its peak RSS is the largest process of the run
(the command, the parse service or a worker: ``os.wait4`` of the command's process, whose
rusage covers the processes it waited for).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import Row, best_of, check, run_child  # noqa: E402
from html_quality import POSTS, render_post, split_post  # noqa: E402

YEARS = range(2019, 2025)  # generated posts are spread over these years: several year= partitions
WORKERS = 2  # gazette ingest --workers, and trafilatura's processes: the same two cores for both


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- inputs -----------------------------------------------------------------------------------------


def generate_posts(folder: Path, n: int, first: int = 0) -> list[Path]:
    """``n`` news pages as the finews site serves them: the 24 real posts in turn, each copy with
    its own title, date (spread over ``YEARS``), URL and one sentence of its own, rendered with the
    site's layout. Written as ``<folder>/pages/*.html``."""
    bases = [split_post(p.read_text("utf-8")) for p in sorted(POSTS.glob("*.md"))]
    md, pages = folder / "md", folder / "pages"
    md.mkdir(parents=True, exist_ok=True)
    pages.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(first, first + n):
        fm, body = bases[i % len(bases)]
        year = YEARS[i % len(YEARS)]
        day = f"{year}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        date = re.sub(r"^\s*\d{4}-\d{2}-\d{2}", day, fm.get("date", ""))
        front = {**fm, "title": f"{fm.get('title', '')}（第{i}条）", "date": date}
        text = "---\n" + "".join(f"{k}: {v}\n" for k, v in front.items()) + "---\n" + body
        text += f"\n\n这是生成的第{i}条消息，编号{i:06d}，用于规模测试。\n"
        post = md / f"{day}-gen{i:06d}.md"
        post.write_text(text, encoding="utf-8")
        page = pages / f"gen{i:06d}.html"
        page.write_bytes(render_post(post))
        out.append(page)
    return out


def generate_issues(folder: Path, n: int, first: int = 1) -> list[Path]:
    """``n`` small gazette issues (cover, 目录, one document of nine chapters), numbers ``first``..."""
    from tests.conftest import small_issue
    from tests.fixtures.build_gazette import build_pdf

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(first, first + n):
        path = folder / f"gz-2022-{k:03d}.pdf"
        build_pdf(small_issue(k, chapters=9), path)
        paths.append(path)
    return paths


# --- measurements ----------------------------------------------------------------------------------


def ingest(*args: str) -> tuple[float, float, str]:
    """``gazette ingest ARGS`` in a fresh process: (wall s, peak RSS MB of its largest process, stdout)."""
    run = run_child(["cli", "ingest", *args, "--raw", "", "-q", "--workers", str(WORKERS)], timeout=7200)
    if run.data["code"] not in (0,):
        raise RuntimeError(f"gazette ingest {' '.join(args)} exited {run.data['code']}:\n{run.stderr[-2000:]}")
    return run.wall_s, run.maxrss_mb, run.stdout


def child_cli(args: list[str]) -> None:
    """``bench/run.py --child cli ...``: the gazette command, as a user runs it."""
    from common import emit

    from gazette.cli import main

    t0 = time.perf_counter()
    code = main(args)
    emit({"code": code, "seconds": time.perf_counter() - t0})


def _traf(path: str) -> int:
    import trafilatura

    return len(trafilatura.extract(Path(path).read_bytes()) or "")


def trafilatura_pages_per_s(pages: list[Path]) -> float:
    """trafilatura's ``extract`` on the same pages (read from disk), in ``WORKERS`` processes."""
    with mp.get_context("fork").Pool(WORKERS) as pool:
        pool.map(_traf, [str(p) for p in pages[:WORKERS]])  # warm-up: imports in each process
        t0 = time.perf_counter()
        pool.map(_traf, [str(p) for p in pages], chunksize=16)
        return len(pages) / (time.perf_counter() - t0)


def files_per_partition(out: Path) -> tuple[list[dict], float]:
    """Per dataset: files, partitions, bytes, and files allowed (one per partition per 128 MB)."""
    from pipeline.storage import TARGET_FILE_BYTES, Store

    snap = Store(out).snapshot()
    rows, worst = [], 0.0
    for name, files in snap.manifest.files.items():
        by_partition: dict[str, int] = {}
        for f in files:
            by_partition[f.partition] = by_partition.get(f.partition, 0) + f.bytes
        allowed = sum(max(1, math.ceil(b / TARGET_FILE_BYTES)) for b in by_partition.values())
        rows.append({"dataset": name, "files": len(files), "partitions": len(by_partition),
                     "bytes": sum(by_partition.values()), "allowed": allowed})
        if files:
            worst = max(worst, len(files) / allowed)
    return rows, worst


def read_documents(out: Path, tmp: Path, repeats: int) -> tuple[float, float, int]:
    """Reading ``documents`` of the archive (a Hive-partitioned folder, as any reader opens it) vs
    the same rows from one file: (archive s, one file s, rows)."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    table = ds.dataset(out / "documents", partitioning="hive").to_table()
    single = tmp / "documents-one-file.parquet"
    pq.write_table(table, single, compression="zstd")
    archive_s, one_s = [], []
    for _ in range(2 * repeats):  # alternating: this machine's speed drifts between two windows
        archive_s.append(best_of(lambda: ds.dataset(out / "documents", partitioning="hive").to_table(), 1)[0])
        one_s.append(best_of(lambda: pq.read_table(single), 1)[0])
    return min(archive_s), min(one_s), table.num_rows


def commit_one(out: Path, tmp: Path, pages: list[Path]) -> tuple[float, float]:
    """Committing one new document (parsed before: this is the commit alone) into the archive vs
    into an empty output, once per page (each a document the archive does not hold yet, each
    empty output new), alternating; the best of each side."""
    from pipeline.ingest import commit_results, process_source
    from pipeline.storage import Store

    archive_s, empty_s = [], []
    for i, page in enumerate(pages):
        result = process_source(page, str(page))
        t0 = time.perf_counter()
        commit_results(Store(out), [result])
        archive_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        commit_results(Store(tmp / f"empty-{i}"), [result])
        empty_s.append(time.perf_counter() - t0)
    return min(archive_s), min(empty_s)


# --- the section ------------------------------------------------------------------------------------


def bench_scale(tmp: Path, n_posts: int, n_issues: int, n_noop_issues: int, n_baseline: int, repeats: int,
                details: dict, quick: bool = False) -> list[Row]:
    work = tmp / "scale"
    log(f"6. scale: generating {n_posts} posts, {n_issues} + {n_noop_issues} small gazette issues")
    pages = generate_posts(work / "posts", n_posts)
    generate_issues(work / "issues", n_issues)
    generate_issues(work / "issues40", n_noop_issues, first=1000)
    more = generate_posts(work / "more", repeats + 1, first=n_posts)  # posts the archive does not hold
    out = work / "out"

    log(f"   trafilatura.extract on {min(n_baseline, n_posts)} of the posts, {WORKERS} processes (before and after)")
    traf_before = trafilatura_pages_per_s(pages[:n_baseline])
    log(f"   gazette ingest: {n_posts} posts, then {n_issues} issues, into one output")
    posts_s, posts_rss, _ = ingest(str(work / "posts" / "pages"), "--out", str(out))
    traf_after = trafilatura_pages_per_s(pages[:n_baseline])
    traf = (traf_before + traf_after) / 2  # the windows on either side of ours: this machine's speed drifts
    issues_s, issues_rss, _ = ingest(str(work / "issues"), "--out", str(out))
    log("   no-op re-run over everything")
    noop_s, noop_rss, noop_out = ingest(str(work / "posts" / "pages"), str(work / "issues"), "--out", str(out))
    if f"skipped {n_posts + n_issues} inputs" not in noop_out:
        raise RuntimeError(f"the no-op run did not skip every input:\n{noop_out}")
    log(f"   {n_noop_issues} issues into a new output, then again (and the command over one of them), 3 times")
    out40 = work / "out40"
    cold40_s, _, _ = ingest(str(work / "issues40"), "--out", str(out40))
    # the command's fixed cost: the same no-op over one of the 40 (an empty selection is an error, exit 2)
    one = next(p for p in sorted((work / "issues40").iterdir()) if p.is_file())
    noop40, fixed = [], []
    for _ in range(3):  # alternating, best of each: about a second each, where the machine's drift shows
        noop40.append(ingest(str(work / "issues40"), "--out", str(out40))[0])
        fixed.append(ingest(str(one), "--out", str(out40))[0])
    noop40_s, fixed_s = min(noop40), min(fixed)
    log("   files, reading, commit of one document")
    files, worst = files_per_partition(out)
    archive_read, one_read, n_docs = read_documents(out, work, repeats)
    commit_archive, commit_empty = commit_one(out, work, more[:-1])
    cli_one_archive, _, _ = ingest(str(more[-1]), "--out", str(out))
    cli_one_empty, _, _ = ingest(str(more[-1]), "--out", str(work / "empty-cli"))
    peak = max(posts_rss, issues_rss, noop_rss)
    details["scale"] = {
        "posts": n_posts, "issues": n_issues, "noop_issues": n_noop_issues, "trafilatura_baseline_posts": n_baseline,
        "seconds": {"posts_cold": posts_s, "issues_cold": issues_s, "noop": noop_s, "issues40_cold": cold40_s,
                    "issues40_noop": noop40_s, "command_over_one_done_input": fixed_s, "read_archive": archive_read, "read_one_file": one_read,
                    "commit_archive": commit_archive, "commit_empty": commit_empty,
                    "cli_one_archive": cli_one_archive, "cli_one_empty": cli_one_empty},
        "trafilatura_pages_per_s": {"before": traf_before, "after": traf_after}, "peak_rss_mb": {"posts": posts_rss, "issues": issues_rss, "noop": noop_rss},
        "files": files, "documents": n_docs,
    }
    shutil.rmtree(work / "posts" / "md", ignore_errors=True)
    posts_per_s = n_posts / posts_s
    net40 = max(0.0, noop40_s - fixed_s) / (cold40_s - fixed_s)
    total_files = sum(f["files"] for f in files)
    allowed = sum(f["allowed"] for f in files)
    tag = f"{n_posts} posts + {n_issues} issues"

    def judged(ratio: float, target: str) -> bool | None:
        """With --quick's few inputs the command's fixed start swamps these ratios: judged on full runs."""
        return None if quick else check(ratio, target)

    smoke = "--quick: judged on a full run only" if quick else ""
    return [
        Row("scale", f"{n_posts} posts: gazette ingest --workers {WORKERS} vs trafilatura extract ({WORKERS} procs)",
            posts_per_s, "posts/s", traf, "posts/s", posts_per_s / traf, ">= 2", judged(posts_per_s / traf, ">= 2"),
            note=smoke),
        Row("scale", f"{n_issues} small issues into the same output", n_issues / issues_s, "issues/s"),
        Row("scale", f"files per dataset ({tag}; worst dataset, files / allowed)", total_files, "files", allowed,
            "allowed", worst, "<= 1", check(worst, "<= 1"),
            note="allowed: one per partition per 128 MB"),
        Row("scale", f"read documents ({n_docs} rows): archive folder vs one file", archive_read * 1e3, "ms",
            one_read * 1e3, "ms", archive_read / one_read, "<= 3", check(archive_read / one_read, "<= 3")),
        Row("scale", "commit 1 new document: into the archive vs into an empty output", commit_archive * 1e3, "ms",
            commit_empty * 1e3, "ms", commit_archive / commit_empty, "<= 1.5",
            check(commit_archive / commit_empty, "<= 1.5")),
        Row("scale", "gazette ingest 1 new post: into the archive vs into an empty output", cli_one_archive, "s",
            cli_one_empty, "s", cli_one_archive / cli_one_empty, note="whole command, interpreter start included"),
        Row("scale", f"no-op re-run over {tag} vs the cold runs", noop_s, "s", posts_s + issues_s, "s",
            noop_s / (posts_s + issues_s), "<= 0.05", judged(noop_s / (posts_s + issues_s), "<= 0.05"), note=smoke),
        Row("scale", f"no-op re-run over {n_noop_issues} small issues vs their cold run", noop40_s, "s", cold40_s, "s",
            noop40_s / cold40_s, note=f"raw: both include the command's fixed cost, {fixed_s:.2f} s"),
        Row("scale", f"no-op re-run over {n_noop_issues} small issues vs cold, net of the command's fixed cost",
            noop40_s - fixed_s, "s", cold40_s - fixed_s, "s", net40, "<= 0.05", judged(net40, "<= 0.05"),
            note=smoke or "fixed cost: the same command over one of the 40 (start, imports, reading inputs, its run row)"),
        Row("scale", "peak RSS of the runs (largest process: command, service or worker)", peak, "MB",
            target="<= 500 MB", passed=peak <= 500),
    ]
