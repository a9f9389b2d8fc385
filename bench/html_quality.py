"""Body-text quality and speed of the HTML stage against trafilatura.

Run: ``python bench/html_quality.py`` (from the repo root, with the dev venv).

What it does, in one run:

1. **finews posts** (``tests/data/corpus/finews/posts/*.md``). Each post is rendered into the full page a
   browser receives, with the site's own layout (``site/_layouts/post.html`` inside ``default.html``):

   * the front matter is split off (leniently: a blank line before the opening ``---`` is tolerated, although
     Jekyll would then serve the file unrendered);
   * the Markdown body becomes HTML with the subset kramdown applies to these files: blocks are separated by
     blank lines; a block starting with an HTML tag passes through raw; ``> text`` becomes
     ``<blockquote><p>text</p></blockquote>``; any other block becomes a ``<p>`` whose lines are kept with
     ``\\n``, with ``<url>`` autolinks and ``[text](url)`` links turned into ``<a>`` (kramdown's typographic
     quotes are not applied);
   * Liquid is substituted: ``{{ page.title }}``, ``{{ page.content }}`` (raw, also inside the
     ``og:description`` attribute, exactly as the layout does, which breaks that attribute),
     ``{{ page.url }}`` (``/<category>/<yyyy>/<mm>/<dd>/<slug>.html``), ``{{ page.date | date: ... }}``,
     ``{{ page.tags | join: ... }}``, ``site.*`` from ``_config.yml`` and the ``if`` blocks;
     ``{% seo %}`` is replaced by a stub of jekyll-seo-tag's output (title "<title> | 金融消息", og:*,
     canonical link, ``article:published_time``, JSON-LD) and ``{% include head-custom.html %}`` by the
     minimal theme's default snippet with the Google Analytics script.

2. **Reference body** of a post (the rule the F1 is measured against): the Markdown body converted as above,
   then with these removed: the front matter; the footer (the original-article ``<url>``/``<>`` line and the
   ``[返回…](…)`` navigation links); a ``> summary`` line whose text (without a trailing ``（source）``) repeats
   text of the body; ``<script>``/``<style>``/comments; elements hidden with ``display:none``; images and
   the stock-chart links that wrap them; the ``（文章来源：…）`` source line (``p.em_media`` or a paragraph that
   is only that line); the caption paragraph right after an image (centred, short). The title, date line and
   tags line of the layout are not part of it. Text = the remaining text content.
   A second, *lenient* reference keeps the source line and image captions (columns ``F1 full``).

3. **Score**: character F1 over the multiset of non-whitespace characters of the extracted body text vs.
   the reference (precision = common / extracted, recall = common / reference), averaged over posts.
   Ours: the text of ``extract_html(...).blocks`` (tables included as their cell text). trafilatura:
   ``trafilatura.extract(page_bytes)`` with its defaults (txt output, tables included, no comments).

4. **Speed**: pages/s for each extractor over the same bytes (decoding included): every page is run 7 times
   by each extractor, interleaved, its fastest run counts, pages/s = pages / sum of those times; for the
   rendered posts and separately for ``tests/data/corpus/html/*.html``.
"""

from __future__ import annotations

import html
import re
import statistics
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import lxml.html
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.extract.html import extract_html  # noqa: E402
from pipeline.extract.html.tree import drop  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "corpus"  # the real pages, in the repository
POSTS = CORPUS / "finews" / "posts"
SITE = CORPUS / "finews" / "site"
HTML_PAGES = CORPUS / "html"

CST = timezone(timedelta(hours=8))

# ---------------------------------------------------------------------------------------------- rendering

_FM_RE = re.compile(r"\A\s*---[ \t]*\n(.*?)\n---[ \t]*\n?(.*)\Z", re.S)
_LINK_RE = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")
_AUTOLINK_RE = re.compile(r"<((?:https?:)?//[^>\s]*|)>")
_TAG_START_RE = re.compile(r"\A<(?:[a-zA-Z][a-zA-Z0-9]*|!--)")


def split_post(text: str) -> tuple[dict, str]:
    """Front matter (all values as strings) and the raw Markdown body of a post."""
    m = _FM_RE.match(text)
    if not m:
        return {}, text
    try:
        fm = yaml.load(m.group(1), Loader=yaml.BaseLoader) or {}
    except yaml.YAMLError:
        fm = {}
        for line in m.group(1).splitlines():
            k, _, v = line.partition(":")
            fm[k.strip()] = v.strip().strip('"')
    return fm, m.group(2)


def _inline(text: str) -> str:
    out, pos = [], 0
    for m in re.finditer(r"\[([^\]]*)\]\(([^)\s]*)\)|<((?:https?:)?//[^>\s]*|)>", text):
        out.append(html.escape(text[pos : m.start()], quote=False))
        if m.group(3) is not None:
            url = m.group(3)
            out.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>' if url else "&lt;&gt;")
        else:
            out.append(f'<a href="{html.escape(m.group(2))}">{html.escape(m.group(1), quote=False)}</a>')
        pos = m.end()
    out.append(html.escape(text[pos:], quote=False))
    return "".join(out)


def markdown_to_html(body: str) -> str:
    """The kramdown subset these posts use (see the module docstring)."""
    out = []
    for block in re.split(r"\n[ \t]*\n", body.strip("\n")):
        block = block.strip("\n")
        if not block.strip():
            continue
        if block.startswith(">"):
            inner = "\n".join(line[1:].lstrip() for line in block.splitlines())
            out.append(f"<blockquote>\n  <p>{_inline(inner)}</p>\n</blockquote>")
        elif _TAG_START_RE.match(block.lstrip()) and not _AUTOLINK_RE.fullmatch(block.strip()):
            out.append(block)
        else:
            out.append(f"<p>{_inline(block)}</p>")
    return "\n\n".join(out) + "\n"


def _post_date(fm: dict) -> datetime | None:
    m = re.match(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})", fm.get("date", ""))
    if not m:
        return None
    return datetime(*map(int, m.groups()), tzinfo=CST)


def _post_url(path: Path, fm: dict, date: datetime | None) -> str:
    slug = re.sub(r"^\d{4}-\d{2}-\d{2}-", "", path.stem).lstrip("-")
    cat = fm.get("categories", "")
    if date is None:
        return f"/{cat}/{slug}.html"
    return f"/{cat}/{date:%Y/%m/%d}/{slug}.html"


def _seo_stub(fm: dict, url: str, date: datetime | None, content: str) -> str:
    title = html.escape(fm.get("title", ""))
    plain = re.sub(r"\s+", " ", lxml.html.fromstring(content).text_content() if content.strip() else "")
    desc = html.escape(plain.strip()[:160])
    full = "https://finews.withounder.com" + url
    published = date.isoformat() if date else ""
    return (
        "<!-- Begin Jekyll SEO tag v2.8.0 -->\n"
        f"<title>{title} | 金融消息</title>\n"
        '<meta name="generator" content="Jekyll v3.9.2" />\n'
        f'<meta property="og:title" content="{title}" />\n'
        '<meta name="author" content="ZNing" />\n'
        '<meta property="og:locale" content="zh_CN" />\n'
        f'<meta name="description" content="{desc}" />\n'
        f'<meta property="og:description" content="{desc}" />\n'
        f'<link rel="canonical" href="{full}" />\n'
        f'<meta property="og:url" content="{full}" />\n'
        '<meta property="og:site_name" content="金融消息" />\n'
        '<meta property="og:type" content="article" />\n'
        f'<meta property="article:published_time" content="{published}" />\n'
        '<script type="application/ld+json">\n'
        f'{{"@context":"https://schema.org","@type":"BlogPosting","headline":"{title}",'
        f'"datePublished":"{published}","url":"{full}"}}\n'
        "</script>\n<!-- End Jekyll SEO tag -->\n"
    )


_HEAD_CUSTOM = (
    "<!-- start custom head snippets, customize with your own _includes/head-custom.html file -->\n"
    '<script async src="https://www.googletagmanager.com/gtag/js?id=G-MTYH758FNF"></script>\n'
    "<script>\n  window.dataLayer = window.dataLayer || [];\n  function gtag(){dataLayer.push(arguments);}\n"
    "  gtag('js', new Date());\n  gtag('config', 'G-MTYH758FNF');\n</script>\n"
    "<!-- end custom head snippets -->\n"
)


def render_post(path: Path) -> bytes:
    """The full page the site serves for one post, as UTF-8 bytes."""
    fm, body = split_post(path.read_text("utf-8"))
    date = _post_date(fm)
    url = _post_url(path, fm, date)
    content = markdown_to_html(body)
    tags = fm.get("tags") or ""
    tags_list = tags if isinstance(tags, list) else [t for t in str(tags).split() if t]
    post_layout = (SITE / "_layouts" / "post.html").read_text("utf-8")
    default_layout = (SITE / "_layouts" / "default.html").read_text("utf-8")
    values = {
        "page.title": fm.get("title", ""),
        "page.content": content,
        "page.url": url,
        "content": content,
        "site.lang": "zh-CN",
        "site.title": "金融消息",
        "site.description": "",
        "site.logo": "",
    }

    def liquid(template: str) -> str:
        template = re.sub(r"\A---\n.*?\n---\n", "", template, flags=re.S)
        template = template.replace("{% seo %}", _seo_stub(fm, url, date, content))
        template = template.replace("{% include head-custom.html %}", _HEAD_CUSTOM)

        def if_block(m: re.Match) -> str:
            var = m.group(1)
            truthy = bool(tags_list) if var == "page.tags" else bool(values.get(var))
            return m.group(2) if truthy else ""

        template = re.sub(r"\{%\s*if\s+([\w.]+)\s*%\}(.*?)\{%\s*endif\s*%\}", if_block, template, flags=re.S)

        def expr(m: re.Match) -> str:
            parts = [p.strip() for p in m.group(1).split("|")]
            head = parts[0]
            if head.startswith('"'):
                val = head.strip('"')
            elif head == "page.date":
                val = date.strftime("%Y-%m-%d %H:%M:%S") if date else ""
            elif head == "page.tags":
                val = tags_list
            else:
                val = values.get(head, "")
            for flt in parts[1:]:
                name, _, arg = flt.partition(":")
                arg = arg.strip().strip('"')
                if name == "join":
                    val = arg.join(val)
                elif name == "default" and not val:
                    val = {"site.github.repository_name": "finews"}.get(arg, "" if "." in arg else arg)
                elif name == "absolute_url":
                    val = "https://finews.withounder.com" + str(val)
            return val if isinstance(val, str) else " ".join(val)

        return re.sub(r"\{\{\s*(.*?)\s*\}\}", expr, template)

    inner = liquid(post_layout)
    values["content"] = inner
    return liquid(default_layout).encode("utf-8")


# ---------------------------------------------------------------------------------------------- reference

_SOURCE_LINE_RE = re.compile(r"^[（(]?\s*(?:文章)?来源[:：].{1,40}[）)]?$")
_WS_RE = re.compile(r"\s+")


def _summary_is_duplicate(summary: str, rest_text: str) -> bool:
    core = re.sub(r"[（(][^（）()]{1,20}[）)]\s*$", "", summary).strip()
    return bool(core) and _WS_RE.sub("", core) in _WS_RE.sub("", rest_text)


def reference_text(path: Path, *, lenient: bool = False) -> str:
    """The post's own body text, by the rule in the module docstring."""
    _, body = split_post(path.read_text("utf-8"))
    lines = body.splitlines()
    kept = []
    for line in lines:
        s = line.strip()
        if _AUTOLINK_RE.fullmatch(s):
            continue
        links = _LINK_RE.findall(s)
        if links and all(t.startswith("返回") for t, _ in links) and not _LINK_RE.sub("", s).strip(" ｜|"):
            continue
        kept.append(line)
    body = "\n".join(kept)
    blocks = re.split(r"\n[ \t]*\n", body.strip("\n"))
    if blocks and blocks[0].lstrip().startswith(">"):
        summary = "\n".join(line.lstrip()[1:].strip() for line in blocks[0].splitlines())
        rest = lxml.html.fromstring("<div>" + markdown_to_html("\n\n".join(blocks[1:])) + "</div>")
        if _summary_is_duplicate(summary, rest.text_content()):
            blocks = blocks[1:]
    page = markdown_to_html("\n\n".join(blocks))
    if not page.strip():
        return ""
    root = lxml.html.fragment_fromstring(page, create_parent="div")
    for el in list(root.iter(lxml.etree.Comment, "script", "style")):
        drop(el)
    for el in list(root.iter()):
        if el.getparent() is None or not isinstance(el.tag, str):
            continue
        if re.search(r"display\s*:\s*none", el.get("style", "")):
            drop(el)
    for img in list(root.iter("img")):
        holder = img.getparent()
        wrapper = holder if holder is not None and holder.tag in ("a", "center") else img
        nxt = wrapper.getnext() if wrapper is not img else None
        if wrapper.tag == "a" and wrapper.getparent() is not None:
            nxt = None
        if (
            not lenient
            and nxt is not None
            and nxt.tag == "p"
            and "center" in nxt.get("style", "")
            and len(nxt.text_content().strip()) <= 60
        ):
            drop(nxt)
        drop(wrapper if wrapper.tag == "a" else img)
    if not lenient:
        for p in list(root.iter("p")):
            text = p.text_content().strip()
            if "em_media" in p.get("class", "") or _SOURCE_LINE_RE.match(text):
                drop(p)
    return root.text_content()


# ---------------------------------------------------------------------------------------------- scoring


def char_f1(predicted: str, reference: str) -> float:
    """F1 over the multisets of non-whitespace characters."""
    p = Counter(_WS_RE.sub("", predicted))
    r = Counter(_WS_RE.sub("", reference))
    if not p and not r:
        return 1.0
    common = sum((p & r).values())
    if common == 0:
        return 0.0
    precision = common / sum(p.values())
    recall = common / sum(r.values())
    return 2 * precision * recall / (precision + recall)


def ours_text(data: bytes) -> str:
    ex = extract_html(data, source="bench")
    parts = []
    for b in ex.blocks:
        if b.table is not None:
            t = b.table
            parts.extend(" ".join(row) for row in [t.header, *t.rows])
        else:
            parts.append(b.text)
    return "\n".join(parts)


def trafilatura_text(data: bytes) -> str:
    import trafilatura

    return trafilatura.extract(data) or ""


def pages_per_second(fns, pages: list[bytes], rounds: int = 7) -> list[float]:
    """Pages per second of each extractor in ``fns``. Every page is run ``rounds`` times by each extractor,
    interleaved (so a busy machine slows both alike), and its fastest run counts."""
    totals = [0.0] * len(fns)
    for page in pages:
        best = [float("inf")] * len(fns)
        for _ in range(rounds):
            for i, fn in enumerate(fns):
                t0 = time.perf_counter()
                fn(page)
                best[i] = min(best[i], time.perf_counter() - t0)
        totals = [t + b for t, b in zip(totals, best, strict=True)]
    return [len(pages) / t if t > 0 else float("inf") for t in totals]


def main() -> int:
    import trafilatura  # noqa: F401  (import cost kept out of the timings)

    posts = sorted(POSTS.glob("*.md"))
    rendered = [render_post(p) for p in posts]
    rows = []
    for path, page in zip(posts, rendered, strict=True):
        ref, ref_full = reference_text(path), reference_text(path, lenient=True)
        ours, traf = ours_text(page), trafilatura_text(page)
        rows.append(
            (
                path.name,
                char_f1(ours, ref),
                char_f1(traf, ref),
                char_f1(ours, ref_full),
                char_f1(traf, ref_full),
            )
        )

    print(f"{'post':48} {'ours F1':>8} {'traf F1':>8} {'ours full':>9} {'traf full':>9}")
    for name, a, b, c, d in rows:
        print(f"{name[:48]:48} {a:8.3f} {b:8.3f} {c:9.3f} {d:9.3f}")
    mean = [statistics.mean(r[i] for r in rows) for i in range(1, 5)]
    print(
        f"{'MEAN (' + str(len(rows)) + ' posts)':48} {mean[0]:8.3f} {mean[1]:8.3f} {mean[2]:9.3f} {mean[3]:9.3f}"
    )

    pages = [p.read_bytes() for p in sorted(HTML_PAGES.glob("*.html"))]
    both = [ours_text, trafilatura_text]
    speed = [
        ("finews posts (rendered)", len(rendered), *pages_per_second(both, rendered)),
        ("corpus/html pages", len(pages), *pages_per_second(both, pages)),
    ]
    print()
    print(f"{'set':28} {'pages':>5} {'ours p/s':>10} {'traf p/s':>10} {'speed-up':>9}")
    for name, n, ours_pps, traf_pps in speed:
        print(f"{name:28} {n:5d} {ours_pps:10.1f} {traf_pps:10.1f} {ours_pps / traf_pps:8.2f}x")

    ok = mean[0] >= mean[1] and mean[0] >= 0.98 and all(s[2] >= 2 * s[3] for s in speed)
    print()
    print("targets (F1 >= trafilatura, F1 >= 0.98, speed >= 2x):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
