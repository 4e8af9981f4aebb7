"""``realedit judge --protocol paper`` sends what the authors' scripts send, request for request and image for
image (the real openai SDK against the local fake server); every setting can be overridden and is recorded;
``--temperature none`` and ``--seed none`` send none."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
from judge_fixtures import make_bench, make_edits
from judge_server import FakeJudgeServer, RecordedRequest, Reply
from paths import PAPER_PROMPTS
from PIL import Image, ImageOps

from realedit_bench.api import fetch_data, run_model
from realedit_bench.errors import ConfigError
from realedit_bench.jsonio import read_rows
from realedit_bench.judges.session import judge_edits
from realedit_bench.schema import EditRow, JudgmentRow

#: The authors' script of each perspective, by the prompt files' stem.
STEMS = {"following": "following", "preserving": "keep_detail", "quality": "quality"}
#: Which system text opens each perspective's request (their first words differ).
OPENINGS = {"following": "You are an advanced AI designed to assess the accuracy",
            "preserving": "You are an advanced AI designed to assess the consistency",
            "quality": "You are a sophisticated AI model trained to evaluate the quality"}
ANSWERS = {"following": "{'following': 'yes', 'score': 4.5}",
           "preserving": "{'consistent': 'no', 'score': 2.0}", "quality": "{'clear': 'yes', 'score': 3.5}"}


def perspective_of(req: RecordedRequest) -> str:
    system = req.body["messages"][0]["content"]
    return next(p for p, opening in OPENINGS.items() if system.startswith(opening))


def answer(req: RecordedRequest) -> Reply:
    return Reply.ok(ANSWERS[perspective_of(req)])


def authors_images(photo: Path, edit: Path, resolution: int) -> tuple[bytes, bytes]:
    """What the authors' eval.py hands to their judge scripts, restated here from its facts: the editor's
    input (the InstructPix2Pix 64-multiple fit, ImageOps.fit with Lanczos) and the edit, both resized with
    Pillow's default filter to height 512 at the photo's aspect, then saved as JPEG with Pillow's defaults."""
    input_image = Image.open(photo).convert("RGB")
    width, height = input_image.size
    factor = resolution / max(width, height)
    factor = math.ceil(min(width, height) * factor / 64) * 64 / min(width, height)
    width, height = int((width * factor) // 64) * 64, int((height * factor) // 64) * 64
    img = ImageOps.fit(input_image, (width, height), method=Image.Resampling.LANCZOS)
    size = Image.open(photo).convert("RGB").size
    target = (int(512 * size[0] / size[1]), 512)

    def jpeg(im: Image.Image) -> bytes:
        buf = io.BytesIO()
        im.save(buf, format="JPEG")
        return buf.getvalue()

    return jpeg(img.resize(target)), jpeg(Image.open(edit).resize(target))


@pytest.fixture
def paper_run(tmp_path: Path, tiny_pix2pix_dir: Path, fake_server: FakeJudgeServer, monkeypatch) -> tuple:
    """A tiny InstructPix2Pix run over 40 x 32 photos (its 64 x 64 input crops them) and the authors' prompts
    imported into the cache; the fake server answers each perspective in the authors' format."""
    from judge_fixtures import judge_env, set_env

    bench = make_bench(tmp_path / "bench", n_photos=2)
    set_env(monkeypatch, judge_env(fake_server, tmp_path / "cache"))
    run = run_model("instruct-pix2pix", weights=str(tiny_pix2pix_dir),
                    settings={"steps": 2, "resolution": 64}, data_dir=bench, out=tmp_path / "runs",
                    samples="1-local,1-remove,2-add", seed=42)
    assert run.exit_code == 0
    assert fetch_data("paper-prompts", from_dir=PAPER_PROMPTS).exit_code == 0
    fake_server.responder = answer
    return bench, run.run_dir


def test_a_paper_run_sends_what_the_authors_scripts_send(paper_run, fake_server: FakeJudgeServer) -> None:
    bench, run_dir = paper_run
    out = judge_edits(images=run_dir, protocol="paper", data_dir=bench, log=lambda m: None)
    assert out.exit_code == 0 and out.rubric == "paper-e72d782"
    rows = {r.sample_id: r for r in read_rows(run_dir / "edits.jsonl", EditRow)}
    expected = {sid: authors_images(bench / "imgs" / r.source, run_dir / r.output, 64)
                for sid, r in rows.items()}
    calls = fake_server.calls()
    assert len(calls) == 9 and len({e for _, e in expected.values()}) == 3
    for req in calls:
        body, persp = req.body, perspective_of(req)
        stem = STEMS[persp]
        # The request: their snapshot, max_tokens under that name, no temperature, no seed, nothing else.
        assert set(body) == {"model", "messages", "max_tokens"}
        assert body["model"] == "gpt-4o-2024-05-13" and body["max_tokens"] == 50
        assert req.headers["x-stainless-read-timeout"] == "100.0"  # the SDK says the timeout it applies
        system, user = body["messages"]
        assert system == {"role": "system", "content": (PAPER_PROMPTS / f"{stem}.system.txt").read_text()}
        [sid] = [sid for sid, (_, edited) in expected.items() if req.images()[-1] == edited]
        text = (PAPER_PROMPTS / f"{stem}.user.txt").read_text().replace("{prompt}", rows[sid].instruction)
        # Their content order: the text, then the original and the edit (the edit alone for quality).
        assert user["role"] == "user" and user["content"][0] == {"type": "text", "text": text}
        n_images = 1 if persp == "quality" else 2
        assert [p["type"] for p in user["content"]] == ["text", *["image_url"] * n_images]
        assert req.image_media_types() == ["image/jpeg"] * len(req.images())
        original, edited = expected[sid]
        assert req.images() == ([edited] if persp == "quality" else [original, edited])
        assert all(Image.open(io.BytesIO(im)).size == (640, 512) for im in req.images())
    judged = read_rows(run_dir / "judgments" / "openai_gpt-4o-2024-05-13__paper-e72d782.paper-parse.jsonl",
                       JudgmentRow)
    assert len(judged) == 9 and {r.params["source_image"] for r in judged} == {"model input"}
    assert all(r.params == {"max_tokens": 50, "source_image": "model input"} for r in judged)
    s = out.summary
    assert s is not None and s.protocol == "paper" and s.parse_mode == "paper" and s.temperature is None
    assert s.sent["model"] == "gpt-4o-2024-05-13" and s.sent["max_tokens_param"] == "max_tokens"
    assert (s.sent["temperature"], s.sent["seed"], s.sent["timeout"]) == (None, None, 100.0)
    assert s.sent["source_image"] == {"model input": 3} and s.overrides == []
    assert s.paper_figures["following"] == {"n": 3, "accuracy": 1.0, "score_mean": 4.5}


def test_the_crop_is_sent_not_the_whole_photo(paper_run, fake_server: FakeJudgeServer) -> None:
    bench, run_dir = paper_run
    judge_edits(images=run_dir, protocol="paper", data_dir=bench, samples="1-local",
                perspectives=["following"], log=lambda m: None)
    [req] = fake_server.calls()
    sent = Image.open(io.BytesIO(req.images()[0])).convert("RGB")
    photo = Image.open(bench / "imgs" / "1.jpeg").convert("RGB")
    whole = photo.resize((640, 512))
    crop = ImageOps.fit(photo, (64, 64), method=Image.Resampling.LANCZOS).resize((640, 512))

    def distance(a: Image.Image, b: Image.Image) -> float:
        return sum(abs(x - y) for x, y in zip(a.tobytes(), b.tobytes(), strict=True)) / len(a.tobytes())

    # The model saw the centre 32 x 32 of the 40 x 32 photo: what is sent is that crop, stretched back.
    assert distance(sent, crop) < 3 < distance(sent, whole)


def test_editors_without_a_model_input_have_the_photo_sent_and_the_rows_say_so(
    tmp_path: Path, fake_server: FakeJudgeServer, monkeypatch
) -> None:
    from judge_fixtures import judge_env, set_env

    bench = make_bench(tmp_path / "bench", n_photos=1)
    edits = make_edits(tmp_path / "edits", n_photos=1, cats=("Local",))
    set_env(monkeypatch, judge_env(fake_server, tmp_path / "cache"))
    fetch_data("paper-prompts", from_dir=PAPER_PROMPTS)
    fake_server.responder = answer
    out = judge_edits(images=edits, protocol="paper", data_dir=bench, perspectives=["following"],
                      log=lambda m: None)
    [req] = fake_server.calls()
    photo = Image.open(bench / "imgs" / "1.jpeg").convert("RGB").resize((640, 512))
    buf = io.BytesIO()
    photo.save(buf, format="JPEG")
    assert req.images()[0] == buf.getvalue()
    [row] = read_rows(out.paths.rows, JudgmentRow)
    assert row.params["source_image"] == "source photo (the editor recorded no model input)"
    assert out.summary.sent["source_image"] == {"source photo (the editor recorded no model input)": 1}


def test_every_setting_can_be_overridden_and_the_override_is_recorded(
    paper_run, fake_server: FakeJudgeServer
) -> None:
    bench, run_dir = paper_run
    fake_server.responder = lambda req: Reply.ok("{'following': 'yes', 'score': 4.0}")
    out = judge_edits(images=run_dir, protocol="paper", data_dir=bench, judge="openai/gpt-4o-2024-08-06",
                      temperature="0.2", seed=7, timeout=30.0, perspectives=["following"], samples="1-local",
                      log=lambda m: None)
    [req] = fake_server.calls()
    assert req.body["model"] == "gpt-4o-2024-08-06" and req.body["temperature"] == 0.2
    assert req.body["seed"] == 7 and req.body["max_tokens"] == 50
    assert req.headers["x-stainless-read-timeout"] == "30.0"
    assert out.summary.overrides == [
        "judge=openai/gpt-4o-2024-08-06 (paper protocol: openai/gpt-4o-2024-05-13)",
        "temperature=0.2 (paper protocol: none (not sent))",
        "seed=7 (paper protocol: none (not sent))",
        "timeout=30.0 (paper protocol: 100.0)",
    ]
    [row] = read_rows(out.paths.rows, JudgmentRow)
    assert row.params == {"max_tokens": 50, "temperature": 0.2, "seed": 7, "source_image": "model input"}
    assert (out.summary.sent["temperature"], out.summary.sent["seed"]) == (0.2, 7)


def test_temperature_and_seed_none_send_none(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    out = judge_edits(images=edits, data_dir=bench, limit=1, perspectives=["quality"], temperature="none",
                      seed="None", log=lambda m: None)
    [req] = fake_server.calls()
    assert "temperature" not in req.body and "seed" not in req.body
    assert req.body["max_completion_tokens"] == 200
    [row] = read_rows(out.paths.rows, JudgmentRow)
    assert row.params == {"max_completion_tokens": 200}
    assert out.summary.temperature is None and out.summary.protocol == "realedit"
    assert (out.summary.sent["temperature"], out.summary.sent["seed"]) == (None, None)
    assert out.summary.overrides == ["temperature=none (not sent) (realedit protocol: 0.0)",
                                     "seed=none (not sent) (realedit protocol: 0)"]
    fake_server.reset()
    judge_edits(images=edits, data_dir=bench, limit=1, perspectives=["quality"], log=lambda m: None)
    [req] = fake_server.calls()  # the defaults of our protocol are sent as before
    assert (req.body["temperature"], req.body["seed"]) == (0.0, 0)


@pytest.mark.parametrize("kwargs, says", [
    ({"temperature": "warm"}, "--temperature must be a number or none, not 'warm'"),
    ({"temperature": "-1"}, "--temperature must be a finite number of at least 0 or none"),
    ({"temperature": "nan"}, "--temperature must be a finite number"),
    ({"seed": "1.5"}, "--seed must be an integer or none, not '1.5'"),
    ({"protocol": "authors"}, "--protocol must be realedit or paper, not 'authors'"),
])
def test_bad_protocol_settings_are_one_line_before_any_call(
    judge_setup, fake_server: FakeJudgeServer, kwargs: dict, says: str
) -> None:
    bench, edits = judge_setup
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        judge_edits(images=edits, data_dir=bench, **kwargs)
    assert fake_server.requests == []


def test_first_use_without_network_or_copy_is_one_line_and_sends_nothing(
    judge_setup, fake_server: FakeJudgeServer, monkeypatch
) -> None:
    from judge_fixtures import invoke

    bench, edits = judge_setup
    monkeypatch.setenv("REALEDIT_PAPER_PROMPTS_URL", "http://127.0.0.1:9/{path}")
    monkeypatch.setattr("realedit_bench.datasets.fetch._backoff", lambda attempt: 0.0)
    code, _output, exc = invoke("judge", "--images", str(edits), "--data-dir", str(bench),
                                "--protocol", "paper")
    assert code == 2 and fake_server.requests == [] and not (edits / "judgments").exists()
    message = str(exc)
    assert "\n" not in message and "the authors' judge prompts could not be downloaded" in message
    assert "'realedit data fetch paper-prompts --from DIR'" in message


def test_prompts_in_the_cache_are_used_without_a_download(
    judge_setup, fake_server: FakeJudgeServer, monkeypatch
) -> None:
    bench, edits = judge_setup
    monkeypatch.setenv("REALEDIT_PAPER_PROMPTS_URL", "http://127.0.0.1:9/{path}")  # a download would fail
    fetch_data("paper-prompts", from_dir=PAPER_PROMPTS)
    fake_server.responder = answer
    logs: list[str] = []
    out = judge_edits(images=edits, data_dir=bench, protocol="paper", limit=1, log=logs.append)
    assert out.exit_code == 0 and len(fake_server.calls()) == 3 and logs == []
    assert json.loads(out.paths.summary.read_text())["protocol"] == "paper"
