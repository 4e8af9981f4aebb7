"""``realedit data fetch|verify|info magicbrush``: captions warning, verify, reruns that skip without
decrypting, user changes kept, atomic writes, benchmark-aware hints."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from cli_runner import invoke
from metrics_fixtures import build_magicbrush_test
from PIL import Image

from realedit_bench.datasets import select
from realedit_bench.datasets.magicbrush import MagicBrushBenchmark
from realedit_bench.errors import ConfigError, DataError


@pytest.fixture()
def upstream(tmp_path: Path) -> Path:
    return build_magicbrush_test(tmp_path / "download")


def _zip(upstream: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for p in sorted((upstream / "test").rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(upstream).as_posix())
    return path


def test_missing_captions_are_counted_at_import(upstream: Path, tmp_path: Path) -> None:
    local = upstream / "test/local_descriptions.json"
    captions = json.loads(local.read_text())
    del captions["139"]["139-output2.png"]
    local.write_text(json.dumps(captions))
    res = invoke("data", "fetch", "--benchmark", "magicbrush", "--from", str(upstream), 
                 "--data-dir", str(tmp_path / "a"))
    assert res.returncode == 0, res.stderr
    assert "1 of 4 samples have no local caption: CLIP-T will skip them" in res.stderr
    assert "global captions" not in res.stderr
    local.unlink()
    (upstream / "test/global_descriptions.json").unlink()
    res = invoke("data", "fetch", "--benchmark", "magicbrush", "--from", str(upstream), 
                 "--data-dir", str(tmp_path / "b"))
    assert res.returncode == 0, res.stderr
    assert "4 of 4 samples have no local caption" in res.stderr
    assert "4 of 4 samples have no global captions: directional CLIP will skip them" in res.stderr


def test_verify_info_and_hints_know_magicbrush(upstream: Path, tmp_path: Path) -> None:
    data = tmp_path / "mbd"
    assert invoke("data", "fetch", "--benchmark", "magicbrush", "--from", str(upstream), 
                  "--data-dir", str(data)).returncode == 0
    res = invoke("data", "verify", "--benchmark", "magicbrush", "--data-dir", str(data))
    assert res.returncode == 0 and "all 10 images decode" in res.stdout, (
        res.stdout + res.stderr
    )  # inputs, outputs, masks
    res = invoke("data", "info", "--benchmark", "magicbrush", "--data-dir", str(data))
    assert res.returncode == 0 and "sessions: 2" in res.stdout and "photos" not in res.stdout
    # Without --benchmark: no hint that would download Real-Edit into the MagicBrush folder.
    res = invoke("data", "verify", "--data-dir", str(data))
    assert res.returncode == 2 and "--benchmark magicbrush" in res.stderr and "data fetch" not in res.stderr
    # A mask that no longer decodes (load() does not look at masks) and a missing target.
    (data / "test/images/139/139-mask2.png").write_bytes(b"not a png")
    res = invoke("data", "verify", "--benchmark", "magicbrush", "--data-dir", str(data))
    assert res.returncode == 2 and "139-mask2.png" in res.stderr
    (data / "test/images/30/30-output1.png").unlink()
    res = invoke("data", "verify", "--benchmark", "magicbrush", "--data-dir", str(data))
    assert res.returncode == 2 and "30-output1.png" in res.stderr and "magicbrush --from" in res.stderr


def test_unknown_sample_id_example_comes_from_the_benchmark(upstream: Path, tmp_path: Path) -> None:
    bench = MagicBrushBenchmark().fetch(tmp_path / "d", from_dir=upstream)
    with pytest.raises(ConfigError, match=r"ids look like '30-turn1'"):
        select(bench.samples, sample_ids=["10-local"])


def test_a_zip_rerun_skips_by_size_and_crc_without_decrypting_images(
    upstream: Path, tmp_path: Path, monkeypatch
) -> None:
    zpath = _zip(upstream, tmp_path / "test.zip")
    data = tmp_path / "z"
    ticks: list[tuple[int, int]] = []
    MagicBrushBenchmark().fetch(data, from_dir=zpath, progress=lambda d, t: ticks.append((d, t)))
    assert ticks[0] == (0, 10) and ticks[-1] == (10, 10)
    reads: list[str] = []
    real_read = zipfile.ZipFile.read
    monkeypatch.setattr(
        zipfile.ZipFile, "read", lambda self, name, pwd=None: reads.append(name) or real_read(self, name, pwd)
    )
    ticks.clear()
    bench = MagicBrushBenchmark().fetch(data, from_dir=zpath, progress=lambda d, t: ticks.append((d, t)))
    assert len(bench.samples) == 4 and ticks == [(10, 10)]
    assert not [n for n in reads if n.endswith(".png")]  # only the three JSON files, once each
    assert sorted(reads) == sorted(
        f"test/{n}" for n in ("edit_sessions.json", "local_descriptions.json", "global_descriptions.json")
    )


def test_user_changes_are_refused_and_repair_keeps_them(upstream: Path, tmp_path: Path) -> None:
    data = tmp_path / "d"
    MagicBrushBenchmark().fetch(data, from_dir=upstream)
    image = data / "test/images/139/139-output1.png"
    Image.new("RGB", (8, 8)).save(image)
    mine = image.read_bytes()
    res = invoke("data", "fetch", "--benchmark", "magicbrush", "--from", str(upstream), 
                 "--data-dir", str(data))
    assert (
        res.returncode == 2 and "test/images/139/139-output1.png" in res.stderr and "--repair" in res.stderr
    )
    assert image.read_bytes() == mine
    res = invoke("data", "fetch", "--benchmark", "magicbrush", "--from", str(upstream), 
                 "--data-dir", str(data), "--repair")
    assert res.returncode == 0, res.stderr
    assert image.read_bytes() == (upstream / "test/images/139/139-output1.png").read_bytes()
    assert (image.with_name(image.name + ".orig")).read_bytes() == mine


def test_every_file_is_written_atomically(upstream: Path, tmp_path: Path, monkeypatch) -> None:
    import realedit_bench.datasets.magicbrush as mb

    written: list[str] = []
    real = mb.atomic_write_bytes
    monkeypatch.setattr(
        mb, "atomic_write_bytes", lambda path, data: written.append(Path(path).name) or real(path, data)
    )
    MagicBrushBenchmark().fetch(tmp_path / "d", from_dir=upstream)
    assert {
        "upstream_edit_sessions.json",
        "upstream_local_descriptions.json",
        "samples.jsonl",
        "139-input.png",
    } <= set(written)


def test_a_write_error_is_one_line(upstream: Path, tmp_path: Path, monkeypatch) -> None:
    import errno
    import os

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("realedit_bench.jsonio.os.fsync", full)
    with pytest.raises(DataError, match=r"cannot write .*png: No space left on device"):
        MagicBrushBenchmark().fetch(tmp_path / "d", from_dir=upstream)
    assert not (tmp_path / "d/test/samples.jsonl").exists()


def test_fetch_help_names_the_zip_and_the_fast_path() -> None:
    res = invoke("data", "fetch", "--help")
    text = " ".join(res.stdout.replace("│", " ").split())  # the help box wraps lines
    assert (
        "unzip -P MagicBrush" in text
        and "Ignored with --from and for MagicBrush" in text
        and "--repair" in text
    )
