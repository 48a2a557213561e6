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


def _g(d: object, *keys: object) -> object:
    """d[k1][k2]... or None."""
    for k in keys:
        try:
            d = d[k]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return d


def _headlines(runs: dict[str, dict]) -> list[tuple[str, str, str]]:
    """(what, result, target) rows from the benchmarks' JSON results."""
    out: list[tuple[str, str, str]] = []

    def res(name: str) -> dict:
        r = runs.get(name, {}).get("result")
        return r if isinstance(r, dict) else {}

    v = res("vs_rclip")
    if v.get("ratio") is not None:
        out.append((f"vs rclip, {v.get('count')} camera JPEGs, end to end",
                    f"{_g(v, 'clipgallery', 'photos_per_s')} vs {_g(v, 'rclip', 'photos_per_s')}"
                    f" photos/s: {v['ratio']}x (float32: {v.get('ratio_fp32')}x)", ">= 3x"))
    for row in res("index").get("rows", []):
        out.append((f"indexing vs ceiling / naive, grain {row.get('grain')}",
                    f"{row.get('end_to_end_per_s')}/s = {row.get('e2e_vs_ceiling')} of "
                    f"{row.get('ceiling_per_s')}/s; {row.get('e2e_vs_naive')}x naive",
                    ">= 0.9, >= 2.5x"))
    rows = [r for r in res("search").get("rows", []) if isinstance(r, dict)]
    if rows:
        n = max(r.get("n", 0) for r in rows)
        best = [r for r in rows if r.get("n") == n]
        r = next((r for r in best if r.get("ef") == 200), best[-1])
        out.append((f"search, {n:,} vectors (ef {r.get('ef')})",
                    f"p50 {r.get('p50_ms')} ms, recall@100 {r.get('recall_at_100')}",
                    "<= 5 ms, >= 0.98"))
    q = res("query")
    if q.get("p50_ms") is not None:
        out.append((f"text query -> top-100 rows, {q.get('photos'):,} photos",
                    f"p50 {q['p50_ms']:.1f} ms", "<= 30 ms"))
    a = res("app")
    d = a.get("startup_default") or {}
    if d:
        out.append(("start-up -> window / first search",
                    f"{d.get('window_s')} s / {d.get('first_search_s')} s", "<= 1 s / <= 3 s"))
        out.append((f"peak RSS, {a.get('photos'):,} photos", f"{d.get('peak_rss_mb')} MB",
                    "<= 1200 MB"))
    w = a.get("watch") or {}
    if w:
        out.append(("watch -> searchable, p50", f"{w.get('p50_s')} s", "<= 2 s"))
    b = res("burst")
    if b.get("max_stall_ms") is not None:
        out.append((f"burst of {b.get('count'):,}: exactly once / longest UI stall",
                    f"{b.get('exactly_once')} / {b['max_stall_ms']:.0f} ms", "< 500 ms"))
    return out


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
    rows = _headlines(summary["runs"])
    summary["headlines"] = [{"what": a, "result": b, "target": c} for a, b, c in rows]
    out.write_text(json.dumps(summary, indent=2))
    print()
    for what, result, target in rows:
        print(f"{what:50} {result:50} {target}")


if __name__ == "__main__":
    main()
