"""The SmartEdit speed script runs end to end on the tiny models (its --tiny CPU mode)."""

from __future__ import annotations

import importlib.util
import sys
import tempfile

from paths import REPO


def test_the_tiny_benchmark_runs_all_three_loops_and_reports_the_targets(monkeypatch, capsys, tmp_path):
    monkeypatch.syspath_prepend(str(REPO / "perf"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the script works in a fresh temporary folder
    spec = importlib.util.spec_from_file_location("bench_smartedit", REPO / "perf" / "bench_smartedit.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(sys, "argv", ["bench_smartedit.py", "--tiny", "--samples", "4"])
    bench.main()
    out = capsys.readouterr().out
    for label in ("plain loop (batch 1)", "realedit run batch 1", "realedit run batch 4"):
        assert f"{label:22s}: " in out and "LLM stage" in out
    assert "batch 4 vs batch 1 images/s:" in out and "(target >= 1.5x)" in out
    assert "realedit run batch 1 vs plain loop seconds/image:" in out
