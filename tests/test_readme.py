"""The README's query examples run as written, on an output of the bundled samples."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import duckdb
import pytest

from gazette.cli import main
from tests.conftest import ROOT

README = ROOT / "README.md"


def _query_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("Query the output"):text.index("## Datasets")]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _query_section(), flags=re.S)


@pytest.fixture(scope="module")
def in_output_folder(tmp_path_factory):
    """A folder holding ``output/`` made from raw/samples, as the README's examples expect."""
    folder = tmp_path_factory.mktemp("readme")
    assert main(["ingest", str(ROOT / "raw" / "samples"), "--out", str(folder / "output"), "--raw", "", "-q"]) == 0
    return folder


@pytest.fixture
def cwd(in_output_folder, monkeypatch) -> Path:
    monkeypatch.chdir(in_output_folder)
    return in_output_folder


def test_the_section_has_every_kind_of_example():
    assert [len(_blocks(k)) for k in ("sql", "sh", "python")] == [1, 1, 2]


def test_duckdb_examples(cwd):
    statements = [s.strip() for s in re.sub(r"--[^\n]*", "", _blocks("sql")[0]).split(";") if s.strip()]
    assert len(statements) == 3
    con = duckdb.connect()
    results = [con.sql(s).fetchall() for s in statements]
    assert sorted(r[1] for r in results[0]) == ["穗府办〔2021〕9号", "穗林业园林规字〔2021〕2号"]  # the gazette documents
    assert len(results[1]) > 10  # the sections of the 2021 issue
    assert dict(results[2])["watermark"] > 0


def test_gazette_sql_examples(cwd, capsys):
    lines = [ln for ln in _blocks("sh")[0].splitlines() if ln.startswith("gazette sql")]
    assert len(lines) == 2
    outputs = []
    for line in lines:
        assert main(shlex.split(line)[1:]) == 0
        outputs.append(capsys.readouterr().out)
    assert "gazette_pdf" in outputs[0] and "2021" in outputs[0] and "html" in outputs[0]
    assert outputs[1].splitlines()[0] == '"title","sections"' and len(outputs[1].splitlines()) == 5  # 4 documents


def test_python_examples(cwd):
    api, readers = _blocks("python")
    names: dict = {}
    exec(compile(api, "README (open_output)", "exec"), names)  # noqa: S102 (the README's own code)
    assert names["documents"].num_rows == 4
    assert names["chapters"] and all(row for row in names["chapters"])
    assert names["annex"].schema.field("序号").type == "int64" and names["annex"].num_rows == 40
    exec(compile(readers, "README (pyarrow, pandas, polars)", "exec"), {})  # noqa: S102
