"""Generated inputs for the scale section of the benchmark: finews-style posts and small gazette issues."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from html_quality import POSTS, render_post, split_post  # noqa: E402

YEARS = range(2019, 2025)  # generated posts are spread over these years: several year= partitions


def generate_posts(folder: Path, n: int) -> list[Path]:
    """``n`` news pages as the finews site serves them: the 24 real posts in turn, each copy with
    its own title, date (spread over ``YEARS``), URL and one sentence of its own, rendered with the
    site's layout (``bench/html_quality.py``). Written as ``<folder>/pages/*.html``."""
    bases = [split_post(p.read_text("utf-8")) for p in sorted(POSTS.glob("*.md"))]
    md, pages = folder / "md", folder / "pages"
    md.mkdir(parents=True, exist_ok=True)
    pages.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        fm, body = bases[i % len(bases)]
        year = YEARS[i % len(YEARS)]
        date = re.sub(r"^\s*\d{4}-\d{2}-\d{2}", f"{year}-{1 + i % 12:02d}-{1 + i % 28:02d}", fm.get("date", ""))
        front = {**fm, "title": f"{fm.get('title', '')}（第{i}条）", "date": date}
        text = "---\n" + "".join(f"{k}: {v}\n" for k, v in front.items()) + "---\n" + body
        text += f"\n\n这是生成的第{i}条消息，编号{i:06d}，用于规模测试。\n"
        post = md / f"{year}-{1 + i % 12:02d}-{1 + i % 28:02d}-gen{i:06d}.md"
        post.write_text(text, encoding="utf-8")
        page = pages / f"gen{i:06d}.html"
        page.write_bytes(render_post(post))
        out.append(page)
    return out
