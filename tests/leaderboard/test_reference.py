"""Where each model is published (paper and weights links), shipped beside the paper's tables."""

from __future__ import annotations

import csv

from report_fixtures import make_dataset, make_run, measured_rows, page_soup

from leaderboard.reference import LINKS_FILE, REFERENCE_DIR, model_links
from leaderboard.site import build_site


def test_links_by_registry_name_and_by_published_name():
    ip2p = model_links("instruct-pix2pix")
    assert ip2p is not None and ip2p.paper == "https://arxiv.org/abs/2211.09800"
    assert ip2p.weights == "https://huggingface.co/timbrooks/instruct-pix2pix"
    assert model_links("InsPix2Pix") == ip2p  # the paper's name for it
    # The registry's magicbrush is a diffusers conversion; the paper's MagicBrush is the authors' release.
    assert model_links("magicbrush").weights != model_links("MagicBrush").weights
    assert model_links("identity") is None and model_links("my-editor") is None
    assert model_links("flux2-klein").paper is None  # known weights, no paper: only the weights link


def test_every_link_is_https():
    with open(REFERENCE_DIR / LINKS_FILE, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 10
    for r in rows:
        for url in (r["paper"], r["weights"]):
            assert url == "" or url.startswith("https://"), r


def test_rows_link_their_paper_and_weights_and_unknown_models_show_none(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    make_run(tmp_path / "runs", "instruct-pix2pix", 7, 1, data_dir=data, run_id="ip2p")
    make_run(tmp_path / "runs", "my-editor", 7, 2, data_dir=data, run_id="mine")
    soup = page_soup(build_site(tmp_path / "runs", tmp_path / "site", gallery=False).index)
    rows = measured_rows(soup)
    links = {a.get_text(): a["href"] for a in rows["ip2p"].select("td.model a.ext")}
    assert links == {
        "paper": "https://arxiv.org/abs/2211.09800",
        "weights": "https://huggingface.co/timbrooks/instruct-pix2pix",
    }
    assert all(a["target"] == "_blank" for a in rows["ip2p"].select("a.ext"))
    assert rows["mine"].select("a.ext") == []
    kosmos = next(
        tr for tr in soup.select("table.leaderboard tbody.reference tr") if tr["data-model"] == "KOSMOS-G"
    )
    assert [a.get_text() for a in kosmos.select("a.ext")] == ["paper", "weights"]
