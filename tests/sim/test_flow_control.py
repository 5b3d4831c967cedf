"""``FlowControl: fifo``: the pipeline never stops (its enable is constant, no enable net fans out to every
flip-flop), results the consumer does not take wait in an output FIFO, and ``in_ready`` counts the free places.
In Verilator with random output stalls: bit-exact, nothing lost or changed while held, latency and II as stated
(timed where no stall interrupted), and the traffic done in fewer cycles than the stalling design needs.

``FlowControl: skid``: the enable is a register, so the pipeline stops a cycle after a result is refused and that
cycle's result waits in a skid register; ``in_ready`` is low in the cycle after each stalled one."""

import json
import re

import pytest
from helpers import models

import nn2rtl
from nn2rtl.errors import ConfigError
from nn2rtl.rtl import fifo_depth

pytestmark = pytest.mark.rtl


@pytest.mark.parametrize("reuse,strategy", [(1, "distributed_arithmetic"), (3, "Latency")])
def test_fifo_flow_control_bit_exact_under_stalls(reuse, strategy, tmp_path):
    path = models.save(models.torch_mlp([6, 9, 4], seed=3), tmp_path / "m.onnx")
    runs = {}
    for mode in ("stall", "fifo"):
        design = nn2rtl.convert(path, precision="fixed<10,4>", reuse=reuse, strategy=strategy,
                                top=f"fc_{mode}_r{reuse}", flow_control=mode)
        r = design.simulate(vectors=400, seed=2, work_dir=tmp_path / mode)
        assert r.ok, (mode, r.failures())
        assert r.results == 400 and r.stall_cycles > 20 and r.latency_min == design.latency
        runs[mode] = (design, r)
    stall, fifo = runs["stall"][0], runs["fifo"][0]
    assert (fifo.latency, fifo.ii) == (stall.latency, stall.ii)  # the FIFO passes a result straight through
    assert fifo.fifo_depth == fifo_depth(fifo.latency, fifo.ii) == -(-(fifo.latency + 1) // reuse)
    assert not stall.fifo_depth
    # the same inputs, gaps and stalls: the pipeline that runs on while a result waits is done sooner
    assert runs["fifo"][1].cycles < runs["stall"][1].cycles
    fifo.write(tmp_path / "out")
    info = json.loads((tmp_path / "out" / "design.json").read_text())
    assert info["flow_control"] == {"mode": "fifo", "fifo_depth": fifo.fifo_depth,
                                    "fifo_bits": fifo.fifo_depth * 4 * fifo.output.type.width}
    assert "FlowControl fifo" in fifo.summary() and "output FIFO" in fifo.verilog.split("module")[0]
    assert "flow_control" not in json.loads((stall.write(tmp_path / "s") / "design.json").read_text())


def test_one_place_short_and_the_ii_is_missed(tmp_path, monkeypatch):
    """The depth is what the full rate needs: with a place less, in_ready drops before the II comes round and the
    simulation measures a slower II."""
    import nn2rtl.rtl as rtl
    path = models.save(models.torch_mlp([6, 9, 4], seed=3), tmp_path / "m.onnx")
    real = rtl.fifo_depth
    monkeypatch.setattr(rtl, "fifo_depth", lambda latency, ii: real(latency, ii) - 1)
    design = nn2rtl.convert(path, precision="fixed<10,4>", top="fc_short", flow_control="fifo")
    r = design.simulate(vectors=300, work_dir=tmp_path)
    assert not r.ok and any(f.startswith("II measured") for f in r.failures())


@pytest.mark.parametrize("reuse,strategy,engine", [(1, "distributed_arithmetic", "harness"),
                                                    (3, "Latency", "harness"), (3, "Latency", "cocotb")])
def test_skid_flow_control_bit_exact_under_stalls(reuse, strategy, engine, tmp_path, monkeypatch):
    """The same latency and II as the stalling design, measured under random stalls; the enable is a flip-flop
    (``en <= en_next``, 1 after reset). The harness's check that matters here can fail: held to the stalling
    design's promise (in_ready low in every stalled cycle), the skid design breaks it, since it takes an input in
    the first one."""
    import sim.runner
    path = models.save(models.torch_mlp([6, 9, 4], seed=3), tmp_path / "m.onnx")
    kw = dict(precision="fixed<10,4>", reuse=reuse, strategy=strategy)
    stall = nn2rtl.convert(path, top=f"fc_st_r{reuse}", **kw)
    skid = nn2rtl.convert(path, top=f"fc_skid_r{reuse}", flow_control="skid", **kw)
    assert (skid.latency, skid.ii, skid.fifo_depth) == (stall.latency, stall.ii, 0)
    # (at II 1 in_ready is the enable, and Yosys names the register after the port)
    assert re.search(r"if \(rst\) (en|in_ready) <= 1'h1;\n\s+else \1 <= en_next;", skid.verilog)
    assert "en_next" not in stall.verilog
    vectors = 400 if engine == "harness" else 120
    r = skid.simulate(vectors=vectors, seed=2, work_dir=tmp_path / "skid", engine=engine)
    assert r.ok, r.failures()
    assert r.results == vectors and r.stall_cycles > 10 and r.latency_min == r.latency_max == skid.latency
    assert r.ii_back_to_back == [skid.ii]
    real = sim.runner.run_design
    monkeypatch.setattr(sim.runner, "run_design", lambda *a, **k: real(*a, **{**k, "ready_lag": False}))
    r = skid.simulate(vectors=vectors, seed=2, work_dir=tmp_path / "strict", engine=engine)
    assert not r.ok and r.ready_while_stalled > 0 and r.bit_exact and r.latency_ok
    info = json.loads((skid.write(tmp_path / "out") / "design.json").read_text())
    assert info["flow_control"] == {"mode": "skid", "skid_bits": 4 * skid.output.type.width}
    assert "FlowControl skid" in skid.summary()


def test_fifo_and_skid_are_for_io_parallel(tmp_path):
    path = models.save(models.torch_mlp([6, 9, 4], seed=3), tmp_path / "m.onnx")
    for flow in ("fifo", "skid"):
        with pytest.raises(ConfigError, match="io_stream designs have their own FIFOs"):
            nn2rtl.convert(path, io_type="io_stream", flow_control=flow)
