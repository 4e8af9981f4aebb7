"""Judge panels: three judges through the real openai, anthropic and google-genai SDKs against the local fake
server, each judged on its own, and the panel's exact counts (a refusing judge and a garbling one are left
out and counted, never guessed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from judge_fixtures import CLAUDE, GEMINI, GPT, judge, rows_of, summary_of
from judge_server import FakeJudgeServer, RecordedRequest, Reply

from realedit_bench.jsonio import read_model
from realedit_bench.judges.panel import load_panel
from realedit_bench.judges.panel_stats import JudgeRows, model_rank_agreement, panel_perspective
from realedit_bench.schema.judge import JudgmentRow
from realedit_bench.schema.trust import PanelJudge, PanelSummary

GPT_STEM = "openai_gpt-4o-2024-08-06__realedit-v1"
CLAUDE_STEM = "anthropic_claude-sonnet-4-6__realedit-v1"
GEMINI_STEM = "gemini_gemini-2.5-flash__realedit-v1"


def three_judges(req: RecordedRequest) -> Reply:
    """GPT says yes (4) to everything; Claude refuses everything; Gemini garbles photo 1 and says no (1) to
    photo 2."""
    if req.route == "/v1/messages":
        return Reply.refusal()
    if ":generateContent" in req.route:
        if "photo 1" in req.text():
            return Reply.ok("It looks fine to me, I suppose.")
        return Reply.ok('{"verdict": "no", "score": 1, "reason": "not done"}')
    return Reply.ok('{"verdict": "yes", "score": 4, "reason": "done"}')


def test_a_three_judge_panel_counts_every_left_out_answer_and_never_makes_up_a_verdict(
    judge_setup, fake_server: FakeJudgeServer
) -> None:
    fake_server.responder = three_judges
    code, out, _ = judge(judge_setup, "--judge", GPT, "--judge", CLAUDE, "--judge", GEMINI)
    assert code == 0, out  # refusals and invalid answers are the judges' final answers
    _, edits = judge_setup
    # Each judge on its own, with its own files.
    assert {r.status for r in rows_of(edits, GPT_STEM)} == {"ok"}
    assert {r.status for r in rows_of(edits, CLAUDE_STEM)} == {"refused"}
    gem = rows_of(edits, GEMINI_STEM)
    assert sorted(r.status for r in gem) == ["invalid"] * 21 + ["ok"] * 21
    assert summary_of(edits, GEMINI_STEM).perspectives["quality"].n_invalid == 7
    gem_calls = [c for c in fake_server.calls() if ":generateContent" in c.route]
    assert len(gem_calls) == 21 * 2 + 21  # every garbled reply re-asked once, then invalid

    panel = read_model(edits / "judgments" / "panel__panel.panel.json", PanelSummary)
    assert [j.judge for j in panel.judges] == [GPT, CLAUDE, GEMINI]
    for p in ("following", "preserving", "quality"):
        pp = panel.perspectives[p]
        assert (pp.n, pp.n_scored, pp.n_no_answer) == (14, 14, 0)
        # Photo 1: only GPT answered (yes): a majority. Photo 2: GPT yes, Gemini no: tied, no verdict.
        assert (pp.n_majority, pp.n_tied) == (7, 7)
        assert pp.left_out[CLAUDE].refused == 14 and pp.left_out[CLAUDE].invalid == 0
        assert pp.left_out[GEMINI].invalid == 7 and pp.left_out[GEMINI].refused == 0
        assert pp.left_out[GPT].model_dump() == {
            "invalid": 0,
            "refused": 0,
            "error": 0,
            "not_run": 0,
            "split": 0,
        }
        assert pp.accuracy.value == 1.0 and pp.accuracy.n == 7  # the 7 majority verdicts, all GPT's yes
        # Panel score: photo 1 edits 4 (GPT alone), photo 2 edits (4 + 1) / 2.
        assert pp.score_mean.value == pytest.approx((7 * 4 + 7 * 2.5) / 14)
        pair = next(x for x in pp.agreement.pairs if {x.a, x.b} == {GPT, GEMINI})
        assert pair.verdict_agreement.value == 0.0 and pair.verdict_agreement.n == 7
        # All yes against all no: no agreement beyond chance (scikit-learn's cohen_kappa_score gives 0 too).
        assert pair.cohen_kappa.value == 0.0 and "single source photo" in (pair.cohen_kappa.note or "")
        assert pair.score_spearman.value is None  # constant scores: undefined, never a number
        assert next(x for x in pp.agreement.pairs if {x.a, x.b} == {GPT, CLAUDE}).verdict_agreement.n == 0
    assert "panel: " in out and "panel__panel.panel.json" in out


def _rows(judge_name: str, verdicts: list[bool], scores: list[float], photos: list[str]) -> list[JudgmentRow]:
    return [
        JudgmentRow(
            sample_id=f"{p}-{i}",
            image_id=p,
            category="local",
            model="m",
            perspective="quality",
            status="ok",
            verdict=v,
            score=s,
            judge=judge_name,
            rubric="r",
            edited_sha256="e",
            finished_at="t",
        )
        for i, (v, s, p) in enumerate(zip(verdicts, scores, photos, strict=True))
    ]


def test_panel_agreement_matches_the_reference_libraries() -> None:
    import krippendorff
    from scipy.stats import spearmanr
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    photos = [str(i // 3) for i in range(30)]
    a_s = rng.integers(0, 6, 30).astype(float)
    b_s = np.clip(a_s + rng.integers(-1, 2, 30), 0, 5)
    a_v, b_v = list(a_s >= 3), list(b_s >= 2)
    meta = {n: PanelJudge(judge=n, rubric="r", stem=n, score_range=(0, 5), perspectives={}) for n in "ab"}
    judges = [
        JudgeRows(meta["a"], _rows("a", a_v, list(a_s), photos)),
        JudgeRows(meta["b"], _rows("b", b_v, list(b_s), photos)),
    ]
    samples = [(f"{p}-{i}", p) for i, p in enumerate(photos)]
    pp = panel_perspective(judges, samples, "quality", n_resamples=200)
    pair = pp.agreement.pairs[0]
    assert pair.cohen_kappa.value == pytest.approx(cohen_kappa_score(a_v, b_v))
    assert pair.score_spearman.value == pytest.approx(spearmanr(a_s, b_s).statistic)
    assert pair.cohen_kappa.low is not None and pair.cohen_kappa.low <= pair.cohen_kappa.value
    assert pp.agreement.score_alpha.value == pytest.approx(
        krippendorff.alpha(reliability_data=np.stack([a_s, b_s]), level_of_measurement="interval")
    )
    assert pp.agreement.verdict_alpha.value == pytest.approx(
        krippendorff.alpha(
            reliability_data=np.stack([a_v, b_v]).astype(float), level_of_measurement="nominal"
        )
    )
    assert pp.n_tied == sum(x != y for x, y in zip(a_v, b_v, strict=True))


def test_a_judge_on_another_scale_is_mapped_to_0_5_in_the_panel_score() -> None:
    photos = ["1", "1", "2", "2"]
    five = PanelJudge(judge="five", rubric="r", stem="f", score_range=(0, 5), perspectives={})
    quarter = PanelJudge(judge="quarter", rubric="e", stem="q", score_range=(0, 25), perspectives={})
    judges = [
        JudgeRows(five, _rows("five", [True] * 4, [5, 5, 0, 0], photos)),
        JudgeRows(quarter, _rows("quarter", [True] * 4, [25, 15, 0, 5], photos)),
    ]
    pp = panel_perspective(judges, [(f"{p}-{i}", p) for i, p in enumerate(photos)], "quality", n_resamples=50)
    assert pp.score_mean.value == pytest.approx(np.mean([(5 + 5) / 2, (5 + 3) / 2, 0, (0 + 1) / 2]))


def test_model_rank_agreement_is_kendall_between_the_judges_model_means() -> None:
    from scipy.stats import kendalltau

    photos = [str(i) for i in range(6)]
    a = {"m1": [(p, 1.0) for p in photos], "m2": [(p, 2.0) for p in photos], "m3": [(p, 3.0) for p in photos]}
    b = {"m1": [(p, 2.0) for p in photos], "m2": [(p, 1.0) for p in photos], "m3": [(p, 3.0) for p in photos]}
    (pair,) = model_rank_agreement({"a": a, "b": b}, "quality", n_resamples=100)
    assert pair.models == ["m1", "m2", "m3"]
    assert pair.kendall.value == pytest.approx(kendalltau([1, 2, 3], [2, 1, 3]).statistic)
    (alone,) = model_rank_agreement({"a": {"m1": a["m1"]}, "b": {"m1": b["m1"]}}, "quality", n_resamples=10)
    assert alone.kendall.value is None and "fewer than two models" in (alone.kendall.note or "")


def test_a_panel_file_names_its_judges_and_their_rubrics(tmp_path: Path) -> None:
    from realedit_bench.errors import ConfigError

    f = tmp_path / "panel.toml"
    f.write_text(
        'name = "trio"\n[[judge]]\nname = "openai/gpt-4o"\n[[judge]]\nname = "gemini/gemini-2.5-pro"\n'
        'rubric = "mine.toml"\n'
    )
    name, specs = load_panel(f, "realedit-v1")
    assert name == "trio" and [s.judge for s in specs] == ["openai/gpt-4o", "gemini/gemini-2.5-pro"]
    assert specs[0].rubric == "realedit-v1" and specs[1].rubric == tmp_path / "mine.toml"
    f.write_text('[[judge]]\nname = "openai/gpt-4o"\nweight = 2\n')
    with pytest.raises(ConfigError, match="judge 1 must hold name"):
        load_panel(f, "realedit-v1")


def test_every_judge_of_a_panel_is_checked_before_any_call(judge_setup, fake_server, monkeypatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, out, exc = judge(judge_setup, "--judge", GPT, "--judge", CLAUDE)
    assert code == 2 and "ANTHROPIC_API_KEY" in str(exc) and fake_server.requests == []


def test_a_dry_run_says_the_checks_are_not_in_its_estimate(judge_setup, fake_server) -> None:
    code, out, _ = judge(judge_setup, "--dry-run", "--canaries", "--drift-check")
    assert code == 0 and "Nothing was sent" in out and fake_server.requests == []
    assert "not in this estimate: --canaries (per judge: 2 samples of each edit type x 9 probe asks) and " \
        "--drift-check (per judge: up to 60 asks)" in " ".join(out.split())
    _, edits = judge_setup
    assert not (edits / "judgments" / "canaries").exists()


def test_a_panel_file_on_the_command_line(judge_setup, fake_server, tmp_path) -> None:
    f = tmp_path / "duo.toml"
    f.write_text(f'name = "duo"\n[[judge]]\nname = "{GPT}"\n[[judge]]\nname = "{CLAUDE}"\n')
    code, out, _ = judge(judge_setup, "--panel", str(f), judge_name=GPT)
    assert code == 2  # --panel names the judges: --judge too is an error
    from judge_fixtures import invoke

    bench, edits = judge_setup
    code, out, _ = invoke(
        "judge",
        "--images",
        str(edits),
        "--data-dir",
        str(bench),
        "--panel",
        str(f),
        "--limit",
        "2",
        "--perspective",
        "quality",
    )
    assert code == 0, out
    panel = json.loads((edits / "judgments" / "panel__duo.panel.json").read_text())
    assert panel["name"] == "duo" and list(panel["perspectives"]) == ["quality"]
    assert panel["perspectives"]["quality"]["n"] == 2
