"""A reproduction of Table 1 over tiny models and the local judge: two InstructPix2Pix-format editors (the
tiny random-weight pipeline as their weights) on a 2-photo benchmark, judged with ``--protocol paper``.

The judge answers in the authors' format so that each mark of the page is known in advance: following is
'no' / 1.0 on photo 1 and 'yes' / 5.0 on photo 2 (a wide interval: the published values fall inside it),
preserving always 'no' / 4.9 and quality always 'yes' / 3.5 (no spread: the published values fall outside).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from cli_runner import invoke
from judge_fixtures import make_bench
from judge_server import RecordedRequest, Reply
from paths import PAPER_PROMPTS

#: The editors reproduced (both load the tiny InstructPix2Pix pipeline).
EDITORS = ("instruct-pix2pix", "hq-edit")
#: The paper's names of those editors.
METHODS = {"instruct-pix2pix": "InsPix2Pix", "hq-edit": "HQ-Edit"}


def paper_answer(req: RecordedRequest) -> Reply:
    """The scripted reply to one request of the authors' protocol (see the module docstring)."""
    system = req.body["messages"][0]["content"]
    text = req.body["messages"][1]["content"][0]["text"]
    if "evaluate the quality" in system:
        return Reply.ok("{'clear': 'yes', 'score': 3.5}")
    if "assess the consistency" in system:
        return Reply.ok("{'consistent': 'no', 'score': 4.9}")
    if "of photo 1" in text:
        return Reply.ok("{'following': 'no', 'score': 1.0}")
    return Reply.ok("{'following': 'yes', 'score': 5.0}")


class Reproduced(NamedTuple):
    """The folders of a reproduction and the arguments that made it."""

    bench: Path
    runs: Path
    site: Path
    args: list[str]


def table1_args(root: Path, tiny: Path) -> Reproduced:
    """The command line of a tiny Table 1 reproduction under ``root`` (the benchmark made there)."""
    bench = make_bench(root / "bench", n_photos=2)
    args = ["reproduce", "table1", "--data-dir", str(bench), "--runs", str(root / "runs"), "--out",
            str(root / "site"), "--models", ",".join(EDITORS)]
    for editor in EDITORS:
        args += ["--weights", f"{editor}={tiny}", "-M", f"{editor}:steps=2", "-M", f"{editor}:resolution=64"]
    return Reproduced(bench, root / "runs", root / "site", args)


def reproduce_table1(root: Path, tiny: Path, server) -> tuple[Reproduced, object]:
    """Import the authors' prompts, point the judge at ``server`` (the caller set the environment) and run
    ``realedit reproduce table1``; returns the folders and the command's result."""
    server.responder = paper_answer
    res = invoke("data", "fetch", "paper-prompts", "--from", str(PAPER_PROMPTS))
    assert res.returncode == 0, res.stderr
    made = table1_args(root, tiny)
    return made, invoke(*made.args)
