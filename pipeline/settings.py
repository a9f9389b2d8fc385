"""Settings for every stage, in one place, with documented safe defaults.

``resolve`` accepts ``None``, a mapping or a ``Settings`` and rejects unknown keys at every
level (``{"layout": {"indent_em": 2}}`` sets one layout tolerance), so a typo in a config
never silently falls back to a default.

Geometry lives in two objects, as pdfplumber's ``TableSettings`` holds its table finder's
tolerances: ``TextLayoutSettings`` (characters -> lines -> paragraphs, columns, page
furniture) and ``TableSettings`` (ruled and borderless tables). Each field carries its unit
and the reason for its value (``field`` metadata, checked by ``tests/test_settings.py``);
the unit ends the field's name:

* ``_pt``: PDF points (1/72 inch), top-left page coordinates;
* ``_em``: multiples of the font size of the text in question (a CJK character is 1 em wide);
* ``_pitch``: multiples of the body text's line pitch (baseline to baseline);
* ``_share``: a fraction, 0..1;
* ``_chars``, ``_lines``, ``_rows``, ``_blocks``, ``_pages``, ``_columns``, ``_objects``: counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

# bounds of the limits an operator may set (``gazette ingest`` refuses values outside them)
MAX_PARSE_WORKERS = 32  # documents parsed at once: beyond this, processes only contend for the cores
MIN_PROCESS_MEMORY_MB = 256  # a parse process needs this much beyond its start to read an ordinary gazette
MIN_DOC_TIMEOUT_S = 0.001  # a millisecond: positive, and no document gets anything done in less
MAX_DOC_TIMEOUT_S = 7 * 24 * 3600.0  # a week: larger values mean "no budget", which is not offered
MAX_LISTING_PAGES = 1_000  # pages of one listing (createPageHTML, --max-pages): more is not a gazette's list
MAX_MEMORY_BUDGET_MB = 1024 * 1024  # 1 TiB: beyond any machine this runs on, so a larger value is a typo

# the units a geometry setting may have (the last part of its name); counts are whole numbers
LENGTH_UNITS = ("pt", "em", "pitch")
SHARE_UNIT = "share"
COUNT_UNITS = ("chars", "lines", "rows", "blocks", "pages", "columns", "objects")
UNITS = (*LENGTH_UNITS, SHARE_UNIT, *COUNT_UNITS)


def _knob(default: float, unit: str, why: str) -> Any:
    """A geometry setting: its default, its unit (one of ``UNITS``) and, in one line, why
    it has this value."""
    return field(default=default, metadata={"unit": unit, "why": why})


def _check_knobs(obj: Any) -> None:
    """Every field of a geometry settings object is a finite number of its unit: a share
    within 0..1, a count a whole number, a length not negative (nan would switch a test off)."""
    for f in fields(obj):
        value, unit = getattr(obj, f.name), f.metadata["unit"]
        number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not number or value < 0 or (unit == SHARE_UNIT and value > 1) or \
                (unit in COUNT_UNITS and not isinstance(value, int)):
            kind = {SHARE_UNIT: "a share in [0, 1]"}.get(unit, "a whole number" if unit in COUNT_UNITS
                                                          else f"a length in {unit}, at least 0")
            raise ValueError(f"{type(obj).__name__}.{f.name} must be {kind}, got {value!r}")


@dataclass(frozen=True)
class TextLayoutSettings:
    """Geometry of text: characters into lines, lines into paragraphs, pages into columns,
    and where page furniture sits. The defaults fit print set as gazettes are (body text of
    10.5-16 pt, two-character paragraph indent, justified, one or two columns)."""

    # characters -> lines (pipeline.extract.chars)
    same_line_em: float = _knob(0.45, "em", "baselines closer than this are one text row; the next line is a pitch away")
    segment_gap_em: float = _knob(2.5, "em", "a wider blank splits a row into segments: two columns, a left and "
                                             "right header, key/value colophons")
    column_gap_em: float = _knob(1.2, "em", "a blank this wide inside a segment is noted (Line.gaps): a gutter can be "
                                            "this narrow (8 mm at 12 pt is 1.9), justified text never spreads so far")
    other_baseline_pt: float = _knob(1.0, "pt", "across such a blank, baselines further apart than this are two "
                                                "columns' lines side by side, not one line")
    word_space_em: float = _knob(0.25, "em", "a wider gap between characters is a space the PDF positioned "
                                             "instead of drawing")
    cjk_space_em: float = _knob(0.75, "em", "between two CJK characters only a gap this wide is a space: justified "
                                            "CJK text spreads its characters by less")
    cjk_latin_space_em: float = _knob(0.5, "em", "between a CJK and a Latin character only a wider gap is a space: "
                                                 "CJK-Latin spacing (a quarter em, CLREQ; Typst and Word add it) "
                                                 "stretched by justification stays below")
    turned_run_em: float = _knob(3.0, "em", "turned characters further apart than this start another string "
                                            "(another stamp or watermark)")
    # margins, body size and pitch (pipeline.layout.measure)
    measure_min_chars: int = _knob(4, "chars", "shorter lines (page numbers, list marks) do not set the margins, "
                                               "size or pitch")
    same_size_pt: float = _knob(0.6, "pt", "font sizes closer than this are one size (rounding); a larger change "
                                           "ends a paragraph")
    left_margin_share: float = _knob(0.5, "share", "the left margin is the leftmost x where this share as many lines "
                                                   "start as at the commonest x (indented first lines are fewer)")
    right_margin_share: float = _knob(0.95, "share", "the right margin is where this share of the lines end: a few "
                                                     "wider lines (a URL, a note) do not move it")
    pitch_max_em: float = _knob(4.0, "em", "baseline steps this large or larger are gaps between paragraphs or "
                                           "sections, not the line pitch")
    default_pitch_em: float = _knob(1.5, "em", "the line pitch assumed where no two lines follow each other "
                                               "(common CJK leading)")
    mirror_below_lines: int = _knob(8, "lines", "with fewer lines the right margin may never be reached: the left "
                                                "one is mirrored on the page")
    row_baseline_pt: float = _knob(1.0, "pt", "segments whose baselines are this close are one row, read as one line")
    # line shapes that end or continue a paragraph (pipeline.layout._Shape)
    indent_em: float = _knob(1.2, "em", "a line starting this far right of the margin is indented: a paragraph "
                                        "opens with a two-character (2 em) indent, minus slack for loose margins")
    full_em: float = _knob(1.5, "em", "a line ending within this of the right margin is full (the text runs on): "
                                      "room for less than one more character and the justification slack")
    centred_inset_em: float = _knob(2.5, "em", "a centred line leaves at least this on both sides: more than a "
                                               "paragraph's two-character indent")
    centred_offset_em: float = _knob(1.5, "em", "a centred line's middle lies within this of the text's middle")
    display_pt: float = _knob(1.0, "pt", "text set larger than the body by more than this is display text "
                                         "(a title, a heading)")
    display_wrap_em: float = _knob(2.0, "em", "a display line's wrapped second line follows within this many of its "
                                              "own font sizes")
    paragraph_gap_pitch: float = _knob(1.6, "pitch", "a wider baseline step leaves a blank line: the paragraph (or a "
                                                     "heading's wrapped line) ends there")
    colon_gap_pitch: float = _knob(3.0, "pitch", "a line ending in a colon may stand short with up to this below it, "
                                                 "and the text after it still belongs to its paragraph")
    # pages set in two columns (pipeline.layout.two_column_gutter, page_gutters)
    gutter_min_lines: int = _knob(12, "lines", "a page with fewer lines is too sparse to tell its columns; it takes "
                                               "the document's gutter if its lines leave it free")
    crossing_share: float = _knob(1 / 7, "share", "this share of a page's lines may cross the gutter: titles over "
                                                  "both columns, a wide table's note")
    min_crossing_lines: int = _knob(2, "lines", "so many lines may cross the gutter however few the page has")
    gutter_min_em: float = _knob(0.8, "em", "a gutter is at least this wide: narrower blanks that line up are "
                                            "word spaces by chance")
    gutter_side_lines: int = _knob(5, "lines", "each column of a clear two-column page holds at least this many lines")
    gutter_columns_share: float = _knob(0.75, "share", "at least this share of the lines sit inside one column or "
                                                       "the other")
    gutter_full_share: float = _knob(0.6, "share", "each column's median line fills this share of its width: a "
                                                   "key/value list's short keys are no column of text")
    # page furniture (pipeline.clean)
    margin_band_share: float = _knob(0.10, "share", "of the page height, at top and at bottom: the header / footer band")
    outermost_row_pt: float = _knob(2.0, "pt", "lines this close to a page's first or last text row are header / "
                                               "footer candidates too (some set the header below the band)")
    repeat_min_share: float = _knob(0.3, "share", "a margin line repeated on this share of the pages is a running "
                                                  "header or footer")
    repeat_min_pages: int = _knob(3, "pages", "fewer pages cannot tell a running header from text that merely repeats")

    def __post_init__(self) -> None:
        _check_knobs(self)


@dataclass(frozen=True)
class TableSettings:
    """Geometry of tables: ruled grids (pdfplumber's algorithm on our rulings), borderless
    key/value blocks, tables continued across pages, and their captions."""

    # ruled tables (pipeline.extract.pdf, pipeline.extract.plumber_grid)
    snap_tolerance_pt: float = _knob(3, "pt", "ruling edges closer than this are one ruling (pdfplumber's default: "
                                              "a ruling stroked twice, a border shared by two cells)")
    column_edge_merge_pt: float = _knob(2.0, "pt", "cell sides closer than this are one column edge (a border "
                                                   "drawn twice, rounding)")
    min_table_columns: int = _knob(2, "columns", "a grid of one column is a frame around text (a boxed paragraph "
                                                 "or heading), not a table")
    min_ruling_objects: int = _knob(4, "objects", "a page needs this many drawn lines or boxes to hold a ruled table "
                                                  "(one box is four edges)")
    full_line_room_em: float = _knob(1.5, "em", "a cell's last line with less room than this after it is full: "
                                                "its text may go on in the same cell overleaf")
    band_slack_pt: float = _knob(0.5, "pt", "a cell reads the row bands reaching within this of its top or bottom "
                                            "(ruling positions round)")
    # borderless tables (pipeline.tables.borderless_tables)
    borderless_min_rows: int = _knob(3, "rows", "fewer aligned two-segment rows are a heading and a line, not a "
                                                "key/value table")
    borderless_edge_pt: float = _knob(3.0, "pt", "the columns' left edges of consecutive rows line up within this")
    borderless_row_gap_em: float = _knob(3.0, "em", "consecutive rows of one table are closer than this (a wider "
                                                    "gap ends the table)")
    borderless_pad_pt: float = _knob(1.0, "pt", "the table's region reaches this far beyond its text, so no edge "
                                                "line is left as body text")
    # tables across pages, header rows, captions (pipeline.tables)
    column_match_pt: float = _knob(6.0, "pt", "a table continued on the next page has its column edges within this "
                                              "of the previous page's")
    numeric_column_share: float = _knob(0.8, "share", "a column is numeric when this share of its cells hold "
                                                      "numbers; a word at its top starts another table")
    max_header_rows: int = _knob(6, "rows", "header rows read at most: the deepest printed header seen is 5 rows "
                                            "(财政拨款“三公”经费支出决算表)")
    caption_lookback_blocks: int = _knob(3, "blocks", "blocks above a table that may hold its label, title and "
                                                      "unit line")
    caption_max_chars: int = _knob(60, "chars", "a caption is one short line; a longer block is body text")

    def __post_init__(self) -> None:
        _check_knobs(self)


DEFAULT_LAYOUT = TextLayoutSettings()
DEFAULT_TABLES = TableSettings()


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
    # geometry: lines, paragraphs, columns, furniture; tables
    layout: TextLayoutSettings = DEFAULT_LAYOUT
    tables: TableSettings = DEFAULT_TABLES

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


def resolve(value: Settings | Mapping[str, Any] | None = None) -> Settings:
    """``Settings`` from ``None`` (the defaults), a ``Settings``, or a mapping whose
    ``layout`` and ``tables`` entries may be mappings too; an unknown key at any level
    raises ``ValueError`` naming it (``unknown settings: layout.indnt_em``)."""
    if value is None:
        return Settings()
    if isinstance(value, Settings):
        return value
    return _build(Settings, value, "")


def _build(cls: type, value: Any, prefix: str) -> Any:
    """``cls`` from a mapping of its field names, nested settings objects built the same way."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"settings {prefix.rstrip('.') or 'value'} must be a mapping or {cls.__name__}, "
                         f"got {type(value).__name__}")
    by_name = {f.name: f for f in fields(cls)}
    unknown = sorted(set(value) - set(by_name))
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(prefix + str(k) for k in unknown)}")
    kwargs = {}
    for name, given in value.items():
        default = by_name[name].default
        nested = is_dataclass(default) and not isinstance(default, type)
        kwargs[name] = _build(type(default), given, f"{prefix}{name}.") if nested else given
    return cls(**kwargs)
