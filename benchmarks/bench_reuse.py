"""Reuse-factor sweep of a model: schedule, estimate, simulation and synthesis, as a table and a plot.

For every R: convert (latency, II, multipliers, register and ROM estimate, conversion time), simulate in Verilator
(latency and II measured, bit-exactness), and synthesize with Yosys for each target (LUT, FF, DSP; for ECP5 also
nextpnr's fmax when the design fits the LFE5U-85F). Synthesis results are cached by design hash (see
``nn2rtl/synth.py``), so a second run only prints.

    python benchmarks/bench_reuse.py                       # the bundled example, R in 1 2 4 8 16 32, xcup + ecp5
    python benchmarks/bench_reuse.py --reuse 4 8 --targets ecp5 --no-sim

Writes ``benchmarks/results/reuse_sweep.{json,md,png}`` (``--out`` to change).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nn2rtl  # noqa: E402
from nn2rtl.errors import ToolError  # noqa: E402
from nn2rtl.synth import synthesize  # noqa: E402


def progress(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def sweep(model, reuses, targets, simulate, vectors, timeout=None, top=None, flatten=True, config=None):
    """Per reuse factor: the schedule's figures, optionally a Verilator run, and Yosys (and nextpnr) per target.
    A tool that fails or runs longer than ``timeout`` seconds is recorded as such, and the sweep goes on."""
    rows = []
    for r in reuses:
        t0 = time.perf_counter()
        design = nn2rtl.convert(model, reuse=r, top=f"{top or Path(model).stem}_r{r}", config=config)
        convert_s = time.perf_counter() - t0
        tot = design.report()["totals"]
        row = {"reuse": r, "latency": design.latency, "ii": design.ii, "multipliers": tot["multipliers"],
               "registers_est": tot["registers"], "rom_bits_est": tot["rom_bits"], "convert_s": round(convert_s, 2),
               "verilog_kib": round(len(design.verilog.encode()) / 1024),
               "layers": [{k: layer.get(k) for k in ("name", "op", "latency", "ii", "multipliers", "reuse_factor")}
                          for layer in design.report()["layers"]]}
        if simulate:
            with tempfile.TemporaryDirectory() as work:
                s = design.simulate(vectors=vectors, work_dir=work)
            if not (s.bit_exact and s.latency_ok and s.ii_ok):
                raise SystemExit(f"R={r}: simulation disagrees: bit-exact {s.bit_exact}, latency "
                                 f"{s.latency_min}..{s.latency_max} vs {design.latency}, II {s.ii_back_to_back} vs "
                                 f"{design.ii}")
            row.update(sim_latency=s.latency_min, sim_ii=s.ii_back_to_back[0], sim_vectors=s.vectors,
                       build_s=round(s.build_seconds, 1))
        for target in targets:
            progress(f"R={r}: synthesizing for {target}")
            try:
                res = synthesize(design.verilog, design.top, target, progress=progress, timeout=timeout,
                                 flatten=flatten)
            except ToolError as e:
                row[target] = {"error": str(e)}
                progress(f"R={r}: {target}: {e}")
                continue
            row[target] = {k: res.get(k) for k in ("luts", "ffs", "dsps", "memories", "lutram", "fmax_mhz", "fits",
                                                    "seconds", "seconds_pnr")}
        rows.append(row)
        progress(json.dumps(row))
    return rows


def table(rows, targets):
    head = ["R", "latency", "II", "mults", "FF est", "ROM bits"]
    if "sim_latency" in rows[0]:
        head += ["sim lat", "sim II"]
    for t in targets:
        head += [f"{t} LUT", f"{t} FF", f"{t} DSP"] + (["ecp5 fmax MHz"] if t == "ecp5" else [])
    lines = [head]
    for row in rows:
        cells = [row["reuse"], row["latency"], row["ii"], row["multipliers"], row["registers_est"],
                 row["rom_bits_est"]]
        if "sim_latency" in row:
            cells += [row["sim_latency"], row["sim_ii"]]
        for t in targets:
            s = row[t]
            if "error" in s:
                word = "timeout" if "did not finish" in s["error"] else "failed"
                cells += [word, word, word] + (["-"] if t == "ecp5" else [])
                continue
            cells += [s["luts"], s["ffs"], s["dsps"]]
            if t == "ecp5":
                cells.append("-" if not s.get("fits") else (s.get("fmax_mhz") or "-"))
        lines.append([str(c) for c in cells])
    md = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(lines[0])]
    md += ["| " + " | ".join(c) + " |" for c in lines[1:]]
    widths = [max(len(r[k]) for r in lines) for k in range(len(head))]
    txt = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in lines]
    return "\n".join(txt), "\n".join(md)


def plot(rows, targets, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rs = [r["reuse"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    a.loglog(rs, [r["multipliers"] for r in rows], "o-", label="multipliers (schedule)")
    a.loglog(rs, [rows[0]["multipliers"] / r for r in rs], ":", color="grey", label="1/R")
    for t in [t for t in targets if all("error" not in r[t] for r in rows)]:
        a.loglog(rs, [r[t]["luts"] for r in rows], "s-", label=f"{t} LUTs")
        a.loglog(rs, [r[t]["ffs"] for r in rows], "^--", label=f"{t} FFs")
        a.loglog(rs, [max(r[t]["dsps"], 0.8) for r in rows], "d-.", label=f"{t} DSPs")
    a.set_xlabel("reuse factor R")
    a.set_title("resources (Yosys)")
    a.set_xticks(rs, [str(r) for r in rs])
    a.legend(fontsize=7)
    b.plot(rs, [r["latency"] for r in rows], "o-", label="latency (cycles)")
    b.plot(rs, [r["ii"] for r in rows], "s--", label="II (cycles)")
    if "sim_latency" in rows[0]:
        b.plot(rs, [r["sim_latency"] for r in rows], "x", ms=10, color="k", label="latency measured in Verilator")
    b.set_xscale("log", base=2)
    b.set_xticks(rs, [str(r) for r in rs])
    b.set_xlabel("reuse factor R")
    b.set_title("latency and initiation interval")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "examples" / "jet_mlp.onnx"))
    p.add_argument("--reuse", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    p.add_argument("--targets", nargs="*", default=["xcup", "ecp5"])
    p.add_argument("--no-sim", action="store_true", help="skip the Verilator runs")
    p.add_argument("--vectors", type=int, default=300)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args()
    rows = sorted(sweep(args.model, args.reuse, args.targets, not args.no_sim, args.vectors), key=lambda r: r["reuse"])
    txt, md = table(rows, args.targets)
    print(txt)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reuse_sweep.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "reuse_sweep.md").write_text(f"Reuse sweep of `{Path(args.model).name}`\n\n{md}\n")
    plot(rows, args.targets, out / "reuse_sweep.png")
    print(f"wrote {out / 'reuse_sweep.md'} and {out / 'reuse_sweep.png'}")


if __name__ == "__main__":
    main()
