"""One writer per output: ``run``, ``judge``, ``metrics``, ``reward train`` and ``data fetch`` hold what they
write; a second process says in one line who holds it and exits 2, or waits with ``--wait-for-lock``.
Nothing is written twice and no call is paid twice."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_runner import invoke
from judge_fixtures import SECRET, STEM, make_bench, make_edits
from judge_server import FakeJudgeServer
from lock_holder import LockHolder
from reward_fixtures import make_rewardedit_json, make_triplet_folder

from realedit_bench.jsonio import read_rows
from realedit_bench.schema.judge import JudgmentRow
from realedit_bench.schema.run import EditRow

EXE = str(Path(sys.executable).with_name("realedit"))


class Writer:
    """A verb's command line over fresh inputs under ``root``, where it holds its lock, and what it must
    not have written when it was refused."""

    def __init__(self, args: list[str], lock: Path, written: Callable[[], bool]) -> None:
        self.args, self.lock, self.written = args, lock, written


def _run(root: Path, tiny: Path) -> Writer:
    bench = make_bench(root / "bench", n_photos=1)
    return Writer(["run", "--model", "identity", "--data-dir", str(bench), "--out", str(root / "runs"),
                   "--run-id", "r"], root / "runs" / "r" / ".realedit-run.lock",
                  lambda: (root / "runs" / "r" / "edits.jsonl").exists())


def _judge(root: Path, tiny: Path) -> Writer:
    bench, edits = make_bench(root / "bench", n_photos=1), make_edits(root / "edits", n_photos=1)
    return Writer(["judge", "--images", str(edits), "--data-dir", str(bench), "--judge",
                   "openai-api/http://127.0.0.1:9/v1/m", "--no-cache"],
                  edits / "judgments" / ".openai-api_http_127.0.0.1_9_v1_m__realedit-v1.lock",
                  lambda: any((edits / "judgments").glob("*.jsonl")))


def _metrics(root: Path, tiny: Path) -> Writer:
    bench, edits = make_bench(root / "bench", n_photos=1), make_edits(root / "edits", n_photos=1)
    return Writer(["metrics", "--images", str(edits), "--data-dir", str(bench), "--metric", "l1", "--device",
                   "cpu"], edits / ".realedit-metrics.lock", lambda: (edits / "metrics.jsonl").exists())


def _fetch(root: Path, tiny: Path) -> Writer:
    from paths import REAL_EDIT

    return Writer(["data", "fetch", "--from", str(REAL_EDIT), "--data-dir", str(root / "d")],
                  root / "d" / ".realedit-fetch.lock", lambda: (root / "d" / "eval_instruct.json").exists())


def _train(root: Path, tiny: Path) -> Writer:
    make_triplet_folder(root / "triplets", n=2)
    make_rewardedit_json(root / "rewards.json", ["s0", "s1"])
    out = root / "out"
    return Writer(["reward", "train", "--pretrained", str(tiny), "--rewards", str(root / "rewards.json"),
                   "--triplets", str(root / "triplets"), "--out", str(out), "--max-steps", "1",
                   "--resolution", "32", "--batch-size", "1", "--gradient-accumulation-steps", "1",
                   "--report-to", "none", "--num-workers", "0"],
                  out / ".realedit-train.lock", lambda: (out / "training_settings.json").exists())


WRITERS = {"run": _run, "judge": _judge, "metrics": _metrics, "data fetch": _fetch, "reward train": _train}


@pytest.mark.parametrize("verb", WRITERS)
def test_a_second_writer_is_told_who_holds_the_output(
    verb: str, tmp_path: Path, tiny_pix2pix_dir: Path
) -> None:
    writer = WRITERS[verb](tmp_path, tiny_pix2pix_dir)
    with LockHolder(writer.lock.parent, writer.lock.name) as holder:
        res = invoke(*writer.args)
    assert res.returncode == 2, res.stderr
    (line,) = [x for x in res.stderr.splitlines() if x.startswith("error: ")]
    assert f"is writing {writer.lock.parent} (pid" in line, line
    assert f"(pid {holder.pid} on host " in line and "--wait-for-lock" in line, line
    assert not writer.written(), f"{verb} wrote its output while another process held it"


def test_wait_for_lock_waits_then_writes(tmp_path: Path, tiny_pix2pix_dir: Path) -> None:
    writer = _metrics(tmp_path, tiny_pix2pix_dir)
    with LockHolder(writer.lock.parent, writer.lock.name) as holder:
        threading.Timer(1.5, holder.release).start()
        t0 = time.monotonic()
        res = invoke(*writer.args, "--wait-for-lock")
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - t0 >= 1.4 and writer.written()
    said = res.stderr.replace("\n", "")  # the console wraps long lines at its width
    assert f"waiting: another realedit metrics is writing {writer.lock.parent} (pid {holder.pid}" in said


# -- two real processes ------------------------------------------------------------------------------------
def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([EXE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", **env})


def _wait_for(condition: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the first process never started writing"
        time.sleep(0.05)


@pytest.mark.parametrize("second", ["refused", "waits"])
def test_two_judges_on_one_run_pay_for_each_call_once(second: str, tmp_path: Path) -> None:
    bench, edits = make_bench(tmp_path / "bench", n_photos=1), make_edits(tmp_path / "edits", n_photos=1)
    rows = edits / "judgments" / f"{STEM}.jsonl"
    args = ["judge", "--images", str(edits), "--data-dir", str(bench), "--no-cache", "--concurrency", "2"]
    with FakeJudgeServer(latency=0.25) as server:
        env = {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": server.openai_base_url,
               "AZURE_OPENAI_ENDPOINT": "", "AZURE_OPENAI_API_KEY": ""}
        first = _start(args, env)
        _wait_for(lambda: rows.exists() and rows.stat().st_size > 0)
        other = _start([*args, *(["--wait-for-lock"] if second == "waits" else [])], env)
        out2, err2 = other.communicate(timeout=120)
        _, err1 = first.communicate(timeout=120)
        calls = len(server.calls())
    assert first.returncode == 0, err1
    if second == "refused":
        assert other.returncode == 2, err2
        assert f"another realedit judge with openai/gpt-4o-2024-08-06 is writing {edits / 'judgments'} " \
               f"(pid {first.pid} on host" in err2
    else:
        assert other.returncode == 0, err2
        assert "waiting: another realedit judge with openai/gpt-4o-2024-08-06 is writing" in err2
        assert "this run: 0 judged, 21 resumed, 0 calls sent" in out2.replace("\n", " ")
    assert calls == 21  # 7 edits x 3 perspectives: each asked (and paid) once
    judged = read_rows(rows, JudgmentRow)
    assert len(judged) == 21 and len({(r.sample_id, r.perspective) for r in judged}) == 21


def test_two_runs_on_one_run_directory_write_each_row_once(tmp_path: Path) -> None:
    from paths import REAL_EDIT

    edits = tmp_path / "runs" / "r" / "edits.jsonl"
    # The identity editor on the real photos: about a second per sample (PNG encoding), no model to load.
    args = ["run", "--model", "identity", "--limit", "12", "--data-dir", str(REAL_EDIT), "--out",
            str(tmp_path / "runs"), "--run-id", "r"]
    first = _start(args, {})
    _wait_for(lambda: edits.exists() and edits.stat().st_size > 0)
    refused, waiting = _start(args, {}), _start([*args, "--wait-for-lock"], {})
    _, err_refused = refused.communicate(timeout=120)
    _, err_waiting = waiting.communicate(timeout=300)
    _, err_first = first.communicate(timeout=300)
    assert first.returncode == 0, err_first
    assert refused.returncode == 2 and f"another realedit run is writing {tmp_path / 'runs' / 'r'} (pid " \
                                      f"{first.pid} on host" in err_refused, err_refused
    assert waiting.returncode == 0 and "waiting: another realedit run is writing" in err_waiting, err_waiting
    assert "12 ok, 0 failed, 0 not run, of 12 in the run (12 selected now, 12 of the run done before)" \
        in err_waiting
    rows = read_rows(edits, EditRow)
    assert len(rows) == 12 and len({r.sample_id for r in rows}) == 12  # no row written twice
