"""``realedit reward train`` guards: bad data found up front, no silent overwrite, clean resume and Ctrl-C."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from reward_fixtures import (
    _one_thread_and_fresh_accelerate,  # noqa: F401  (autouse fixture)
    make_rewardedit_json,
    make_triplet_folder,
)

from realedit_bench.errors import ConfigError, DataError, RealEditError
from realedit_bench.jsonio import JsonlAppender
from reward_model.data import (
    FolderTriplets,
    RewardRow,
    RewardTrainingSet,
    collate,
    load_examples,
)


def _data(root: Path, n: int = 4) -> Path:
    make_triplet_folder(root / "triplets", n=n)
    make_rewardedit_json(root / "rewards.json", [f"s{i}" for i in range(n)])
    return root


def _config(pipe: Path | str, data: Path, out: Path, **kw):
    from reward_model.train import TrainConfig

    base = dict(
        pretrained=str(pipe), output_dir=out, reward_files=[data / "rewards.json"],
        triplets=str(data / "triplets"),
        resolution=32, batch_size=2, gradient_accumulation_steps=1, max_steps=4, learning_rate=1e-3,
        checkpoint_every=2, num_workers=0, gradient_checkpointing=False, report_to="none", use_ema=False,
    )
    base.update(kw)
    return TrainConfig(**base)


def _reward_row(sid: str, source: str, edited: str, score: float = 3.0) -> RewardRow:
    return RewardRow(
        sample_id=sid, source=source, edited=edited, instruction="invert", status="ok", judge="openai/x",
        rubric="realedit-reward-v1", finished_at="2025-01-01T00:00:00+00:00",
        rewards={p: {"status": "ok", "score": score, "failure": "None"}
                 for p in ("following", "preserving", "quality")},
    )


def _log_steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]


# ------------------------------------------------------------------------------- data, up front


def test_missing_and_corrupt_images_are_found_when_the_data_loads(tmp_path: Path):
    data = _data(tmp_path)
    (data / "triplets" / "s1" / "edited.png").unlink()
    (data / "triplets" / "s3" / "source.png").write_bytes(b"not a png")
    with pytest.raises(DataError) as err:
        load_examples([data / "rewards.json"], str(data / "triplets"))
    msg = str(err.value)
    assert "2 training example(s)" in msg and "s1:" in msg and "s3:" in msg and "--allow-missing" in msg

    examples, [report] = load_examples([data / "rewards.json"], str(data / "triplets"), allow_missing=True)
    assert sorted(e.sample_id for e in examples) == ["s0", "s2"]
    assert (report.n_used, report.n_unreadable) == (2, 2)
    assert [u.split(":")[0] for u in report.unreadable_examples] == ["s1", "s3"]


def test_reward_jsonl_and_manifest_image_paths_are_checked_up_front(tmp_path: Path):
    make_triplet_folder(tmp_path / "t", n=2)
    with JsonlAppender(tmp_path / "rewards.jsonl") as w:
        w.append(_reward_row("s0", "t/s0/source.png", "t/s0/edited.png"))
        w.append(_reward_row("s1", "t/s1/source.png", "t/gone.png"))
    with pytest.raises(DataError, match=r"s1: image .*gone\.png does not exist"):
        load_examples([tmp_path / "rewards.jsonl"], None)

    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"id": "a", "source": "t/s0/source.png", "edited": "t/s0/edited.png", "instruction": "x"})
        + "\n"
        + json.dumps({"id": "b", "source": "t/nope.png", "edited": "t/s1/edited.png", "instruction": "x"})
        + "\n"
    )
    make_rewardedit_json(tmp_path / "r.json", ["a", "b"])
    with pytest.raises(DataError, match=r"b: image .*nope\.png does not exist"):
        load_examples([tmp_path / "r.json"], str(manifest))


def test_rewardedit_keys_scan_only_their_folders_and_report_broken_ones(tmp_path: Path):
    data = _data(tmp_path, n=3)
    broken = data / "triplets" / "unrelated"
    broken.mkdir()
    (broken / "instruction.txt").write_text("x")  # no images: a full scan refuses the whole folder
    with pytest.raises(DataError, match="lacks source"):
        FolderTriplets(data / "triplets")
    examples, _ = load_examples([data / "rewards.json"], str(data / "triplets"))
    assert [e.sample_id for e in examples] == ["s0", "s1", "s2"]
    # a broken folder that a reward key names is one of the bad examples, not an abort mid-scan
    make_rewardedit_json(data / "with_broken.json", ["s0", "unrelated"])
    with pytest.raises(DataError, match=r"1 training example\(s\).*unrelated:.*lacks source"):
        load_examples([data / "with_broken.json"], str(data / "triplets"))
    keyed = FolderTriplets(data / "triplets", keys=["s0", "../triplets", "missing"])
    assert keyed.ids() == ["s0"]


@pytest.mark.parametrize(("score", "message"), [(9.0, "outside 0-5"), (float("nan"), "from 0 to 5")])
def test_reward_jsonl_scores_are_range_checked(tmp_path: Path, score: float, message: str):
    make_triplet_folder(tmp_path / "t", n=1)
    with JsonlAppender(tmp_path / "rewards.jsonl") as w:
        w.append(_reward_row("s0", "t/s0/source.png", "t/s0/edited.png", score=score))
    with pytest.raises(DataError, match=message):
        load_examples([tmp_path / "rewards.jsonl"], None)


def test_an_image_that_breaks_after_loading_is_handed_over_as_data(tmp_path: Path):
    data = _data(tmp_path, n=2)
    examples, _ = load_examples([data / "rewards.json"], str(data / "triplets"))
    (data / "triplets" / "s1" / "source.png").write_bytes(b"garbage")
    ds = RewardTrainingSet(examples, 32, seed=0)
    good, bad = ds[(0, 0)], ds[(1, 1)]
    assert "error" not in good and "s1" in bad["error"] and "not a readable image" in bad["error"]
    assert collate([good, bad]) == {"error": [bad["error"]]}


# ------------------------------------------------------------------------------------- training


def test_mixed_precision_on_cpu_is_refused_before_loading(tmp_path: Path):
    from reward_model.train import check_config

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    data = _data(tmp_path)
    for mp in ("fp16", "bf16"):
        with pytest.raises(ConfigError, match="needs a CUDA GPU"):
            check_config(_config("nobody/some-hub-model", data, tmp_path / "o", mixed_precision=mp))


def test_a_finished_run_without_checkpoints_is_never_overwritten(tiny_pix2pix_dir: Path, tmp_path: Path):
    from reward_model.train import train

    data = _data(tmp_path)
    out = tmp_path / "run"
    train(_config(tiny_pix2pix_dir, data, out, max_steps=1, checkpoint_every=0))
    before = {p: p.read_bytes() for p in (out / "training_settings.json", out / "train_log.jsonl")}
    weights = sorted((out / "pipeline").rglob("*.safetensors"))[0]
    weights_before = weights.read_bytes()
    with pytest.raises(ConfigError, match="already holds a training run.*--resume latest.*--out"):
        train(_config(tiny_pix2pix_dir, data, out, max_steps=1, checkpoint_every=0, seed=7))
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(_config(tiny_pix2pix_dir, data, out, max_steps=2, checkpoint_every=0, resume="latest"))
    assert {p: p.read_bytes() for p in before} == before
    assert weights.read_bytes() == weights_before


def test_a_start_that_saved_nothing_restarts_with_any_settings(tiny_pix2pix_dir: Path, tmp_path: Path):
    # Out of memory (or a NaN) before the first checkpoint, then a smaller --batch-size: nothing of the
    # first start can be lost or mixed in, so the folder is simply reused.
    from reward_model.train import SETTINGS_FILE, check_output_dir

    data = _data(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    cfg = _config(tiny_pix2pix_dir, data, out)
    # what a run killed before its first checkpoint leaves
    (out / SETTINGS_FILE).write_text(json.dumps({"config": cfg.model_dump(mode="json"), "resolved": {}}))
    assert check_output_dir(_config(tiny_pix2pix_dir, data, out, resume="latest")) == (None, None)
    assert check_output_dir(_config(tiny_pix2pix_dir, data, out, seed=3, batch_size=1)) == (None, None)
    # Once a checkpoint exists, the same folder is a run to resume, and a plain start is refused.
    (out / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    (out / "checkpoints" / "checkpoint-1" / "trainer_state.json").write_text("{}")
    with pytest.raises(ConfigError, match="already holds a training run"):
        check_output_dir(_config(tiny_pix2pix_dir, data, out, seed=3))


def _interrupt_at_call(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    from reward_model.train import Trainer

    real, calls = Trainer.loss, []

    def loss(self, model, x):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(self, model, x)

    monkeypatch.setattr(Trainer, "loss", loss)


@pytest.fixture(scope="module")
def interrupted(tiny_pix2pix_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A CLI run given --pretrained as a relative path, Ctrl-C during step 4 (checkpoint at 2)."""
    from typer.testing import CliRunner

    from realedit_bench.cli.main import app

    root = tmp_path_factory.mktemp("interrupt")
    data = _data(root)
    out = root / "run"
    mp = pytest.MonkeyPatch()
    mp.chdir(tiny_pix2pix_dir.parent)
    try:
        _interrupt_at_call(mp, 4)
        result = CliRunner().invoke(app, [
            "reward", "train", "--pretrained", tiny_pix2pix_dir.name, "--rewards", str(data / "rewards.json"),
            "--triplets", str(data / "triplets"), "--out", str(out), "--resolution", "32",
            "--batch-size", "2",
            "--gradient-accumulation-steps", "1", "--num-workers", "0", "--no-gradient-checkpointing",
            "--report-to", "none", "--max-steps", "6", "--checkpoint-every", "2", "--no-ema", "--lr", "1e-3",
        ])
    finally:
        mp.undo()
    return {"result": result, "out": out, "data": data}


def test_ctrl_c_says_where_training_stopped_and_exits_130(interrupted):
    result = interrupted["result"]
    assert result.exit_code == 130, result.output
    assert "interrupted at step 3; last checkpoint 2; rerun with --resume latest" in result.output
    assert _log_steps(interrupted["out"]) == [1, 2, 3]


def test_resume_keeps_each_step_once_in_the_log_and_accepts_the_same_folder_written_otherwise(
    interrupted, tiny_pix2pix_dir: Path
):
    from reward_model.train import train

    out, data = interrupted["out"], interrupted["data"]
    # the same local folder as an absolute path with a trailing slash (the first run said "tiny/pipe"
    # relative)
    res = train(_config(str(tiny_pix2pix_dir) + "/", data, out, max_steps=4, resume="latest"))
    assert (res.start_step, res.final_step) == (2, 4)
    assert _log_steps(out) == [1, 2, 3, 4]


def test_resume_from_another_runs_checkpoint_is_checked_against_that_run(
    interrupted, tiny_pix2pix_dir: Path, tmp_path: Path
):
    from reward_model.train import train

    ckpt = interrupted["out"] / "checkpoints" / "checkpoint-2"
    with pytest.raises(ConfigError, match=r"variant: 'released' -> 'paper'"):
        train(_config(tiny_pix2pix_dir, interrupted["data"], tmp_path / "new", resume=str(ckpt),
                      variant="paper"))
    # a checkpoint that does not carry its run's settings cannot be checked: refused, even beside the
    # run folder's settings, and nothing is written
    old = tmp_path / "old" / "checkpoints" / "checkpoint-2"
    shutil.copytree(ckpt, old)
    shutil.copy(interrupted["out"] / "training_settings.json", old.parent.parent / "training_settings.json")
    state = json.loads((old / "trainer_state.json").read_text())
    del state["run"]
    (old / "trainer_state.json").write_text(json.dumps(state))
    with pytest.raises(ConfigError, match=r"trainer_state\.json records no run settings.*new --out"):
        train(_config(tiny_pix2pix_dir, interrupted["data"], tmp_path / "new2", resume=str(old)))
    assert not (tmp_path / "new2" / "training_settings.json").exists()
    with pytest.raises(ConfigError, match="not a complete checkpoint"):
        train(_config(tiny_pix2pix_dir, interrupted["data"], tmp_path / "new3", resume=str(old.parent)))


def test_a_non_finite_loss_is_a_user_error_that_names_the_data(
    tiny_pix2pix_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from reward_model.train import Trainer, train

    real = Trainer.loss
    monkeypatch.setattr(Trainer, "loss", lambda self, model, x: real(self, model, x) * float("nan"))
    with pytest.raises(RealEditError, match="loss is nan at step 1: check the reward data"):
        train(_config(tiny_pix2pix_dir, _data(tmp_path), tmp_path / "o", max_steps=2))


def test_an_image_broken_during_training_stops_with_one_data_error(
    tiny_pix2pix_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import reward_model.data as data_mod
    from reward_model.train import train

    data = _data(tmp_path)
    real = data_mod.load_image

    def load_image(path, *a, **kw):
        if Path(path).parent.name == "s2":
            raise DataError(f"image {path} is not a readable image (OSError)")
        return real(path, *a, **kw)

    monkeypatch.setattr(data_mod, "load_image", load_image)  # after the up-front check, as if changed on disk
    message = r"at step \d+: sample 's2': image .* not a readable image.*--resume latest"
    with pytest.raises(DataError, match=message):
        train(_config(tiny_pix2pix_dir, data, tmp_path / "o", max_steps=4))


def test_two_trainings_never_write_one_folder(tiny_pix2pix_dir: Path, tmp_path: Path):
    from realedit_bench.locks import folder_lock
    from reward_model.train import LOCK_NAME, train

    data = _data(tmp_path)
    out = tmp_path / "run"
    # A start that saved nothing may be restarted, but not while it is still running.
    with folder_lock(out, LOCK_NAME, "held by the test"):
        with pytest.raises(ConfigError, match="another realedit reward train is writing"):
            train(_config(tiny_pix2pix_dir, data, out, max_steps=1, checkpoint_every=0))
    assert not (out / "training_settings.json").exists()
