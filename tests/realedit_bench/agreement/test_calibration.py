"""Calibration: pool-adjacent-violators against scikit-learn, a known monotone map recovered from synthetic
ratings with a cross-validated error that beats the raw scale, and ``realedit agree --fit-calibration``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_runner import realedit_cli

from realedit_bench.agreement.calibration import apply_map, fit_calibration, isotonic
from realedit_bench.agreement.compute import JudgeScores
from realedit_bench.agreement.ratings import Rating
from realedit_bench.jsonio import read_model
from realedit_bench.schema.trust import CalibrationFile

#: The judge's scale read too generously at the bottom and compressed at the top.
TRUE_MAP = {0: 0.0, 1: 0.3, 2: 0.8, 3: 2.0, 4: 3.6, 5: 4.7}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pool_adjacent_violators_matches_scikit_learn(seed: int) -> None:
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 11, 200) / 2.0  # ties, as judge scores have
    y = np.sqrt(x) + rng.normal(0, 0.8, 200)
    knots, values = isotonic(x, y)
    ref = IsotonicRegression(out_of_bounds="clip").fit(x, y)
    assert np.all(np.diff(knots) > 0) and np.all(np.diff(values) >= -1e-12)
    assert np.allclose(values, ref.predict(knots))
    probe = np.linspace(-1, 6, 57)
    assert np.allclose(apply_map(knots, values, probe), ref.predict(probe))


def _synthetic(n_photos: int = 30, seed: int = 0) -> tuple[list[Rating], JudgeScores]:
    rng = np.random.default_rng(seed)
    humans, judge = [], []
    for photo in range(n_photos):
        for cat in ("local", "add", "remove", "style"):
            sid = f"{photo}-{cat}"
            s = int(rng.integers(0, 6))
            judge.append(Rating(sid, str(photo), "m", "quality", "j", float(s), s >= 3))
            for rater in ("ann", "bob"):
                h = float(np.clip(TRUE_MAP[s] + rng.normal(0, 0.3), 0, 5))
                humans.append(Rating(sid, str(photo), "m", "quality", rater, h, None))
    return humans, JudgeScores("openai/x", "judgments", judge, set(), [], "robust", "realedit-v1")


def test_a_known_monotone_map_is_recovered_and_its_error_is_cross_validated() -> None:
    humans, judge = _synthetic()
    cal = fit_calibration(humans, [judge], n_resamples=300)
    (jc,) = cal.judges
    assert jc.judge == "openai/x" and jc.rubric == "realedit-v1" and set(jc.perspectives) == {"quality"}
    m = jc.perspectives["quality"]
    assert m.x == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert np.allclose(m.y, [TRUE_MAP[int(k)] for k in m.x], atol=0.15)
    assert (m.n, m.n_photos, m.folds) == (120, 30, 5)
    # The raw judge score is off by up to a point and a half; the map (never fitted on the photo it maps)
    # is not.
    assert m.mae_calibrated.value < 0.35 < m.mae_raw.value
    assert m.improvement.low is not None and m.improvement.low > 0
    assert m.mae_raw.low <= m.mae_raw.value <= m.mae_raw.high
    assert cal.human_scale[0] >= 0 and cal.human_scale[1] <= 5


def test_too_few_photos_give_no_map_and_say_why() -> None:
    humans, judge = _synthetic(n_photos=3)
    (jc,) = fit_calibration(humans, [judge], n_resamples=50).judges
    assert jc.perspectives == {} and jc.notes == [
        "quality: not fitted, 12 edits on 3 photos (at least 10 edits on 5 photos needed)"]


def test_agree_fit_calibration_writes_the_file(tmp_path: Path) -> None:
    humans, judge = _synthetic(n_photos=10)
    human = tmp_path / "human.csv"
    human.write_text("sample_id,model,perspective,rater,score\n" + "".join(
        f"{r.sample_id},{r.model},{r.perspective},{r.rater},{r.score:.3f}\n" for r in humans))
    judged = tmp_path / "judge.csv"
    judged.write_text("sample_id,model,perspective,rater,score,verdict\n" + "".join(
        f"{r.sample_id},{r.model},{r.perspective},{r.rater},{r.score:g},{'yes' if r.verdict else 'no'}\n"
        for r in judge.ratings))
    out = tmp_path / "calibration.json"
    proc = realedit_cli("agree", "--human", str(human), "--judge-ratings", str(judged), "--out",
                        str(tmp_path / "agreement.json"), "--resamples", "50", "--fit-calibration", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote the calibration {out}" in proc.stderr
    cal = read_model(out, CalibrationFile)
    assert [j.judge for j in cal.judges] == ["j"] and "quality" in cal.judges[0].perspectives
    assert "isotonic" in cal.method and cal.realedit_version
