"""One vocabulary across verbs: the old spellings of renamed flags are refused (nothing was released, so
there are no aliases), and the flags that share a name share a meaning."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import invoke
from judge_fixtures import GPT, STEM, rows_of


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["metrics", "--images", ".", "-m", "l1"], "No such option: -m"),  # -m is run's --model
        (["metrics", "--images", ".", "--bootstrap", "100"], "No such option: --bootstrap"),  # --resamples
        (["data", "fetch", "--dest", "d"], "No such option: --dest"),  # --data-dir
        (["data", "fetch", "magicbrush"],  # only paper-prompts, which is no benchmark, goes by name
         "data fetch names paper-prompts or --benchmark NAME, not 'magicbrush' (--benchmark magicbrush)"),
        (["reward", "train", "--output-dir", "o"], "No such option: --output-dir"),  # --out
        (["reward", "train", "-o", "o"], "No such option: -o"),
        (["reward", "annotate", "--output-dir", "o"], "No such option: --output-dir"),
        (["reward", "annotate", "-o", "o"], "No such option: -o"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_old_flag_names_are_refused(args: list[str], refused: str) -> None:
    res = invoke(*args)
    assert res.returncode == 2
    assert refused in res.stderr, res.stderr


def test_judge_samples_are_sample_ids_and_repeats_ask_again(judge_setup, fake_server) -> None:
    bench, edits = judge_setup
    common = ("judge", "--images", str(edits), "--data-dir", str(bench), "--judge", GPT)
    res = invoke(*common, "--samples", "2")  # a repeat count once; now an id that does not exist
    assert res.returncode == 2 and "unknown sample id '2'" in res.stderr, res.stderr
    res = invoke(*common, "--samples", "1-local,2-add", "--repeats", "2", "--perspective", "quality")
    assert res.returncode == 0, res.stderr
    rows = rows_of(edits)
    assert sorted((r.sample_id, r.repeat) for r in rows) == [
        ("1-local", 0), ("1-local", 1), ("2-add", 0), ("2-add", 1)]
    assert {r.perspective for r in rows} == {"quality"}


def test_the_same_flag_names_the_same_idea_in_every_verb() -> None:
    from typer.main import get_command

    from realedit_bench.cli.main import app

    verbs = get_command(app).commands

    def flags(*path: str) -> set[str]:
        cmd = verbs[path[0]]
        for name in path[1:]:
            cmd = cmd.commands[name]
        return {opt for p in cmd.params for opt in p.opts}

    for path in (("run",), ("judge",), ("metrics",), ("data", "fetch"), ("data", "verify"), ("data", "info")):
        assert {"--data-dir", "--benchmark"} <= flags(*path), path
    for path in (("run",), ("judge",), ("metrics",), ("report",), ("agree",), ("reward", "train"),
                 ("reward", "annotate")):
        assert "--out" in flags(*path), path
    assert {"--samples", "--limit", "--category"} <= flags("run") & flags("judge")
    assert "--repeats" in flags("judge") and "--metric" in flags("metrics")
    assert "--resamples" in flags("metrics") & flags("agree")
    assert "-m" in flags("run") and "-m" not in flags("metrics")


def test_judge_out_writes_elsewhere_and_report_and_agree_find_it(judge_setup, fake_server, tmp_path: Path):
    from realedit_bench.api import agree, build_report

    bench, edits = judge_setup
    out = tmp_path / "judged" / "edits"
    res = invoke("judge", "--images", str(edits), "--data-dir", str(bench), "--judge", GPT, "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert not (edits / "judgments").exists()  # the judged folder is left as it was (it may be read-only)
    assert len(rows_of(out)) == 14 * 3 and (out / "judgments" / f"{STEM}.summary.json").is_file()
    assert str(out / "judgments" / f"{STEM}.jsonl") in res.stdout
    site = build_report(tmp_path / "judged", out=tmp_path / "site", formats=["json"])
    assert site.n_runs == 1
    human = tmp_path / "human.csv"
    human.write_text("sample_id,model,perspective,rater,score\n"
                     + "".join(f"{i}-{c},edits,quality,ann,{(i + k) % 6}\n"
                               for i in (1, 2) for k, c in enumerate(("local", "add", "remove"))))
    report = agree([human], [out], resamples=100, out=tmp_path / "agreement.json").report
    assert [j.judge for j in report.judges] == [GPT] and report.judges[0].perspectives["quality"].n_items == 6
