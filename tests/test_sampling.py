"""Subsampling rules: counts, per-speaker quotas, determinism, seeds, and bad requests."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from minisuperb.corpora.sampling import Rule, parse_sampling, plan, proportional_quotas, subsample, union
from minisuperb.errors import MinisuperbError

PAPER = {"sid": {"k": 11}, "se": {"train": 1000, "dev": 300}, "asr": {"fraction": 0.1}, "ss": {"train": 1400, "dev": 1000}}


def manifest(speakers: dict[str, int], prefix: str = "") -> list[dict]:
    return [
        {"id": f"{prefix}{speaker}-{u:04d}", "speaker": speaker, "num_samples": 16000}
        for speaker, count in speakers.items()
        for u in range(count)
    ]


def corpus(train: dict[str, int], dev: int = 50, test: int = 20) -> dict[str, list[dict]]:
    return {"train": manifest(train), "dev": manifest({"d": dev}, "dev"), "test": manifest({"t": test}, "test")}


def speakers_of(ids: list[str]) -> Counter:
    return Counter(utt_id.split("-")[0] for utt_id in ids)


@pytest.mark.parametrize(
    "name, rule",
    [("frac0.05", Rule("fraction", 0.05)), ("frac1", Rule("fraction", 1.0)), ("k11", Rule("k", 11)),
     ("n1400", Rule("count", 1400)), ("full", Rule("all"))],
)
def test_sampling_names_parse(name, rule):
    assert parse_sampling(name) == rule


@pytest.mark.parametrize("name", ["frac0", "frac1.5", "frac0.1.2", "k0", "n0", "half", "k", "paper2"])
def test_bad_sampling_names_fail_with_the_accepted_forms(name):
    with pytest.raises(MinisuperbError, match=f"sampling '{name}'.*|unknown sampling '{name}'"):
        parse_sampling(name)


def test_paper_sid_takes_exactly_k_per_speaker_and_keeps_dev_and_test_whole():
    data = corpus({f"id{10001 + s}": 20 + s for s in range(30)})
    subset = subsample(data, "paper", 42, PAPER["sid"], "sid")
    assert set(speakers_of(subset["train"]).values()) == {11}
    assert len(subset["train"]) == 30 * 11
    assert subset["dev"] == sorted(r["id"] for r in data["dev"])
    assert subset["test"] == sorted(r["id"] for r in data["test"])


def test_paper_se_and_ss_counts_apply_to_train_and_dev():
    data = corpus({f"p{200 + s}": 60 for s in range(30)}, dev=400, test=30)
    subset = subsample(data, "paper", 42, PAPER["se"], "se")
    assert (len(subset["train"]), len(subset["dev"]), len(subset["test"])) == (1000, 300, 30)
    assert len(set(subset["train"])) == 1000
    # a non-paper sampling keeps the paper's dev count; `full` takes everything
    assert len(subsample(data, "n10", 42, PAPER["se"], "se")["dev"]) == 300
    full = subsample(data, "full", 42, PAPER["se"], "se")
    assert [len(full[s]) for s in ("train", "dev", "test")] == [1800, 400, 30]


def test_fraction_is_stratified_per_speaker_and_hits_the_total():
    counts = {"a": 100, "b": 37, "c": 12, "d": 3}
    subset = subsample(corpus(counts), "frac0.1", 7, PAPER["asr"], "asr")["train"]
    assert len(subset) == round(0.1 * 152)
    per_speaker = speakers_of(subset)
    for speaker, count in counts.items():
        assert abs(per_speaker[speaker] - 0.1 * count) < 1
    assert subsample(corpus(counts), "paper", 7, PAPER["asr"], "asr")["train"] == subset


def test_proportional_quotas_are_exact_where_float_rounding_is_not():
    # 0.29 * 100 is 28.999999999999996 in floating point
    assert proportional_quotas({"a": 100, "b": 100}, 0.29, "x") == {"a": 29, "b": 29}
    assert sum(proportional_quotas({str(i): 7 for i in range(13)}, 0.5, "x").values()) == round(0.5 * 91)


def test_same_inputs_same_subsets_whatever_the_manifest_order():
    data = corpus({f"id{10001 + s}": 30 for s in range(10)})
    first = subsample(data, "k5", 3, PAPER["sid"], "sid")
    shuffled = {split: random.Random(1).sample(records, len(records)) for split, records in data.items()}
    assert subsample(shuffled, "k5", 3, PAPER["sid"], "sid") == first
    assert all(ids == sorted(ids) for ids in first.values())


def test_different_seeds_give_different_subsets():
    data = corpus({f"id{10001 + s}": 30 for s in range(10)})
    subsets = [subsample(data, name, seed, PAPER["sid"], "sid")["train"] for name in ("k5", "frac0.2", "n40") for seed in (1, 2)]
    assert subsets[0] != subsets[1] and subsets[2] != subsets[3] and subsets[4] != subsets[5]
    dev = [subsample(data, "paper", seed, {"train": 10, "dev": 20}, "se")["dev"] for seed in (1, 2)]
    assert dev[0] != dev[1]


def test_smaller_samples_nest_inside_larger_ones_for_one_seed():
    data = corpus({f"id{10001 + s}": 30 for s in range(10)})
    small, large = (set(subsample(data, name, 5, PAPER["sid"], "sid")["train"]) for name in ("n20", "n60"))
    assert small < large
    few, more = (set(subsample(data, name, 5, PAPER["sid"], "sid")["train"]) for name in ("k3", "k8"))
    assert few < more


def test_speaker_below_the_quota_is_named_with_what_is_available():
    data = corpus({"id10001": 20, "id10002": 4, "id10003": 7})
    with pytest.raises(MinisuperbError, match=r"2 speakers have fewer than k=11.*id10002 has 4 available.*at most 4"):
        subsample(data, "paper", 42, PAPER["sid"], "sid")


def test_count_larger_than_the_split_fails():
    data = corpus({"p226": 10, "p227": 10})
    with pytest.raises(MinisuperbError, match=r"split train: asks for 1000 utterances but only 20"):
        subsample(data, "paper", 42, PAPER["se"], "se")
    with pytest.raises(MinisuperbError, match=r"split dev: asks for 300 utterances but only 50"):
        subsample(data, "n5", 42, PAPER["se"], "se")


def test_fraction_that_selects_nothing_fails():
    with pytest.raises(MinisuperbError, match="selects none"):
        subsample(corpus({"a": 3}), "frac0.1", 42, PAPER["asr"], "asr")


def test_plan_and_union():
    assert plan("k4", PAPER["sid"]) == {"train": Rule("k", 4), "dev": Rule("all"), "test": Rule("all")}
    assert plan("paper", PAPER["ss"])["dev"] == Rule("count", 1000)
    merged = union([{"train": ["b", "a"], "dev": ["x"], "test": ["t"]}, {"train": ["c", "a"], "dev": [], "test": ["t"]}])
    assert merged == {"train": ["a", "b", "c"], "dev": ["x"], "test": ["t"]}
