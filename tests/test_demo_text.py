"""`mia demo --task text`: the audited auction buying instruction records valued by lm-gradient."""

from __future__ import annotations

import io

from rich.console import Console

from mia.demo.text import TEXT_SPECS, run_text_demo


def test_text_demo_pays_clean_data_only(tmp_path):
    out = io.StringIO()
    assert run_text_demo("embedded", console=Console(file=out, width=170), workdir=tmp_path) is True
    text = out.getvalue()
    assert "AUDIT PASSED" in text and "✗" not in text
    assert "escrow left in the auction contract: 0 wei" in text
    first_round = text.split("Auction 2")[0]
    rows = {line.split("│")[1].strip(): line.split("│") for line in first_round.splitlines() if line.startswith("│")}
    assert set(rows) == {s.name for s in TEXT_SPECS}
    # wrong answers and off-task text value below zero and the copier gets no credit: none of them is paid
    for name in ("forum-D", "blog-F"):
        assert float(rows[name][6]) < 0 and rows[name][7].strip() == "no"
    assert rows["copycat-E"][5].strip() == "0.000" and rows["copycat-E"][7].strip() == "no"
    # clean data is bought: tutor-B is valued positive and paid (tutor-A's records were copied by
    # copycat-E, and a record held by two providers is credited to neither; docs/valuation.md)
    assert rows["tutor-B"][7].strip() == "yes" and float(rows["tutor-B"][6]) > 0
    assert "no (no reveal)" in rows["ghost-G"][7]
