"""``judge_edits``: the library call under ``realedit judge``, and the outcome it returns (real openai SDK
against the local fake server)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from judge_fixtures import GPT
from judge_server import FakeJudgeServer, Reply

from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.judges.session import JudgeOutcome, judge_edits
from realedit_bench.outcome import EXIT_BAD_INPUT, EXIT_OK, EXIT_SOME_FAILED, Outcome


def test_the_minimal_call_judges_and_says_what_it_did(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    logs: list[str] = []
    out = judge_edits(images=edits, judge=GPT, data_dir=bench, limit=2, log=logs.append)
    assert isinstance(out, Outcome) and isinstance(out, JudgeOutcome) and out.exit_code == EXIT_OK
    assert (
        out.counts.edits == 2 and out.counts.judged == out.counts.calls_sent == 6 and out.counts.resumed == 0
    )
    assert out.summary is not None and out.summary.perspectives["quality"].n_valid == 2
    assert out.paths is not None and out.paths.rows.is_file() and out.paths.summary.is_file()
    text = out.describe()
    assert f"rows: {out.paths.rows}" in text and "this run: 6 judged, 0 resumed, 6 calls sent" in text
    assert out.warnings == [] and len(fake_server.calls()) == 6
    assert logs == []  # nothing missing in the selection, no batches

    again = judge_edits(images=edits, judge=GPT, data_dir=bench, limit=2, log=logs.append)
    assert (again.counts.resumed, again.counts.calls_sent, again.exit_code) == (6, 0, EXIT_OK)


def test_check_and_dry_run_send_nothing(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    checked = judge_edits(judge=GPT, check=True)
    assert checked.checked and checked.paths is None and checked.exit_code == EXIT_OK
    assert checked.describe() == f"judge {GPT}: name, key, rubric realedit-v1 and prices are in order"
    (edits / "1-add.png").write_bytes(b"")
    logs: list[str] = []
    dry = judge_edits(images=edits, judge=GPT, data_dir=bench, dry_run=True, log=logs.append)
    assert dry.dry_run is not None and dry.dry_run.calls == 39 and dry.dry_run.cost_usd is not None
    assert dry.summary is None and dry.exit_code == EXIT_OK and "Nothing was sent." in dry.describe()
    assert "1 edits could not be read (recorded as error rows, not judged):" in logs and dry.warnings == []
    assert fake_server.requests == [] and not (edits / "judgments").exists()


def test_stops_and_failures_are_exit_codes_not_exceptions(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    fake_server.push(Reply.ok('{"verdict": "yes", "score": 4}'), Reply.error(401))
    stopped = judge_edits(images=edits, judge=GPT, data_dir=bench, concurrency=1, log=lambda m: None)
    assert stopped.exit_code == EXIT_BAD_INPUT and "401" in (stopped.stopped or "")
    assert stopped.stopped.endswith("fix that, then rerun the same command to resume")
    assert stopped.summary is not None and stopped.counts.not_sent == 40  # 42 asks: 1 ok, the 401, the rest

    fake_server.reset()
    fake_server.responder = lambda req: Reply.error(400)
    failed = judge_edits(images=edits, judge=GPT, data_dir=bench, limit=1, perspectives=["quality"],
                         log=lambda m: None)
    assert failed.exit_code == EXIT_SOME_FAILED and failed.counts.failed == 1 and failed.stopped is None
    assert failed.warnings == [
        "1 judgments failed (status error, not scored); rerun the same command to retry them"
    ]


@pytest.mark.parametrize("kwargs, message", [
    ({"parse": "loose"}, "--parse must be robust or paper"),
    ({"perspectives": ["following", "style"]}, "unknown perspective 'style'"),
    ({"cache": Path("c.sqlite"), "no_cache": True}, "exclude each other"),
    ({"images": None}, "--images is required"),
    ({"judge": "nosuch/x"}, "unknown judge provider 'nosuch'"),
])
def test_bad_settings_raise_before_any_call(
    judge_setup, fake_server: FakeJudgeServer, kwargs: dict, message: str
) -> None:
    bench, edits = judge_setup
    with pytest.raises(RealEditError, match=message):
        judge_edits(**{"images": edits, "judge": GPT, "data_dir": bench, **kwargs})
    assert fake_server.requests == []


def test_max_cost_needs_a_price(judge_setup) -> None:
    bench, edits = judge_setup
    with pytest.raises(ConfigError, match="--max-cost needs a price"):
        judge_edits(images=edits, judge="openai-api/http://127.0.0.1:9/v1/m", data_dir=bench, max_cost=1.0)


def test_importing_the_library_call_imports_no_sdk() -> None:
    code = ("import sys; import realedit_bench.judges.session, realedit_bench.judges.backends; "
            "print([n for n in ('openai', 'anthropic', 'httpx2', 'torch') if n in sys.modules])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
