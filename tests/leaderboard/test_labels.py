"""How runs are named on the site: the label the run recorded, and the settings column."""

from __future__ import annotations

import csv
import io
import json

from report_fixtures import IP2P_PARAMS, make_dataset, make_run, measured_rows, page_soup

from leaderboard.site import build_site


def test_the_page_shows_the_label_the_run_recorded(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    make_run(tmp_path / "runs", "instruct-pix2pix", 7, 1, data_dir=data, params=IP2P_PARAMS,
             label="IP2P fast")
    rows = measured_rows(page_soup(build_site(tmp_path / "runs", tmp_path / "site", formats=["html"]).index))
    (tr,) = rows.values()
    assert tr.select_one("td.model .label").get_text() == "IP2P fast"
    assert tr.select_one("td.settings").get_text() == "scheduler=ddim, steps=20, seed=1"


def test_runs_of_one_model_are_told_apart_by_label_and_settings_column(tmp_path):
    data = make_dataset(tmp_path / "data", 2)
    fast = {**IP2P_PARAMS, "steps": 20, "scheduler": "ddim"}
    default = {**IP2P_PARAMS, "steps": 100, "scheduler": "euler_ancestral"}
    make_run(tmp_path / "runs", "instruct-pix2pix", 14, 0, data_dir=data, params=default, run_id="ip2p")
    make_run(tmp_path / "runs", "instruct-pix2pix", 14, 1, data_dir=data, params=fast, run_id="ip2p-fast")
    make_run(tmp_path / "runs", "instruct-pix2pix", 14, 3, data_dir=data, params=default, run_id="ip2p-seed3")
    # The same settings and seed again (a rerun elsewhere): the same label, so the run id tells them apart.
    make_run(tmp_path / "runs", "instruct-pix2pix", 14, 3, data_dir=data, params=default, run_id="ip2p-again")
    make_run(tmp_path / "runs", "my-editor", 14, 4, data_dir=data, run_id="mine")
    result = build_site(tmp_path / "runs", tmp_path / "site", formats=["html", "csv"])
    soup = page_soup(result.index)
    rows = measured_rows(soup)
    label = {run: tr.select_one("td.model .label").get_text() for run, tr in rows.items()}
    settings = {run: tr.select_one("td.settings").get_text() for run, tr in rows.items()}
    assert label == {
        "ip2p": "instruct-pix2pix",
        "ip2p-fast": "instruct-pix2pix (scheduler=ddim, steps=20, seed=1)",
        "ip2p-seed3": "instruct-pix2pix (seed=3) [ip2p-seed3]",
        "ip2p-again": "instruct-pix2pix (seed=3) [ip2p-again]",
        "mine": "my-editor",
    }
    assert settings == {
        "ip2p": "defaults",
        "ip2p-fast": "scheduler=ddim, steps=20, seed=1",
        "ip2p-seed3": "seed=3",
        "ip2p-again": "seed=3",
        "mine": "–",  # not an editor installed here: its defaults are not known
    }
    # The run folder is still one click away: it links to the run's provenance.
    prov = rows["ip2p-fast"].select_one("td.model a.run")
    assert prov.get_text() == "ip2p-fast" and soup.select_one(prov["href"]).select_one("summary code")
    by_run = {r["run_id"]: r for r in csv.DictReader(io.StringIO(result.exports["csv"].read_text()))}
    assert by_run["ip2p-fast"]["settings"] == "scheduler=ddim, steps=20, seed=1"
    assert by_run["mine"]["settings"] == ""
    # Charts, the gallery and the comparison name runs the same way.
    charts = json.loads(soup.select_one("script#chart-data").string)["t0"]
    assert {c["label"] for c in charts} == set(label.values())
    gallery = page_soup(tmp_path / "site" / "gallery" / "1.html")
    assert {c.h4.contents[0].strip() for c in gallery.select(".card[data-run]")} == set(label.values())
