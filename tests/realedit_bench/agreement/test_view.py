"""How agreement numbers are written for people."""

from __future__ import annotations

from realedit_bench.agreement.view import fmt_value


def test_a_value_that_rounds_to_zero_is_never_shown_negative():
    assert fmt_value(-0.0001) == "0.000" and fmt_value(-0.0006) == "-0.001" and fmt_value(None) == "n/a"
