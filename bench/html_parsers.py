"""lxml against beautifulsoup4 (on lxml's parser and on Python's html.parser), for the two HTML jobs we have.

Run: ``python bench/html_parsers.py [--repeats N]`` (from the repo root, with the dev venv).

(a) **Links of a listing page**, what ``pipeline/discover.py`` does: parse, then every ``<a href>`` with its
    text. lxml: discover's clean-up (XML declaration, stray ``</html>``), ``lxml.html.document_fromstring`` +
    ``iter("a")`` + ``text_content()`` (discover's calls);
    bs4: ``BeautifulSoup(text, parser).find_all("a", href=True)`` + ``get_text()``. The three must find the same
    (href, text) list; the run says so per page.
(b) **The article extractor's parse**: ``pipeline.extract.html.tree.parse`` (``lxml.etree.HTMLParser``, after
    its control-character and stray-``</html>`` clean-up) against ``BeautifulSoup(text, parser)`` on the same
    text; the whole ``extract_html`` is timed too, for scale.

Pages: the six corpus pages (``tests/data/corpus/html/*.html``, 25-300 KB each), the seed post rendered with
the finews layout (``bench/html_quality.render_post``) and gazette listing pages rendered here in the shape of
a TRS-built government site (navigation, a list of N issues with PDF links, a pager, ``createPageHTML``, a
footer): N = 20 (one page of a listing) and N = 300 (a long archive page). Bytes are decoded once, outside
the timing. Each parse is run ``--repeats`` times per page (parsers interleaved), its fastest run counts;
the table shows the sum over the pages in ms and the ratio to lxml. Timings are for a comparison in one run
on one machine (ratios), not absolute targets.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import lxml.html
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.extract.encoding import decode_html  # noqa: E402
from pipeline.extract.html import extract_html  # noqa: E402
from pipeline.extract.html.tree import parse  # noqa: E402

CORPUS_HTML = ROOT / "tests" / "data" / "corpus" / "html"
SEED_POST = ROOT / "tests" / "data" / "seeds" / "000_23a1c87a91197581.txt"
LISTING_SIZES = (20, 300)  # issues on a listing page: one page of a column, a long archive page


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def render_listing(n_items: int) -> bytes:
    """A gazette listing page in the shape of a TRS-built government site, GB18030-encoded as such sites are."""
    nav = "".join(f'<li><a href="/zwgk/c{i}/">栏目{i}</a></li>' for i in range(40))
    items = "".join(
        f'<li><a href="./2021{(i % 12) + 1:02d}/P0202112{i:04d}.pdf" title="广州市人民政府公报{2021 - i // 30}年第{i % 30 + 1}期">'
        f"广州市人民政府公报{2021 - i // 30}年第{i % 30 + 1}期</a><span>2021-12-{i % 28 + 1:02d}</span></li>"
        for i in range(n_items)
    )
    footer = "".join(f'<a href="https://www.gz.gov.cn/link/{i}.html">相关链接{i}</a> ' for i in range(30))
    page = (
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=gb18030">'
        "<title>市政府公报_广州市人民政府门户网站</title>"
        '<link rel="stylesheet" href="/css/index.css"><script src="/js/jquery.js"></script></head><body>'
        f'<div class="header"><ul class="nav">{nav}</ul></div>'
        '<div class="position">当前位置：<a href="/">首页</a> &gt; <a href="/zwgk/">政务公开</a> &gt; 市政府公报</div>'
        f'<div class="main"><ul class="list">{items}</ul>'
        '<div class="page"><a href="index_1.html">下一页</a> <a href="index_1.html">2</a> '
        '<a href="index_9.html">尾页</a></div>'
        '<script>createPageHTML(10, 0, "index", "html");</script></div>'
        f'<div class="footer">{footer}<p>版权所有：广州市人民政府办公厅 粤ICP备12345678号</p></div>'
        "</body></html>"
    )
    return page.encode("gb18030")


def _render_post(path: Path) -> bytes:
    spec = importlib.util.spec_from_file_location("html_quality", ROOT / "bench" / "html_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render_post(path)


def pages() -> list[tuple[str, str, bytes, str]]:
    """(name, kind, bytes, decoded text) of every page measured."""
    out = []
    for path in sorted(CORPUS_HTML.glob("*.html")):
        out.append((path.name[:40], "article", path.read_bytes()))
    out.append(("seed post (rendered)", "article", _render_post(SEED_POST)))
    for n in LISTING_SIZES:
        out.append((f"listing, {n} issues", "listing", render_listing(n)))
    return [(name, kind, data, decode_html(data)[0]) for name, kind, data in out]


# -- (a) links


# discover's clean-up before lxml (``discover._parse_html``): lxml refuses str input with an encoding
# declaration, and libxml2 stops reading at a mid-page </html> (the gov_npc page has one: without this, lxml
# finds 14 of its 51 links). BeautifulSoup needs neither.
_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>")
_END_TAGS_RE = re.compile(r"</(?:body|html)\s*>", re.IGNORECASE)


def links_lxml(text: str) -> list[tuple[str, str]]:
    text = _END_TAGS_RE.sub("", _XML_DECL_RE.sub("", text, count=1))
    root = lxml.html.document_fromstring(text)
    return [(a.get("href"), _clean(a.text_content())) for a in root.iter("a") if a.get("href") is not None]


def _links_bs4(parser: str) -> Callable[[str], list[tuple[str, str]]]:
    def links(text: str) -> list[tuple[str, str]]:
        soup = BeautifulSoup(text, parser)
        return [(a["href"], _clean(a.get_text())) for a in soup.find_all("a", href=True)]

    return links


LINKERS = {
    "lxml.html": links_lxml,
    "bs4 + lxml": _links_bs4("lxml"),
    "bs4 + html.parser": _links_bs4("html.parser"),
}
PARSERS = {
    "lxml (tree.parse)": parse,
    "bs4 + lxml": lambda text: BeautifulSoup(text, "lxml"),
    "bs4 + html.parser": lambda text: BeautifulSoup(text, "html.parser"),
}


def _fastest(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Fastest of ``repeats`` runs of each function, interleaved so that load changes hit all alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _table(
    title: str, rows: list[tuple[str, dict[str, float]]], names: list[str], extra: dict | None = None
) -> None:
    print(f"\n{title}")
    head = ["page", *names]
    print(" | ".join(head))
    print("|".join("---" for _ in head))
    totals = dict.fromkeys(names, 0.0)
    for page_name, times in rows:
        cells = [page_name]
        for n in names:
            totals[n] += times[n]
            cells.append(
                f"{times[n] * 1000:.2f} ms"
                + (f" (×{times[n] / times[names[0]]:.1f})" if n != names[0] else "")
            )
        if extra and page_name in extra:
            cells.append(extra[page_name])
        print(" | ".join(cells))
    base = totals[names[0]]
    print(
        " | ".join(
            [
                "**sum**",
                *(
                    f"{totals[n] * 1000:.1f} ms" + (f" (×{totals[n] / base:.1f})" if n != names[0] else "")
                    for n in names
                ),
            ]
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    measured = pages()
    print("pages:", ", ".join(f"{name} ({len(data) // 1024} KB)" for name, _, data, _ in measured))

    link_rows, agree = [], {}
    for name, _, _, text in measured:
        found = {k: fn(text) for k, fn in LINKERS.items()}
        ref = found["lxml.html"]
        agree[name] = f"{len(ref)} links; " + ", ".join(
            f"{k}: {'the same' if v == ref else f'{len(v)} links, not the same list'}"
            for k, v in found.items()
            if k != "lxml.html"
        )
        link_rows.append(
            (name, _fastest({k: (lambda fn=fn, t=text: fn(t)) for k, fn in LINKERS.items()}, args.repeats))
        )
    _table("(a) links of a page: parse + every <a href> with its text", link_rows, list(LINKERS))
    print("\nsame links?")
    for name, note in agree.items():
        print(f"- {name}: {note}")

    parse_rows = []
    for name, kind, data, text in measured:
        if kind != "article":
            continue
        fns = {k: (lambda fn=fn, t=text: fn(t)) for k, fn in PARSERS.items()}
        fns["extract_html (whole stage)"] = lambda d=data: extract_html(d, source="bench")
        parse_rows.append((name, _fastest(fns, args.repeats)))
    _table("(b) the article extractor's parse", parse_rows, [*PARSERS, "extract_html (whole stage)"])


if __name__ == "__main__":
    main()
