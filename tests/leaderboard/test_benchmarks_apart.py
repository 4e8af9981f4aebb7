"""The gallery with runs of two benchmarks in one --runs folder: MagicBrush session 2 and Real-Edit photo 2
are different pictures and get different pages; each run's source images come through its own benchmark's
loader (a MagicBrush turn K > 1 starts from the ground-truth output of turn K-1); a missing source names the
right benchmark."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from pathlib import Path

import pytest
from browser import CHROMIUM, chromium_page
from metrics_fixtures import build_magicbrush_test
from report_fixtures import WHEN, make_dataset, make_magicbrush_run, make_run, page_soup

from leaderboard.site import build_site
from realedit_bench.datasets.magicbrush import MagicBrushBenchmark
from realedit_bench.jsonio import atomic_write_json
from realedit_bench.schema import CATEGORIES, MetricSummary

MB_RUN = "ident-mb"
RE_RUN = "ident-re"


def _thumb_of(path: Path) -> str:
    """The thumbnail file name the site gives ``path``: content-addressed (leaderboard.thumbs)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:32] + "-256.jpg"


@pytest.fixture()
def mixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Real-Edit photos 1-3 and MagicBrush sessions 2 (two turns) and 30 (one turn), one run of each."""
    # No real cache or environment folder may stand in for the data these tests name.
    monkeypatch.setenv("REALEDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("REALEDIT_DATA_DIR", raising=False)
    re_data = make_dataset(tmp_path / "re-data", 3)
    make_run(tmp_path / "runs", "identity", 21, 5, data_dir=re_data, run_id=RE_RUN)
    MagicBrushBenchmark().fetch(
        tmp_path / "mb-data", from_dir=build_magicbrush_test(tmp_path / "mb-zip", {"2": 2, "30": 1})
    )
    make_magicbrush_run(tmp_path / "runs", "identity", tmp_path / "mb-data", 6, run_id=MB_RUN)
    return tmp_path


def test_sessions_and_photos_with_one_id_get_their_own_pages(mixed: Path) -> None:
    # --data-dir names the Real-Edit folder; the MagicBrush run still finds its data where its manifest says.
    res = build_site(mixed / "runs", mixed / "site", data_dir=mixed / "re-data")
    assert not [w for w in res.warnings if "not found" in w], res.warnings
    gallery = mixed / "site" / "gallery"
    assert res.n_gallery_pages == 5
    assert sorted(p.name for p in gallery.glob("*.html")) == [
        "1.html",
        "2.html",
        "3.html",
        "index.html",
        "magicbrush-2.html",
        "magicbrush-30.html",
    ]

    # Real-Edit photo 2 keeps its page: its own photo, its seven instructions, only the Real-Edit run.
    photo = page_soup(gallery / "2.html")
    assert photo.h1.get_text(" ", strip=True) == "Photo 2 Real-Edit"
    assert [s["data-category"] for s in photo.select("section.item")] == list(CATEGORIES)
    originals = {img["src"] for img in photo.select(".card.original img")}
    assert originals == {f"../thumbs/{_thumb_of(mixed / 're-data/imgs/2.jpeg')}"}
    assert {c["data-run"] for c in photo.select(".card[data-run]")} == {RE_RUN}
    assert not photo.select(".card.target")  # Real-Edit has no ground truth

    # MagicBrush session 2: its own page, turn by turn, each from its own input, beside its ground truth.
    mb_images = mixed / "mb-data/test/images/2"
    session = page_soup(gallery / "magicbrush-2.html")
    assert session.h1.get_text(" ", strip=True) == "Session 2 MagicBrush"
    assert session.title.get_text().startswith("Session 2")
    sections = session.select("section.item")
    assert [s["data-category"] for s in sections] == ["turn1", "turn2"]
    for k, sec in enumerate(sections, 1):
        source = mb_images / ("2-input.png" if k == 1 else f"2-output{k - 1}.png")
        card_in, card_gt = sec.select(".card.original")
        assert card_in.h4.get_text() == "input" and card_gt.h4.get_text() == "ground truth"
        assert card_in.img["src"] == f"../thumbs/{_thumb_of(source)}"
        assert card_gt.img["src"] == f"../thumbs/{_thumb_of(mb_images / f'2-output{k}.png')}"
        assert f"make change {k} to photo 2" in sec.h2.get_text()
        assert [c["data-run"] for c in sec.select(".card[data-run]")] == [MB_RUN]
        edited = sec.select_one(".card[data-run] img")["src"]
        assert edited == f"../thumbs/{_thumb_of(mixed / 'runs' / MB_RUN / 'images' / f'2-turn{k}.png')}"
    # The filter offers this page's turns, not Real-Edit's edit types.
    assert [o["value"] for o in session.select("#filter-category option")] == ["", "turn1", "turn2"]
    assert (mixed / "site" / "thumbs" / _thumb_of(mb_images / "2-input.png")).is_file()

    # The index names each benchmark and links every page under its heading.
    index = page_soup(gallery / "index.html")
    groups = {s.h2.get_text(" ", strip=True).split(" ·")[0]: s for s in index.select("section.benchmark")}
    assert list(groups) == ["Real-Edit", "MagicBrush"]
    assert [a["href"] for a in groups["MagicBrush"].select("a.photo")] == [
        "magicbrush-2.html",
        "magicbrush-30.html",
    ]
    assert [a.span.get_text() for a in groups["MagicBrush"].select("a.photo")] == [
        "Session 2 · 2 turns",
        "Session 30 · 1 turn",
    ]
    assert [a["href"] for a in groups["Real-Edit"].select("a.photo")] == ["1.html", "2.html", "3.html"]
    assert groups["Real-Edit"].select("a.photo")[1].span.get_text() == "Photo 2 · 7 instructions"
    mb_tile = groups["MagicBrush"].select_one("a.photo img")
    assert mb_tile["src"] == f"../thumbs/{_thumb_of(mb_images / '2-input.png')}"


def test_missing_magicbrush_data_names_magicbrush(mixed: Path) -> None:
    shutil.rmtree(mixed / "mb-data")
    res = build_site(mixed / "runs", mixed / "site", data_dir=mixed / "re-data")
    lines = [w for w in res.warnings if "not found" in w]
    assert len(lines) == 1, res.warnings
    # The MagicBrush loader's own words: where it looked and how to import the data.
    assert lines[0].startswith(
        f"MagicBrush source images not found for {MB_RUN} (MagicBrush data not found in "
    )
    assert "realedit data fetch --benchmark magicbrush" in lines[0]
    assert "Real-Edit" not in lines[0] and "--data-dir" not in lines[0]
    session = page_soup(mixed / "site" / "gallery" / "magicbrush-2.html")
    assert session.select_one(".card.original .missing").get_text() == "source image not available"
    assert len(session.select(".card[data-run] img")) == 2  # the edits are still shown
    assert page_soup(mixed / "site" / "gallery" / "2.html").select_one(".card.original img") is not None


def test_real_edit_data_moved_is_found_through_the_environment(mixed: Path, monkeypatch) -> None:
    moved = mixed / "re-moved"
    (mixed / "re-data").rename(moved)
    res = build_site(mixed / "runs", mixed / "site")
    line = next(w for w in res.warnings if "not found" in w)
    assert (
        line.startswith(f"source photos not found for {RE_RUN} (")
        and "--data-dir DIR or $REALEDIT_DATA_DIR" in line
    )
    monkeypatch.setenv("REALEDIT_DATA_DIR", str(moved))
    res = build_site(mixed / "runs", mixed / "site")
    assert not [w for w in res.warnings if "not found" in w], res.warnings
    photo = page_soup(mixed / "site" / "gallery" / "2.html")
    assert photo.select_one(".card.original img")["src"] == f"../thumbs/{_thumb_of(moved / 'imgs/2.jpeg')}"


def test_plain_folder_of_magicbrush_edits(mixed: Path) -> None:
    """A plain folder measured with --benchmark magicbrush: its metrics summary names the benchmark, and the
    data is found in the default folder."""
    shutil.move(str(mixed / "mb-data"), str(mixed / "cache" / "data" / "magicbrush"))
    plain = mixed / "runs" / "my-mb-edits"
    plain.mkdir()
    for p in (mixed / "runs" / MB_RUN / "images").glob("*.png"):
        shutil.copy(p, plain / p.name)
    shutil.rmtree(mixed / "runs" / MB_RUN)
    atomic_write_json(
        plain / "metrics_summary.json",
        MetricSummary(
            run_id="my-mb-edits",
            model="my-mb-edits",
            benchmark="magicbrush",
            reference="target",
            n=3,
            means={"l1": 0.1},
            created_at=WHEN,
            realedit_version="0.1.0",
        ),
    )
    res = build_site(mixed / "runs", mixed / "site", data_dir=mixed / "re-data")
    assert not [w for w in res.warnings if "not found" in w], res.warnings
    session = page_soup(mixed / "site" / "gallery" / "magicbrush-2.html")
    assert [s["data-category"] for s in session.select("section.item")] == ["turn1", "turn2"]
    assert "make change 2 to photo 2" in session.get_text()
    assert [c["data-run"] for c in session.select(".card[data-run]")] == ["my-mb-edits"] * 2
    photo = page_soup(mixed / "site" / "gallery" / "2.html")
    assert {c["data-run"] for c in photo.select(".card[data-run]")} == {RE_RUN}


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make browser)")
def test_session_page_in_chromium(mixed: Path, tmp_path: Path) -> None:
    build_site(mixed / "runs", mixed / "site", data_dir=mixed / "re-data")
    with chromium_page(1300, 900) as (page, problems):
        page.goto((mixed / "site" / "gallery" / "index.html").as_uri())
        page.wait_for_load_state("load")
        assert page.locator("section.benchmark h2").all_inner_texts() == [
            "Real-Edit · 3 pages",
            "MagicBrush · 2 pages",
        ]
        page.screenshot(path=str(tmp_path / "gallery-index.png"), full_page=True)
        page.locator('a[href="magicbrush-2.html"]').click()
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text() == "Session 2 MagicBrush"
        # Every picture on the page (inputs, ground truths, edits) loads from the site.
        imgs = page.locator(".card img")
        assert imgs.count() == 6
        for img in imgs.all():
            img.scroll_into_view_if_needed()
            page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(tmp_path / "session.png"), full_page=True)
        page.select_option("#filter-category", "turn2")
        assert page.locator("section.item:visible").count() == 1
        assert page.locator("section.item:visible h2").inner_text().endswith("make change 2 to photo 2")
    for name in ("gallery-index.png", "session.png"):
        assert (tmp_path / name).stat().st_size > 5_000
        shutil.copy(tmp_path / name, f"/tmp/realedit-{name}")
    assert problems == []


def test_runs_on_different_benchmarks_are_never_ranked_together(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("REALEDIT_CACHE", str(tmp_path / "cache"))
    re_data = make_dataset(tmp_path / "re-data", 3)
    make_run(tmp_path / "runs", "identity", 21, 5, data_dir=re_data, run_id=RE_RUN)
    MagicBrushBenchmark().fetch(
        tmp_path / "mb-data", from_dir=build_magicbrush_test(tmp_path / "mb-zip", {"2": 2, "30": 1})
    )
    make_magicbrush_run(tmp_path / "runs", "other", tmp_path / "mb-data", 6, run_id=MB_RUN, judged=True)
    res = build_site(tmp_path / "runs", tmp_path / "site", data_dir=re_data, formats=["html", "csv"])
    soup = page_soup(res.index)
    heads = [h.get_text(" ", strip=True) for h in soup.select("h3[id]")]
    assert heads[1].startswith("MagicBrush: Judge") and heads[0].startswith("Judge")
    tables = soup.select("table.leaderboard")
    # Each run is ranked first in its own table; the paper's Real-Edit rows go with Real-Edit only.
    assert [len(t.select("tbody.measured tr")) for t in tables] == [1, 1]
    assert [t.select_one("tbody.measured td.rank").get_text() for t in tables] == ["1", "1"]
    assert tables[0].select("tbody.reference tr") and not tables[1].select("tbody.reference tr")
    rows = list(csv.DictReader(io.StringIO(res.exports["csv"].read_text())))
    assert {(r["benchmark"], r["model"]) for r in rows if r["kind"] == "measured"} == {
        ("real-edit", "identity"),
        ("magicbrush", "other"),
    }
