"""A published site shows no local path of the machine that made the runs and no URL credentials."""

from __future__ import annotations

import os

from report_fixtures import make_dataset, make_run, page_soup, read_rows, write_rows

from leaderboard.redact import redact
from leaderboard.site import build_site
from realedit_bench.jsonio import atomic_write_json
from realedit_bench.schema import EditRow, RunManifest


def test_published_site_shows_no_home_path_or_credentials(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    judge = "openai-api/http://alice:s3cret@10.0.0.5:8000/v1/llava"
    # A registered editor: its label and settings column show the weights it was given, from '~'.
    run = make_run(tmp_path / "runs", "instruct-pix2pix", 7, 1, data_dir=data, judge=judge)
    home = os.path.expanduser("~")
    m = RunManifest.model_validate_json((run / "manifest.json").read_text())
    m = m.model_copy(
        update={
            "command": [
                "realedit",
                "run",
                "--data-dir",
                "/home/alice/data/real-edit",
                "--weights",
                "/root/ckpt/w",
                "--out",
                f"{home}/runs",
            ],
            "adapter": m.adapter.model_copy(
                update={"params": {"weights": "/Users/bob/models/ip2p", "steps": 2}}
            ),
            # A label given with --label may hold a path too.
            "label": "instruct-pix2pix (steps=2, weights=/Users/bob/models/ip2p, seed=1)",
        }
    )
    atomic_write_json(run / "manifest.json", m)
    edits = read_rows(run / "edits.jsonl", EditRow)
    edits[0] = edits[0].model_copy(
        update={"status": "error", "output": None, "error": f"OSError: cannot read {os.getcwd()}/x.png"}
    )
    write_rows(run / "edits.jsonl", edits)
    res = build_site(tmp_path / "runs", tmp_path / "site", formats=["html", "md", "csv", "json"])
    site_files = (tmp_path / "site").rglob("*")
    text = "".join(p.read_text() for p in site_files if p.suffix in (".html", ".md", ".csv", ".json"))
    leaks = (
        "/home/alice",
        "/root/",
        "/Users/bob",
        "alice:s3cret",
        "s3cret@",
        f"{home}/runs",
        f"{os.getcwd()}/x.png",
    )
    for leak in leaks:
        assert leak not in text, leak
    page = page_soup(res.index).get_text(" ")
    assert "~/data/real-edit" in page and "~/ckpt/w" in page and "~/models/ip2p" in page
    assert "openai-api/http://10.0.0.5:8000/v1/llava" in page
    label = "instruct-pix2pix (steps=2, weights=~/models/ip2p, seed=1)"
    assert label in page and f'"label":"{label}"' in text  # in the charts' data too


def test_redact_keeps_other_paths():
    assert redact("/rootfs/x /home/ann/y --w=/root") == "/rootfs/x ~/y --w=~"
    assert redact("https://u:p@h/v1?api_key=abc&x=1") == "https://h/v1?api_key=***&x=1"
    # A judge name goes on after the URL: the secret ends at '/', the model name stays.
    assert redact("openai-api/http://h/v1?api_key=X/m") == "openai-api/http://h/v1?api_key=***/m"
    assert redact("/data/shared/real-edit") == "/data/shared/real-edit"
