"""The agreement page of the site: ``agreement.json`` of ``realedit agree`` rendered as static HTML.

Reads the report through its schema only (no torch, no adapters). Every string from the report is
autoescaped; the page has no script, and its Content-Security-Policy allows none. It carries the site's
navigation and stylesheet, and fits a phone's width (its wide tables scroll inside their boxes).
"""

from __future__ import annotations

from pathlib import Path

from leaderboard.render import NavLink, content_security_policy, make_env, page_common, write_page
from realedit_bench.agreement.compute import natural_key
from realedit_bench.agreement.view import (
    STAT_ROWS,
    Footnotes,
    describe_source,
    fmt_interval,
    fmt_p,
    fmt_value,
)
from realedit_bench.jsonio import read_model
from realedit_bench.schema.agree import AgreementReport

#: No script at all; inline styles only; images only from the page itself.
PAGE_CSP = content_security_policy(None)


def _judge_view(j, notes: Footnotes) -> dict:  # noqa: ANN001 - JudgeAgreement
    persp = list(j.perspectives)
    pas = list(j.perspectives.values())

    def cell(stat) -> dict:  # noqa: ANN001 - Stat
        return {
            "value": fmt_value(stat.value),
            "ci": fmt_interval(stat),
            "mark": notes.mark(stat.note),
            "na": stat.value is None,
        }

    rows, last = [], None
    for r in STAT_ROWS:
        rows.append(
            {
                "section": r.section if r.section != last else "",
                "label": r.label,
                "cells": [cell(r.get(pa)) for pa in pas],
            }
        )
        last = r.section
    chance = [
        f"{fmt_p(pa.system.p_chance_kendall)} / {fmt_p(pa.system.p_chance_spearman)}"
        if pa.system.p_chance_kendall is not None
        else "n/a " + notes.mark(pa.system.note)
        for pa in pas
    ]
    ranked: list[str] = next((pa.system.models for pa in pas if pa.system.models), [])
    seen = {m for pa in pas for m in pa.sample.within_model}
    models = [m for m in ranked if m in seen] + sorted(seen - set(ranked), key=natural_key)
    per_model = []
    for m in models:
        cells = []
        for pa in pas:
            cs = pa.sample.within_model.get(m)
            b = pa.bias.per_model.get(m)
            cells.append(
                {
                    "rho": cell(cs.spearman) if cs else None,
                    "bias": f"{b.value:+.2f}" if b is not None and b.value is not None else "n/a",
                    "human": fmt_value(pa.system.human_means.get(m), 2),
                    "judge": fmt_value(pa.system.judge_means.get(m), 2),
                }
            )
        per_model.append({"model": m, "cells": cells})
    return {
        "name": j.judge,
        "source": describe_source(j),
        "perspectives": persp,
        "rows": rows,
        "chance": chance,
        "sizes": [f"{pa.n_items} / {pa.n_raters} / {pa.n_photos}" for pa in pas],
        "per_model": per_model,
        "conclusions": [
            (p, pa.fair.conclusion, pa.system.p_method, pa.notes) for p, pa in j.perspectives.items()
        ],
        "notes": j.notes,
    }


def _find_input(path: str, report_path: Path | None) -> Path | None:
    """Where an input recorded "as given" lies now: absolute as it is; a relative one from the current folder,
    else from the report's folder or one above it (agree may have run elsewhere); None when nowhere."""
    given = Path(path)
    if given.is_absolute():
        return given if given.is_file() else None
    bases = [Path.cwd()]
    if report_path is not None:
        here = Path(report_path).resolve().parent
        bases += [here, *here.parents]
    for base in bases:
        if (base / given).is_file():
            return base / given
    return None


def outdated_inputs(report: AgreementReport, report_path: Path | None = None) -> list[str]:
    """Why ``report`` no longer describes its input files: one phrase per missing or changed file.

    ``realedit run --force`` moves a run's judgments to ``replaced/`` and a rerun of ``realedit judge``
    rewrites them, so an ``agreement.json`` computed before is of other judgments than the site shows.
    """
    from realedit_bench.images import sha256_file

    out = []
    for inp in report.inputs:
        found = _find_input(inp.path, report_path)
        if found is None:
            out.append(f"{inp.path} is missing")
        elif sha256_file(found) != inp.sha256:
            out.append(f"{inp.path} has changed since")
    return out


def render_agreement_page(
    report: AgreementReport | Path | str,
    out_path: Path,
    *,
    csp: str | None = None,
    root: str = "",
    outdated: list[str] | None = None,
    nav: list[NavLink] | None = None,
) -> Path:
    """Write the agreement page for ``report`` (a report or the path of an ``agreement.json``).

    Args:
        report: The report, or a path to read it from (schema-checked).
        out_path: HTML file to write.
        csp: Accepted for the site builder's call; ignored, since this page carries no script and uses the
            stricter :data:`PAGE_CSP`.
        root: Relative link to the site root (for the navigation links).
        outdated: Why the report is out of date (:func:`outdated_inputs`); the page then says so at the top.
        nav: The site's navigation (:func:`leaderboard.render.nav_links`); default: the index's sections and
            this page.

    Returns:
        ``out_path``.
    """
    del csp  # the page has no script: no hash to allow
    if not isinstance(report, AgreementReport):
        report = read_model(Path(report), AgreementReport)
    out_path = Path(out_path)
    notes = Footnotes()
    judges = [_judge_view(j, notes) for j in report.judges]
    common = page_common(gallery=False, compare=False, agreement_pages=[out_path.name], script=False)
    html = (
        make_env()
        .get_template("agreement.html.j2")
        .render(
            **{**common, "nav": nav if nav is not None else common["nav"]},
            report=report,
            judges=judges,
            footnotes=notes.items,
            root=root,
            title="Judge agreement with humans",
            level=f"{report.level:.0%}",
            outdated=outdated or [],
        )
    )
    write_page(out_path, html)
    return out_path
