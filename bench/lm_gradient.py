"""Benchmark lm-gradient against TRAK (``traker``) on the same model, data and parameters.

One run builds a seeded tiny GPT-NeoX (Pythia's architecture, warmed up on the generated
arithmetic task), N training records (clean, wrong, shuffled, off-task) and M validation records,
then featurizes and scores them in fresh subprocesses so peak memory (max RSS) is attributable
to one method:

- ``ours (layers, dot)``: per-record gradients of the response loss w.r.t. the last block, seeded
  CPU Rademacher projection, TracIn dot product with the mean validation gradient;
- ``ours (layers, cosine)``: the same features, LESS cosine;
- ``ours (lora, cosine)``: the default, LoRA-B gradients (no TRAK equivalent);
- ``TRAK``: ``trak.TRAKer`` with its ``FunctionalGradientComputer`` (torch.func), its CPU
  ``BasicProjector`` (Rademacher) at the same ``k``, ``grad_wrt`` = the same parameters, model
  output = minus the response loss; record value = mean TRAK score over the validation targets
  (TRAK's estimator includes the ``(Phi^T Phi)^-1`` kernel, so it ranks differently by design);
- ``TRAK features, dot``: TRAK's own per-sample gradients and projection, scored like ours (dot
  product with the mean validation feature): the same algorithm through the peer's code, so its
  rank agreement with ``ours (layers, dot)`` checks our gradients and projection end to end.

Columns: featurization throughput of the training records (records/s, validation excluded),
Spearman rank correlation of the per-record values with ``ours (layers, dot)`` and with TRAK, and
the worker's max RSS.

    python bench/lm_gradient.py                  # N=512, M=64, hidden 32, 2 layers (CPU, ~1 min)
    python bench/lm_gradient.py --hidden 128 --layers 4 --n 1024
    python bench/lm_gradient.py --device cuda --hidden 768 --layers 12   # Pythia-160m's shape
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _records(n: int, m: int, seed: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    from mia.valuation.tiny_lm import arithmetic_records

    kinds = ("clean", "clean", "wrong", "shuffled", "offtask")
    train = []
    for i in range(n // 16):
        train += arithmetic_records(16, seed + i, kinds[i % len(kinds)])  # type: ignore[arg-type]
    return [r.to_dict() for r in train], [r.to_dict() for r in arithmetic_records(m, seed + 10_000)]


def _load(work: Path) -> tuple[list[Any], list[Any], dict[str, Any]]:
    from mia.valuation.text_records import TextRecord

    spec = json.loads((work / "data.json").read_text())
    return [TextRecord(**r) for r in spec["train"]], [TextRecord(**r) for r in spec["val"]], spec


def worker_ours(work: Path, target: str, out: Path) -> dict[str, Any]:
    from mia.valuation.lm_gradient import LMGradientFeaturizer

    train, val, spec = _load(work)
    f = LMGradientFeaturizer(
        str(work / "model"), target=target, proj_dim=spec["proj_dim"], batch_size=spec["batch"], device=spec["device"]
    )
    fv = f.transform(val)
    t0 = time.perf_counter()
    ft = f.transform(train)
    secs = time.perf_counter() - t0
    dot = ft @ fv.mean(0)
    nt = ft / np.linalg.norm(ft, axis=1, keepdims=True)
    nv = fv / np.linalg.norm(fv, axis=1, keepdims=True)
    np.save(out / f"ours-{target}-dot.npy", dot)
    np.save(out / f"ours-{target}-cosine.npy", nt @ nv.mean(0))
    return {"seconds": secs, "n_params": f.n_params, "param_names": list(f.param_names)}


def worker_trak(work: Path, out: Path) -> dict[str, Any]:
    import torch
    from torch import Tensor
    from trak import TRAKer
    from trak.modelout_functions import AbstractModelOutput
    from trak.projectors import BasicProjector, ProjectionType
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mia.valuation.lm_gradient import collate, encode_records, response_loss

    train, val, spec = _load(work)
    dev = spec["device"]
    tok = AutoTokenizer.from_pretrained(work / "model", local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(work / "model", local_files_only=True, attn_implementation="eager")
    model = model.to(dev).eval()
    names = spec["param_names"]

    class ResponseLossOutput(AbstractModelOutput):
        """Model output f = -(mean response-token loss); d loss / d f = -1 for every record."""

        def __init__(self) -> None:
            super().__init__()

        def get_output(self, model, weights, buffers, input_ids: Tensor, labels: Tensor) -> Tensor:
            out = torch.func.functional_call(model, (weights, buffers), args=(input_ids[None],))
            return -response_loss(out.logits, labels[None])[0]

        def get_out_to_loss_grad(self, model, weights, buffers, batch) -> Tensor:
            return torch.ones(batch[0].shape[0], 1, device=batch[0].device)

    grad_dim = sum(p.numel() for n, p in model.named_parameters() if n in names)
    projector = BasicProjector(
        grad_dim, spec["proj_dim"], seed=0, proj_type=ProjectionType.rademacher, device=dev, max_batch_size=16
    )
    with tempfile.TemporaryDirectory() as save:
        traker = TRAKer(model=model, task=ResponseLossOutput(), train_set_size=len(train), save_dir=save,
                        device=dev, projector=projector, proj_dim=spec["proj_dim"], use_half_precision=False,
                        grad_wrt=names)  # fmt: skip
        traker.load_checkpoint(model.state_dict(), model_id=0)
        enc = encode_records(tok, train, 256)
        t0 = time.perf_counter()
        for s in range(0, len(enc), spec["batch"]):
            ids, lab = collate(enc[s : s + spec["batch"]], tok.pad_token_id or 0)
            traker.featurize(batch=(ids.to(dev), lab.to(dev)), num_samples=ids.shape[0])
        secs = time.perf_counter() - t0
        traker.finalize_features()
        traker.start_scoring_checkpoint(exp_name="val", checkpoint=model.state_dict(), model_id=0, num_targets=len(val))
        venc = encode_records(tok, val, 256)
        for s in range(0, len(venc), spec["batch"]):
            ids, lab = collate(venc[s : s + spec["batch"]], tok.pad_token_id or 0)
            traker.score(batch=(ids.to(dev), lab.to(dev)), num_samples=ids.shape[0])
        scores = np.asarray(traker.finalize_scores(exp_name="val"), dtype=np.float64)
        # TRAK's own gradient + projection pipeline, scored TracIn-style (no kernel inverse): same algorithm as ours
        feats = np.asarray(traker.saver.current_store["grads"], dtype=np.float64)
        vfeats = []
        for s in range(0, len(venc), spec["batch"]):
            ids, lab = collate(venc[s : s + spec["batch"]], tok.pad_token_id or 0)
            g = traker.gradient_computer.compute_per_sample_grad(batch=(ids.to(dev), lab.to(dev)))
            vfeats.append(traker.projector.project(g, model_id=0).detach().cpu().double().numpy())
    np.save(out / "trak.npy", scores.mean(axis=1))
    np.save(out / "trak-features-dot.npy", feats @ np.concatenate(vfeats).mean(0))  # (-g).(-g) = g.g
    return {"seconds": secs, "n_params": grad_dim}


def _run_worker(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"worker {args[:2]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=512, help="training records (multiple of 16)")
    p.add_argument("--m", type=int, default=64, help="validation records")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--proj-dim", type=int, default=1024)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads per worker")
    p.add_argument("--worker", nargs=2, metavar=("KIND", "WORKDIR"), help=argparse.SUPPRESS)
    a = p.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    if a.worker:
        kind, work = a.worker[0], Path(a.worker[1])
        res = worker_trak(work, work) if kind == "trak" else worker_ours(work, kind, work)
        res["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(res))
        return

    from scipy.stats import spearmanr

    from mia.valuation.tiny_lm import build_tiny_lm

    with tempfile.TemporaryDirectory(prefix="mia-bench-lm-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        build_tiny_lm(work / "model", seed=0, hidden=a.hidden, layers=a.layers)
        build_s = time.perf_counter() - t0
        train, val = _records(a.n, a.m, 1)
        spec = {"train": train, "val": val, "proj_dim": a.proj_dim, "batch": a.batch, "device": a.device}
        (work / "data.json").write_text(json.dumps(spec))
        runs = {"layers": _run_worker(["--worker", "layers", str(work), "--threads", str(a.threads)])}
        spec["param_names"] = runs["layers"]["param_names"]
        (work / "data.json").write_text(json.dumps(spec))
        runs["trak"] = _run_worker(["--worker", "trak", str(work), "--threads", str(a.threads)])
        runs["lora"] = _run_worker(["--worker", "lora", str(work), "--threads", str(a.threads)])
        vals = {
            "ours (layers, dot)": np.load(work / "ours-layers-dot.npy"),
            "ours (layers, cosine)": np.load(work / "ours-layers-cosine.npy"),
            "ours (lora, cosine)": np.load(work / "ours-lora-cosine.npy"),
            "TRAK (traker 0.3.2)": np.load(work / "trak.npy"),
            "TRAK features, dot": np.load(work / "trak-features-dot.npy"),
        }
        run_of = {"ours (layers, dot)": "layers", "ours (layers, cosine)": "layers", "ours (lora, cosine)": "lora",
                  "TRAK (traker 0.3.2)": "trak", "TRAK features, dot": "trak"}  # fmt: skip
    n = len(train)
    print(f"\nlm-gradient vs TRAK: tiny GPT-NeoX hidden {a.hidden} x {a.layers} layers (built in {build_s:.1f} s), "
          f"{n} train / {a.m} validation records, k = {a.proj_dim}, batch {a.batch}, {a.device}, "
          f"{a.threads} thread(s)\n")  # fmt: skip
    print("| method | grad params | train records/s | Spearman vs ours (layers, dot) | Spearman vs TRAK "
          "| max RSS (MB) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for name, v in vals.items():
        r = runs[run_of[name]]
        rho_ours = spearmanr(v, vals["ours (layers, dot)"])[0]
        rho_trak = spearmanr(v, vals["TRAK (traker 0.3.2)"])[0]
        print(f"| {name} | {r['n_params']:,} | {n / r['seconds']:.0f} | {rho_ours:.3f} | {rho_trak:.3f} | "
              f"{r['max_rss_mb']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
