"""The real documents under tests/data are copied byte for byte, each with its provenance."""

from __future__ import annotations

import hashlib

from tests.conftest import DATA

INDEX_FILES = {"README.md", "SHA256SUMS"}  # the provenance index itself


def listed() -> dict[str, str]:
    out = {}
    for line in (DATA / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        out[name.removeprefix("./")] = digest
    return out


def test_every_data_file_is_listed_and_unchanged():
    present = {
        str(p.relative_to(DATA)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in DATA.rglob("*") if p.is_file() and str(p.relative_to(DATA)) not in INDEX_FILES
    }
    assert present == listed()


def test_every_folder_has_its_origin_in_the_readme():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for name in listed():
        folder = name.rsplit("/", 1)[0]  # e.g. corpus/pdf
        parent = folder.rsplit("/", 1)[0]  # corpus/finews/site for corpus/finews/site/_layouts
        assert f"{folder}/" in readme or f"{parent}/" in readme, f"{name}: its folder is not in tests/data/README.md"
