"""Every real test input gives the rows it gave when tests/golden/rows.json was written
(``python -m tests.golden --update`` after an intended change, the differences listed in
the commit): a refactoring shows here that it changed no row."""

from __future__ import annotations

import json

import pytest

from tests.golden import GOLDEN, ROOT, digests, inputs

WANT = json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_every_input_is_in_the_golden_file():
    assert sorted(str(p.relative_to(ROOT)) for p in inputs() if p.name.lower() != "readme.md") == sorted(WANT)


@pytest.mark.parametrize("source", sorted(WANT))
def test_rows_are_as_recorded(source):
    assert digests(ROOT / source) == WANT[source]
