"""Readable 目录-check reports: markdown for a Prefect artifact, text for ``gazette validate``."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.model import TocCheck


def render_markdown(doc_id: str, checks: Sequence[TocCheck]) -> str:
    """A readable per-document report (used by the CLI and as a Prefect artifact)."""
    counts: dict[str, int] = {}
    for c in checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    lines = [f"### {doc_id}", "", ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no 目录 entries", ""]
    problems = [c for c in checks if c.status != "ok"]
    if problems:
        lines += ["| level | number | status | 目录 | body | similarity | pages |", "|---|---|---|---|---|---|---|"]
        for c in problems:
            num = f"{c.parent_number}.{c.number}" if c.parent_number is not None and c.level == "section" else c.number
            pages = f"{c.toc_page}→{c.body_page}" if c.toc_page or c.body_page else ""
            lines.append(f"| {c.level} | {num if num is not None else ''} | {c.status} | {c.toc_title or ''} | {c.body_title or c.detail or ''} | {c.similarity if c.similarity is not None else ''} | {pages} |")
    return "\n".join(lines) + "\n"


STRICT_FAILURES = ("missing", "out_of_order", "extra")


def render_report(documents, toc_checks) -> tuple[str, bool]:
    """Per-document text report from the ``documents`` and ``toc_checks`` datasets.

    Returns (report, failing): failing when any row is missing, out of order or extra.
    """
    checks_by_doc: dict[str, list[dict]] = {}
    for row in toc_checks.to_pylist():
        checks_by_doc.setdefault(row["doc_id"], []).append(row)
    out, failing = [], False
    for doc in sorted(documents.to_pylist(), key=lambda d: d["doc_id"]):
        rows = checks_by_doc.pop(doc["doc_id"], [])
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        entries = sum(v for k, v in counts.items() if k not in ("extra", "gap", "duplicate"))
        verdict = "no 目录" if doc["toc_complete"] is None else ("complete" if doc["toc_complete"] else "INCOMPLETE")
        out.append(f"{doc['doc_id']}  {doc['doc_number'] or ''}  {doc['title'] or ''}")
        out.append(f"  目录: {verdict}; {entries} entries checked: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        for r in rows:
            if r["status"] == "ok":
                continue
            failing = failing or r["status"] in STRICT_FAILURES
            num = f"{r['parent_number']}.{r['number']}" if r["level"] == "section" and r["parent_number"] else (r["number"] or "")
            sim = f" (similarity {r['similarity']:.2f})" if r["similarity"] is not None else ""
            pages = f" pages 目录 {r['toc_page']} / body {r['body_page']}" if r["status"] == "page_mismatch" else ""
            out.append(f"  {r['status']:<15} {r['level']} {num}: 目录「{r['toc_title'] or '-'}」 body「{r['body_title'] or r['detail'] or '-'}」{sim}{pages}")
    for unit, rows in checks_by_doc.items():  # issue-level rows
        found = sum(1 for r in rows if r["status"] == "ok")
        out.append(f"issue {unit}: {found} of {sum(1 for r in rows if r['status'] != 'extra')} listed documents found as listed")
        for r in rows:
            if r["status"] != "ok":
                failing = failing or r["status"] in STRICT_FAILURES
                out.append(f"  {r['status']:<15} {r['detail'] or ''} {r['toc_title'] or r['body_title'] or ''} (目录 p.{r['toc_page']}, body p.{r['body_page']})")
    return "\n".join(out), failing
