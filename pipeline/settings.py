"""Settings for every stage, in one place, with documented safe defaults.

``resolve`` accepts ``None``, a mapping or a ``Settings`` and rejects unknown keys, so a
typo in a config never silently falls back to a default.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

# bounds of the limits an operator may set (``gazette ingest`` refuses values outside them)
MAX_PARSE_WORKERS = 32  # documents parsed at once: beyond this, processes only contend for the cores
MIN_PROCESS_MEMORY_MB = 256  # a parse process needs this much beyond its start to read an ordinary gazette
MIN_DOC_TIMEOUT_S = 0.001  # a millisecond: positive, and no document gets anything done in less
MAX_DOC_TIMEOUT_S = 7 * 24 * 3600.0  # a week: larger values mean "no budget", which is not offered
MAX_LISTING_PAGES = 1_000  # pages of one listing (createPageHTML, --max-pages): more is not a gazette's list
MAX_MEMORY_BUDGET_MB = 1024 * 1024  # 1 TiB: beyond any machine this runs on, so a larger value is a typo


@dataclass(frozen=True)
class Settings:
    # extraction
    backend: str = "auto"  # auto (pypdfium2 text + pdfplumber for table pages) / pdfplumber / pdfium
    workers: int = 1  # processes for one big PDF (page ranges); 1 = serial
    # limits (reliability)
    max_file_bytes: int = 300 * 1024 * 1024
    max_pages: int = 3000
    doc_timeout_s: float = 600.0  # per-source time budget; a stuck document is stopped and recorded
    max_html_bytes: int = 20 * 1024 * 1024
    # memory the parse processes of one run may take together, beyond what each maps when it
    # starts (the interpreter and its libraries, shared with the parse service): each process
    # gets its share as an address-space cap (RLIMIT_AS), so a decompression bomb or a runaway
    # object graph fails with a clear error instead of taking the machine, however many run
    memory_budget_mb: int = 4096
    parse_workers: int = 1  # documents parsed at once (gazette ingest --workers): they share the budget
    # cleaning
    margin_band: float = 0.10  # fraction of the page height treated as header / footer band
    repeat_min_fraction: float = 0.3  # a band line repeated on this share of pages is furniture
    # tables
    column_match_tolerance: float = 6.0  # pt: continued tables' column edges must agree within this

    def __post_init__(self) -> None:
        # nan would switch the time budget off, inf overflows the service's clock arithmetic
        if not MIN_DOC_TIMEOUT_S <= self.doc_timeout_s <= MAX_DOC_TIMEOUT_S:
            raise ValueError(f"doc_timeout_s must be seconds in [{MIN_DOC_TIMEOUT_S:g}, {MAX_DOC_TIMEOUT_S:g}], "
                             f"got {self.doc_timeout_s!r}")
        if not 1 <= self.parse_workers <= MAX_PARSE_WORKERS or self.workers < 1:
            raise ValueError(f"parse_workers must be in [1, {MAX_PARSE_WORKERS}] and workers at least 1, "
                             f"got {self.parse_workers!r} and {self.workers!r}")
        if self.process_memory_mb() < MIN_PROCESS_MEMORY_MB or self.memory_budget_mb > MAX_MEMORY_BUDGET_MB:
            raise ValueError(f"memory_budget_mb={self.memory_budget_mb} leaves {self.process_memory_mb()} MB to each "
                             f"of {self.parse_workers * self.workers} parse processes; each needs at least "
                             f"{MIN_PROCESS_MEMORY_MB} MB (at most {MAX_MEMORY_BUDGET_MB} MB in all)")

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def process_memory_mb(self) -> int:
        """The memory budget's share of one parse process: documents parsed at once, and a
        long PDF's page-range processes (``workers``), each get an equal part."""
        return self.memory_budget_mb // (max(1, self.parse_workers) * max(1, self.workers))


_KNOWN = {f.name for f in fields(Settings)}


def resolve(value: Settings | dict[str, Any] | None = None) -> Settings:
    if value is None:
        return Settings()
    if isinstance(value, Settings):
        return value
    unknown = set(value) - _KNOWN
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    return Settings(**value)
