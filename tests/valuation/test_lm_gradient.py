"""lm-gradient: text records, gradient features of a tiny GPT-NeoX, and what the values predict.

Nothing is downloaded: the model is built from a config with a seeded init and warmed up here on
the generated arithmetic task. Measured numbers are printed (``pytest -s``) and bounded below.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import shutil

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from mia.valuation import ProviderData, value_providers
from mia.valuation.lm_gradient import (
    LMGradientFeaturizer,
    ModelMismatchError,
    RademacherProjector,
    encode_records,
    featurize_text_inputs,
    featurizer_from_params,
    model_content_hash,
)
from mia.valuation.loaders import LoaderError
from mia.valuation.text_records import TextRecord, load_text_provider, load_text_records, parse_text_record
from mia.valuation.tiny_lm import (
    arithmetic_records,
    build_tiny_lm,
    mean_response_loss,
    train_response_loss,
)
from mia.valuation.transcript import build_transcript, verify_transcript

BAD_KINDS = ("wrong", "shuffled", "offtask")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two shared cores: one intra-op thread is several times faster than two fighting ones."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, one_thread):
    return build_tiny_lm(tmp_path_factory.mktemp("tiny-neox"), seed=0)


@pytest.fixture(scope="module")
def featurizer(model_dir):
    return LMGradientFeaturizer(str(model_dir), proj_dim=1024, seed=0)


@pytest.fixture(scope="module")
def validation():
    return arithmetic_records(64, 1)


# --- text records -----------------------------------------------------------------------------


def test_prompt_response_and_chat_records(tmp_path):
    f = tmp_path / "p.jsonl"
    chat = [{"role": "system", "content": "Add."}, {"role": "user", "content": "2+3?"},
            {"role": "assistant", "content": "5"}]  # fmt: skip
    f.write_text(json.dumps({"prompt": "Q: 1+1=? A:", "response": " 2"}) + "\n\n" + json.dumps({"messages": chat}))
    recs = load_text_records(f)
    assert recs[0] == TextRecord("Q: 1+1=? A:", " 2")
    assert recs[1].response == "5" and recs[1].prompt.endswith("<|user|>\n2+3?\n<|assistant|>\n")


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("{not json", "line 2: invalid JSON"),
        ('{"prompt": "a"}', "line 2: missing field 'response'"),
        ('{"prompt": "a", "response": ""}', "line 2: 'response' is empty"),
        ('{"prompt": 3, "response": "x"}', "line 2: 'prompt' must be a string"),
        ('{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}',
         "line 2: the last message must be the assistant's"),
        ('{"messages": [{"role": "bot", "content": "a"}, {"role": "assistant", "content": "b"}]}',
         "line 2: message 0 has role 'bot'"),
        ('{"messages": [], "prompt": "a"}', "line 2: give either 'messages' or 'prompt'/'response'"),
    ],
)  # fmt: skip
def test_schema_errors_name_the_line(tmp_path, line, needle):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"prompt": "ok", "response": "fine"}\n' + line + "\n")
    with pytest.raises(LoaderError, match="provider P") as exc:
        load_text_provider(f, "P", strict=True)
    assert needle in str(exc.value) and "bad.jsonl" in str(exc.value)
    assert needle in load_text_provider(f, "P").error  # the oracle's mode: an error, not an exception


def test_loss_covers_response_tokens_only(featurizer):
    (ids, labels), = encode_records(featurizer.tokenizer, [TextRecord("Q: 2+2=? A:", " 4")], 64)  # fmt: skip
    n_prompt = len("Q: 2+2=? A:")  # the tokenizer is character level
    assert labels[:n_prompt] == [-100] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:] and len(ids) - n_prompt == len(" 4") + 1  # + EOS
    # a chat record: the whole history is prompt, only the assistant's last message carries loss
    chat = parse_text_record(
        {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}, "P", None, 1
    )
    (ids, labels), = encode_records(featurizer.tokenizer, [chat], 64)  # fmt: skip
    assert sum(t != -100 for t in labels) == len("4") + 1 and featurizer.tokenizer.decode(ids[-2:-1]) == "4"


# --- projection ---------------------------------------------------------------------------------


def test_projection_is_seeded_and_pinned():
    a = RademacherProjector(1000, 64, seed=3, chunk_rows=256).matrix()
    b = RademacherProjector(1000, 64, seed=3, chunk_rows=256, cache_bytes=0).matrix()
    assert torch.equal(a, b) and set(a.unique().tolist()) == {-1.0, 1.0}
    assert not torch.equal(a, RademacherProjector(1000, 64, seed=4, chunk_rows=256).matrix())
    # the matrix is drawn by the CPU generator alone: pinned, so a torch upgrade that changed it would show here
    digest = hashlib.sha256(a.to(torch.int8).numpy().tobytes()).hexdigest()[:16]
    assert digest == PINNED_PROJECTION_DIGEST


PINNED_PROJECTION_DIGEST = "cd0192f9847dab8b"


def test_projected_scores_match_exact_gradient_products(featurizer, validation):
    """JL bound: |<Pa,Pb> - <a,b>| <= 6 sqrt(2/k) |a||b| for every pair (6 sigma of the Rademacher estimator)."""
    recs = arithmetic_records(24, 5) + arithmetic_records(24, 6, "wrong")
    g_train, g_val = featurizer.gradients(recs), featurizer.gradients(validation)
    p_train, p_val = featurizer.transform(recs), featurizer.transform(validation)
    exact = g_train.double() @ g_val.double().T
    approx = torch.as_tensor(p_train @ p_val.T)
    scale = g_train.double().norm(dim=1)[:, None] * g_val.double().norm(dim=1)[None, :]
    k = featurizer.proj_dim
    worst = float(((approx - exact).abs() / scale).max())
    print(f"\nprojection k={k}, n={featurizer.n_params}: max |error| / (|a||b|) = {worst:.4f} "
          f"(bound {6 * math.sqrt(2 / k):.4f})")  # fmt: skip
    assert featurizer.n_params > k  # the projection really compresses
    assert worst <= 6 * math.sqrt(2 / k)
    exact_scores, proj_scores = exact.mean(1).numpy(), approx.mean(1).numpy()
    assert spearmanr(exact_scores, proj_scores)[0] >= 0.95


# --- valuation ------------------------------------------------------------------------------------


def _providers(specs, seed0):
    return [
        ProviderData(f"{kind}-{i}", records=arithmetic_records(n, seed0 + i, kind)) for i, (kind, n) in enumerate(specs)
    ]


def test_bad_data_ranks_below_clean(featurizer, validation):
    """Equal-size providers; detection rate = share of (clean, bad) pairs where clean is valued higher."""
    specs = [("clean", 16)] * 4 + [(k, 16) for k in BAD_KINDS for _ in range(4)]
    providers, val = featurize_text_inputs(_providers(specs, 300), validation, featurizer)
    rates = {}
    for score in ("cosine", "dot"):
        v = value_providers(providers, val, method="lm-gradient", score=score).marginal_utility
        rates[score] = {kind: float(np.mean([c > b for c in v[:4] for b in v[4 + 4 * j : 8 + 4 * j]]))
                        for j, kind in enumerate(BAD_KINDS)}  # fmt: skip
    print(f"\ndetection rate (clean valued above bad, 16 pairs per kind): {rates}")
    # measured with the shared-record and own-repeat credit rules: 0.625 overall, each kind >= 0.5625
    assert np.mean(list(rates["cosine"].values())) >= 0.6 and min(rates["cosine"].values()) >= 0.5


def test_values_predict_retraining(model_dir, featurizer, validation):
    """Spearman(provider value, drop in validation loss from fine-tuning with vs without the provider).

    Nine providers of 24 records whose clean share runs 0, 1/8, ..., 1 (the rest wrong, shuffled or
    off-task). Fine-tuning is 5 steps of full-batch gradient descent on the pooled records' summed
    loss (the regime TracIn/LESS approximate), from the same model the features come from.
    """
    from transformers import AutoModelForCausalLM

    raw = []
    for i in range(9):
        n_clean = 3 * i
        recs = arithmetic_records(n_clean, 500 + i) if n_clean else []
        if n_clean < 24:
            recs += arithmetic_records(24 - n_clean, 600 + i, BAD_KINDS[i % 3])
        raw.append(ProviderData(f"mix-{i}", records=recs))
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = featurizer.tokenizer
    n_all = sum(len(p.records) for p in raw)

    def val_loss_after(records):
        m = copy.deepcopy(base)
        train_response_loss(m, tok, records, steps=5, lr=0.1, batch_size=n_all, optimizer="sgd")  # sum / n_all
        return mean_response_loss(m, tok, validation)

    providers, val = featurize_text_inputs(raw, validation, featurizer)
    results = {s: value_providers(providers, val, method="lm-gradient", score=s) for s in ("cosine", "dot")}
    # the buyer trains on what it pays for: each provider's credited records (copies of earlier ones get none)
    bought = [[r for r, ok in zip(p.records, pv.credited, strict=True) if ok]
              for p, pv in zip(raw, results["cosine"].providers, strict=True)]  # fmt: skip
    with_all = val_loss_after([r for b in bought for r in b])
    drop = [val_loss_after([r for j, b in enumerate(bought) if j != i for r in b]) - with_all for i in range(9)]
    rho = {s: spearmanr(res.marginal_utility, drop)[0] for s, res in results.items()}
    print(f"\nretraining rank correlation (Spearman, 9 providers): {rho}")
    assert rho["cosine"] >= 0.5  # measured 0.57 with the shared-record and own-repeat credit rules


def test_copied_records_get_no_credit(featurizer, validation):
    recs = arithmetic_records(16, 7)
    providers, val = featurize_text_inputs(
        [
            ProviderData("orig", records=recs),
            ProviderData("copy", records=recs[:8] + arithmetic_records(8, 8, "offtask")),
        ],
        validation[:16],
        featurizer,
    )
    res = value_providers(providers, val, method="lm-gradient")
    # a record held by two providers is credited to neither (docs/valuation.md): copying earns nothing
    assert not res["copy"].credited[:8].any() and not res["orig"].credited[:8].any()


def test_transcript_verifies_and_model_hash_binds(model_dir, featurizer, validation, tmp_path):
    raw = [*_providers([("clean", 8), ("wrong", 8)], 50), ProviderData("broken", error="provider broken: line 1: x")]
    providers, val = featurize_text_inputs(raw, validation[:16], featurizer)
    res = value_providers(providers, val, method="lm-gradient", score="dot")
    t = build_transcript(res, providers, val, inputs="none", featurizer=featurizer.params())
    assert t["featurizer"]["model_hash"] == model_content_hash(model_dir)
    # an auditor with the same model directory and the raw text recomputes everything bit for bit
    again = featurizer_from_params(t["featurizer"], model_dir)
    providers2, val2 = featurize_text_inputs(raw, validation[:16], again)
    assert verify_transcript(t, providers=providers2, validation=val2).ok
    t["providers"][0]["marginal_utility"] += 1e-6
    assert not verify_transcript(t, providers=providers2, validation=val2).ok
    # a different model (one changed byte of the tokenizer) is refused by name
    other = tmp_path / "other"
    shutil.copytree(model_dir, other)
    cfg = other / "tokenizer_config.json"
    cfg.write_text(cfg.read_text() + " ")
    with pytest.raises(ModelMismatchError, match="content hash"):
        featurizer_from_params(t["featurizer"], other)


def test_cli_valuate_and_verify(model_dir, tmp_path, capsys):
    from mia.cli.commands import main

    def dump(name, recs):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in recs))
        return path

    v = dump("val.jsonl", arithmetic_records(16, 1))
    a, b = dump("a.jsonl", arithmetic_records(8, 2)), dump("b.jsonl", arithmetic_records(8, 3, "offtask"))
    out = tmp_path / "t.json"
    args = ["valuate", "--method", "lm-gradient", "--lm-model", str(model_dir), "--proj-dim", "256",
            "--validation", str(v), "--provider", f"A={a}", "--provider", f"B={b}"]  # fmt: skip
    assert main([*args, "--out", str(out)]) == 0
    assert main([*args, "--verify", str(out)]) == 0
    assert "transcript verified" in capsys.readouterr().out
    b.write_text(b.read_text().replace("the", "a"))  # the provider's text changed after the fact
    assert main([*args, "--verify", str(out)]) == 1
    assert "provider_text_hashes of the given text differs" in capsys.readouterr().out
