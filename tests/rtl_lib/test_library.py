"""The Verilog text the module library writes: wide concatenations wrapped for Verilator's preprocessor."""

import re

from rtl_lib.library import wrap_long_lines


def _tokens(text):
    return re.findall(r"[^\s,]+|,", text)


def test_a_wide_concatenation_is_wrapped_without_changing_a_token():
    wide = "  assign o = { " + ", ".join(f"in_data[{8 * k + 7}:{8 * k}]" for k in range(3072)) + " };"
    text = "module m;\n" + wide + "\n  assign b = c;\n  (* keep = \"a, b\" *) wire x;\nendmodule\n"
    out = wrap_long_lines(text, limit=500)
    assert _tokens(out) == _tokens(text)
    assert max(len(line) for line in out.splitlines()) <= 500 + 40
    assert out.count("\n") > text.count("\n") + 100
    # short lines and lines with strings are left alone
    assert "  assign b = c;" in out and '(* keep = "a, b" *) wire x;' in out
