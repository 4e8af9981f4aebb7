"""The headline follows the protocol: a run judged with ``--protocol paper`` is shown with the authors'
figures (their dropping rule, pooled as they pooled), realedit's robust figures and the dropped count beside
them; a run judged under our rubric keeps ours. The page says which rule made each number."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from judge_fixtures import judge_env, make_bench, set_env
from judge_server import FakeJudgeServer, Reply
from paths import PAPER_PROMPTS
from report_fixtures import measured_rows, page_soup

from realedit_bench.api import build_report, fetch_data, run_model
from realedit_bench.judges.session import judge_edits
from realedit_bench.schema.base import PERSPECTIVES

KEYS = {"following": "following", "preserving": "consistent", "quality": "clear"}


def _replies(n_samples: int) -> dict[int, dict[str, str]]:
    """Per sample (benchmark order) and perspective, the reply in the authors' format. Sample 0 answers
    following with an integer score, which their regex cannot read: their rule abandons the sample there."""
    out = {}
    for i in range(n_samples):
        verdict = "yes" if i % 3 else "no"
        out[i] = {p: f"{{'{KEYS[p]}': '{verdict}', 'score': {1.5 + (i + k) % 4:.1f}}}"
                  for k, p in enumerate(PERSPECTIVES)}
    out[0]["following"] = "{'following': 'yes', 'score': 5}"
    return out


@pytest.fixture
def judged_runs(tmp_path: Path, monkeypatch) -> tuple:
    """Two identity runs of one benchmark (2 photos x 7 edits): one judged with --protocol paper, one under
    realedit-v1 (replies in our format)."""
    bench = make_bench(tmp_path / "bench", n_photos=2)
    runs = tmp_path / "runs"
    paper = run_model("identity", data_dir=bench, out=runs, run_id="paper").run_dir
    ours = run_model("identity", data_dir=bench, out=runs, run_id="ours").run_dir
    replies = _replies(14)
    with FakeJudgeServer() as server:
        set_env(monkeypatch, judge_env(server, tmp_path / "cache"))
        fetch_data("paper-prompts", from_dir=PAPER_PROMPTS)
        server.push(*(Reply.ok(replies[i][p]) for i in range(14) for p in PERSPECTIVES))
        # No cache: the identity edits of a photo are alike, so its quality asks would be one request.
        out = judge_edits(images=paper, protocol="paper", concurrency=1, no_cache=True, log=lambda m: None)
        server.responder = lambda req: Reply.ok('{"verdict": "yes", "score": 4, "reason": "fine"}')
        judge_edits(images=ours, concurrency=1, log=lambda m: None)
    site = build_report(runs, out=tmp_path / "site")
    return out.summary, replies, page_soup(site.index)


def _authors_figures(replies: dict[int, dict[str, str]]) -> tuple[dict[str, tuple[float, float]], int]:
    """Their script's numbers, worked out here from the scripted replies: the sample whose following score
    fails keeps its following 'yes' and nothing else."""
    yes: dict[str, list[float]] = {p: [] for p in PERSPECTIVES}
    scores: dict[str, list[float]] = {p: [] for p in PERSPECTIVES}
    for i, by_p in replies.items():
        if i == 0:
            yes["following"].append(1.0)
            continue
        for p in PERSPECTIVES:
            yes[p].append(1.0 if "'yes'" in by_p[p] else 0.0)
            scores[p].append(float(by_p[p].rsplit(": ", 1)[1].rstrip("}")))
    return {p: (statistics.fmean(yes[p]), statistics.fmean(scores[p])) for p in PERSPECTIVES}, 1


def test_the_headline_of_a_paper_run_is_the_authors_figures(judged_runs) -> None:
    summary, replies, page = judged_runs
    expected, dropped = _authors_figures(replies)
    assert summary.paper_parser_dropped == dropped
    for p, (acc, score) in expected.items():
        assert summary.paper_figures[p]["accuracy"] == pytest.approx(acc)
        assert summary.paper_figures[p]["score_mean"] == pytest.approx(score)
    tr = measured_rows(page)["paper"]
    for p in PERSPECTIVES:
        acc = tr.select_one(f'td.acc[data-perspective="{p}"]')
        score = tr.select_one(f'td.score[data-perspective="{p}"]')
        # The headline is theirs (equal to paper_figures), with its interval; ours is beside it.
        assert float(acc["data-value"]) == pytest.approx(summary.paper_figures[p]["accuracy"], abs=1e-6)
        assert float(score["data-value"]) == pytest.approx(summary.paper_figures[p]["score_mean"], abs=1e-6)
        robust = summary.perspectives[p]
        assert acc.select_one(".robust").get_text() == f"robust {100 * robust.accuracy:.1f}%"
        assert score.select_one(".robust").get_text() == f"robust {robust.score_mean:.2f}"
        assert acc.select_one(".ci") is not None and score.select_one(".ci") is not None
    # Their rule and ours differ here: the abandoned sample still counts for our preserving and quality.
    assert summary.perspectives["preserving"].n_valid == 14 and summary.paper_figures["preserving"]["n"] == 13
    assert summary.perspectives["following"].n_invalid == 1
    overall = statistics.fmean(summary.paper_figures[p]["score_mean"] for p in PERSPECTIVES)
    assert float(tr.select_one("td.overall")["data-value"]) == pytest.approx(overall, abs=1e-6)
    assert "1 dropped by the authors' rule" in tr.select_one("td.valid").get_text()


def test_the_page_says_which_rule_made_each_number(judged_runs) -> None:
    _summary, _replies, page = judged_runs
    tables = page.select("table.leaderboard")
    assert len(tables) == 2  # never ranked together
    rules = {p["data-rule"]: p.get_text(" ", strip=True) for p in page.select("p.note.rule")}
    assert set(rules) == {"paper", "realedit"}
    assert "the authors' rule (judged with --protocol paper)" in rules["paper"]
    assert "means over the valid judgments" in rules["realedit"]
    ours = measured_rows(page)["ours"]
    assert ours.select(".robust") == [] and "dropped" not in ours.select_one("td.valid").get_text()
    assert float(ours.select_one('td.score[data-perspective="quality"]')["data-value"]) == 4.0
    [badge] = page.select(".badge.rule-paper")  # the paper table's title says so
    assert badge.get_text() == "the authors' protocol" and badge.find_parent("h3") is not None
