"""How a run is named: the settings it changed from its editor's defaults, and its default label."""

from __future__ import annotations

from report_fixtures import IP2P_PARAMS

from realedit_bench.labels import default_label, editor_defaults, run_changes, settings_text


def test_changed_settings_leave_out_defaults_and_what_the_machine_chose():
    defaults = editor_defaults("instruct-pix2pix")
    assert defaults is not None and defaults["steps"] == 100 and defaults["scheduler"] == "euler_ancestral"
    assert "device" not in defaults and "dtype" not in defaults  # "auto": resolved per machine
    assert run_changes("instruct-pix2pix", IP2P_PARAMS) == {"scheduler": "ddim", "steps": 20}
    defaults_only = {**IP2P_PARAMS, "steps": 100, "scheduler": "euler_ancestral"}
    assert run_changes("instruct-pix2pix", defaults_only) == {}
    assert run_changes("identity", {"device": "cpu", "dtype": "none"}) == {}
    assert run_changes("not-an-editor-here", IP2P_PARAMS) is None
    assert (
        settings_text({"steps": 20, "scheduler": "ddim", "fast": True})
        == "steps=20, scheduler=ddim, fast=true"
    )


def test_the_default_label_is_the_model_and_what_it_changed():
    assert run_changes("instruct-pix2pix", IP2P_PARAMS, 1) == {"scheduler": "ddim", "steps": 20, "seed": 1}
    fast = "instruct-pix2pix (scheduler=ddim, steps=20, seed=1)"
    assert default_label("instruct-pix2pix", IP2P_PARAMS, 1) == fast
    assert default_label("instruct-pix2pix", IP2P_PARAMS) == "instruct-pix2pix (scheduler=ddim, steps=20)"
    assert default_label("my-editor", IP2P_PARAMS, 3) == "my-editor"  # defaults unknown here
    # Local weights by their last two path parts: a label never carries a home directory.
    local = {**IP2P_PARAMS, "weights": "/home/alice/models/ip2p-ft", "steps": 100,
             "scheduler": "euler_ancestral"}
    assert default_label("instruct-pix2pix", local) == "instruct-pix2pix (weights=models/ip2p-ft)"
