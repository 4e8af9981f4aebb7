"""Terminal views of an :class:`AgreementReport`: the short one (the key numbers per judge, within 80
columns) and the full one (every statistic, per-model details, footnotes)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from realedit_bench.agreement.compute import natural_key
from realedit_bench.agreement.view import (
    KEY_ROWS,
    STAT_ROWS,
    Footnotes,
    describe_source,
    fmt_interval,
    fmt_p,
    fmt_value,
)
from realedit_bench.schema.agree import AgreementReport, JudgeAgreement


def _cell(stat, notes: Footnotes) -> str:  # noqa: ANN001 - Stat
    text = fmt_value(stat.value)
    ci = escape(fmt_interval(stat))  # "[n/a]" is not rich markup
    mark = notes.mark(stat.note)
    return " ".join(x for x in (text, ci, mark) if x)


def _judge_tables(j: JudgeAgreement, console: Console, level: float) -> None:
    persp = list(j.perspectives)
    notes = Footnotes()
    # Escaped: a judge name may carry "[rubric]" or "[paper parse]", which rich would read as markup.
    t = Table(
        title=escape(
            f"judge {j.judge} vs humans ({describe_source(j)}); {level:.0%} bootstrap intervals over "
            "source photos"
        ),
        title_justify="left",
        show_lines=False,
    )
    t.add_column("section", style="dim")
    t.add_column("statistic")
    for p in persp:
        t.add_column(p, justify="right")
    t.add_row(
        "",
        "edits (judge + human) / raters / photos",
        *[f"{pa.n_items} / {pa.n_raters} / {pa.n_photos}" for pa in j.perspectives.values()],
    )
    last = None
    for row in STAT_ROWS:
        sec = row.section if row.section != last else ""
        last = row.section
        t.add_row(sec, row.label, *[_cell(row.get(pa), notes) for pa in j.perspectives.values()])
    t.add_row(
        "",
        "chance of this ranking (tau / rho)",
        *[
            f"{fmt_p(pa.system.p_chance_kendall)} / {fmt_p(pa.system.p_chance_spearman)}"
            if pa.system.p_chance_kendall is not None
            else "n/a " + notes.mark(pa.system.note)
            for pa in j.perspectives.values()
        ],
    )
    console.print(t)

    ranked = next((pa.system.models for pa in j.perspectives.values() if pa.system.models), [])
    seen = {m for pa in j.perspectives.values() for m in pa.sample.within_model}
    models = [m for m in ranked if m in seen] + sorted(seen - set(ranked), key=natural_key)
    if models:
        mt = Table(
            title="per model: within-model Spearman / bias (judge - human) / mean human, mean judge",
            title_justify="left",
        )
        mt.add_column("model")
        for p in persp:
            mt.add_column(p, justify="right")
        for m in models:
            cells = []
            for pa in j.perspectives.values():
                cs = pa.sample.within_model.get(m)
                b = pa.bias.per_model.get(m)
                hm = pa.system.human_means.get(m)
                jm = pa.system.judge_means.get(m)
                rho = _cell(cs.spearman, notes) if cs else "–"
                bias = f"{b.value:+.2f}" if b and b.value is not None else "n/a"
                means = f"{hm:.2f}, {jm:.2f}" if hm is not None and jm is not None else ""
                cells.append(f"{rho} / {bias} / {means}".rstrip(" /"))
            mt.add_row(escape(m), *cells)
        console.print(mt)
    for p, pa in j.perspectives.items():
        console.print(f"[bold]{p}[/]: {escape(pa.fair.conclusion)}", highlight=False)
        if pa.system.p_method:
            console.print(f"  chance probability: {pa.system.p_method}", highlight=False, style="dim")
        for n in pa.notes:
            console.print(f"  note: {n}", highlight=False, style="dim", markup=False)
    for n in j.notes:
        console.print(f"note: {n}", highlight=False, style="dim", markup=False)
    for i, text in enumerate(notes.items, 1):
        console.print(f"[{i}] {text}", highlight=False, style="dim", markup=False)


def _header(report: AgreementReport, console: Console) -> None:
    console.print(
        f"{len(report.raters)} human rater(s), {len(report.models)} model(s); "
        f"{report.n_resamples} bootstrap resamples of source photos (seed {report.seed})",
        highlight=False,
    )


def _report_notes(report: AgreementReport, console: Console) -> None:
    for n in report.notes:
        console.print(f"note: {n}", highlight=False, style="dim", markup=False)


def print_report(report: AgreementReport, console: Console) -> None:
    """Print every judge's tables and the report-wide notes."""
    _header(report, console)
    for j in report.judges:
        _judge_tables(j, console, report.level)
    _report_notes(report, console)


def print_summary(report: AgreementReport, console: Console) -> None:
    """Print the key numbers of every judge (one narrow table each, intervals under their values), the
    plain-language comparison with one more human, and the report-wide notes."""
    _header(report, console)
    for j in report.judges:
        t = Table(title=escape(f"judge {j.judge} vs humans ({describe_source(j)})"), title_justify="left")
        t.add_column(f"{report.level:.0%} CI over photos", style="dim")
        for p in j.perspectives:
            t.add_column(p, justify="right")
        t.add_row("edits / raters / photos",
                  *[f"{pa.n_items} / {pa.n_raters} / {pa.n_photos}" for pa in j.perspectives.values()])
        for row in KEY_ROWS:
            cells = [row.get(pa) for pa in j.perspectives.values()]
            t.add_row(row.label, *[escape(f"{fmt_value(c.value)}\n{fmt_interval(c)}".strip()) for c in cells])
        console.print(t)
        for p, pa in j.perspectives.items():
            console.print(f"[bold]{p}[/]: {escape(pa.fair.conclusion)}", highlight=False)
    _report_notes(report, console)
