"""``realedit agree`` on the inputs users really have: paper-parse files beside the robust ones, re-judged
rows, ratings of one photo, spreadsheet exports (other encodings, extra columns, other headers and
shapes) and ids that match nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import invoke

from realedit_bench.agreement.compute import (
    JudgeScores,
    JudgmentFile,
    compute_agreement,
    judges_from_judgment_files,
    judges_from_judgments,
)
from realedit_bench.agreement.ratings import Rating, RatingsError, read_ratings
from realedit_bench.jsonio import JsonlAppender, read_model
from realedit_bench.schema.agree import AgreementReport
from realedit_bench.schema.judge import JudgmentRow

HEADER = "sample_id,model,perspective,rater,score,verdict\n"
CATS = ("local", "add", "style")


def _row(sid: str, model: str, score: float | None, *, status: str = "ok", repeat: int = 0,
         perspective: str = "following", judge: str = "openai/x") -> JudgmentRow:
    return JudgmentRow(
        sample_id=sid, image_id=sid.split("-")[0], category=sid.split("-")[1], model=model,
        perspective=perspective, repeat=repeat, status=status, score=score,
        verdict=None if score is None else score >= 3, judge=judge, rubric="realedit-v1",
        finished_at="2025-01-01T00:00:00+00:00",
    )


def _humans_and_truth(tmp_path: Path, models=("mA", "mB", "mC"), n_photos=6):
    """A human CSV and the judge score the robust judge gives each edit (close to the humans)."""
    rng = np.random.default_rng(3)
    truth: dict[tuple[str, str], float] = {}
    path = tmp_path / "human.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER.strip().split(","))
        for ph in range(1, n_photos + 1):
            for cat in CATS:
                sid = f"{ph}-{cat}"
                for mi, m in enumerate(models):
                    t = rng.normal(1.5 + mi, 0.8)
                    truth[(sid, m)] = float(np.clip(np.rint(t), 0, 5))
                    for r in ("ann", "bo"):
                        s = int(np.clip(np.rint(t + rng.normal(0, 0.5)), 0, 5))
                        w.writerow([sid, m, "following", r, s, "yes" if s >= 3 else "no"])
    return path, truth


def _write_run(root: Path, model: str, rows: list[JudgmentRow], name="openai_x__realedit-v1.jsonl") -> Path:
    with JsonlAppender(root / model / "judgments" / name) as app:
        for r in rows:
            app.append(r)
    return root / model


# ----------------------------------------------------------------------------------- 1. parse modes


def test_paper_parse_files_are_their_own_judge_never_repeats(tmp_path: Path):
    human, truth = _humans_and_truth(tmp_path)
    runs = tmp_path / "runs"
    for m in ("mA", "mB", "mC"):
        _write_run(runs, m, [_row(sid, mm, s) for (sid, mm), s in truth.items() if mm == m])
    # The authors' parser read mC's replies as 5 everywhere: same judge, same rubric, other file.
    paper = [_row(sid, "mC", 5.0) for (sid, mm) in truth if mm == "mC"]
    _write_run(runs, "mC", paper, name="openai_x__realedit-v1.paper-parse.jsonl")
    out = tmp_path / "a.json"
    args = ["agree", "--human", str(human), "--resamples", "50", "--out", str(out)]
    res = invoke(*args, *[x for m in ("mA", "mB", "mC") for x in ("--judgments", str(runs / m))])
    assert res.returncode == 0, res.stderr
    rep = read_model(out, AgreementReport)
    (j,) = rep.judges
    assert j.judge == "openai/x" and j.parse_mode == "robust" and j.rubric == "realedit-v1"
    # mC's bias is that of the robust scores alone, not an average with the paper parser's 5s.
    hmean = {}
    for r in read_ratings([human]).ratings:
        hmean.setdefault((r.sample_id, r.model), []).append(r.score)
    want = np.mean([truth[k] - np.mean(v) for k, v in hmean.items() if k[1] == "mC"])
    assert j.perspectives["following"].bias.per_model["mC"].value == pytest.approx(want, abs=1e-9)
    assert not any("repeated asks" in n for n in j.notes)
    assert any("skipped 1 paper-parse" in n for n in rep.notes)
    assert "robust parser" in " ".join(res.stdout.split())

    # Named explicitly, the paper-parse file is compared as a judge of its own, and says so.
    res = invoke(*args, "--judgments", str(runs / "mC"),
                 "--judgments", str(runs / "mC" / "judgments" / "openai_x__realedit-v1.paper-parse.jsonl"))
    assert res.returncode == 0, res.stderr
    rep = read_model(out, AgreementReport)
    assert [(j.judge, j.parse_mode) for j in rep.judges] == [
        ("openai/x", "robust"), ("openai/x [paper parse]", "paper")]
    assert rep.judges[1].perspectives["following"].bias.judge_mean == 5.0
    text = " ".join(res.stdout.split())
    assert "openai/x [paper parse] vs humans" in text  # not eaten as rich markup
    assert "the authors' parser (--parse paper)" in text
    assert not any("skipped" in n for n in rep.notes)  # named explicitly: not skipped


def test_parse_mode_is_part_of_the_judge_identity():
    rows = [_row("1-local", "m", 2.0)]
    js = judges_from_judgment_files([JudgmentFile("a.jsonl", rows), JudgmentFile("b.jsonl", rows, "paper")])
    assert [(j.name, j.parse_mode) for j in js] == [("openai/x", "robust"), ("openai/x [paper parse]", "paper")]
    assert all(len(j.ratings) == 1 for j in js)


# ------------------------------------------------------------------------------- 2. superseded rows


def test_last_row_per_sample_perspective_repeat_wins():
    rows = [
        _row("1-local", "m", 4.0),  # stale: the image was changed and judged again below
        _row("2-local", "m", None, status="error"),  # redone below
        _row("3-local", "m", 1.0),
        _row("3-local", "m", 3.0, repeat=1),  # a real second ask: still averaged
        _row("1-local", "m", 0.0),
        _row("2-local", "m", 2.0),
    ]
    (j,) = judges_from_judgments(rows)
    got = {r.sample_id: r.score for r in j.ratings}
    assert got == {"1-local": 0.0, "2-local": 2.0, "3-local": 2.0}
    assert not j.failed
    assert not any("error" in n and "not ok" in n for n in j.notes)
    assert any(n.startswith("2 superseded judgment row(s)") for n in j.notes)

    # Superseding is per file: two models' files with the same sample ids do not replace each other.
    (j,) = judges_from_judgment_files([JudgmentFile("a", [_row("1-local", "m1", 1.0)]),
                                       JudgmentFile("b", [_row("1-local", "m2", 5.0)])])
    assert sorted((r.model, r.score) for r in j.ratings) == [("m1", 1.0), ("m2", 5.0)]


# ---------------------------------------------------------------------------------- 3. few photos


def _ratings_on(photos: int) -> tuple[list[Rating], list[Rating]]:
    rng = np.random.default_rng(5)
    humans, judge = [], []
    for ph in range(1, photos + 1):
        for cat in CATS + ("remove", "background"):
            sid = f"{ph}-{cat}"
            for mi, m in enumerate(("a", "b", "c")):
                t = rng.normal(1.5 + mi, 1.0)
                for r in ("r1", "r2", "r3"):
                    s = float(np.clip(np.rint(t + rng.normal(0, 0.7)), 0, 5))
                    humans.append(Rating(sid, str(ph), m, "following", r, s, s >= 3))
                js = float(np.clip(np.rint(t + rng.normal(0, 0.3)), 0, 5))
                judge.append(Rating(sid, str(ph), m, "following", "J", js, js >= 3))
    return humans, judge


def test_one_photo_gives_no_interval_and_no_conclusion():
    humans, judge = _ratings_on(1)
    (res,) = compute_agreement(humans, [JudgeScores("J", "judge-ratings", judge, set(), [])], n_resamples=200)
    pa = res.perspectives["following"]
    stats = [pa.sample.pooled.spearman, pa.sample.within_model_fisher.spearman, pa.verdict.accuracy,
             pa.ordinal.qwk_judge_vs_consensus, pa.ordinal.alpha_humans_interval, pa.fair.loo_spearman_diff,
             pa.fair.qwk_diff, pa.bias.overall, *pa.bias.per_model.values(), pa.system.kendall_tau_b]
    assert all(s.value is not None for s in stats)
    for s in stats:
        assert s.low is None and s.high is None and "single source photo" in s.note
    assert "agrees better" not in pa.fair.conclusion and "agrees worse" not in pa.fair.conclusion
    assert "as good as" not in pa.fair.conclusion and "no conclusion" in pa.fair.conclusion
    assert any("single source photo" in n for n in pa.notes)

    from realedit_bench.agreement.view import fmt_interval

    assert fmt_interval(pa.bias.overall) == "[n/a]"


def test_few_photos_keep_intervals_with_a_caution():
    humans, judge = _ratings_on(3)
    (res,) = compute_agreement(humans, [JudgeScores("J", "judge-ratings", judge, set(), [])], n_resamples=200)
    pa = res.perspectives["following"]
    assert pa.bias.overall.low is not None and pa.bias.overall.low < pa.bias.overall.high
    assert any("only 3 source photos" in n and "too narrow" in n for n in pa.notes)
    humans, judge = _ratings_on(10)
    (res,) = compute_agreement(humans, [JudgeScores("J", "judge-ratings", judge, set(), [])], n_resamples=20)
    assert not any("source photo" in n for n in res.perspectives["following"].notes)


# --------------------------------------------------------------------------------- 5. encodings


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_non_utf8_ratings_is_one_line_naming_the_file(tmp_path: Path, suffix: str):
    p = tmp_path / f"excel{suffix}"
    if suffix == ".csv":
        text = HEADER.strip() + ",comment\n1-local,m,following,ann,4,yes,café\n"
    else:
        text = json.dumps({"sample_id": "1-local", "model": "m", "perspective": "following", "rater": "ann",
                           "score": 4, "comment": "café"}, ensure_ascii=False) + "\n"
    p.write_bytes(text.encode("cp1252"))
    res = invoke("agree", "--human", str(p), "--judge-ratings", str(p), "--out", str(tmp_path / "a.json"))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "UnicodeDecodeError" not in res.stderr
    assert f"{p}: not UTF-8 text" in res.stderr and "save it as UTF-8" in res.stderr
    # UTF-8 with a byte-order mark (Excel's "CSV UTF-8") reads.
    p.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert read_ratings([p]).ratings[0].score == 4.0


# ----------------------------------------------------------------------------- 7. spreadsheet shapes


def test_annotator_shapes_are_read(tmp_path: Path):
    want = read_ratings([_plain(tmp_path)]).ratings
    # A pandas index column, form columns, capitalised and spaced headers.
    p = tmp_path / "form.csv"
    p.write_text(",Timestamp,Email, Sample_Id ,Model,Perspective,Rater,Score,Verdict\n"
                 + "".join(f"{i},2025-01-01,a@b.c,{r.sample_id},{r.model},{r.perspective},{r.rater},{r.score:g},"
                           f"{'yes' if r.verdict else 'no'}\n" for i, r in enumerate(want)))
    rs = read_ratings([p])
    assert rs.ratings == want
    (w,) = rs.warnings
    assert "form.csv: ignored column(s) '' (unnamed" in w and "'timestamp'" in w and "'email'" in w
    # A JSON array of objects, a .tsv, a ';' CSV with decimal commas.
    arr = tmp_path / "r.json"
    arr.write_text(json.dumps([{"Sample ID": r.sample_id, "model": r.model, "perspective": r.perspective,
                                "rater": r.rater, "score": r.score, "verdict": r.verdict} for r in want]))
    assert read_ratings([arr]).ratings == want
    tsv = tmp_path / "r.tsv"
    tsv.write_text(_plain(tmp_path).read_text().replace(",", "\t"))
    assert read_ratings([tsv]).ratings == want
    semi = tmp_path / "semi.csv"
    semi.write_text(HEADER.replace(",", ";") + "1-local;m;following;ann;3,5;yes\n")
    assert read_ratings([semi]).ratings[0].score == 3.5


def _plain(tmp_path: Path) -> Path:
    p = tmp_path / "plain.csv"
    p.write_text(HEADER + "1-local,m,following,ann,4,yes\n1-local,m,quality,bo,2.5,no\n2-add,m,following,ann,0,no\n")
    return p


def test_missing_value_words_and_wrong_values(tmp_path: Path):
    p = tmp_path / "r.csv"
    rows = ["1-local,m,following,ann,4,yes"] + [
        f"{i}-local,m,following,ann,{miss}," for i, miss in enumerate(("N/A", "NA", "NaN", "-", "none", ""), 2)
    ] + ["9-local,m,following,ann,NaN,yes"]
    p.write_text(HEADER + "\n".join(rows) + "\n")
    rs = read_ratings([p])
    assert len(rs.ratings) == 1 and rs.n_blank == 6
    assert rs.warnings == [f"{p}: 1 row(s) have a verdict but no score and are left out "
                           "(every statistic needs the 0-5 score)"]
    # Genuinely wrong values are still refused, with file:line.
    p.write_text(HEADER + "1-local,m,following,ann,7,yes\n2-local,m,following,ann,good,yes\n")
    with pytest.raises(RatingsError) as exc:
        read_ratings([p])
    assert f"{p}:2: score '7' is outside 0-5" in str(exc.value)
    assert f"{p}:3: score 'good' is not a number" in str(exc.value)


def test_verdict_only_and_wide_files_say_what_is_needed(tmp_path: Path):
    v = tmp_path / "v.csv"
    v.write_text("sample_id,model,perspective,rater,verdict\n1-local,m,following,ann,yes\n")
    with pytest.raises(RatingsError, match="verdict-only ratings are not supported"):
        read_ratings([v])
    v.write_text(HEADER + "1-local,m,following,ann,,yes\n")
    with pytest.raises(RatingsError, match="verdict-only ratings are not supported"):
        read_ratings([v])
    w = tmp_path / "w.csv"
    w.write_text("sample_id,model,rater,following,preserving,quality\n1-local,m,ann,4,3,5\n")
    with pytest.raises(RatingsError, match="looks like a wide file") as exc:
        read_ratings([w])
    assert "unknown column 'following'" not in str(exc.value)


def test_help_documents_the_file_shapes():
    res = invoke("agree", "--help")
    text = " ".join(res.stdout.split()).replace("- ", "-")  # help wraps long words at their hyphens
    for shape in (".tsv", ".jsonl", "array of objects", "UTF-8", "case-insensitively", "N/A", "paper-parse"):
        assert shape in text, shape


# -------------------------------------------------------------------------------------- 8. ids


def test_ids_match_case_insensitively_and_unknown_ids_are_named():
    humans, judge = _ratings_on(12)
    # A rater typed the category capitalised; one id and one failed judgment have no judge score.
    humans = [h._replace(sample_id="1-Local") if h.sample_id == "1-local" else h for h in humans]
    humans.append(Rating("99-local", "99", "a", "following", "r1", 3.0, True))
    judge = [j for j in judge if (j.sample_id, j.model) != ("2-add", "b")]
    failed = frozenset({("2-add", "b", "following")})
    (res,) = compute_agreement(humans, [JudgeScores("J", "judgments", judge, set(), [], failed=failed)],
                               n_resamples=20)
    pa = res.perspectives["following"]
    assert pa.n_human_items == 12 * 5 * 3 + 1
    assert pa.n_missing_judge == 2 and pa.n_unmatched_judge == 1 and pa.n_items == 12 * 5 * 3 - 1
    (unknown,) = [n for n in pa.notes if "match no score" in n]
    assert unknown.startswith("1 human-rated edit(s)") and "99-local/a" in unknown
    (bad,) = [n for n in pa.notes if "not ok" in n]
    assert bad.startswith("1 human-rated edit(s) have no valid judge score")


def test_failed_judgments_are_told_apart_from_unknown_ids(tmp_path: Path):
    rows = [_row("1-local", "m", None, status="error"), _row("2-local", "m", 3.0)]
    (j,) = judges_from_judgments(rows)
    assert j.failed == {("1-local", "m", "following")}
