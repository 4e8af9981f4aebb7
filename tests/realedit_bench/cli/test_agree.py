"""``realedit agree`` as a user runs it: bad ratings files, judgments files, the template, the site page."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup
from cli_runner import realedit_cli

from realedit_bench.agreement.ratings import RatingsError, read_ratings
from realedit_bench.jsonio import JsonlAppender, read_model
from realedit_bench.schema.agree import AgreementReport
from realedit_bench.schema.judge import JudgmentRow

HEADER = "sample_id,model,perspective,rater,score,verdict\n"
HOSTILE = '<img src=x onerror="alert(1)">'


def test_bad_rows_one_line_each_and_exit_2(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER
        + "1-local,m,following,ann,4,yes\n"
        + "1-local,m,folowing,ann,4,yes\n"  # unknown perspective (line 3)
        + "2-local,m,quality,ann,7,no\n"  # score out of range (line 4)
        + "3-local,m,quality,ann,4,maybe\n"  # verdict (line 5)
        + "1-local,m,following,ann,3,no\n"  # duplicate (line 6)
    )
    proc = realedit_cli(
        "agree", "--human", str(bad), "--judge-ratings", str(bad), "--out", str(tmp_path / "a.json")
    )
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr
    assert "Traceback" not in err
    lines = [ln.strip() for ln in err.splitlines() if ln.strip().startswith(str(bad))]
    assert len(lines) == 4, err
    assert "bad.csv:3: unknown perspective 'folowing' (did you mean 'following'?)" in err
    assert "bad.csv:4: score '7' is outside 0-5" in err
    assert "bad.csv:5: verdict 'maybe' is not yes or no" in err
    assert "bad.csv:6: rater 'ann' rated (1-local, m, following) twice (first at" in err
    assert not (tmp_path / "a.json").exists()

    missing = tmp_path / "missing.csv"
    missing.write_text("sample_id,model,perspective,rater,verdcit\n1-local,m,quality,ann,yes\n")
    proc = realedit_cli("agree", "--human", str(missing), "--judge-ratings", str(missing))
    assert proc.returncode == 2
    assert "missing column 'score'" in proc.stderr
    assert "unknown column 'verdcit' (did you mean 'verdict'?)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ratings_reader_jsonl_blank_rows_and_types(tmp_path: Path):
    p = tmp_path / "r.jsonl"
    p.write_text(
        json.dumps({"sample_id": "5-add", "model": "m", "perspective": "quality", "rater": "a", "score": 2.5})
        + "\n"
        + json.dumps(
            {
                "sample_id": "5-add",
                "model": "m",
                "perspective": "quality",
                "rater": "b",
                "score": "",
                "verdict": "",
            }
        )
        + "\n"
        + json.dumps(
            {"sample_id": "5-add", "model": "m", "perspective": "following", "rater": "b", "score": True}
        )
        + "\n"
    )
    with pytest.raises(RatingsError, match=r"r.jsonl:3: score True is not a number"):
        read_ratings([p])
    p.write_text(p.read_text().splitlines()[0] + "\n" + p.read_text().splitlines()[1] + "\n")
    rs = read_ratings([p])
    assert rs.n_blank == 1 and rs.ratings[0].score == 2.5 and rs.ratings[0].image_id == "5"
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(RatingsError, match="must be a .csv, .tsv, .jsonl or .json"):
        read_ratings([tmp_path / "x.txt"])


def _write_inputs(tmp_path: Path, models=("model-1", "model-2", "model-10", HOSTILE)):
    rng = np.random.default_rng(1)
    human = tmp_path / "human.csv"
    with open(human, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "model", "perspective", "rater", "score", "verdict"])
        judg = tmp_path / "run" / "judgments" / "openai_x__realedit-v1.jsonl"
        with JsonlAppender(judg) as app:
            for ph in range(1, 11):
                for cat in ("local", "remove", "style"):
                    sid = f"{ph}-{cat}"
                    for mi, m in enumerate(models):
                        for p in ("following", "quality"):
                            t = rng.normal(2 + 0.5 * mi, 1)
                            for r in ("ann", "bo", "cy"):
                                s = int(np.clip(round(t + rng.normal(0, 0.7)), 0, 5))
                                w.writerow([sid, m, p, r, s, "yes" if s >= 3 else "no"])
                            for rep in range(2):
                                js = int(np.clip(round(t + 0.6 + rng.normal(0, 0.8)), 0, 5))
                                app.append(
                                    JudgmentRow(
                                        sample_id=sid,
                                        image_id=str(ph),
                                        category=cat,
                                        model=m,
                                        perspective=p,
                                        repeat=rep,
                                        status="ok",
                                        verdict=js >= 3,
                                        score=js,
                                        judge="openai/x",
                                        rubric="realedit-v1",
                                        edited_sha256="a" * 64,
                                        finished_at="2025-01-01T00:00:00+00:00",
                                    )
                                )
            app.append(
                JudgmentRow(
                    sample_id="1-local",
                    image_id="1",
                    category="local",
                    model=models[0],
                    perspective="preserving",
                    status="error",
                    reason="timeout",
                    judge="openai/x",
                    rubric="realedit-v1",
                    edited_sha256="a" * 64,
                    finished_at="2025-01-01T00:00:00+00:00",
                )
            )
    return human, tmp_path / "run"


def test_agree_end_to_end_json_table_and_page(tmp_path: Path):
    human, run = _write_inputs(tmp_path)
    out = tmp_path / "agreement.json"
    proc = realedit_cli(
        "agree",
        "--human",
        str(human),
        "--judgments",
        str(run),
        "--out",
        str(out),
        "--resamples",
        "200",
        env={"COLUMNS": "220"},
    )
    assert proc.returncode == 0, proc.stderr
    rep = read_model(out, AgreementReport)
    assert rep.raters == ["ann", "bo", "cy"]
    assert rep.models[1:] == ["model-1", "model-2", "model-10"]  # natural order, not string order
    (j,) = rep.judges
    assert j.judge == "openai/x" and set(j.perspectives) == {"following", "quality"}
    pa = j.perspectives["following"]
    assert pa.n_items == 120 and pa.n_raters == 3 and pa.n_photos == 10
    assert pa.bias.overall.value > 0
    assert pa.system.p_chance_kendall is not None and len(pa.system.models) == 4
    assert any("1 error" in n for n in j.notes) and any("repeated asks" in n for n in j.notes)
    assert "nan" not in proc.stdout.lower().replace("n/a", "")
    # The default view: the key numbers within 80 columns and where the rest is; --verbose: every table.
    assert "Spearman, within model" in proc.stdout and "ranking Kendall tau-b" in proc.stdout
    assert "pooled over models" not in proc.stdout and "[1]" not in proc.stdout
    assert f"wrote {out}" in proc.stderr and "--verbose" in proc.stderr
    assert len(proc.stdout.splitlines()) < 40
    verbose = realedit_cli("agree", "--human", str(human), "--judgments", str(run), "--out", str(out),
                           "--resamples", "200", "--verbose", env={"COLUMNS": "220"})
    assert verbose.returncode == 0, verbose.stderr
    assert "Spearman rho" in verbose.stdout and "pooled over models" in verbose.stdout
    assert "nan" not in verbose.stdout.lower().replace("n/a", "")
    assert rep.inputs[0].kind == "human" and rep.inputs[0].rows == 10 * 3 * 4 * 2 * 3

    from leaderboard.agreement import render_agreement_page

    page = render_agreement_page(out, tmp_path / "site" / "agreement.html", csp="ignored")
    html = page.read_text()
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert HOSTILE not in html and "&lt;img src=x" in html
    assert not re.search(r"\bnan\b", soup.get_text().lower())  # no NaN (the navigation says "Provenance")
    headers = [th.get_text() for th in soup.select("table.agree")[0].find_all("th")]
    assert headers[-2:] == ["following", "quality"]
    # The page is for publishing: input paths under a home folder are shown from '~'.
    rep.inputs[0].path = "/home/ann/ratings/human.csv"
    rep.judges[0].judge = "openai-api/http://u:pw@h:8000/v1?x=1&api_key=SECRET/m"
    html = render_agreement_page(rep, tmp_path / "site" / "agreement.html").read_text()
    assert "~/ratings/human.csv" in html and "/home/ann" not in html
    assert "SECRET" not in html and "pw@" not in html and "/m" in html


def test_agree_needs_inputs_and_matching_models(tmp_path: Path):
    human, run = _write_inputs(tmp_path, models=("a", "b", "c"))
    other = tmp_path / "other.csv"
    other.write_text(HEADER + "1-local,zzz,following,judgeB,3,yes\n")
    proc = realedit_cli("agree", "--human", str(human), "--judge-ratings", str(other))
    assert proc.returncode == 2 and "scored no edit the humans rated" in proc.stderr
    proc = realedit_cli("agree", "--human", str(human))
    assert proc.returncode == 2 and "--judgments" in proc.stderr
    proc = realedit_cli("agree", "--human", str(human), "--judgments", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_template_sheet_and_annotation_page(tmp_path: Path, real_edit_dir: Path):
    from PIL import Image

    edits = tmp_path / "edits"
    edits.mkdir()
    for sid, color in (("10-local", "red"), ("10-remove", "blue"), ("11-style", "green")):
        Image.new("RGB", (96, 64), color).save(edits / f"{sid}.png")
    proc = realedit_cli(
        "agree", "--template", str(edits), "--data-dir", str(real_edit_dir), "--thumb-size", "64"
    )
    assert proc.returncode == 0, proc.stderr
    sheet = edits / "ratings" / "ratings_template.csv"
    rows = list(csv.DictReader(open(sheet)))
    assert len(rows) == 9 and rows[0] == {
        "sample_id": "10-local",
        "model": "edits",
        "perspective": "following",
        "rater": "",
        "score": "",
        "verdict": "",
    }
    # The blank sheet is valid input: every row is an unrated slot.
    with pytest.raises(RatingsError, match="every row is blank"):
        read_ratings([sheet])
    html = (edits / "ratings" / "annotate.html").read_text()
    soup = BeautifulSoup(html, "html.parser")
    scripts = soup.find_all("script")
    code = [s for s in scripts if s.get("type") != "application/json"]
    assert len(code) == 1
    digest = base64.b64encode(hashlib.sha256(code[0].string.encode()).digest()).decode()
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert f"'sha256-{digest}'" in csp and "default-src 'none'" in csp and "connect-src" not in csp
    data = json.loads(soup.find("script", id="data").string)
    assert [i["sample_id"] for i in data["items"]] == ["10-local", "10-remove", "11-style"]
    assert len(data["sources"]) == 2  # each source photo embedded once
    assert all(i["edited"].startswith("data:image/jpeg;base64,") for i in data["items"])
    assert "Change the clothes" in data["items"][0]["instruction"]
    assert re.search(r"sample_id,model,perspective,rater,score,verdict", code[0].string)


def _redone_run(tmp_path: Path) -> tuple[Path, Path, str]:
    """Inputs whose run has since redone 2-local (edits.jsonl's last row for it names a new sha)."""
    from realedit_bench.jsonio import atomic_write_json
    from realedit_bench.schema import AdapterRef, BenchmarkRef, EditRow, RunManifest

    human, run = _write_inputs(tmp_path, models=("model-1",))
    old, new = "a" * 64, "b" * 64
    with JsonlAppender(run / "edits.jsonl") as out:
        for ph in range(1, 11):
            for cat in ("local", "remove", "style"):
                out.append(
                    EditRow(
                        sample_id=f"{ph}-{cat}",
                        image_id=str(ph),
                        category=cat,
                        instruction="x",
                        source=f"{ph}.jpeg",
                        status="ok",
                        output=f"images/{ph}-{cat}.png",
                        output_sha256=old,
                        seed=0,
                        finished_at="2024-12-01T00:00:00+00:00",
                    )
                )
        # After judging, a rerun made a new image for 2-local: its judgments are of the old one.
        out.append(
            EditRow(
                sample_id="2-local",
                image_id="2",
                category="local",
                instruction="x",
                source="2.jpeg",
                status="ok",
                output="images/2-local.png",
                output_sha256=new,
                seed=0,
                finished_at="2025-06-01T00:00:00+00:00",
            )
        )
    when = "2024-12-01T00:00:00+00:00"
    atomic_write_json(
        run / "manifest.json",
        RunManifest(
            run_id="run",
            label="run",
            realedit_version="0",
            command=["realedit", "run"],
            created_at=when,
            updated_at=when,
            benchmark=BenchmarkRef(
                name="real-edit",
                data_dir=str(tmp_path),
                instructions_sha256="0" * 64,
                n_samples_total=560,
                n_samples_selected=30,
            ),
            adapter=AdapterRef(name="model-1", params={}),
            base_seed=0,
            device="cpu",
            dtype="float32",
            status="complete",
        ),
    )
    return human, run, new


def test_judgments_of_images_the_run_has_since_redone_are_left_out(tmp_path: Path):
    human, run, _ = _redone_run(tmp_path)
    out_json = tmp_path / "agreement.json"
    proc = realedit_cli(
        "agree", "--human", str(human), "--judgments", str(run), "--out", str(out_json), "--resamples", "100"
    )
    assert proc.returncode == 0, proc.stderr
    rep = read_model(out_json, AgreementReport)
    assert any("left out 4 judgment(s)" in n for n in rep.notes)  # 2 perspectives x 2 repeats of 2-local
    assert rep.judges[0].perspectives["following"].n_items == 29  # 30 rated edits less 2-local


def test_stale_rows_already_rejudged_are_no_reason_for_a_note(tmp_path: Path):
    # The user did rerun 'realedit judge': the stale rows are superseded, and nothing is left out.
    human, run, new = _redone_run(tmp_path)
    judg = run / "judgments" / "openai_x__realedit-v1.jsonl"
    with JsonlAppender(judg) as app:
        for p in ("following", "quality"):
            for rep in range(2):
                app.append(
                    JudgmentRow(
                        sample_id="2-local",
                        image_id="2",
                        category="local",
                        model="model-1",
                        perspective=p,
                        repeat=rep,
                        status="ok",
                        verdict=True,
                        score=4,
                        judge="openai/x",
                        rubric="realedit-v1",
                        edited_sha256=new,
                        finished_at="2025-07-01T00:00:00+00:00",
                    )
                )
    out_json = tmp_path / "agreement.json"
    proc = realedit_cli(
        "agree", "--human", str(human), "--judgments", str(run), "--out", str(out_json), "--resamples", "100"
    )
    assert proc.returncode == 0, proc.stderr
    rep = read_model(out_json, AgreementReport)
    assert not any("left out" in n and "redone" in n for n in rep.notes), rep.notes
    assert rep.judges[0].perspectives["following"].n_items == 30
    assert "redone" not in proc.stderr


def test_drop_stale_decides_per_judgment_on_its_latest_row():
    from realedit_bench.judges.stale import drop_stale
    from realedit_bench.schema import EditRow

    cur, old = "c" * 64, "o" * 64
    history = {
        sid: [
            EditRow(
                sample_id=sid,
                image_id="1",
                category="local",
                instruction="x",
                source="1.jpeg",
                status="ok",
                output=f"images/{sid}.png",
                output_sha256=cur,
                seed=0,
                finished_at="2025-01-01T00:00:00+00:00",
            )
        ]
        for sid in ("1-local", "1-style")
    }

    def row(sid: str, sha: str, repeat: int = 0) -> JudgmentRow:
        return JudgmentRow(
            sample_id=sid,
            image_id="1",
            category="local",
            model="m",
            perspective="quality",
            repeat=repeat,
            status="ok",
            verdict=True,
            score=4,
            judge="j",
            rubric="r",
            edited_sha256=sha,
            finished_at="2025-02-01T00:00:00+00:00",
        )

    rejudged = [row("1-local", old), row("1-local", cur)]  # stale, then superseded by a current row
    never = [row("1-style", cur), row("1-style", old), row("1-style", old)]  # latest row stale
    other = [row("1-style", cur, repeat=1)]
    kept, n = drop_stale(rejudged + never + other, history)
    assert kept == rejudged + other  # the superseded row stays for the latest-row logic downstream
    assert n == 1  # one judgment (key), not its three rows
    assert drop_stale(rejudged, None) == (rejudged, 0)


def test_ratings_without_verdicts_write_no_numpy_warning(tmp_path: Path):
    human, run = _write_inputs(tmp_path, models=("model-1",))
    with open(human, newline="") as fh:
        rows = list(csv.reader(fh))
    with open(human, "w", newline="") as fh:
        csv.writer(fh).writerows([r[:5] for r in rows])  # no verdict column
    out_json = tmp_path / "agreement.json"
    proc = realedit_cli(
        "agree", "--human", str(human), "--judgments", str(run), "--out", str(out_json), "--resamples", "50"
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "empty slice" not in proc.stderr, proc.stderr
    rep = read_model(out_json, AgreementReport)
    assert rep.judges[0].perspectives["following"].verdict.accuracy.n == 0


def test_two_models_still_show_their_mean_scores(tmp_path: Path):
    # Fewer than 3 models: no ranking statistic, but each model's mean human and judge score stay known
    # (the page shows them beside the bias).
    human, run = _write_inputs(tmp_path, models=("model-1", "model-2"))
    out = tmp_path / "agreement.json"
    proc = realedit_cli(
        "agree", "--human", str(human), "--judgments", str(run), "--out", str(out), "--resamples", "100"
    )
    assert proc.returncode == 0, proc.stderr
    system = read_model(out, AgreementReport).judges[0].perspectives["following"].system
    assert set(system.judge_means) == set(system.human_means) == {"model-1", "model-2"}
    assert system.spearman.value is None and "at least 3 models" in (system.note or "")
