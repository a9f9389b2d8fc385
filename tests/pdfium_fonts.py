"""Run the default PDF path as it runs on a machine with, or without, a CJK system font.

PDFium's text page depends on the machine's fonts when a PDF does not embed its CJK font
(STSong-Light, 宋体 referenced by name): a stand-in font decides which characters come out.
PDFium takes the folders it searches for fonts when the library starts
(``FPDF_LIBRARY_CONFIG.m_pUserFontPaths``, which replace its default system folders), so a
child process that restarts PDFium on a chosen folder behaves like such a machine, whatever
this machine has installed:

* ``NO_FONTS``: an empty folder, a bare machine;
* ``CJK_FONTS``: ``tests/data/fonts`` (a CJK TrueType font), a machine with a CJK font.

Run as ``python -m tests.pdfium_fonts FONT_DIR PDF``: prints the rows of the default path
(as JSON) for the test to compare.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CJK_FONTS = ROOT / "tests" / "data" / "fonts"
NO_FONTS = None  # a fresh empty folder


def _restart_pdfium(font_dir: str) -> None:
    """Restart PDFium so that it looks for fonts in ``font_dir`` only."""
    import pypdfium2._library_scope as scope  # pypdfium2 starts PDFium when imported
    import pypdfium2.raw as pdfium_c
    from pypdfium2.internal import bases

    scope.destroy_lib()
    char_p = ctypes.POINTER(ctypes.c_char)
    folder = ctypes.create_string_buffer(font_dir.encode())
    paths = (char_p * 2)(ctypes.cast(folder, char_p), None)  # a NULL-terminated list
    config = pdfium_c.FPDF_LIBRARY_CONFIG(version=2, m_pUserFontPaths=ctypes.cast(paths, ctypes.POINTER(char_p)),
                                          m_pIsolate=None, m_v8EmbedderSlot=0)
    pdfium_c.FPDF_InitLibraryWithConfig(config)
    bases.LIBRARY_AVAILABLE = True
    _restart_pdfium.keep = (folder, paths)  # PDFium keeps the pointers


def default_path_rows(pdf: Path, font_dir: Path | None) -> dict[str, list]:
    """The default (``auto``) path's rows for ``pdf`` in a child process whose PDFium sees only
    the fonts in ``font_dir`` (``None``: no font at all)."""
    with tempfile.TemporaryDirectory() as empty:
        folder = str(font_dir) if font_dir is not None else empty
        done = subprocess.run([sys.executable, "-m", "tests.pdfium_fonts", folder, str(pdf)], cwd=ROOT,
                              capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def rows_as_json(pdf: Path, backend: str) -> dict[str, list]:
    """A PDF's rows, in the JSON form the child prints (dates and times as text)."""
    import datetime as dt

    from pipeline.process import process_pdf
    from pipeline.rows import result_tables
    from pipeline.settings import Settings

    result = process_pdf(pdf, source=pdf.name, raw_sha256="0" * 64, settings=Settings(backend=backend))
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    tables = {name: table.to_pylist() for name, table in result_tables(result, now).items()}
    return json.loads(json.dumps(tables, default=str, ensure_ascii=False))


if __name__ == "__main__":
    _restart_pdfium(sys.argv[1])
    sys.stdout.write(json.dumps(rows_as_json(Path(sys.argv[2]), "auto"), ensure_ascii=False))
