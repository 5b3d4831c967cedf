"""The verdict of a simulation, shared by the C++ harness (:mod:`sim.runner`) and the cocotb testbench.

Both engines record the same events (when each input was taken and each result delivered, counted in enabled
cycles; the results' raw values; protocol counters), and :func:`summarize` turns them into a :class:`SimResult`
whose :attr:`SimResult.ok` holds only if every check passed: every output bit, the stated latency, the stated II
(measured, not assumed), nothing lost, duplicated or extra, no result changed while stalled, and no input taken
while the output stalled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SimResult", "summarize", "MAX_REPORTED"]

MAX_REPORTED = 50


@dataclass
class SimResult:
    vectors: int
    results: int                  #: results delivered for the vectors (at most ``vectors``)
    mismatches: int               #: output elements that differ from the expected value
    first_mismatches: list
    latency_min: int | None
    latency_max: int | None
    stated_latency: int
    stated_ii: int
    ii_min: int | None            #: smallest spacing of accepted inputs (enabled cycles)
    ii_back_to_back: list         #: distinct spacings measured while inputs were offered without pause
    back_to_back_cycles: int      #: how many spacings were measured back to back
    stall_cycles: int             #: cycles the consumer held out_ready low on a valid result
    hold_violations: int          #: cycles a stalled result changed or vanished
    ready_while_stalled: int      #: cycles in_ready was high while a result was held back
    extra_results: int            #: results delivered beyond the last expected one
    cycles: int
    build_seconds: float = 0.0
    run_seconds: float = 0.0
    engine: str = ""
    build_cached: bool = False
    notes: list = field(default_factory=list)

    @property
    def bit_exact(self):
        """Every expected result arrived, once, with every bit right."""
        return self.mismatches == 0 and self.results == self.vectors and self.extra_results == 0

    @property
    def latency_ok(self):
        return self.results > 0 and self.latency_min == self.latency_max == self.stated_latency

    @property
    def ii_ok(self):
        """The II was measured (at least one pair of inputs offered back to back) and equals the stated one. With
        a single vector there is no pair: nothing to measure, nothing claimed."""
        if self.vectors < 2:
            return True
        return (self.back_to_back_cycles > 0 and self.ii_back_to_back == [self.stated_ii]
                and self.ii_min is not None and self.ii_min >= self.stated_ii)

    @property
    def protocol_ok(self):
        return self.hold_violations == 0 and self.ready_while_stalled == 0

    @property
    def ok(self):
        return self.bit_exact and self.latency_ok and self.ii_ok and self.protocol_ok

    def failures(self):
        """One line per failed check (empty when :attr:`ok`)."""
        out = []
        if self.results < self.vectors:
            out.append(f"{self.vectors - self.results} of {self.vectors} results never arrived")
        if self.extra_results:
            out.append(f"{self.extra_results} results arrived after the last expected one")
        if self.mismatches:
            mm = self.first_mismatches[0]
            out.append(f"{self.mismatches} output values differ (first: vector {mm['vector']} output {mm['output']}"
                       f": expected {mm['expected']}, got {mm['got']})")
        if not self.latency_ok:
            out.append(f"latency measured {self.latency_min}..{self.latency_max}, stated {self.stated_latency}")
        if not self.ii_ok:
            measured = "/".join(map(str, self.ii_back_to_back)) or "not measured (no inputs back to back)"
            out.append(f"II measured {measured} (smallest spacing {self.ii_min}), stated {self.stated_ii}")
        if self.hold_violations:
            out.append(f"a stalled result changed or vanished in {self.hold_violations} cycles")
        if self.ready_while_stalled:
            out.append(f"in_ready was high in {self.ready_while_stalled} cycles while the output stalled")
        return out

    @property
    def inferences_per_second(self):
        return self.vectors / self.run_seconds if self.run_seconds > 0 else float("inf")


def summarize(expected, accepted_at, result_at, outputs, gaps, latency, ii, *, stall_cycles, hold_violations,
              ready_while_stalled, extra_results, cycles, accepted_stalls=None, result_stalls=None,
              free_running=False):
    """A report dict (the fields of :class:`SimResult` but timings) from the events of one simulation.

    ``accepted_at[k]``/``result_at[k]``: enabled cycle at which input/result k was taken; ``outputs``: the raw
    result values (results x n_out); ``gaps[k]``: idle cycles the driver left before offering input k.
    ``free_running``: the design's pipeline does not stop while a result waits (``FlowControl: fifo``), so
    enabled cycles are not its clock: latency and II are measured only on the inputs and results that no stalled
    cycle interrupted (``accepted_stalls``/``result_stalls[k]``: stalled cycles before input/result k was taken)."""
    expected = np.asarray(expected)
    n_vec = len(expected)
    accepted_at = np.asarray(accepted_at, dtype=np.int64)
    result_at = np.asarray(result_at, dtype=np.int64)
    m = min(len(result_at), n_vec)
    got = np.asarray(outputs)[:m]
    mismatches = []
    bad = np.argwhere(got != expected[:m]) if m else np.zeros((0, 2), dtype=np.int64)
    for v, j in bad[:MAX_REPORTED]:
        mismatches.append({"vector": int(v), "output": int(j), "expected": int(expected[v, j]),
                           "got": int(got[v, j])})
    k = min(m, len(accepted_at))
    lat = result_at[:k] - accepted_at[:k]
    spacing = np.diff(accepted_at)
    gaps = np.asarray(gaps)
    b2b_mask = gaps[1:len(accepted_at)] == 0
    if free_running:  # only what no stalled cycle interrupted: there enabled cycles are the design's clock
        acc_st = np.asarray(accepted_stalls, dtype=np.int64)
        lat = lat[np.asarray(result_stalls, dtype=np.int64)[:k] == acc_st[:k]]
        calm = np.diff(acc_st) == 0
        spacing = spacing[calm]
        b2b_mask = b2b_mask[calm]
    b2b = spacing[b2b_mask] if len(spacing) else spacing
    return {
        "vectors": n_vec, "results": int(m), "mismatches": int(len(bad)), "first_mismatches": mismatches,
        "latency_min": int(lat.min()) if len(lat) else None, "latency_max": int(lat.max()) if len(lat) else None,
        "stated_latency": int(latency), "stated_ii": int(ii),
        "ii_min": int(spacing.min()) if len(spacing) else None,
        "ii_back_to_back": sorted({int(d) for d in b2b}), "back_to_back_cycles": int(len(b2b)),
        "stall_cycles": int(stall_cycles), "hold_violations": int(hold_violations),
        "ready_while_stalled": int(ready_while_stalled),
        "extra_results": int(extra_results + max(len(result_at) - n_vec, 0)), "cycles": int(cycles),
    }
