"""Real bitstreams with the YoWASP tools, as a user on a fresh machine builds them: a small quantised MLP (a real
Brevitas QONNX export, 4-bit weights and activations, shift-and-add layers) on the iCEBreaker (iCE40 UP5K, at the
board's 12 MHz) and on the ULX3S 85F (ECP5, through the PLL at 50 MHz). Each build: the bitstream exists and is one
(the family's preamble), nextpnr met the clock, the utilisation figures are nextpnr's and within the device, and a
second build of the same design comes from the cache."""

import json

import pytest
from helpers import real_exports

import nn2rtl
from boards.build import build_board
from boards.platforms import BOARDS

pytestmark = pytest.mark.board

#: what marks a bitstream: iCE40's sync word, ECP5's preamble
PREAMBLE = {"ice40": b"\x7e\xaa\x99\x7e", "ecp5": b"\xff\xff\xbd\xb3"}


@pytest.mark.parametrize("board,clock", [("icebreaker", None), ("ulx3s-85f", 50.0)])
def test_bitstream_of_a_quantised_mlp(tmp_path, board, clock):
    path = real_exports.export("mlp_fixed_w4a4", tmp_path)
    design = nn2rtl.convert(path, strategy="distributed_arithmetic", top="mlp_fixed")
    b = BOARDS[board]
    r = build_board(design, tmp_path / "out", board, clock_mhz=clock)
    bit = r.files["bitstream"]
    assert bit.exists() and PREAMBLE[b.family] in bit.read_bytes()[:4096]
    info = json.loads((r.directory / "board.json").read_text())
    want = clock or b.make_platform().default_clk_frequency / 1e6
    assert info["clock_mhz"] == pytest.approx(want)
    assert r.fmax_mhz and all(f >= want for f in r.fmax_mhz.values())
    lut_cell = {"ice40": "ICESTORM_LC", "ecp5": "TRELLIS_COMB"}[b.family]
    used, available = map(int, r.utilisation[lut_cell].split("/"))
    assert 0 < used <= available and available >= b.capacity["luts"]
    assert 0 < r.synthesis["luts"] <= b.capacity["luts"] and r.synthesis["dsps"] == 0
    assert (r.directory / f"{design.top}.v").read_text() == design.verilog
    assert "Max frequency for clock" in (r.directory / info["files"]["nextpnr_log"]).read_text()
    again = build_board(design, tmp_path / "again", board, clock_mhz=clock)
    assert again.cached and again.files["bitstream"].read_bytes() == bit.read_bytes()


def test_a_clock_beyond_fmax_stops_the_build_with_the_reached_frequency(tmp_path):
    """The iCE40 PLL at 100 MHz for a design whose paths reach about 45: nextpnr's verdict becomes an error naming
    the reached frequency and a clock that works, and the output directory gets nothing."""
    from helpers import models

    from boards.build import TimingNotMet
    path = models.save(models.torch_mlp([5, 7, 3], seed=9), tmp_path / "m.onnx")
    design = nn2rtl.convert(path, precision="fixed<10,4>", reuse=8, top="m")
    with pytest.raises(TimingNotMet, match=r"timing not met on the icebreaker: nextpnr reaches (\d+\.\d) MHz .* the "
                                           r"clock is 100\.5 MHz\. Build with --clock \d+") as e:
        build_board(design, tmp_path / "out", "icebreaker", clock_mhz=100.5)
    reached = float(str(e.value).split("reaches ")[1].split()[0])
    assert 10 < reached < 100.5 and f"--clock {int(reached)}" in str(e.value)
    assert not (tmp_path / "out").exists()
