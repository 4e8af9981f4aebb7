"""The Real-Edit loader on the real data and on each kind of bad input."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from realedit_bench.datasets import select
from realedit_bench.datasets.fetch import import_real_edit, verify_real_edit
from realedit_bench.datasets.real_edit import RealEditBenchmark, parse_instruction
from realedit_bench.errors import ConfigError, DataError
from realedit_bench.images import load_image


def test_real_data_has_560_samples_80_per_category(real_edit_dir):
    bench = RealEditBenchmark().load(real_edit_dir)
    assert len(bench.samples) == 560
    assert Counter(s.category for s in bench.samples) == {
        c: 80 for c in ("local", "remove", "add", "texture", "background", "global", "style")
    }
    ids = [s.sample_id for s in bench.samples]
    assert len(set(ids)) == 560
    assert ids[:2] == ["2-local", "2-remove"]  # numeric order of photos, benchmark order of categories
    assert all(s.image.is_file() for s in bench.samples)
    assert all(s.instruction and not s.instruction.lower().startswith(("1.", "local")) for s in bench.samples)


def test_both_prefix_forms_occur_and_normalise(real_edit_dir):
    raw = json.loads((real_edit_dir / "eval_instruct.json").read_text())
    texts = [t for items in raw.values() for t in items]
    assert any(t.startswith("1. Local Edit:") for t in texts)
    assert any(t.startswith("1. Local:") for t in texts)
    long_form = next(t for t in texts if t.startswith("1. Local Edit:"))
    assert parse_instruction(long_form) == ("local", long_form.split(":", 1)[1].strip())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1. Local: make it red", ("local", "make it red")),
        ("1. Local Edit: make it red", ("local", "make it red")),
        ("5. Background: a beach", ("background", "a beach")),
        ("7. Style:   Van Gogh  ", ("style", "Van Gogh")),
        ("Texture: wooden", ("texture", "wooden")),
    ],
)
def test_parse_instruction(text, expected):
    assert parse_instruction(text) == expected


def _copy_data(src: Path, dst: Path, n_images: int = 2) -> Path:
    raw = json.loads((src / "eval_instruct.json").read_text())
    keep = dict(list(raw.items())[:n_images])
    (dst / "imgs").mkdir(parents=True)
    for name in keep:
        shutil.copy(src / "imgs" / name, dst / "imgs" / name)
    (dst / "eval_instruct.json").write_text(json.dumps(keep))
    return dst


def test_missing_directory_says_how_to_fetch(tmp_path):
    with pytest.raises(DataError, match="realedit data fetch"):
        RealEditBenchmark().load(tmp_path / "absent")


def test_unknown_category_prefix_is_quoted(real_edit_dir, tmp_path):
    d = _copy_data(real_edit_dir, tmp_path / "d")
    raw = json.loads((d / "eval_instruct.json").read_text())
    first = next(iter(raw))
    raw[first][0] = "1. Recolour: paint it blue"
    (d / "eval_instruct.json").write_text(json.dumps(raw))
    with pytest.raises(DataError, match=r"'1\. Recolour: paint it blue'"):
        RealEditBenchmark().load(d)


@pytest.mark.parametrize("name", ["../evil.jpeg", "/etc/passwd", "sub/../../x.jpeg"])
def test_image_name_escaping_the_folder_is_refused(tmp_path, name):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "eval_instruct.json").write_text(json.dumps({name: ["1. Local: x"]}))
    with pytest.raises(DataError, match="escapes the image folder"):
        RealEditBenchmark().load(tmp_path)


def test_original_script_names_are_accepted(real_edit_dir, tmp_path):
    d = tmp_path / "orig"
    _copy_data(real_edit_dir, d)
    (d / "eval_instruct.json").rename(d / "real_edit_instruct.json")
    (d / "imgs").rename(d / "Real-Edit")
    assert len(RealEditBenchmark().load(d).samples) == 14


def test_verify_names_the_file_with_a_hash_mismatch(real_edit_dir, tmp_path):
    d = tmp_path / "copy"
    shutil.copytree(real_edit_dir, d)
    verify_real_edit(d, decode=False)  # the pristine copy passes
    victim = sorted((d / "imgs").iterdir())[3]
    Image.new("RGB", (8, 8)).save(victim, format="JPEG")
    with pytest.raises(DataError, match=f"hash mismatch: .*{victim.name}"):
        verify_real_edit(d)


def test_verify_refuses_undecodable_and_bomb_images(real_edit_dir, tmp_path):
    d = _copy_data(real_edit_dir, tmp_path / "d")
    names = sorted((d / "imgs").iterdir())
    names[0].write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=names[0].name):
        verify_real_edit(d, check_hashes=False)
    shutil.copy(real_edit_dir / "imgs" / names[0].name, names[0])
    # 10000 x 10000 one-bit PNG: a few kB on disk, 100 megapixels decoded.
    Image.new("1", (10000, 10000)).save(names[1], format="PNG")
    with pytest.raises(DataError, match="decompression bomb"):
        verify_real_edit(d, check_hashes=False)
    with pytest.raises(DataError, match="decompression bomb"):
        load_image(names[1])


def test_import_from_local_copy_checks_hashes(real_edit_dir, tmp_path):
    dest = tmp_path / "dest"
    assert import_real_edit(real_edit_dir, dest) == 81
    assert import_real_edit(real_edit_dir, dest) == 0  # already complete: nothing copied
    assert len(RealEditBenchmark().load(dest).samples) == 560
    bad = tmp_path / "bad"
    shutil.copytree(real_edit_dir, bad)
    (bad / "eval_instruct.json").write_text("{}")
    with pytest.raises(DataError, match="hash mismatch"):
        import_real_edit(bad, tmp_path / "dest2")


def test_filters(real_edit_dir):
    samples = RealEditBenchmark().load(real_edit_dir).samples
    assert len(select(samples, categories=["remove"])) == 80
    picked = select(samples, categories=["add", "style"], limit=3)
    assert [s.sample_id for s in picked] == ["2-add", "2-style", "3-add"]
    assert [s.sample_id for s in select(samples, sample_ids=["10-local", "3-add"])] == ["3-add", "10-local"]
    with pytest.raises(ConfigError, match="unknown category 'colour'"):
        select(samples, categories=["colour"])
    with pytest.raises(ConfigError, match="unknown sample id '999-local'"):
        select(samples, sample_ids=["999-local"])


def test_a_byte_order_mark_is_accepted_and_non_utf8_is_one_line(real_edit_dir, tmp_path):
    d = _copy_data(real_edit_dir, tmp_path / "d")
    text = (d / "eval_instruct.json").read_text()
    (d / "eval_instruct.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert len(RealEditBenchmark().load(d).samples) == 14
    (d / "eval_instruct.json").write_bytes(b'{"2.jpeg": ["1. Local: caf\xe9"]}')
    with pytest.raises(DataError, match="not UTF-8"):
        RealEditBenchmark().load(d)


def test_exif_rotated_photos_are_loaded_upright(tmp_path):
    from PIL import Image

    from realedit_bench.judges.encode import encode_bytes

    im = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "phone.jpeg"
    im.save(path, exif=exif)
    assert load_image(path).size == (20, 40)
    enc = encode_bytes(path.read_bytes(), "original")
    assert (enc.width, enc.height) == (20, 40) and enc.mime == "image/jpeg"


def test_sixteen_bit_and_transparent_images_look_as_a_viewer_shows_them(tmp_path):
    import numpy as np
    from PIL import Image

    grey = np.full((8, 8), 32768, dtype=np.uint16)  # mid grey in 16 bits
    Image.fromarray(grey).save(tmp_path / "g16.png")
    assert abs(np.asarray(load_image(tmp_path / "g16.png")).mean() - 128) <= 1
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(tmp_path / "clear.png")  # fully transparent
    assert np.asarray(load_image(tmp_path / "clear.png")).min() == 255  # white, not black


def test_verify_lists_every_bad_image_at_once(real_edit_dir, tmp_path):
    d = _copy_data(real_edit_dir, tmp_path / "d", n_images=3)
    names = sorted((d / "imgs").iterdir())
    names[0].write_bytes(b"")
    names[2].unlink()
    with pytest.raises(DataError, match="2 bad image") as info:
        verify_real_edit(d, check_hashes=False)
    assert names[0].name in str(info.value) and names[2].name in str(info.value)
