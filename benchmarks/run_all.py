"""Run every benchmark, print one table, write benchmarks/results/all.json.

    .venv/bin/python benchmarks/run_all.py [--quick]

Each benchmark also runs alone (see its docstring).  These machines are shared and
noisy: compare the ratios measured side by side within one run, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import RESULTS, machine

HERE = Path(__file__).resolve().parent

BENCHES = {
    "decode": (["bench_decode.py"], ["bench_decode.py", "--count", "16", "--rounds", "1"]),
    "encoder": (["bench_encoder.py"], ["bench_encoder.py", "--batches", "1,8,32",
                                       "--seconds", "2"]),
    "index": (["bench_index.py"], ["bench_index.py", "--count", "24", "--grain", "8"]),
    "search": (["bench_search.py"], ["bench_search.py", "--sizes", "10000,100000"]),
    "query": (["bench_query.py"], ["bench_query.py", "--photos", "10000"]),
    "app": (["bench_app.py"], ["bench_app.py", "--photos", "20000"]),
    "vs_rclip": (["bench_vs_rclip.py"], ["bench_vs_rclip.py", "--count", "30"]),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--only", help="comma-separated benchmark names")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(BENCHES)
    summary: dict[str, object] = {"machine": machine(), "runs": {}}
    for name in names:
        full, quick = BENCHES[name]
        script = quick if args.quick else full
        if not (HERE / script[0]).is_file():
            print(f"== {name}: {script[0]} missing, skipped")
            continue
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, *script], cwd=HERE)
        result = RESULTS / f"{name}.json"
        summary["runs"][name] = {
            "ok": proc.returncode == 0, "seconds": round(time.perf_counter() - t0, 1),
            "result": json.loads(result.read_text()) if result.is_file() else None}
    out = RESULTS / "all.json"
    out.write_text(json.dumps(summary, indent=2))
    print(f"\nwritten {out}")
    for name, run in summary["runs"].items():
        print(f"{name:10} {'ok' if run['ok'] else 'FAILED':6} {run['seconds']:7.1f} s")


if __name__ == "__main__":
    main()
