"""``realedit reward train``: data joins, the deterministic data stream, and training on tiny models (CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from reward_fixtures import (
    GOOD_ENTRY,
    _one_thread_and_fresh_accelerate,  # noqa: F401  (autouse fixture)
    make_rewardedit_json,
    make_triplet_folder,
)

from realedit_bench.errors import ConfigError, DataError, RealEditError
from reward_model.data import (
    DrawSampler,
    FolderTriplets,
    HFTriplets,
    ManifestTriplets,
    RewardRow,
    examples_from_jsonl,
    join_rewardedit,
    load_examples,
    parse_rewardedit,
    prepare_pair,
)

# ----------------------------------------------------------------------------------------- fixtures



@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four triplets and their RewardEdit-20K style rewards."""
    root = tmp_path_factory.mktemp("reward_data")
    make_triplet_folder(root / "triplets", n=4)
    make_rewardedit_json(root / "rewards.json", [f"s{i}" for i in range(4)])
    return root


def _config(pipe: Path, data: Path, out: Path, **kw):
    from reward_model.train import TrainConfig

    base = dict(
        pretrained=str(pipe), output_dir=out, reward_files=[data / "rewards.json"],
        triplets=str(data / "triplets"),
        resolution=32, batch_size=2, gradient_accumulation_steps=1, max_steps=4, learning_rate=1e-3,
        checkpoint_every=2, num_workers=0, gradient_checkpointing=False, report_to="none",
    )
    base.update(kw)
    return TrainConfig(**base)


def _weights(pipeline_dir: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a saved reward pipeline's U-Net and reward modules, under RewardUNet's names."""
    from reward_model.mrc import RewardUNet

    return {k: v.clone() for k, v in RewardUNet.from_pretrained(pipeline_dir).state_dict().items()}


# ------------------------------------------------------------------------------------ reward files

BAD_REWARDS = [
    ([1, 2], "must be an object"),
    ({}, "holds no samples"),
    ({"a": GOOD_ENTRY[:2]}, "expected a list of 3 entries"),
    ({"a": "5,5,5"}, "expected a list of 3 entries"),
    ({"a": [GOOD_ENTRY[0], GOOD_ENTRY[1], {"Negative Prompt": "x"}]}, "entry 2 (quality) lacks 'Score'"),
    ({"a": [GOOD_ENTRY[0], {"Score": 4}, GOOD_ENTRY[2]]}, "entry 1 (preserving) lacks 'Negative Prompt'"),
    ({"a": [{"Score": 7, "Negative Prompt": ""}, GOOD_ENTRY[1], GOOD_ENTRY[2]]}, "outside 0-5"),
    ({"a": [{"Score": True, "Negative Prompt": ""}, GOOD_ENTRY[1], GOOD_ENTRY[2]]}, "must be a number"),
    ({"a": [{"Score": "5", "Negative Prompt": ""}, GOOD_ENTRY[1], GOOD_ENTRY[2]]}, "must be a number"),
    ({"a": [GOOD_ENTRY[0], GOOD_ENTRY[1], {"Score": 3, "Negative Prompt": 3}]}, "must be a string"),
    ({"a": [GOOD_ENTRY[0], GOOD_ENTRY[1], "bad"]}, "entry 2 must be an object"),
]


@pytest.mark.parametrize(("data", "message"), BAD_REWARDS)
def test_malformed_rewardedit_json_is_refused_with_a_clear_error(data, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        parse_rewardedit(data, Path("r.json"))
    assert "r.json" in str(info.value)


def test_rewardedit_json_parses_in_perspective_order(tmp_path: Path):
    labels = parse_rewardedit({"x": GOOD_ENTRY}, Path("r.json"))
    assert labels["x"].scores == (5.0, 4.0, 3.0)
    assert labels["x"].texts == ("None", "the sky changed colour", "blurry edges")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_examples([tmp_path / "bad.json"], str(tmp_path))


def test_join_reports_missing_keys_and_honours_allow_missing(data_dir: Path, tmp_path: Path):
    triplets = FolderTriplets(data_dir / "triplets")
    labels = parse_rewardedit({"s0": GOOD_ENTRY, "s1": GOOD_ENTRY, "zz": GOOD_ENTRY}, Path("r.json"))
    with pytest.raises(DataError, match="1 of 3 reward keys.*'zz'.*--allow-missing"):
        join_rewardedit(labels, triplets)
    examples, report = join_rewardedit(labels, triplets, allow_missing=True)
    assert [e.sample_id for e in examples] == ["s0", "s1"]
    assert (report.n_used, report.n_missing) == (2, 1)
    with pytest.raises(DataError, match="none of the 1 reward keys"):
        join_rewardedit(parse_rewardedit({"q": GOOD_ENTRY}, Path("r.json")), triplets)
    with pytest.raises(ConfigError, match="pass --triplets"):
        load_examples([data_dir / "rewards.json"], None)
    with pytest.raises(ConfigError, match=r"expected a \.json"):
        load_examples([tmp_path / "r.csv"], None)


def test_triplet_layouts_folder_ip2p_release_manifest_and_hf_rows(tmp_path: Path):
    img = Image.new("RGB", (20, 16), (10, 20, 30))
    ours = tmp_path / "ours" / "a"
    ours.mkdir(parents=True)
    img.save(ours / "source.jpg")
    img.save(ours / "edited.png")
    (ours / "instruction.txt").write_text("  add a hat \n")
    ip2p = tmp_path / "ours" / "0000123"
    ip2p.mkdir()
    for seed in (99, 7):
        img.save(ip2p / f"{seed}_0.jpg")
        Image.new("RGB", (20, 16), (seed, 0, 0)).save(ip2p / f"{seed}_1.jpg")
    prompt = {"input": "a cat", "edit": "make it red", "output": "a red cat"}
    (ip2p / "prompt.json").write_text(json.dumps(prompt))
    folder = FolderTriplets(tmp_path / "ours")
    assert folder.ids() == ["0000123", "a"]
    assert folder.get("a").instruction == "add a hat"
    got = folder.get("0000123")
    assert got.instruction == "make it red"
    assert got.edited.getpixel((0, 0))[0] in range(5, 10)  # the smallest seed (7) is the stable choice
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "b").mkdir()
    (tmp_path / "broken" / "b" / "instruction.txt").write_text("x")
    with pytest.raises(DataError, match="lacks source"):
        FolderTriplets(tmp_path / "broken")

    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "m1", "source": "ours/a/source.jpg", "edited": "ours/a/edited.png",
                                    "instruction": "add a hat"}) + "\n")
    assert ManifestTriplets(manifest).get("m1").source.size == (20, 16)
    manifest.write_text(json.dumps({"id": "m1", "source": "x.png"}) + "\n")
    with pytest.raises(DataError, match="line 1: lacks string field"):
        ManifestTriplets(manifest)

    rows = [{"original_image": img, "edited_image": img, "edit_prompt": "turn it blue",
             "original_prompt": "p"}]
    hf = HFTriplets(rows)
    assert hf.ids() == ["0"] and hf.get("0").instruction == "turn it blue"


def test_reward_jsonl_uses_only_fully_scored_rows(tmp_path: Path):
    from realedit_bench.jsonio import JsonlAppender

    make_triplet_folder(tmp_path / "t", n=2)

    def row(sid: str, quality_status: str) -> RewardRow:
        rewards = {
            p: {"status": "ok", "score": s, "failure": f}
            for p, s, f in (
                ("following", 5, "None"), ("preserving", 2, "the dog vanished"), ("quality", 4, "None")
            )
        }
        rewards["quality"]["status"] = quality_status
        if quality_status != "ok":
            rewards["quality"]["score"] = None
        return RewardRow(
            sample_id=sid, source=f"t/{sid}/source.png", edited=f"t/{sid}/edited.png", instruction="invert",
            status="ok" if quality_status == "ok" else "incomplete", rewards=rewards, judge="openai/x",
            rubric="realedit-reward-v1", finished_at="2025-01-01T00:00:00+00:00",
        )

    with JsonlAppender(tmp_path / "r.jsonl") as app:
        app.append(row("s0", "ok"))
        app.append(row("s1", "invalid"))
    examples, reports = load_examples([tmp_path / "r.jsonl"], None)
    assert [e.sample_id for e in examples] == ["s0"]
    assert reports[0].n_incomplete == 1
    assert examples[0].label.scores == (5.0, 2.0, 4.0)
    assert examples[0].label.texts[1] == "the dog vanished"
    assert examples[0].triplets.get("s0").source.size == (48, 40)
    with pytest.raises(DataError, match="no row has all three"):
        examples_from_jsonl([row("s1", "error")], tmp_path)


# --------------------------------------------------------------------------------- the data stream


def test_draw_sampler_shards_cover_every_draw_once_and_resume_replays_the_suffix():
    world, bs = 3, 2
    shards = [list(DrawSampler(5, 7, 0, 36, batch_size=bs, rank=r, world=world)) for r in range(world)]
    draws = sorted(k for s in shards for k, _ in s)
    assert draws == list(range(36))
    full = dict(kv for s in shards for kv in s)
    # each epoch of 5 draws is a permutation of the 5 examples
    assert sorted(full[k] for k in range(5)) == list(range(5))
    resumed = list(DrawSampler(5, 7, 12, 36, batch_size=bs, rank=1, world=world))
    assert resumed == [kv for kv in shards[1] if kv[0] >= 12]
    other_seed = [i for _, i in DrawSampler(5, 8, 0, 10)]
    assert other_seed != [full[k] for k in range(10)]


def test_prepare_pair_crops_and_flips_both_images_identically():
    src = Image.new("RGB", (64, 40))
    src.paste((255, 0, 0), (0, 0, 8, 40))  # a red stripe on the left
    gen_values = set()
    for s in range(8):
        a, b = prepare_pair(src, src.copy(), 32, generator=torch.Generator().manual_seed(s))
        assert a.shape == (3, 32, 32) and torch.equal(a, b)
        assert a.min() >= -1 and a.max() <= 1
        gen_values.add(a.sum().item())
    assert len(gen_values) > 1  # crops / flips differ across draws


# -------------------------------------------------------------------------------------- training


def test_thirty_steps_on_a_tiny_overfit_set_lower_the_loss(
    tiny_pix2pix_dir: Path, data_dir: Path, tmp_path: Path
):
    from reward_model.train import LOG_FILE, SETTINGS_FILE, train

    out = tmp_path / "run"
    cfg = _config(tiny_pix2pix_dir, data_dir, out, max_steps=30, checkpoint_every=0,
                  gradient_checkpointing=True,
                  report_to="tensorboard")
    result = train(cfg)
    losses = result.losses
    assert len(losses) == 30 and result.final_step == 30
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.6 * first, (first, last)
    logged = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    assert [r["step"] for r in logged] == list(range(1, 31))
    assert [r["loss"] for r in logged] == pytest.approx(losses)
    assert all(r["lr"] == pytest.approx(1e-3) for r in logged)  # constant schedule, no warm-up
    assert list((out / "logs").rglob("events.out.tfevents.*")), "TensorBoard events missing"
    settings = json.loads((out / SETTINGS_FILE).read_text())
    assert settings["config"]["learning_rate"] == 1e-3 and settings["config"]["reward_inputs"] == "both"
    assert settings["resolved"]["n_examples"] == 4 and settings["resolved"]["total_batch_size"] == 2
    assert settings["data"][0]["n_used"] == 4
    assert (result.pipeline_dir / "reward" / "config.json").is_file()


@pytest.fixture(scope="module")
def resume_runs(tiny_pix2pix_dir: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Run A: 4 steps straight. Run B: 2 steps, stopped, then resumed from the latest checkpoint to 4."""
    from accelerate.state import AcceleratorState, GradientState

    from reward_model.train import train

    root = tmp_path_factory.mktemp("resume")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = {}
        for name, steps, resume in (("a", 4, None), ("b1", 2, None), ("b2", 4, "latest")):
            AcceleratorState._reset_state(True)
            GradientState._reset_state()
            out = root / ("a" if name == "a" else "b")
            results[name] = train(_config(tiny_pix2pix_dir, data_dir, out, max_steps=steps, resume=resume))
    finally:
        torch.set_num_threads(threads)
    return results


def test_resume_continues_from_the_saved_step_with_identical_state(resume_runs):
    a, b1, b2 = resume_runs["a"], resume_runs["b1"], resume_runs["b2"]
    assert (b2.start_step, b2.final_step) == (2, 4)
    assert b1.losses == a.losses[:2]
    assert b2.losses == a.losses[2:]  # bit-identical: same data, noise, optimizer and EMA state
    wa, wb = _weights(a.pipeline_dir), _weights(b2.pipeline_dir)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    settings = json.loads((b2.output_dir / "training_settings.json").read_text())
    assert [h["start_step"] for h in settings["history"]] == [0, 2]
    assert settings["history"][1]["resumed_from"].endswith("checkpoint-2")


def test_ema_weights_are_the_ones_saved(resume_runs):
    from safetensors.torch import load_file

    a = resume_runs["a"]
    ckpt = a.output_dir / "checkpoints" / "checkpoint-4"
    ema = load_file(str(ckpt / "ema_unet.safetensors"))
    raw = load_file(str(ckpt / "model.safetensors"))
    saved = _weights(a.pipeline_dir)
    assert set(ema) == set(saved)
    assert all(torch.equal(saved[k], ema[k]) for k in ema)
    assert any(not torch.equal(raw[k], ema[k]) for k in ema)  # the EMA really differs from the raw weights
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["ema_optimization_step"] == 4


def test_the_trained_pipeline_runs_through_the_adapter(resume_runs):
    from realedit_bench.registry import ADAPTERS

    model = ADAPTERS.get("reward-instruct-pix2pix")(
        weights=str(resume_runs["a"].pipeline_dir), steps=2, resolution=64, device="cpu"
    )
    src = Image.new("RGB", (40, 32), (120, 60, 30))
    one, two = model.edit(src, "invert the colours", seed=1), model.edit(src, "invert the colours", seed=1)
    assert one.size == two.size and one.tobytes() == two.tobytes()
    low = ADAPTERS.get("reward-instruct-pix2pix")(
        weights=str(resume_runs["a"].pipeline_dir), steps=2, resolution=64, device="cpu",
        reward_scores="0,0,0",
    ).edit(src, "invert the colours", seed=1)
    assert low.tobytes() != one.tobytes()  # the trained reward condition reaches the output


def test_resume_refuses_changed_settings_and_a_new_run_refuses_an_old_folder(
    resume_runs, tiny_pix2pix_dir: Path, data_dir: Path
):
    from reward_model.train import train

    out = resume_runs["a"].output_dir
    with pytest.raises(ConfigError, match="batch_size: 2 -> 1"):
        train(_config(tiny_pix2pix_dir, data_dir, out, max_steps=6, resume="latest", batch_size=1))
    with pytest.raises(ConfigError, match="--resume latest"):
        train(_config(tiny_pix2pix_dir, data_dir, out, max_steps=6))
    done = train(_config(tiny_pix2pix_dir, data_dir, out, max_steps=4, resume="latest"))
    assert done.pipeline_dir is None and done.final_step == 4


@pytest.mark.parametrize(
    ("variant", "inputs", "integration", "present", "absent"),
    [
        ("released", "score", "attention", {"add_embedding2", "ca"},
         {"add_embedding", "text_linear", "text_linear2"}),
        ("paper", "text", "addition", {"linear2"}, {"score_mlp", "ca", "linear1"}),
    ],
)
def test_ablation_switches_build_and_train_the_chosen_modules(
    tiny_pix2pix_dir: Path, data_dir: Path, tmp_path: Path, variant, inputs, integration, present, absent
):
    from reward_model.train import train

    res = train(_config(tiny_pix2pix_dir, data_dir, tmp_path / "o", max_steps=1, checkpoint_every=0,
                        variant=variant, reward_inputs=inputs, reward_integration=integration))
    meta = json.loads((res.pipeline_dir / "reward" / "config.json").read_text())
    assert meta["reward"]["variant"] == variant
    assert meta["reward"]["use_scores"] == (inputs != "text")
    assert meta["reward"]["use_text"] == (inputs != "score")
    modules = {k.split(".", 1)[0] for k in _weights(res.pipeline_dir)} - {"unet"}
    assert present <= modules and not (absent & modules)


def test_plain_baseline_saves_an_instruct_pix2pix_pipeline(
    tiny_pix2pix_dir: Path, data_dir: Path, tmp_path: Path
):
    from diffusers import UNet2DConditionModel

    from reward_model.train import train

    res = train(_config(tiny_pix2pix_dir, data_dir, tmp_path / "o", max_steps=1, checkpoint_every=0,
                        reward_inputs="none", use_ema=False))
    assert not (res.pipeline_dir / "reward").exists()
    trained = UNet2DConditionModel.from_pretrained(res.pipeline_dir / "unet")
    start = UNet2DConditionModel.from_pretrained(tiny_pix2pix_dir / "unet")
    ws, wt = start.state_dict(), trained.state_dict()
    assert any(not torch.equal(ws[k], wt[k]) for k in ws)


# ------------------------------------------------------------------------------------------- CLI


def test_cli_trains_from_our_reward_jsonl_and_rejects_bad_inputs(tiny_pix2pix_dir: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from realedit_bench.cli.main import app
    from realedit_bench.jsonio import JsonlAppender

    make_triplet_folder(tmp_path / "t", n=2)
    with JsonlAppender(tmp_path / "rewards.jsonl") as w:
        for sid in ("s0", "s1"):
            w.append(RewardRow(
                sample_id=sid, source=f"t/{sid}/source.png", edited=f"t/{sid}/edited.png",
                instruction="invert",
                status="ok", judge="openai/x", rubric="realedit-reward-v1",
                finished_at="2025-01-01T00:00:00+00:00",
                rewards={p: {"status": "ok", "score": 3, "failure": "None"}
                         for p in ("following", "preserving", "quality")},
            ))
    runner = CliRunner()
    common = ["reward", "train", "--rewards", str(tmp_path / "rewards.jsonl"), "--resolution", "32",
              "--batch-size", "2", "--gradient-accumulation-steps", "1", "--num-workers", "0",
              "--report-to", "none",
              "--no-gradient-checkpointing"]
    ok = runner.invoke(app, [*common, "--pretrained", str(tiny_pix2pix_dir), "--out", str(tmp_path / "o"),
                             "--max-steps", "2", "--checkpoint-every", "1"])
    assert ok.exit_code == 0, ok.output
    assert "reward-instruct-pix2pix --weights" in ok.output
    assert (tmp_path / "o" / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()

    bad = runner.invoke(app, [*common, "--pretrained", str(tmp_path / "t"), "--out", str(tmp_path / "o2")])
    assert isinstance(bad.exception, RealEditError) and "not a diffusers pipeline" in str(bad.exception)
    bad = runner.invoke(app, [*common, "--pretrained", str(tiny_pix2pix_dir), "--out", str(tmp_path / "o3"),
                              "--resolution", "30"])
    assert isinstance(bad.exception, ConfigError) and "multiple of 8" in str(bad.exception)
    bad = runner.invoke(app, [*common, "--pretrained", str(tiny_pix2pix_dir), "--out", str(tmp_path / "o4"),
                              "--reward-integration", "sideways"])
    assert isinstance(bad.exception, ConfigError) and "--reward-integration" in str(bad.exception)


def test_num_processes_flag_is_removed_before_relaunch_and_checked_against_the_gpus(
    tiny_pix2pix_dir: Path, data_dir: Path, tmp_path: Path
):
    from typer.testing import CliRunner

    from realedit_bench.cli.main import app
    from realedit_bench.launch import argv_without

    argv = ["reward", "train", "--num-processes", "4", "--seed", "1", "--num-processes=2", "--out", "x"]
    assert argv_without(argv, "--num-processes") == ["reward", "train", "--seed", "1", "--out", "x"]
    if torch.cuda.device_count() >= 64:
        pytest.skip("a machine with 64 GPUs would launch")
    res = CliRunner().invoke(app, [
        "reward", "train", "--pretrained", str(tiny_pix2pix_dir), "--rewards", str(data_dir / "rewards.json"),
        "--triplets", str(data_dir / "triplets"), "--out", str(tmp_path / "o"), "--num-processes", "64",
    ])
    assert isinstance(res.exception, ConfigError) and "needs that many GPUs" in str(res.exception)
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_two_processes_train_and_resume_identically(tiny_pix2pix_dir: Path, data_dir: Path, tmp_path: Path):
    """DDP over two CPU processes (gloo): the data is sharded, and a resumed run logs the same losses."""
    import os
    import subprocess
    import sys

    def launch(out: Path, steps: int) -> None:
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
            "-m", "realedit_bench.cli.main",
            "reward", "train", "--pretrained", str(tiny_pix2pix_dir),
            "--rewards", str(data_dir / "rewards.json"),
            "--triplets", str(data_dir / "triplets"), "--out", str(out), "--resolution", "32",
            "--batch-size", "1",
            "--gradient-accumulation-steps", "2", "--max-steps", str(steps), "--checkpoint-every", "2",
            "--num-workers", "0", "--report-to", "none", "--resume", "latest",
        ]
        env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]

    launch(tmp_path / "a", 4)
    launch(tmp_path / "b", 2)
    launch(tmp_path / "b", 4)
    settings = json.loads((tmp_path / "a" / "training_settings.json").read_text())
    assert settings["resolved"]["num_processes"] == 2 and settings["resolved"]["total_batch_size"] == 4
    def log(d: Path) -> list[float]:
        return [json.loads(x)["loss"] for x in (d / "train_log.jsonl").read_text().splitlines()]

    assert log(tmp_path / "a") == log(tmp_path / "b")
    wa, wb = _weights(tmp_path / "a" / "pipeline"), _weights(tmp_path / "b" / "pipeline")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
