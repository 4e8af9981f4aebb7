"""Reading ratings files (``realedit agree --human`` / ``--judge-ratings``) in the shapes spreadsheets, forms
and scripts write: other encodings, extra columns, other headers, separators and missing-value words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import invoke

from realedit_bench.agreement.ratings import RatingsError, image_id_of, read_ratings

HEADER = "sample_id,model,perspective,rater,score,verdict\n"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_non_utf8_ratings_is_one_line_naming_the_file(tmp_path: Path, suffix: str):
    p = tmp_path / f"excel{suffix}"
    if suffix == ".csv":
        text = HEADER.strip() + ",comment\n1-local,m,following,ann,4,yes,café\n"
    else:
        text = json.dumps({"sample_id": "1-local", "model": "m", "perspective": "following", "rater": "ann",
                           "score": 4, "comment": "café"}, ensure_ascii=False) + "\n"
    p.write_bytes(text.encode("cp1252"))
    res = invoke("agree", "--human", str(p), "--judge-ratings", str(p), "--out", str(tmp_path / "a.json"))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "UnicodeDecodeError" not in res.stderr
    assert f"{p}: not UTF-8 text" in res.stderr and "save it as UTF-8" in res.stderr
    # UTF-8 with a byte-order mark (Excel's "CSV UTF-8") reads.
    p.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert read_ratings([p]).ratings[0].score == 4.0


def test_annotator_shapes_are_read(tmp_path: Path):
    want = read_ratings([_plain(tmp_path)]).ratings
    # A pandas index column, form columns, capitalised and spaced headers.
    p = tmp_path / "form.csv"
    p.write_text(
        ",Timestamp,Email, Sample_Id ,Model,Perspective,Rater,Score,Verdict\n"
        + "".join(
            f"{i},2025-01-01,a@b.c,{r.sample_id},{r.model},{r.perspective},{r.rater},{r.score:g},"
            f"{'yes' if r.verdict else 'no'}\n"
            for i, r in enumerate(want)
        )
    )
    rs = read_ratings([p])
    assert rs.ratings == want
    (w,) = rs.warnings
    assert "form.csv: ignored column(s) '' (unnamed" in w and "'timestamp'" in w and "'email'" in w
    # A JSON array of objects, a .tsv, a ';' CSV with decimal commas.
    arr = tmp_path / "r.json"
    arr.write_text(
        json.dumps(
            [
                {
                    "Sample ID": r.sample_id,
                    "model": r.model,
                    "perspective": r.perspective,
                    "rater": r.rater,
                    "score": r.score,
                    "verdict": r.verdict,
                }
                for r in want
            ]
        )
    )
    assert read_ratings([arr]).ratings == want
    tsv = tmp_path / "r.tsv"
    tsv.write_text(_plain(tmp_path).read_text().replace(",", "\t"))
    assert read_ratings([tsv]).ratings == want
    semi = tmp_path / "semi.csv"
    semi.write_text(HEADER.replace(",", ";") + "1-local;m;following;ann;3,5;yes\n")
    assert read_ratings([semi]).ratings[0].score == 3.5


def _plain(tmp_path: Path) -> Path:
    p = tmp_path / "plain.csv"
    p.write_text(
        HEADER + "1-local,m,following,ann,4,yes\n1-local,m,quality,bo,2.5,no\n2-add,m,following,ann,0,no\n"
    )
    return p


def test_missing_value_words_and_wrong_values(tmp_path: Path):
    p = tmp_path / "r.csv"
    rows = (
        ["1-local,m,following,ann,4,yes"]
        + [
            f"{i}-local,m,following,ann,{miss},"
            for i, miss in enumerate(("N/A", "NA", "NaN", "-", "none", ""), 2)
        ]
        + ["9-local,m,following,ann,NaN,yes"]
    )
    p.write_text(HEADER + "\n".join(rows) + "\n")
    rs = read_ratings([p])
    assert len(rs.ratings) == 1 and rs.n_blank == 6
    assert rs.warnings == [
        f"{p}: 1 row(s) have a verdict but no score and are left out (every statistic needs the 0-5 score)"
    ]
    # Genuinely wrong values are still refused, with file:line.
    p.write_text(HEADER + "1-local,m,following,ann,7,yes\n2-local,m,following,ann,good,yes\n")
    with pytest.raises(RatingsError) as exc:
        read_ratings([p])
    assert f"{p}:2: score '7' is outside 0-5" in str(exc.value)
    assert f"{p}:3: score 'good' is not a number" in str(exc.value)


def test_rows_are_named_by_their_line_through_cells_of_several_lines(tmp_path: Path):
    p = tmp_path / "r.csv"
    p.write_text(
        HEADER.strip() + ",comment\n"
        + '1-local,m,following,ann,4,yes,"two\nlines"\n'  # lines 2-3
        + "2-local,m,following,ann,9,yes,,\n"  # trailing empty cells, as spreadsheets write them
        + "3-local,m,following,ann,3,no,ok,extra\n"
    )
    with pytest.raises(RatingsError) as exc:
        read_ratings([p])
    assert f"{p}:4: score '9' is outside 0-5" in str(exc.value)
    assert f"{p}:5: more cells than columns in the header" in str(exc.value)
    assert "2 problems" in str(exc.value)


def test_broken_quoting_is_a_problem_never_a_skipped_row(tmp_path: Path):
    p = tmp_path / "r.csv"
    p.write_text(HEADER + '1-local,m,following,ann,4,yes\n2-local,m,following,"ann"x,3,no\n')
    with pytest.raises(RatingsError, match="not a valid table: a cell that opens with a quote"):
        read_ratings([p])


def test_verdict_only_and_wide_files_say_what_is_needed(tmp_path: Path):
    v = tmp_path / "v.csv"
    v.write_text("sample_id,model,perspective,rater,verdict\n1-local,m,following,ann,yes\n")
    with pytest.raises(RatingsError, match="verdict-only ratings are not supported"):
        read_ratings([v])
    v.write_text(HEADER + "1-local,m,following,ann,,yes\n")
    with pytest.raises(RatingsError, match="verdict-only ratings are not supported"):
        read_ratings([v])
    w = tmp_path / "w.csv"
    w.write_text("sample_id,model,rater,following,preserving,quality\n1-local,m,ann,4,3,5\n")
    with pytest.raises(RatingsError, match="looks like a wide file") as exc:
        read_ratings([w])
    assert "unknown column 'following'" not in str(exc.value)


def test_help_documents_the_file_shapes():
    res = invoke("agree", "--help")
    text = " ".join(res.stdout.split()).replace("- ", "-")  # help wraps long words at their hyphens
    for shape in (".tsv", ".jsonl", "array of objects", "UTF-8", "case-insensitively", "N/A", "paper-parse"):
        assert shape in text, shape


def test_image_id_of():
    assert image_id_of("10-local") == "10"
    assert image_id_of("a-b-background") == "a-b"
    assert image_id_of("foo-bar") == "foo"
    assert image_id_of("solo") == "solo"
