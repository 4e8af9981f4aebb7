"""The gallery's pages as written: larger copies behind every thumbnail, the runs side by side, the search
data of its index (the pages in a browser: test_browser.py)."""

from __future__ import annotations

import json

from PIL import Image
from report_fixtures import make_dataset, make_run, page_soup

from leaderboard.gallery import FULL_SIDE
from leaderboard.site import build_site


def test_every_thumbnail_opens_a_larger_copy_inside_the_site(tmp_path):
    data = make_dataset(tmp_path / "data", 1, size=80)
    make_run(tmp_path / "runs", "big", 7, 1, data_dir=data, image_size=300, run_id="big")
    result = build_site(tmp_path / "runs", tmp_path / "site")
    page = page_soup(tmp_path / "site" / "gallery" / "1.html")
    zooms = page.select("a.zoom")
    assert len(zooms) == 7 * 2  # the original and the edit of each instruction
    for a in zooms:
        full = (tmp_path / "site" / "gallery" / a["href"]).resolve()
        thumb = (tmp_path / "site" / "gallery" / a.img["src"]).resolve()
        assert full.parent.name == "full" and full.is_file() and a["data-caption"].startswith("Photo 1 · ")
        with Image.open(full) as f, Image.open(thumb) as t:
            assert max(f.size) <= FULL_SIDE and f.size >= t.size
    edit = page.select_one('.card[data-run="big"] a.zoom')
    with Image.open(tmp_path / "site" / "gallery" / edit["href"]) as im:
        assert im.size == (300, 300)  # under the cap: the edit at its own size (the thumbnail is 256)
    again = build_site(tmp_path / "runs", tmp_path / "site")
    assert result.thumbs_made == 2 * 8 and again.thumbs_made == 0  # both copies cached


def test_runs_side_by_side_and_each_instruction_has_an_address(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    make_run(tmp_path / "runs", "alpha", 7, 1, data_dir=data, run_id="a")
    make_run(tmp_path / "runs", "beta", 7, 2, data_dir=data, run_id="b")
    build_site(tmp_path / "runs", tmp_path / "site")
    page = page_soup(tmp_path / "site" / "gallery" / "1.html")
    boxes = page.select('#gallery-filters input[name="run"]')
    assert [(b["value"], b.has_attr("checked")) for b in boxes] == [("a", True), ("b", True)]
    assert [s["id"] for s in page.select("section.item")] == [
        "local",
        "remove",
        "add",
        "texture",
        "background",
        "global",
        "style",
    ]
    assert page.select_one("#filter-text") is not None and page.select_one(".keys") is not None


def test_the_index_searches_every_instruction(tmp_path):
    data = make_dataset(tmp_path / "data", 3)
    make_run(tmp_path / "runs", "alpha", 21, 1, data_dir=data)
    build_site(tmp_path / "runs", tmp_path / "site")
    index = page_soup(tmp_path / "site" / "gallery" / "index.html")
    pages = json.loads(index.select_one("script#search-data").string)
    assert [p["href"] for p in pages] == ["1.html", "2.html", "3.html"]
    assert pages[1]["title"] == "Real-Edit · Photo 2"
    assert pages[1]["items"][6] == ["style", "make the style part of photo 2 nicer", "2.html#style"]
    assert [a["data-page"] for a in index.select("a.photo")] == ["1.html", "2.html", "3.html"]
