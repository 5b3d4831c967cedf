"""``nn2rtl build --board`` without running Yosys or nextpnr: the clock generators' arithmetic, the fit check and its
advice, the platform's build plan (PLL instances, the tool steps read from Amaranth's script), the Xilinx plan-only
build and the CLI's errors."""

import json

import numpy as np
import pytest
from helpers import models

import nn2rtl
from boards.build import NotFitting, _layer_dsps, _steps, build_board, fit_check
from boards.platforms import BOARDS, ClockGenerator, ecp5_pll, ice40_pll, mmcm
from boards.top import BoardTop
from nn2rtl.cli import main
from nn2rtl.errors import ConfigError


@pytest.mark.parametrize("fout", [16, 24, 30, 33.3, 48, 60, 75, 100, 120])
def test_ice40_pll_meets_its_ranges_and_formula(fout):
    p, f = ice40_pll(12.0, fout)
    fpfd = 12.0 / (p["DIVR"] + 1)
    fvco = fpfd * (p["DIVF"] + 1)
    assert 10 <= fpfd <= 133 and 533 <= fvco <= 1066 and 1 <= p["DIVQ"] <= 6
    assert f == pytest.approx(fvco / 2 ** p["DIVQ"]) and abs(f - fout) <= 0.01 * fout
    assert p["FILTER_RANGE"] == (1 if fpfd < 17 else 2 if fpfd < 26 else 3 if fpfd < 44 else 4)


@pytest.mark.parametrize("fout", [10, 25, 33.333, 40, 50, 75, 100, 125, 150, 200])
def test_ecp5_pll_meets_its_ranges_and_formula(fout):
    p, f = ecp5_pll(25.0, fout)
    assert 25.0 / p["CLKI_DIV"] >= 3.125 and 400 <= f * p["CLKOP_DIV"] <= 800
    assert f == pytest.approx(25.0 * p["CLKFB_DIV"] / p["CLKI_DIV"]) and abs(f - fout) <= 0.01 * fout


@pytest.mark.parametrize("fout", [50, 125, 150, 200])
def test_mmcm_meets_its_ranges_and_formula(fout):
    p, f = mmcm(100.0, fout)
    fvco = 100.0 * p["CLKFBOUT_MULT_F"] / p["DIVCLK_DIVIDE"]
    assert 600 <= fvco <= 1200 and f == pytest.approx(fvco / p["CLKOUT0_DIVIDE_F"]) and abs(f - fout) <= 0.01 * fout


def test_a_clock_the_pll_cannot_make_is_refused_with_the_nearest():
    with pytest.raises(ConfigError, match=r"cannot make 5 MHz from the board's 12 MHz.*nearest is 8\.\d+ MHz"):
        ClockGenerator("ice40", 12.0, 5.0)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    return models.save(models.torch_mlp([5, 7, 3], seed=9), tmp_path_factory.mktemp("m") / "m.onnx")


def test_fit_check_names_the_numbers_and_the_smallest_reuse_factor_that_fits(mlp):
    board = BOARDS["icebreaker"]
    design = nn2rtl.convert(mlp, precision="fixed<10,4>", reuse=2, top="m")
    with pytest.raises(NotFitting) as e:
        fit_check(design, board)
    msg = str(e.value)
    assert "DSP blocks: needs 29, the device has 8" in msg  # ceil(35/2) + ceil(21/2) products of 10 x 10 bits
    r = int(msg.split("--reuse ")[1].split()[0])
    assert r == 7
    assert fit_check(nn2rtl.convert(mlp, precision="fixed<10,4>", reuse=r), board)["dsps"] <= 8
    with pytest.raises(NotFitting):  # the smallest: one less does not fit
        fit_check(nn2rtl.convert(mlp, precision="fixed<10,4>", reuse=r - 1), board)


def test_fit_check_counts_dsp_blocks_per_product_width(mlp):
    """A 20 x 20-bit product takes four 18 x 18 ECP5 multipliers (both operands split), a 10 x 10 one takes one, a
    20 x 10 one two."""
    narrow = nn2rtl.convert(mlp, precision="fixed<10,4>")
    wide = nn2rtl.convert(mlp, precision="fixed<20,8>")
    def dsps(d):
        return _layer_dsps(d.graph, d.costs, BOARDS["ulx3s-85f"])
    assert dsps(narrow) == narrow.report()["totals"]["multipliers"] > 0
    assert dsps(wide) == 4 * wide.report()["totals"]["multipliers"] > 0
    mixed = nn2rtl.convert(mlp, config={"Model": {"Precision": {"default": "fixed<10,4>", "weight": "fixed<20,8>"}}})
    assert dsps(mixed) == 2 * mixed.report()["totals"]["multipliers"] > 0


def test_fit_check_names_registers_and_memory_beyond_the_device(example_model):
    design = nn2rtl.convert(example_model, reuse=32)
    with pytest.raises(NotFitting, match=r"register bits: needs [\d,]+, the device has 5,280") as e:
        fit_check(design, BOARDS["icebreaker"])
    assert "DSP blocks: needs 133, the device has 8" in str(e.value)
    assert "no reuse factor makes it fit" in str(e.value)  # the registers stay above 5,280 at every one
    fit_check(design, BOARDS["ulx3s-85f"])  # the example at R = 32 fits the 85F
    with pytest.raises(NotFitting) as e:  # the 12F: only at a reuse factor beyond the search's one-by-one range
        fit_check(design, BOARDS["ulx3s-12f"])
    r = int(str(e.value).split("--reuse ")[1].split()[0])
    assert r > 64
    fit_check(nn2rtl.convert(example_model, reuse=r), BOARDS["ulx3s-12f"])


def test_fit_check_offers_shift_and_add_only_where_its_adders_fit(mlp, example_model):
    """A multiply-accumulate design beyond the DSP blocks: the advice offers Strategy distributed_arithmetic (no DSP
    block) with its LUTs and registers when they fit the device, and that design passes the check; the bundled
    example (a shift-and-add graph of ~165k adder bits) is not offered it on the ULX3S 12F."""
    board = BOARDS["icebreaker"]
    with pytest.raises(NotFitting) as e:
        fit_check(nn2rtl.convert(mlp, precision="fixed<10,4>", reuse=2, top="m"), board)
    assert "--strategy distributed_arithmetic --reuse 1: no DSP block, about" in str(e.value)
    da = nn2rtl.convert(mlp, precision="fixed<10,4>", strategy="distributed_arithmetic", top="m")
    luts = int(str(e.value).split("about ")[1].split(" LUTs")[0].replace(",", ""))
    assert luts == da.report()["totals"]["adder_bits"] > 0
    assert fit_check(da, board)["dsps"] == 0
    with pytest.raises(NotFitting) as e:
        fit_check(nn2rtl.convert(example_model, reuse=32), BOARDS["ulx3s-12f"])
    assert "distributed_arithmetic" not in str(e.value)


def test_fit_check_counts_the_adders_of_a_shift_and_add_design(tmp_path):
    """A shift-and-add design whose adders alone (about a LUT per bit) exceed the device is refused before any tool
    runs, and the advice is a multiply-accumulate array at the smallest reuse factor that fits."""
    path = models.save(models.torch_mlp([16, 32, 5], seed=2), tmp_path / "m.onnx")
    design = nn2rtl.convert(path, precision="fixed<10,4>", strategy="distributed_arithmetic", top="m")
    bits = design.report()["totals"]["adder_bits"]
    assert bits > BOARDS["icebreaker"].capacity["luts"]
    with pytest.raises(NotFitting) as e:
        fit_check(design, BOARDS["icebreaker"])
    msg = str(e.value)
    assert f"LUTs (the shift-and-add adders' bits alone): needs {bits:,}, the device has 5,280" in msg
    r = int(msg.split("convert again with --strategy Resource --reuse ")[1].split()[0])
    fit_check(nn2rtl.convert(path, precision="fixed<10,4>", strategy="Resource", reuse=r), BOARDS["icebreaker"])
    with pytest.raises(NotFitting):  # the smallest
        fit_check(nn2rtl.convert(path, precision="fixed<10,4>", strategy="Resource", reuse=r - 1),
                  BOARDS["icebreaker"])


@pytest.mark.parametrize("board,clock,cell,param", [("icebreaker", 30, "SB_PLL40_PAD", "DIVF"),
                                                    ("ulx3s-85f", 50, "EHXPLLL", "CLKFB_DIV"),
                                                    ("arty-a7-35", 150, "MMCME2_BASE", "CLKFBOUT_MULT_F")])
def test_the_board_plan_has_the_pll_and_the_tool_steps(mlp, board, clock, cell, param):
    b = BOARDS[board]
    design = nn2rtl.convert(mlp, precision="fixed<10,4>", reuse=8, top="m")
    platform = b.make_platform()
    gen = ClockGenerator(b.family, platform.default_clk_frequency / 1e6, clock)
    platform.add_file("m.v", design.verilog)
    plan = platform.prepare(BoardTop.for_design(design, gen.mhz * 1e6, clock=gen), name="m_board",
                            nextpnr_opts="--report m_board.report.json")
    if b.can_build:
        il = plan.files["m_board.il"]
        assert f"cell \\{cell}" in il and f"parameter \\{param} " in il
    else:  # Vivado reads Verilog
        v = plan.files["m_board.v"]
        assert f"{cell} #(" in v and f".{param}(" in v
    if b.can_build:
        steps = _steps(plan.files["build_m_board.sh"])
        assert [v for v, _ in steps] == (["YOSYS", "NEXTPNR_ICE40", "ICEPACK"] if b.family == "ice40"
                                         else ["YOSYS", "NEXTPNR_ECP5", "ECPPACK"])
        assert "--report" in steps[1][1] and "m_board.json" in steps[1][1]


def test_the_xilinx_board_gets_the_build_plan_only(mlp, tmp_path):
    design = nn2rtl.convert(mlp, precision="fixed<10,4>", reuse=8, top="m")
    out = tmp_path / "out"
    r = build_board(design, out, "arty-a7-35", clock_mhz=125, use_cache=False)
    info = json.loads((r.directory / "board.json").read_text())
    assert info["built"] is False and "Vivado" in info["note"] and r.files["plan"].stat().st_size > 1000
    assert info["clock_mhz"] == pytest.approx(125) and info["pll"]["CLKFBOUT_MULT_F"] >= 2
    assert (r.directory / "m.v").read_text() == design.verilog


def test_cli_build_errors_leave_no_output(mlp, tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["convert", str(mlp), "-o", str(out), "--precision", "fixed<10,4>", "--reuse", "2"]) == 0
    capsys.readouterr()
    assert main(["build", str(out), "--board", "nope"]) == 2
    assert "unknown board 'nope': choose one of icebreaker, ulx3s-12f" in capsys.readouterr().err
    assert main(["build", str(out), "--board", "icebreaker"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 'm' does not fit the icebreaker") and "--reuse 7" in err
    assert main(["build", str(out), "--board", "ulx3s-85f", "--clock", "1000"]) == 2
    assert "PLL cannot make 1000 MHz" in capsys.readouterr().err
    assert not (out / "boards").exists()
    streamed = tmp_path / "s"
    assert main(["convert", str(mlp), "-o", str(streamed), "--io-type", "io_stream"]) == 0
    assert main(["build", str(streamed), "--board", "ulx3s-85f"]) == 2
    assert "--io-type io_parallel" in capsys.readouterr().err


def test_program_without_openfpgaloader_says_how_to_get_it(monkeypatch):
    from nn2rtl.cli import _program
    from nn2rtl.errors import ToolError
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolError, match=r"apt-get install openfpgaloader.*openFPGALoader -b ulx3s x\.bit"):
        _program(BOARDS["ulx3s-85f"], "x.bit")


def test_io_shapes_of_the_frame_are_in_board_json(mlp, tmp_path):
    design = nn2rtl.convert(mlp, precision="fixed<10,4>", reuse=8, top="m")
    r = build_board(design, tmp_path, "arty-a7-35", use_cache=False)
    fr = json.loads((r.directory / "board.json").read_text())["frame"]
    assert (fr["in"]["words"], fr["in"]["bytes_per_word"], fr["out"]["words"]) == (5, 2, 3)
    assert np.isclose(json.loads((r.directory / "board.json").read_text())["clock_mhz"], 100.0)


def test_ecp5_dsp_primitives_only_on_an_ecp5_board(mlp):
    design = nn2rtl.convert(mlp, precision="fixed<10,4>", reuse=4, top="m", dsp="ecp5")
    with pytest.raises(NotFitting, match="instantiates ecp5 DSP primitives.*icebreaker.*ice40.*DSP inferred"):
        fit_check(design, BOARDS["icebreaker"])
    need = fit_check(design, BOARDS["ulx3s-85f"])  # one MULT18X18D per 10 x 10-bit multiplier
    assert need["dsps"] == design.report()["totals"]["multipliers"] == 9 + 6  # ceil(35/4) + ceil(21/4)
