"""pdfplumber's table internals that pipeline/extract/plumber_grid.py relies on: an upgrade
that changes them fails here, by name, before it changes any table."""

from __future__ import annotations

import pdfplumber.table as ptable
import pdfplumber.utils as plumber_utils

from pipeline.extract.plumber_grid import grids, object_edges


def _h(y: float, x0: float, x1: float) -> dict:
    return {"x0": x0, "x1": x1, "top": y, "bottom": y, "width": x1 - x0, "height": 0.0, "doctop": y,
            "orientation": "h", "object_type": "line"}


def _v(x: float, top: float, bottom: float) -> dict:
    return {"x0": x, "x1": x, "top": top, "bottom": bottom, "width": 0.0, "height": bottom - top, "doctop": top,
            "orientation": "v", "object_type": "line"}


def test_the_internals_are_still_there():
    for name in ("merge_edges", "edges_to_intersections", "intersections_to_cells", "cells_to_tables", "Table",
                 "TableSettings"):
        assert hasattr(ptable, name), f"pdfplumber.table.{name} is gone: update pipeline/extract/plumber_grid.py"
    assert hasattr(plumber_utils, "obj_to_edges")


def test_a_ruled_grid_of_two_by_three_cells():
    """Three rulings across, four down (one drawn twice, 1 pt apart: snapped into one)."""
    edges = [_h(y, 100, 400) for y in (100, 130, 160)] + [_v(x, 100, 160) for x in (100, 200, 201, 300, 400)]
    [grid] = grids(edges)
    assert tuple(round(v) for v in grid.bbox) == (100, 100, 400, 160)
    assert len(grid.rows) == 2 and [len(r.cells) for r in grid.rows] == [3, 3]
    assert [tuple(round(v) for v in c.bbox) for c in grid.columns] == [(100, 100, 200, 160), (200, 100, 300, 160),
                                                                       (300, 100, 400, 160)]


def test_short_stray_lines_make_no_grid():
    assert grids([_h(100, 100, 101), _v(100, 100, 101)]) == []


def test_a_rect_is_four_edges():
    rect = {"object_type": "rect", "x0": 10, "x1": 60, "top": 20, "bottom": 50, "width": 50, "height": 30,
            "doctop": 20, "y0": 792 - 50, "y1": 792 - 20, "page_number": 1}
    assert sorted(e["orientation"] for e in object_edges(rect)) == ["h", "h", "v", "v"]
