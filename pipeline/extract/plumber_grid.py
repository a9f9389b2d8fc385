"""pdfplumber's table algorithm behind one door: ruling edges in, cell grids out.

Both PDF backends find their own ruling edges and hand them to pdfplumber's table finder
(snap and join edges, intersections, cells, tables), so the two agree cell for cell. Those
steps are pdfplumber internals, not its public API: they are called here and nowhere else,
and ``tests/test_plumber_grid.py`` fails loudly when an upgrade changes them.
"""

from __future__ import annotations

from functools import cache

import pdfplumber.table as ptable
import pdfplumber.utils as plumber_utils

from pipeline.settings import DEFAULT_TABLES

Grid = ptable.Table  # .bbox, .cells, .rows[i].cells / .bbox, .columns[j].bbox


def edge_length(edge: dict) -> float:
    return edge["x1"] - edge["x0"] if edge["orientation"] == "h" else edge["bottom"] - edge["top"]


@cache
def _finder_settings(snap_tolerance_pt: float) -> ptable.TableSettings:
    """pdfplumber's settings for rulings: lines only, edges within ``snap_tolerance_pt`` snapped
    together (``TableSettings.snap_tolerance_pt``); its other tolerances are its defaults."""
    return ptable.TableSettings.resolve(
        {"vertical_strategy": "lines", "horizontal_strategy": "lines", "snap_tolerance": snap_tolerance_pt})


def grids(edges: list[dict], snap_tolerance_pt: float = DEFAULT_TABLES.snap_tolerance_pt) -> list[Grid]:
    """The cell grids that ``edges`` (pdfplumber's edge dicts, top-left coordinates) rule."""
    s = _finder_settings(snap_tolerance_pt)
    edges = [e for e in edges if edge_length(e) >= s.edge_min_length_prefilter]
    edges = ptable.merge_edges(edges, s.snap_x_tolerance, s.snap_y_tolerance, s.join_x_tolerance, s.join_y_tolerance)
    edges = [e for e in edges if edge_length(e) >= s.edge_min_length]
    points = ptable.edges_to_intersections(edges, s.intersection_x_tolerance, s.intersection_y_tolerance)
    return [ptable.Table(None, group) for group in ptable.cells_to_tables(ptable.intersections_to_cells(points))]


def object_edges(obj: dict) -> list[dict]:
    """A pdfplumber line, rect or curve as its edges."""
    return plumber_utils.obj_to_edges(obj)
