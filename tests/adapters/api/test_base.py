"""The API editors' base: settings recorded where they change the edit, keys never, one process only."""

from __future__ import annotations

import pytest
from api_fixtures import EDITORS, SECRET
from cli_runner import invoke

from realedit_bench.editing import settings
from realedit_bench.errors import ConfigError
from realedit_bench.registry import ADAPTERS
from realedit_bench.runner import run_id_for

#: Settings of speed and money, not of the edit: not in params(), not in the run id.
RUNTIME = {"concurrency", "max_retries", "timeout", "price", "device", "dtype", "revision", "poll_interval"}


@pytest.mark.parametrize("name", list(EDITORS))
def test_every_setting_that_changes_the_edit_is_recorded_and_no_key(name, monkeypatch):
    for variable in EDITORS[name][1]:
        monkeypatch.setenv(variable, SECRET if variable.endswith("_KEY") else "https://example.invalid/v1")
    cls = ADAPTERS.get(name)
    params = cls().params()
    own = {s.name for s in settings(cls)} - RUNTIME - {"weights"}
    assert own <= set(params) and params["model"] == cls.default_weights
    assert SECRET not in str(params) and not RUNTIME & set(params) - {"device", "dtype"}
    # calls in flight, retries and prices leave the run (and its resume) alone
    faster = cls(concurrency=16, max_retries=1, timeout=30, price=0.5).params()
    assert run_id_for(name, "real-edit", faster, 0) == run_id_for(name, "real-edit", params, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"concurrency": 0}, "concurrency must be >= 1"), ({"timeout": 0}, "timeout > 0"),
     ({"price": -1}, "price >= 0"), ({"max_retries": -1}, "max_retries >= 0")],
)
def test_bad_settings_are_one_line(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ADAPTERS.get("seededit")(**kwargs)


def test_a_paid_editor_runs_in_one_process(real_edit_dir, tmp_path):
    res = invoke("run", "--model", "seededit", "--num-processes", "2", "--limit", "1", "--data-dir",
                 str(real_edit_dir), "--out", str(tmp_path))
    assert res.returncode == 2 and "runs in one process: leave out --num-processes" in res.stderr
