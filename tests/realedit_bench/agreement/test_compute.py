"""Judge scores and humans brought together: judgment files (paper-parse files, superseded rows, failed
judgments), photos too few for intervals, ids matched across the two, and every statistic of the assembled
report checked against scipy, scikit-learn and krippendorff."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import krippendorff
import numpy as np
import pytest
import scipy.stats as ss
from cli_runner import invoke
from sklearn.metrics import cohen_kappa_score

from realedit_bench.agreement.compute import (
    JudgeScores,
    JudgmentFile,
    compute_agreement,
    judges_from_judgment_files,
    judges_from_judgments,
)
from realedit_bench.agreement.ratings import Rating, read_ratings
from realedit_bench.jsonio import JsonlAppender, read_model
from realedit_bench.schema.agree import AgreementReport
from realedit_bench.schema.judge import JudgmentRow

HEADER = "sample_id,model,perspective,rater,score,verdict\n"
CATS = ("local", "add", "style")
TOL = 1e-9


def _row(sid: str, model: str, score: float | None, *, status: str = "ok", repeat: int = 0,
         perspective: str = "following", judge: str = "openai/x") -> JudgmentRow:
    return JudgmentRow(
        sample_id=sid, image_id=sid.split("-")[0], category=sid.split("-")[1], model=model,
        perspective=perspective, repeat=repeat, status=status, score=score,
        verdict=None if score is None else score >= 3, judge=judge, rubric="realedit-v1",
        edited_sha256="0" * 64, finished_at="2025-01-01T00:00:00+00:00",
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


# ----------------------------------------------------------------------------------- parse modes


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
    want = [("openai/x", "robust"), ("openai/x [paper parse]", "paper")]
    assert [(j.name, j.parse_mode) for j in js] == want
    assert all(len(j.ratings) == 1 for j in js)


# ----------------------------------------------------------------------------- superseded rows


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
    (j,) = judges_from_judgment_files(
        [JudgmentFile("a", [_row("1-local", "m1", 1.0)]), JudgmentFile("b", [_row("1-local", "m2", 5.0)])]
    )
    assert sorted((r.model, r.score) for r in j.ratings) == [("m1", 1.0), ("m2", 5.0)]


# ---------------------------------------------------------------------------------- few photos


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
    stats = [
        pa.sample.pooled.spearman,
        pa.sample.within_model_fisher.spearman,
        pa.verdict.accuracy,
        pa.ordinal.qwk_judge_vs_consensus,
        pa.ordinal.alpha_humans_interval,
        pa.fair.loo_spearman_diff,
        pa.fair.qwk_diff,
        pa.bias.overall,
        *pa.bias.per_model.values(),
        pa.system.kendall_tau_b,
    ]
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


# ----------------------------------------------------------------------------------------- ids


def test_ids_match_case_insensitively_and_unknown_ids_are_named():
    humans, judge = _ratings_on(12)
    # A rater typed the category capitalised; one id and one failed judgment have no judge score.
    humans = [h._replace(sample_id="1-Local") if h.sample_id == "1-local" else h for h in humans]
    humans.append(Rating("99-local", "99", "a", "following", "r1", 3.0, True))
    judge = [j for j in judge if (j.sample_id, j.model) != ("2-add", "b")]
    failed = frozenset({("2-add", "b", "following")})
    (res,) = compute_agreement(
        humans, [JudgeScores("J", "judgments", judge, set(), [], failed=failed)], n_resamples=20
    )
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


# ------------------------------------------------------------------------------ assembled report


def _synthetic(n_photos=12, models=("m-1", "m-2", "m-10"), raters=("r1", "r2", "r3"), seed=0, miss=0.25):
    rng = np.random.default_rng(seed)
    humans, judge = [], []
    for ph in range(1, n_photos + 1):
        for cat in ("local", "add", "style"):
            sid = f"{ph}-{cat}"
            for mi, m in enumerate(models):
                t = rng.normal(2.5 + 0.4 * mi, 1.1)
                for r in raters:
                    if rng.random() < miss:
                        continue
                    s = float(np.clip(np.rint(t + rng.normal(0, 0.8)), 0, 5))
                    humans.append(Rating(sid, str(ph), m, "following", r, s, bool(rng.random() < (s / 5))))
                js = float(np.clip(np.rint(t + 0.5 + rng.normal(0, 0.9)), 0, 5))
                judge.append(Rating(sid, str(ph), m, "following", "J", js, js >= 3))
    return humans, judge


def _matrix(humans, judge):
    items = sorted({(r.sample_id, r.model) for r in humans})
    raters = sorted({r.rater for r in humans})
    ii = {k: i for i, k in enumerate(items)}
    h = np.full((len(items), len(raters)), np.nan)
    hv = np.full((len(items), len(raters)), np.nan)
    for r in humans:
        h[ii[(r.sample_id, r.model)], raters.index(r.rater)] = r.score
        hv[ii[(r.sample_id, r.model)], raters.index(r.rater)] = float(r.verdict)
    j = np.full(len(items), np.nan)
    jv = np.full(len(items), np.nan)
    for r in judge:
        if (r.sample_id, r.model) in ii:
            j[ii[(r.sample_id, r.model)]] = r.score
            jv[ii[(r.sample_id, r.model)]] = float(r.verdict)
    return items, raters, h, hv, j, jv


def test_report_point_estimates_equal_reference_libraries():
    humans, judge = _synthetic()
    res = compute_agreement(humans, [JudgeScores("J", "judge-ratings", judge, set(), [])], n_resamples=50)
    pa = res[0].perspectives["following"]
    items, raters, h, hv, j, jv = _matrix(humans, judge)
    hm = np.nanmean(h, axis=1)
    models = np.array([m for _, m in items])
    s = pa.sample
    assert s.pooled.spearman.value == pytest.approx(ss.spearmanr(j, hm)[0], abs=TOL)
    assert s.pooled.kendall_tau_b.value == pytest.approx(ss.kendalltau(j, hm)[0], abs=TOL)
    assert s.pooled.pearson.value == pytest.approx(ss.pearsonr(j, hm)[0], abs=TOL)
    rs = [ss.spearmanr(j[models == m], hm[models == m])[0] for m in ("m-1", "m-2", "m-10")]
    assert s.within_model["m-10"].spearman.value == pytest.approx(rs[2], abs=TOL)
    assert s.within_model_fisher.spearman.value == pytest.approx(np.tanh(np.mean(np.arctanh(rs))), abs=TOL)
    assert s.pooled.spearman.low < s.pooled.spearman.value < s.pooled.spearman.high
    # Verdicts against the human majority (even splits left out).
    share = np.nanmean(hv, axis=1)
    keep = share != 0.5
    maj = (share > 0.5).astype(float)
    assert pa.verdict.accuracy.value == pytest.approx(np.mean(jv[keep] == maj[keep]), abs=TOL)
    assert pa.verdict.cohen_kappa.value == pytest.approx(cohen_kappa_score(jv[keep], maj[keep]), abs=TOL)
    assert pa.verdict.n_human_ties == int((~keep).sum())
    # Quadratic kappa vs the rounded (half up) consensus; alpha with and without the judge.
    cons = np.floor(hm + 0.5)
    assert pa.ordinal.qwk_judge_vs_consensus.value == pytest.approx(
        cohen_kappa_score(j, cons, labels=[0, 1, 2, 3, 4, 5], weights="quadratic"), abs=TOL
    )
    for lvl in ("ordinal", "interval"):
        assert getattr(pa.ordinal, f"alpha_humans_{lvl}").value == pytest.approx(
            krippendorff.alpha(h.T, level_of_measurement=lvl), abs=TOL
        )
        assert getattr(pa.ordinal, f"alpha_with_judge_{lvl}").value == pytest.approx(
            krippendorff.alpha(np.column_stack([h, j]).T, level_of_measurement=lvl), abs=TOL
        )
    # Leave one out: each human against the mean of the others, Fisher-averaged.
    jr, hr = [], []
    for r in range(len(raters)):
        sel = ~np.isnan(h[:, r]) & ((~np.isnan(h)).sum(axis=1) >= 2)
        others = (np.nansum(h[sel], axis=1) - h[sel, r]) / ((~np.isnan(h[sel])).sum(axis=1) - 1)
        jr.append(ss.spearmanr(j[sel], others)[0])
        hr.append(ss.spearmanr(h[sel, r], others)[0])
    assert pa.fair.loo_spearman_judge.value == pytest.approx(np.tanh(np.mean(np.arctanh(jr))), abs=TOL)
    assert pa.fair.loo_spearman_human.value == pytest.approx(np.tanh(np.mean(np.arctanh(hr))), abs=TOL)
    pairs = [(0, 1), (0, 2), (1, 2)]
    hh = [
        cohen_kappa_score(h[m, a], h[m, b], labels=list(range(6)), weights="quadratic")
        for a, b in pairs
        for m in [~np.isnan(h[:, a]) & ~np.isnan(h[:, b])]
    ]
    assert pa.fair.qwk_human_human.value == pytest.approx(np.mean(hh), abs=TOL)
    # Bias and system level.
    assert pa.bias.overall.value == pytest.approx(np.mean(j - hm), abs=TOL)
    jm = [j[models == m].mean() for m in ("m-1", "m-2", "m-10")]
    hmm = [hm[models == m].mean() for m in ("m-1", "m-2", "m-10")]
    assert pa.system.kendall_tau_b.value == pytest.approx(ss.kendalltau(jm, hmm)[0], abs=TOL)
    assert pa.system.spearman.value == pytest.approx(ss.spearmanr(jm, hmm)[0], abs=TOL)
    assert pa.system.human_means["m-10"] == pytest.approx(hmm[2], abs=TOL)


def test_edge_cases_are_explained_never_nan():
    humans, judge = _synthetic(models=("a", "b"), raters=("solo",), miss=0.0)
    const_judge = [r._replace(score=4.0) for r in judge]
    res = compute_agreement(
        humans, [JudgeScores("J", "judge-ratings", const_judge, set(), [])], n_resamples=30
    )
    pa = res[0].perspectives["following"]
    text = json.dumps(res[0].model_dump(mode="json"))
    assert "NaN" not in text and "nan" not in text.lower().replace("n/a", "")
    assert pa.sample.pooled.spearman.value is None
    assert "judge score is 4 on every edit" in pa.sample.pooled.spearman.note
    assert (
        pa.ordinal.alpha_humans_ordinal.value is None
        and "single rater" in pa.ordinal.alpha_humans_ordinal.note
    )
    assert pa.fair.loo_spearman_diff.value is None and "single human" in pa.fair.conclusion
    assert pa.system.kendall_tau_b.value is None and "at least 3 models" in pa.system.note
    assert any("single human rater" in n for n in pa.notes)


def test_judgment_rows_average_repeats_and_drop_non_ok():
    from realedit_bench.schema.judge import JudgmentRow

    def row(rep, status, score, verdict):
        return JudgmentRow(
            sample_id="1-local",
            image_id="1",
            category="local",
            model="m",
            perspective="quality",
            repeat=rep,
            status=status,
            score=score,
            verdict=verdict,
            judge="openai/x",
            rubric="realedit-v1",
            edited_sha256="0" * 64,
            finished_at="2025-01-01T00:00:00+00:00",
        )

    js = judges_from_judgments(
        [row(0, "ok", 3.0, True), row(1, "ok", 4.0, False), row(2, "invalid", None, None)]
    )
    assert len(js) == 1 and js[0].name == "openai/x"
    (r,) = js[0].ratings
    assert r.score == 3.5 and r.verdict is None
    assert ("1-local", "m", "quality") in js[0].tied_verdicts
    assert any("1 invalid" in n for n in js[0].notes)
