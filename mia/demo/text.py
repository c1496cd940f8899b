"""`mia demo --task text`: the audited auction of :mod:`mia.demo.numeric`, buying instruction data for an LM.

Seven providers sell prompt/response records for the buyer's arithmetic task: three clean ones at
different costs, one whose answers are wrong, one that copied the first provider's records, one
selling off-task text, and one that never reveals. The buyer's model is a tiny GPT-NeoX (Pythia's
architecture) built and warmed up here from a seeded init; each oracle of the 2-of-3 committee
values the records with ``lm-gradient`` (LoRA gradient features, LESS cosine to the buyer's
validation gradients, exact duplicates credited once) and signs a transcript that commits to the
model's content hash. The chain side -- escrow, sealed bids, reports, settlement, audit -- is the
numeric demo's driver, unchanged.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from rich.console import Console

from mia.demo.numeric import DemoMarket, ProviderSpec, run_demo
from mia.oracle.text_scoring import METHOD_LM_GRADIENT, score_text_providers, text_task_hash
from mia.protocol.merkle import merkle_root
from mia.valuation import ProviderData
from mia.valuation.lm_gradient import LMGradientFeaturizer
from mia.valuation.text_records import TextRecord
from mia.valuation.tiny_lm import arithmetic_records, build_tiny_lm, disjoint_clean_records

__all__ = ["TEXT_SPECS", "TextDemoMarket", "make_text_datasets", "run_text_demo"]

RECORDS = 16  # per provider
TEXT_SPECS = [
    ProviderSpec("tutor-A", 300, "clean", slice(0, RECORDS)),
    ProviderSpec("tutor-B", 400, "clean", slice(0, RECORDS)),
    ProviderSpec("school-C", 900, "clean", slice(0, RECORDS)),
    ProviderSpec("forum-D", 200, "wrong", slice(0, RECORDS)),
    ProviderSpec("copycat-E", 150, "copy", slice(0, RECORDS)),
    ProviderSpec("blog-F", 100, "offtask", slice(0, RECORDS)),
    ProviderSpec("ghost-G", 300, "silent", slice(0, RECORDS)),
]


def make_text_datasets(seed: int = 11) -> tuple[list[list[TextRecord]], list[TextRecord]]:
    """Each spec's records (a copier re-sells tutor-A's) and the buyer's validation records."""
    clean = iter(disjoint_clean_records([RECORDS] * sum(s.kind in ("clean", "silent") for s in TEXT_SPECS), seed))
    data: list[list[TextRecord]] = []
    for i, spec in enumerate(TEXT_SPECS):
        if spec.kind == "copy":
            data.append(list(data[0]))
        elif spec.kind in ("clean", "silent"):
            data.append(next(clean))
        else:
            # the remaining TEXT_SPECS kinds (wrong, offtask) are RecordKind values
            data.append(arithmetic_records(RECORDS, seed + i, spec.kind))  # type: ignore[arg-type]
    return data, arithmetic_records(32, seed + 100)


class TextDemoMarket(DemoMarket):
    """The demo market with text records, a tiny LM and lm-gradient valuation."""

    specs = TEXT_SPECS
    faulty_target = "forum-D"
    valuation = "lm-gradient: LoRA gradients, LESS cosine"

    def make_data(self, workdir: Path):
        task = self.progress.add_task("build and warm up the buyer's tiny GPT-NeoX (seeded)", total=1)
        self.model_dir = build_tiny_lm(workdir / "model", seed=0, steps=300)  # knows the task: bad data values < 0
        self.progress.advance(task)
        # every oracle loads the model itself; the task hash pins its content hash
        self.featurizers = [LMGradientFeaturizer(str(self.model_dir), proj_dim=512) for _ in range(4)]  # one per oracle
        self.model_id = f"tiny-neox:{self.featurizers[0].model_hash[:16]}"
        return make_text_datasets()

    def root(self, data) -> bytes:
        return merkle_root([r.to_dict() for r in data])

    def task_hash(self) -> bytes:
        return text_task_hash(self.validation, self.featurizers[0].params())

    method_id = METHOD_LM_GRADIENT

    def score(self, revealed, data, j):
        providers = [ProviderData(pid, records=recs) for pid, recs in zip(revealed, data, strict=True)]
        return score_text_providers(providers, self.validation, self.featurizers[j], signing_key=self.ed_keys[j])


def run_text_demo(network: str = "embedded", *, console: Console | None = None, workdir: Path | None = None) -> bool:
    """Both rounds of the audited auction on text data; returns the audit verdict.

    One intra-op thread: the tiny model's kernels are far smaller than a thread hand-off.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="mia-text-demo-") as tmp:
            return run_text_demo(network, console=console, workdir=Path(tmp))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_demo(network, console=console, workdir=workdir, market_cls=TextDemoMarket)
    finally:
        torch.set_num_threads(threads)
