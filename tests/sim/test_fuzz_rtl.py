"""Random small models, types, rounding and overflow modes, reuse factors and pipelining: the Verilog equals the
golden model in Verilator, with the stated latency and II (a short, fixed-seed run; ``make fuzz-rtl`` runs
thousands)."""

import tempfile
from pathlib import Path

import pytest
from helpers import random_models
from hypothesis import HealthCheck, Phase, given, settings

pytestmark = pytest.mark.rtl

EXAMPLES = 12


def test_random_models_rtl_equals_golden():
    outcomes = []

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(random_models.cases())
    def one(case):
        with tempfile.TemporaryDirectory() as d:
            outcomes.append(random_models.check(case, Path(d)))

    one()
    ok = [o for o, _ in outcomes if o == "ok"]
    refused = [msg for o, msg in outcomes if o == "refused"]
    assert len(outcomes) == EXAMPLES
    assert len(ok) >= EXAMPLES * 3 // 4, refused  # most random cases are valid designs, and they all pass
