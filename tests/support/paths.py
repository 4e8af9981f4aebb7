"""Where the tests find the repository and the shared data (CI has ../shared beside the clone)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
REAL_EDIT = SHARED / "seed-data" / "real-edit"
#: The authors' judge prompts, extracted verbatim (reference data, read at test time).
PAPER_PROMPTS = SHARED / "seed-data" / "Multi-Reward-Editing" / "derived" / "gpt_eval_prompts"
