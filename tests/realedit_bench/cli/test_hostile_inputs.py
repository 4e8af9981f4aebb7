"""Hostile and careless inputs (tests/support/hostile.py) through every verb that reads them.

Each case runs ``realedit`` in a subprocess under a timeout and an audit hook: it must end with its exit
code (2 for bad input, said in one line naming the file and the problem; 1 where the verb records a
per-sample failure and goes on), never with a traceback or a hang, and it must open nothing under the
folder its symlinks lead to.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import hostile
import pytest

NAMES = hostile.Corpus.names()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hostile.Corpus]:
    built = hostile.Corpus(tmp_path_factory.mktemp("hostile")).prepare()
    try:
        yield built
    finally:
        hostile.thaw()


@pytest.fixture(scope="module")
def results(corpus: hostile.Corpus, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case built and run once, a few at a time (each is a subprocess that mostly waits)."""
    cases = corpus.cases()
    work = tmp_path_factory.mktemp("hostile-runs")

    def one(index: int, name: str) -> Any:
        try:
            case = cases[name]()
        except hostile.ReadOnlyUnavailable as exc:
            return exc
        folder = work / str(index)
        folder.mkdir()
        return case, hostile.run_case(case, folder)

    with ThreadPoolExecutor(max_workers=3) as pool:
        done = pool.map(one, range(len(NAMES)), NAMES)
        return dict(zip(NAMES, done, strict=True))


def test_the_corpus_covers_every_kind_of_hostile_input() -> None:
    kinds = ("pipe", "symlink-out", "bomb", "nested", "huge-number", "2mb-cell", "nul-in-name", "not-utf8",
             "read-only", "folder", "is-a-file", "2gib-sparse", "--device", "--dtype", "OPENAI_BASE_URL",
             "newline")
    missing = [k for k in kinds if not any(k in name for name in NAMES)]
    assert missing == [] and len(NAMES) >= 90, (missing, len(NAMES))
    verbs = {name.split(":")[0].split(" ")[0] for name in NAMES}
    assert verbs == {"verify", "run", "judge", "metrics", "agree", "agree-template", "report", "data"}, verbs


@pytest.mark.parametrize("name", NAMES)
def test_hostile_input(corpus: hostile.Corpus, results: dict[str, Any], name: str) -> None:
    if isinstance(results[name], hostile.ReadOnlyUnavailable):
        pytest.skip(str(results[name]))
    case, result = results[name]
    shown = f"{case.args}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
    assert not result.hung, f"hung for {hostile.TIMEOUT} s: {shown}"
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, shown
    assert result.code == case.code, shown
    if case.code == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), shown  # one line, the last
        said = errors[0]
    else:
        said = result.stdout + result.stderr
    assert all(word in said for word in case.says), (case.says, shown)
    outside = hostile.read_outside(result, corpus.outside)
    # Nothing outside the data folder is read, unless --follow-symlinks lets the linked file through.
    assert bool(outside) == case.may_read_outside, (outside, shown)
