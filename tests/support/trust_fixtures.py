"""Runs judged the way a careful user judges them: a three-judge panel, canaries, drift checks and a
calibration to human ratings, all through ``realedit``'s library calls and the real SDKs against the local
fake judge server. The site tests build their pages from these files."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import NamedTuple

from judge_fixtures import CLAUDE, GEMINI, GPT, _image, make_bench, make_edits
from judge_server import FakeJudgeServer, RecordedRequest, Reply
from PIL import Image

GPT_STEM = "openai_gpt-4o-2024-08-06__realedit-v1"
#: The two editing models judged (plain folders of edits named after them).
MODELS = ("model-a", "model-b", "model-c")
PHOTOS = 5


def _level(req: RecordedRequest, salt: str) -> int:
    """A number 0-5 drawn from the prompt and the last image sent (the edit): the same for every judge asked
    the same question about the same edit, so judges agree where they share a salt, and models differ."""
    images = req.images()
    digest = hashlib.sha256(salt.encode() + req.text().encode() + (images[-1] if images else b"")).digest()
    return digest[0] % 6


def _same_pictures(req: RecordedRequest) -> bool:
    images = req.images()
    if len(images) != 2:
        return False
    with Image.open(io.BytesIO(images[0])) as a, Image.open(io.BytesIO(images[1])) as b:
        return a.convert("RGB").tobytes() == b.convert("RGB").tobytes()


def make_responder(shift: int = 0):
    """GPT scores every edit; Claude is strict (never a yes, except that an unchanged picture is preserved: it
    passes the canaries) and refuses a sixth of the edits; Gemini garbles a fifth of them. ``shift`` moves
    GPT's scores (a provider changing its model behind the same name)."""

    def answer(req: RecordedRequest) -> Reply:
        if req.route == "/v1/messages":
            if _same_pictures(req):
                keeps = "unchanged from image 1" in req.text()
                return Reply.ok(f'{{"verdict": "{"yes" if keeps else "no"}", "score": {5 if keeps else 0}}}')
            if _level(req, "refuse") == 0:
                return Reply.refusal()
            score = min(2, _level(req, "gpt") // 2)
            return Reply.ok(f'{{"verdict": "no", "score": {score}, "reason": "strict"}}')
        if ":generateContent" in req.route:
            if _level(req, "garble") == 0:
                return Reply.ok("Looks good overall, I would say.")
            score = _level(req, "gpt")
        else:
            score = min(5, _level(req, "gpt") + shift)
        verdict = "yes" if score >= 3 else "no"
        return Reply.ok(f'{{"verdict": "{verdict}", "score": {score}, "reason": "r"}}')

    return answer


class TrustRuns(NamedTuple):
    """Where the judged runs are, the calibration file, and the site built from them."""

    runs: Path
    bench: Path
    calibration: Path
    site: Path | None = None


def write_human_ratings(runs: Path, path: Path) -> Path:
    """Human ratings of every edit: a monotone (non-linear) function of GPT's score, with rater noise."""
    from realedit_bench.jsonio import read_rows
    from realedit_bench.schema.judge import JudgmentRow

    lines = ["sample_id,model,perspective,rater,score"]
    shape = {0: 0.0, 1: 0.5, 2: 1.0, 3: 2.5, 4: 4.0, 5: 4.5}
    for model in MODELS:
        rows = read_rows(runs / model / "judgments" / f"{GPT_STEM}.jsonl", JudgmentRow)
        for r in {(x.sample_id, x.perspective): x for x in rows if x.status == "ok"}.values():
            for rater, wobble in (("ann", 0.0), ("bob", 0.5)):
                score = min(5.0, shape[int(r.score or 0)] + wobble)
                lines.append(f"{r.sample_id},{model},{r.perspective},{rater},{score}")
    path.write_text("\n".join(lines) + "\n")
    return path


def judged_runs(base: Path, server: FakeJudgeServer) -> TrustRuns:
    """Two runs judged by a panel; model-a also with canaries and two drift checks (the second after GPT's
    scores moved by one); a calibration of the three judges to human ratings."""
    from realedit_bench.api import agree
    from realedit_bench.judges.panel import judge_panel

    bench = make_bench(base / "bench", n_photos=PHOTOS)
    runs = base / "runs"
    server.responder = make_responder()
    quiet = {"log": lambda _m: None, "data_dir": bench}
    for i, model in enumerate(MODELS):
        folder = make_edits(runs / model, n_photos=PHOTOS)
        for k, path in enumerate(sorted(folder.glob("*.png"))):  # each model its own images
            _image(path, seed=10_000 * (i + 1) + k)
        judge_panel(judges=[GPT, CLAUDE, GEMINI], images=runs / model, canaries=model == MODELS[0],
                    drift_check=model == MODELS[0], **quiet)
    server.responder = make_responder(shift=1)
    judge_panel(judges=[GPT], images=runs / MODELS[0], drift_check=True, **quiet)
    human = write_human_ratings(runs, base / "human.csv")
    calibration = base / "calibration.json"
    agree(human=[human], judgments=[runs / m for m in MODELS], out=base / "agreement.json", resamples=100,
          fit_calibration=calibration)
    return TrustRuns(runs, bench, calibration)


def trust_site(base: Path) -> TrustRuns:
    """:func:`judged_runs` against a fake server of its own (keys and base URLs set only meanwhile), and the
    site built from them with the calibration."""
    import pytest
    from judge_fixtures import judge_env

    from leaderboard.site import build_site

    with FakeJudgeServer() as server, pytest.MonkeyPatch.context() as mp:
        for key, value in judge_env(server, base / "cache").items():
            if value:
                mp.setenv(key, value)
            else:
                mp.delenv(key, raising=False)
        made = judged_runs(base, server)
    build_site(made.runs, base / "site", calibration=made.calibration, data_dir=made.bench)
    return made._replace(site=base / "site")
