"""perf/bench_editors.py runs: a tiny pipeline on the CPU, our loop against the plain call, skips said."""

from __future__ import annotations

import os
import subprocess
import sys

from paths import REPO


def test_the_editor_benchmark_runs_on_tiny_pipelines():
    res = subprocess.run(
        [sys.executable, str(REPO / "perf" / "bench_editors.py"), "--tiny", "--editors", "instruct-pix2pix",
         "--samples", "1", "--modes", "plain,ours,compile,offload-model,quantize-4bit"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    lines = {tuple(line.split()[:2]): line for line in res.stdout.splitlines() if line.split()[:1]}
    editor = "instruct-pix2pix"
    plain, ours = lines[(editor, "plain")].split(), lines[(editor, "ours")].split()
    assert float(plain[2]) > 0 and float(ours[2]) > 0  # images/s of both loops
    assert "x plain's s/image (target <= 1.10)" in lines[(editor, "ours")]
    assert lines[(editor, "compile")].endswith("skipped on CPU (--cpu-compile to run it)")
    assert lines[(editor, "offload-model")].endswith("skipped: needs CUDA")
    assert lines[(editor, "quantize-4bit")].endswith("skipped: needs CUDA")
