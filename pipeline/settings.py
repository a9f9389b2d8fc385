"""Settings for every stage, in one place, with documented safe defaults.

``resolve`` accepts ``None``, a mapping or a ``Settings`` and rejects unknown keys, so a
typo in a config never silently falls back to a default.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


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
    # address space of an isolated parse (RLIMIT_AS): a decompression bomb or runaway object
    # graph fails with a clear error instead of taking the machine; pdfminer has no such limit
    max_memory_mb: int = 4096
    # cleaning
    margin_band: float = 0.10  # fraction of the page height treated as header / footer band
    repeat_min_fraction: float = 0.3  # a band line repeated on this share of pages is furniture
    # tables
    table_snap_tolerance: float = 3.0
    column_match_tolerance: float = 6.0  # pt: continued tables' column edges must agree within this

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


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
