"""Golden rows: what the pipeline writes for every real test input, as digests, so that a
change meant to keep behaviour (a refactoring, a faster path) is shown to keep it.

    python -m tests.golden            # compare with tests/golden/rows.json
    python -m tests.golden --update   # write it anew: list the intended differences in the commit

For each input and dataset the file holds the row count and a sha256 of the rows as
canonical JSON, over every column but ``pipeline_version`` and ``processed_at`` (which change
without the rows changing). A warning that a page was read through pdfplumber depends on the
machine's fonts, not on the pipeline, and is left out too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

from pipeline.extract.pdf import FONT_FALLBACK_WARNING
from pipeline.ingest import process_source
from pipeline.rows import result_tables
from tests.conftest import CORPUS, DATA, ROOT

GOLDEN = ROOT / "tests" / "golden" / "rows.json"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
VARYING = ("pipeline_version", "processed_at")


def inputs() -> list[Path]:
    """The real documents: the bundled samples, the corpus PDFs and pages, the posts, seed 000."""
    return sorted([*(ROOT / "raw" / "samples").glob("*.*"), *(CORPUS / "pdf").glob("*.pdf"),
                   *(CORPUS / "html").glob("*.html"), *(CORPUS / "finews" / "posts").glob("*.md"),
                   DATA / "seeds" / "000_23a1c87a91197581.txt"])


def _stable(row: dict) -> dict:
    out = {k: v for k, v in row.items() if k not in VARYING}
    if isinstance(out.get("warnings"), list):
        out["warnings"] = [w for w in out["warnings"] if FONT_FALLBACK_WARNING not in w]
    return out


def digests(path: Path) -> dict[str, list]:
    """dataset -> [rows, sha256 of their canonical JSON] for one input."""
    result = process_source(path, source=str(path.relative_to(ROOT)))
    out = {}
    for name, table in sorted(result_tables(result, NOW).items()):
        rows = [_stable(r) for r in table.to_pylist()]
        text = json.dumps(rows, ensure_ascii=False, sort_keys=True, default=str)
        out[name] = [len(rows), hashlib.sha256(text.encode()).hexdigest()]
    return out


def current() -> dict[str, dict[str, list]]:
    return {str(p.relative_to(ROOT)): digests(p) for p in inputs() if p.name.lower() != "readme.md"}


def main(argv: list[str]) -> int:
    got = current()
    if "--update" in argv:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(got, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {GOLDEN.relative_to(ROOT)}: {len(got)} inputs")
        return 0
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    changed = sorted(f"{source}: {name}" for source in set(got) | set(want)
                     for name in set(got.get(source, {})) | set(want.get(source, {}))
                     if got.get(source, {}).get(name) != want.get(source, {}).get(name))
    print("\n".join(changed) or "identical")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
