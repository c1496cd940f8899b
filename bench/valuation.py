"""Benchmark the valuation engine against pyDVL on the same workload.

Each measurement runs in a fresh subprocess so peak memory (max RSS, or CUDA peak
allocation) is attributable to one method. Workload: a seeded Gaussian mixture,
10 classes, ``d`` dims, ``N`` train x ``M`` validation points, identical for both
libraries (continuous features, so no distance ties and the values must agree).

    python bench/valuation.py                 # full: 10k / 100k vs pyDVL, 1M ours
    python bench/valuation.py --quick         # small sizes, seconds
    python bench/valuation.py --device cuda   # ours on GPU (pyDVL is CPU/NumPy only)

pyDVL's cost is linear in ``M`` (a Python loop over all N per validation point), so
when a full run would exceed ``--pydvl-cap`` seconds it is run on the first ``m``
validation points and its time is extrapolated to ``M`` (marked "extrapolated").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_data(n: int, m: int, d: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Seeded 10-class Gaussian mixture; 10% label noise so values are non-trivial."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1.0, (10, d))
    yt = rng.integers(0, 10, n)
    yv = rng.integers(0, 10, m)
    xt = centers[yt] + rng.normal(0, 1.5, (n, d))
    xv = centers[yv] + rng.normal(0, 1.5, (m, d))
    noisy = rng.random(n) < 0.1
    yt = np.where(noisy, rng.integers(0, 10, n), yt)
    return xt, yt, xv, yv


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _loadavg() -> str:
    """`/proc/loadavg`'s 1-minute figure: the machine may be shared, so say how busy it was."""
    try:
        with open("/proc/loadavg") as fh:
            return fh.read().split()[0]
    except OSError:
        return "?"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------- workers


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Runs inside the subprocess; prints one JSON line."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    xt, yt, xv, yv = make_data(args.n, args.m, args.d, args.seed)
    xv, yv = xv[: args.m_run], yv[: args.m_run]
    out: dict[str, Any] = {"threads": torch.get_num_threads()}
    if args.worker == "ours":
        sys.path.insert(0, str(ROOT))
        from mia.valuation import knn_shapley

        dev = torch.device(args.device)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        base = _rss_mb()
        t0 = time.perf_counter()
        vals = knn_shapley(xt, yt, xv, yv, k=args.k, device=dev, progress=args.progress)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        out["seconds"] = time.perf_counter() - t0
        vals = vals.cpu().numpy()
        if dev.type == "cuda":
            out["peak_gpu_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    elif args.worker == "floor":
        # this machine's floor for the same work, in the same process layout: the distance
        # matmul alone, and a plain (unstable, values-only) sort of the same N x M float64
        # distances, row-chunked like ours and threaded the same way
        from concurrent.futures import ThreadPoolExecutor

        sys.path.insert(0, str(ROOT))
        from mia.valuation.knn_shapley import DEFAULT_MEMORY_BUDGET, ROW_BLOCK, auto_batch_size

        xt_t, xv_t = torch.tensor(xt), torch.tensor(xv)
        sq = (xt_t * xt_t).sum(1)
        bs = -(-auto_batch_size(args.n, args.m_run, DEFAULT_MEMORY_BUDGET) // ROW_BLOCK) * ROW_BLOCK
        workers = torch.get_num_threads()
        base = _rss_mb()
        t_mm = t_sort = 0.0
        with ThreadPoolExecutor(workers) as ex:
            for s in range(0, args.m_run, bs):
                t0 = time.perf_counter()
                keys = (sq.unsqueeze(0) - 2.0 * (xv_t[s : s + bs] @ xt_t.T)).numpy()
                t_mm += time.perf_counter() - t0
                step = -(-keys.shape[0] // workers)
                t0 = time.perf_counter()
                list(ex.map(lambda r, k=keys, st=step: k[r : r + st].sort(axis=1), range(0, keys.shape[0], step)))
                t_sort += time.perf_counter() - t0
        out["seconds"] = t_mm + t_sort
        out["matmul_s"] = t_mm
        out["sort_s"] = t_sort
        vals = np.zeros(args.n)
    elif args.worker == "pydvl":
        import warnings

        warnings.filterwarnings("ignore")
        from pydvl.valuation.dataset import Dataset
        from pydvl.valuation.methods.knn_shapley import KNNShapleyValuation
        from sklearn.neighbors import KNeighborsClassifier

        train, test = Dataset(xt, yt), Dataset(xv, yv)
        base = _rss_mb()
        t0 = time.perf_counter()
        v = KNNShapleyValuation(KNeighborsClassifier(n_neighbors=args.k), test, progress=False)
        res = v.fit(train).result
        out["seconds"] = time.perf_counter() - t0
        vals = np.zeros(args.n)
        vals[res.indices] = res.values
    elif args.worker == "mc":
        sys.path.insert(0, str(ROOT))
        from mia.valuation import MCShapleyEstimator
        from mia.valuation.estimators import ValuationTask

        dev = torch.device(args.device)
        groups = torch.arange(args.n) * args.providers // args.n
        task = ValuationTask(
            torch.tensor(xt, device=dev),
            torch.tensor(yt, device=dev),
            groups.to(dev),
            args.providers,
            torch.tensor(xv, device=dev),
            torch.tensor(yv, device=dev),
            10,
        )
        base = _rss_mb()
        t0 = time.perf_counter()
        est = MCShapleyEstimator(
            k=args.k,
            max_permutations=10**9,
            stderr_tol=None,
            max_seconds=args.mc_seconds,
        )
        res = est.estimate(task, seed=0, progress=args.progress)
        out["seconds"] = time.perf_counter() - t0
        out["utility_evals"] = res.metadata["utility_evals"]
        out["permutations"] = res.metadata["samples"]
        out["max_stderr"] = max(res.metadata["stderr"])
        vals = res.group_values
    else:
        raise ValueError(args.worker)
    out["peak_rss_mb"] = _peak_rss_mb()
    out["base_rss_mb"] = base
    if args.save_values:
        np.save(args.save_values, vals)
    return out


def run_worker(kind: str, n: int, m: int, m_run: int, opts: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--n",
        str(n),
        "--m",
        str(m),
        "--m-run",
        str(m_run),
        "--d",
        str(opts.d),
        "--k",
        str(opts.k),
        "--device",
        opts.device if kind != "pydvl" else "cpu",
        "--threads",
        str(opts.threads),
    ]
    for key, val in extra.items():
        cmd += [f"--{key.replace('_', '-')}", str(val)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------- driver


def bench_knn(n: int, opts: argparse.Namespace, with_pydvl: bool, tmp: Path) -> dict[str, Any]:
    m = opts.m
    row: dict[str, Any] = {"n": n, "m": m}
    row["load_before"] = _loadavg()
    ours = run_worker("ours", n, m, m, opts, save_values=tmp / f"ours_{n}.npy")
    row["ours_s"] = ours["seconds"]
    if not opts.device.startswith("cuda"):
        floor = run_worker("floor", n, m, m, opts)
        row["floor_sort_s"] = floor["sort_s"]
        row["floor_matmul_s"] = floor["matmul_s"]
        row["vs_floor"] = row["ours_s"] / (floor["sort_s"] + floor["matmul_s"])
        row["vs_sort"] = row["ours_s"] / floor["sort_s"]
    row["load_after"] = _loadavg()
    row["ours_mem_mb"] = ours.get("peak_gpu_mb", ours["peak_rss_mb"] - ours["base_rss_mb"])
    row["threads"] = ours["threads"]
    if with_pydvl:
        # probe on a few validation points, then decide full run vs extrapolation
        m_probe = min(m, max(1, opts.probe))
        py_vals = tmp / f"py_{n}.npy"
        ref = run_worker("pydvl", n, m, m_probe, opts, save_values=py_vals)
        est_full = ref["seconds"] * m / m_probe
        m_run = m if est_full <= opts.pydvl_cap else int(m * opts.pydvl_cap / est_full)
        m_run = min(m, max(m_probe, m_run))
        if m_run > m_probe:
            ref = run_worker("pydvl", n, m, m_run, opts, save_values=py_vals)
        row["pydvl_s"] = ref["seconds"] * m / m_run
        row["pydvl_extrapolated"] = m_run < m
        row["pydvl_m_run"] = m_run
        row["pydvl_mem_mb"] = ref["peak_rss_mb"] - ref["base_rss_mb"]
        row["speedup"] = row["pydvl_s"] / row["ours_s"]
        # agreement on the validation points both ran
        ours_vals = tmp / f"ours_{n}.npy"
        if m_run < m:
            ours_vals = tmp / f"ours_sub_{n}.npy"
            run_worker("ours", n, m, m_run, opts, save_values=ours_vals)
        diff = np.abs(np.load(ours_vals) - np.load(py_vals))
        row["max_abs_diff"] = float(diff.max())
    return row


def fmt(x: Any, spec: str = ".2f") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return format(x, spec)
    return str(x)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    p.add_argument("--device", default="cpu", help="device for our engine (cpu, cuda, cuda:1...)")
    p.add_argument("--sizes", type=str, default=None, help="comma list of N compared with pyDVL")
    p.add_argument("--big", type=str, default=None, help="comma list of N, ours only")
    p.add_argument("--m", type=int, default=None, help="validation points (default 1000)")
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument(
        "--pydvl-cap",
        type=float,
        default=120.0,
        help="seconds per pyDVL run before extrapolating",
    )
    p.add_argument(
        "--probe",
        type=int,
        default=20,
        help="validation points in the pyDVL timing probe",
    )
    p.add_argument("--mc-providers", type=str, default=None, help="comma list of provider counts")
    p.add_argument("--mc-n", type=int, default=None, help="records in the MC Shapley benchmark")
    p.add_argument("--mc-seconds", type=float, default=None)
    p.add_argument("--no-pydvl", action="store_true")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--json", type=str, default=None, help="also write results as JSON here")
    # worker-only
    p.add_argument("--worker", choices=["ours", "pydvl", "mc", "floor"], help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--m-run", type=int, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--providers", type=int, default=10, help=argparse.SUPPRESS)
    p.add_argument("--save-values", type=str, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        if args.mc_seconds is None:
            args.mc_seconds = 10.0
        print(json.dumps(worker(args)))
        return 0

    quick = args.quick
    args.m = args.m or (200 if quick else 1000)
    sizes = [int(s) for s in (args.sizes or ("2000,10000" if quick else "10000,100000")).split(",") if s]
    big = [int(s) for s in (args.big if args.big is not None else ("100000" if quick else "1000000")).split(",") if s]
    mc_default = "10,50" if quick else "10,50,100"
    mc_spec = args.mc_providers if args.mc_providers is not None else mc_default
    mc_providers = [int(s) for s in mc_spec.split(",") if s]
    mc_n = args.mc_n or (5000 if quick else 10000)
    args.mc_seconds = args.mc_seconds or (5.0 if quick else 20.0)
    with_pydvl = not args.no_pydvl
    if with_pydvl:
        try:
            import pydvl  # noqa: F401
        except ImportError:
            print(
                "pyDVL not installed: comparing nothing (pip install pydvl==0.10.0)",
                file=sys.stderr,
            )
            with_pydvl = False

    import tempfile

    import torch

    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "device": args.device,
        "torch": torch.__version__,
        "knn": [],
        "knn_big": [],
        "mc": [],
    }
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for n in sizes:
            print(f"KNN-Shapley N={n} M={args.m} ...", file=sys.stderr, flush=True)
            results["knn"].append(bench_knn(n, args, with_pydvl, tmp))
        for n in big:
            print(
                f"KNN-Shapley N={n} M={args.m} (ours only) ...",
                file=sys.stderr,
                flush=True,
            )
            results["knn_big"].append(bench_knn(n, args, False, tmp))
        for n_prov in mc_providers:
            print(
                f"MC Shapley providers={n_prov} N={mc_n} ...",
                file=sys.stderr,
                flush=True,
            )
            r = run_worker(
                "mc",
                mc_n,
                args.m,
                args.m,
                args,
                providers=n_prov,
                mc_seconds=args.mc_seconds,
            )
            results["mc"].append(
                {
                    "providers": n_prov,
                    "n": mc_n,
                    "m": args.m,
                    "seconds": r["seconds"],
                    "utility_evals": r["utility_evals"],
                    "evals_per_s": r["utility_evals"] / r["seconds"],
                    "permutations": r["permutations"],
                    "max_stderr": r["max_stderr"],
                }
            )

    print(render(results, args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render(res: dict[str, Any], args: argparse.Namespace) -> str:
    """Markdown tables for the KNN-Shapley and Monte-Carlo results."""
    gpu = str(args.device).startswith("cuda")
    mem = "peak GPU MB" if gpu else "peak RSS MB"
    knn_head = ["N train", "M val", "ours s", "floor: sort s", "floor: matmul s", "ours / floor", "ours / sort"]
    knn_head += [f"ours {mem}", "pyDVL s", "pyDVL peak RSS MB", "speedup vs pyDVL", "max abs diff", "load"]
    lines = [
        f"### Exact KNN-Shapley (k={args.k}, d={args.d}, device={res['device']},"
        f" torch {res['torch']}, {res['machine']})",
        "",
        _row(knn_head),
        _row(["---:"] * len(knn_head)),
    ]
    for r in res["knn"] + res["knn_big"]:
        py_s = fmt(r.get("pydvl_s"))
        if r.get("pydvl_extrapolated"):
            py_s += f" (extrapolated from M={r['pydvl_m_run']})"
        speed = r.get("speedup")
        cells = [f"{r['n']:,}", f"{r['m']:,}", fmt(r["ours_s"]), fmt(r.get("floor_sort_s"))]
        cells += [fmt(r.get("floor_matmul_s")), fmt(r.get("vs_floor")), fmt(r.get("vs_sort"))]
        cells += [fmt(r["ours_mem_mb"], ".0f"), py_s, fmt(r.get("pydvl_mem_mb"), ".0f")]
        cells += [f"{speed:.1f}x" if speed else "-", fmt(r.get("max_abs_diff"), ".1e")]
        cells += [f"{r.get('load_before', '?')}-{r.get('load_after', '?')}"]
        lines.append(_row(cells))
    mc_head = ["providers", "N records", "M val", "seconds", "coalition utilities"]
    mc_head += ["utilities/s", "permutations", "max stderr"]
    lines += [
        "",
        "Memory: peak RSS minus RSS before the call, fresh process per run. pyDVL's"
        " memory on extrapolated rows is for the shorter run (it grows with M)."
        " Floor: this machine, same run, same chunks and threads: the distance matmul plus a"
        " plain values-only sort of the same N x M float64 distances. Load: 1-minute load"
        " average before and after the row (the machine may be shared).",
        "",
        f"### Provider-level Monte-Carlo Shapley (KNN utility, k={args.k}, device={res['device']})",
        "",
        _row(mc_head),
        _row(["---:"] * len(mc_head)),
    ]
    for r in res["mc"]:
        cells = [str(r["providers"]), f"{r['n']:,}", f"{r['m']:,}", fmt(r["seconds"])]
        cells += [f"{r['utility_evals']:,}", fmt(r["evals_per_s"], ",.0f")]
        cells += [f"{r['permutations']:,}", fmt(r["max_stderr"], ".2e")]
        lines.append(_row(cells))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
