"""The RTL fuzzer at length: random models (tests/helpers/random_models.py) through convert and Verilator.

    python benchmarks/fuzz_rtl.py [--examples 500] [--seed 1] [--hls]

Prints the count per outcome (bit-exact, refused with a message, failed) and the refusal messages by kind; each
failure's case is saved to benchmarks/results/fuzz_rtl_failures/<n>.json (the drawn case, see
tests/helpers/random_models.py) with the failed checks, to become a regression test. With ``--hls`` the HLS C++
back end, compiled with g++, must give the golden model's bits too: golden = Verilator = C++."""

import argparse
import collections
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import random_models  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hls", action="store_true", help="also check the HLS C++ back end (g++) on every case")
    args = ap.parse_args()
    counts, refusals, failures = collections.Counter(), collections.Counter(), []
    out = ROOT / "benchmarks" / "results" / "fuzz_rtl_failures"
    t0 = time.perf_counter()

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(random_models.cases())
    def one(case):
        with tempfile.TemporaryDirectory() as d:
            try:
                outcome, detail = random_models.check(case, Path(d), hls=args.hls)
            except AssertionError as e:
                outcome, detail = "failed", str(e)
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{len(failures)}.json").write_text(json.dumps({"case": case, "failed": detail}, indent=1))
                failures.append(case)
        counts[outcome] += 1
        if outcome == "refused":
            refusals[re.sub(r"'[^']*'|\d+", "_", detail)[:120]] += 1
        done = sum(counts.values())
        if done % 25 == 0:
            print(f"{done} cases: {dict(counts)} ({time.perf_counter() - t0:.0f} s)", flush=True)

    one()
    print(f"\n{sum(counts.values())} random models in {time.perf_counter() - t0:.0f} s")
    for k in ("ok", "refused", "failed"):
        print(f"  {k:8s} {counts[k]}")
    for msg, n in refusals.most_common():
        print(f"  refused x{n}: {msg}")
    if failures:
        print(f"failures saved in {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
