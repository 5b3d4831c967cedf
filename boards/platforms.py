"""The boards ``nn2rtl build --board`` knows: their Amaranth platform (from ``amaranth-boards``), what the device
holds, how to program it, and the clock generator that turns the board's oscillator into ``--clock``.

Device figures are the vendors' data-sheet totals; ``nextpnr`` reports its own after placement, and the build
prints both.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from amaranth.hdl import ClockDomain, Const, Instance, Signal
from amaranth.lib.cdc import ResetSynchronizer

__all__ = ["Board", "BOARDS", "get_board", "ice40_pll", "ecp5_pll", "mmcm", "ClockGenerator"]


@dataclass(frozen=True)
class Board:
    name: str
    platform: str            #: "module:Class" in amaranth_boards
    family: str              #: ice40, ecp5, xc7
    device: str
    capacity: dict = field(default_factory=dict)  #: luts, ffs, dsps, memory_bits (data sheet)
    loader: str = ""         #: openFPGALoader's -b name
    can_build: bool = True   #: False: only the build plan (the vendor tools are not free)
    dsp_width: tuple = (18, 18)  #: operand widths one DSP block multiplies (signed)

    def make_platform(self):
        module, cls = self.platform.split(":")
        try:
            mod = importlib.import_module(module)
        except ImportError:
            from nn2rtl.errors import ToolError
            raise ToolError("board builds need amaranth-boards: pip install 'nn2rtl[board]'") from None
        return getattr(mod, cls)()


def _ecp5(size, luts, dsps, ebr):
    return Board(f"ulx3s-{size}f", f"amaranth_boards.ulx3s:ULX3S_{size}F_Platform", "ecp5", f"LFE5U-{size}F",
                 {"luts": luts, "ffs": luts, "dsps": dsps, "memory_bits": ebr * 18432}, loader="ulx3s")


BOARDS = {b.name: b for b in [
    # iCE40 UltraPlus 5K: 5,280 logic cells (a LUT4 and a flip-flop each), 8 SB_MAC16, 30 x 4 kbit EBR
    Board("icebreaker", "amaranth_boards.icebreaker:ICEBreakerPlatform", "ice40", "iCE40UP5K",
          {"luts": 5280, "ffs": 5280, "dsps": 8, "memory_bits": 30 * 4096}, loader="icebreaker",
          dsp_width=(16, 16)),
    # ECP5: LUT4s, 18x18 multipliers, 18 kbit EBR blocks
    _ecp5(12, 12288, 28, 32),
    _ecp5(25, 24288, 28, 56),
    _ecp5(45, 43848, 72, 108),
    _ecp5(85, 83640, 156, 208),
    # Artix-7 35T: 20,800 LUT6, 41,600 FFs, 90 DSP48E1 (25x18), 50 x 36 kbit BRAM; Vivado only
    Board("arty-a7-35", "amaranth_boards.arty_a7:ArtyA7_35Platform", "xc7", "xc7a35ticsg324-1L",
          {"luts": 20800, "ffs": 41600, "dsps": 90, "memory_bits": 50 * 36864}, loader="arty_a7_35t",
          can_build=False, dsp_width=(25, 18)),
]}


def get_board(name):
    from nn2rtl.errors import ConfigError
    if name not in BOARDS:
        raise ConfigError(f"unknown board {name!r}: choose one of {', '.join(BOARDS)}")
    return BOARDS[name]


# -- clock generators: (parameters, achieved MHz) for a requested output ------------------------------------------

def ice40_pll(fin_mhz, fout_mhz):
    """SB_PLL40 in SIMPLE feedback: fout = fin (DIVF+1) / ((DIVR+1) 2^DIVQ), with the phase detector at 10-133 MHz
    and the VCO at 533-1066 MHz (iCE40 sysCLOCK PLL guide)."""
    best = None
    for divr in range(16):
        fpfd = fin_mhz / (divr + 1)
        if not 10 <= fpfd <= 133:
            continue
        for divf in range(128):
            fvco = fpfd * (divf + 1)
            if not 533 <= fvco <= 1066:
                continue
            for divq in range(1, 7):
                f = fvco / 2 ** divq
                if best is None or abs(f - fout_mhz) < abs(best[1] - fout_mhz) - 1e-9:
                    best = ({"DIVR": divr, "DIVF": divf, "DIVQ": divq,
                             "FILTER_RANGE": next(k for k, lim in enumerate((17, 26, 44, 66, 101), 1) if fpfd < lim)
                             if fpfd < 101 else 6}, f)
    return best


def ecp5_pll(fin_mhz, fout_mhz):
    """EHXPLLL with CLKOP fed back: fout = fin CLKFB_DIV / CLKI_DIV, the VCO = fout CLKOP_DIV at 400-800 MHz, the
    phase detector at least 3.125 MHz (ECP5 sysCLOCK guide, TN1263)."""
    best = None
    for clki in range(1, 129):
        fpfd = fin_mhz / clki
        if fpfd < 3.125 or fpfd > 400:
            continue
        for clkfb in range(1, 81):
            f = fpfd * clkfb
            if best is not None and abs(f - fout_mhz) >= abs(best[1] - fout_mhz) - 1e-9:
                continue
            for clkop in range(1, 129):
                if 400 <= f * clkop <= 800:
                    best = ({"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop}, f)
                    break
    return best


def mmcm(fin_mhz, fout_mhz):
    """MMCME2_BASE: fout = fin M / (D O), the VCO = fin M / D at 600-1200 MHz (7-series, speed grade -1)."""
    best = None
    for d in range(1, 107):
        for m in range(2, 65):
            fvco = fin_mhz * m / d
            if not 600 <= fvco <= 1200 or fin_mhz / d < 10:
                continue
            for o in range(1, 129):
                f = fvco / o
                if best is None or abs(f - fout_mhz) < abs(best[1] - fout_mhz) - 1e-9:
                    best = ({"DIVCLK_DIVIDE": d, "CLKFBOUT_MULT_F": m, "CLKOUT0_DIVIDE_F": o}, f)
    return best


class ClockGenerator:
    """Drives the ``sync`` domain from the board's clock through the family's PLL, held in reset until it locks."""

    PLLS = {"ice40": ice40_pll, "ecp5": ecp5_pll, "xc7": mmcm}

    def __init__(self, family, fin_mhz, fout_mhz):
        from nn2rtl.errors import ConfigError
        found = self.PLLS[family](fin_mhz, fout_mhz)
        if found is None or abs(found[1] - fout_mhz) > 0.01 * fout_mhz:
            near = "" if found is None else f"; the nearest is {found[1]:.3f} MHz"
            raise ConfigError(f"the {family} PLL cannot make {fout_mhz:g} MHz from the board's {fin_mhz:g} MHz "
                              f"within 1 %{near}")
        self.family, self.fin_mhz = family, fin_mhz
        self.params, self.mhz = found

    def elaborate_into(self, m, clk_in):
        """Add the PLL to ``m`` with input ``clk_in`` (on iCE40 the clock pin itself, an I/O port); create, drive
        and return the ``sync`` domain."""
        cd = ClockDomain("sync")
        m.domains += cd
        out, locked = Signal(name="pll_clk"), Signal(name="pll_locked")
        p = self.params
        if self.family == "ice40":
            # the PAD variant: on the UP5K the PLL sits on the clock pin's own I/O site, so it takes the pin
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
                p_DIVR=Const(p["DIVR"], 4), p_DIVF=Const(p["DIVF"], 7), p_DIVQ=Const(p["DIVQ"], 3),
                p_FILTER_RANGE=Const(p["FILTER_RANGE"], 3),
                i_PACKAGEPIN=clk_in, i_RESETB=Const(1), i_BYPASS=Const(0),
                o_PLLOUTGLOBAL=out, o_LOCK=locked)
        elif self.family == "ecp5":
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{self.fin_mhz:g}", a_FREQUENCY_PIN_CLKOP=f"{self.mhz:.6g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
                p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"], p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                i_CLKI=clk_in, i_CLKFB=out, i_RST=Const(0), i_STDBY=Const(0), i_PHASESEL0=Const(0),
                i_PHASESEL1=Const(0), i_PHASEDIR=Const(1), i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1),
                i_PLLWAKESYNC=Const(0), i_ENCLKOP=Const(0), o_CLKOP=out, o_LOCK=locked)
        else:
            fb = Signal()
            m.submodules.pll = Instance(
                "MMCME2_BASE", p_CLKIN1_PERIOD=round(1e3 / self.fin_mhz, 3), p_DIVCLK_DIVIDE=p["DIVCLK_DIVIDE"],
                p_CLKFBOUT_MULT_F=float(p["CLKFBOUT_MULT_F"]), p_CLKOUT0_DIVIDE_F=float(p["CLKOUT0_DIVIDE_F"]),
                i_CLKIN1=clk_in, i_CLKFBIN=fb, o_CLKFBOUT=fb, i_RST=Const(0), i_PWRDWN=Const(0),
                o_CLKOUT0=out, o_LOCKED=locked)
        m.d.comb += cd.clk.eq(out)
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
        return cd
