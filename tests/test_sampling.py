"""Subsampling rules: counts, per-speaker quotas, determinism, seeds, and bad requests."""

from __future__ import annotations

import json
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
     ("n1400", Rule("count", 1400)), ("full", Rule("all")), ("min2", Rule("minutes", 2.0)),
     ("min0.5", Rule("minutes", 0.5))],
)
def test_sampling_names_parse(name, rule):
    assert parse_sampling(name) == rule


@pytest.mark.parametrize("name", ["frac0", "frac1.5", "frac0.1.2", "k0", "n0", "half", "k", "paper2", "min0", "min",
                                  "min1.2.3"])
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


def test_given_id_lists_replace_paper_train_and_every_dev_draw():
    data = corpus({f"p{200 + s}": 60 for s in range(30)}, dev=400, test=30)
    train_ids = [r["id"] for r in data["train"][::7]]
    dev_ids = [r["id"] for r in data["dev"][:5]]
    given = {"train": list(reversed(train_ids)), "dev": dev_ids}
    for seed in (1, 2):  # a given list is the same for every seed
        subset = subsample(data, "paper", seed, PAPER["se"], "se", given)
        assert subset["train"] == sorted(train_ids) and subset["dev"] == sorted(dev_ids)
        assert len(subset["test"]) == 30
    n10 = subsample(data, "n10", 1, PAPER["se"], "se", given)
    assert len(n10["train"]) == 10 and n10["dev"] == sorted(dev_ids)  # the train list is paper's alone
    assert len(subsample(data, "full", 1, PAPER["se"], "se", given)["dev"]) == 400
    only_dev = subsample(data, "paper", 1, PAPER["se"], "se", {"dev": dev_ids})
    assert len(only_dev["train"]) == 1000 and only_dev["dev"] == sorted(dev_ids)


@pytest.mark.parametrize("ids, message", [
    (["p200-0000", "p999-0001"], r"1 of the 2 ids of the given list .* not in the manifest, first: 'p999-0001'"),
    (["p200-0000", "p200-0000"], r"names 'p200-0000' more than once"),
])
def test_bad_given_id_lists_are_named(ids, message):
    data = corpus({"p200": 5})
    with pytest.raises(MinisuperbError, match=rf"task se, sampling 'paper', split train: .*{message}"):
        subsample(data, "paper", 1, PAPER["se"], "se", {"train": ids})


def test_subsample_command_reads_the_given_lists_and_names_a_missing_one(tmp_path, capsys):
    from minisuperb import cli
    from minisuperb.corpora.manifest import read_subset_list, write_manifest

    data = corpus({"p200": 8, "p201": 8}, dev=6, test=2)
    for split, records in data.items():
        write_manifest(records, tmp_path / "manifest" / f"{split}.jsonl")
    (tmp_path / "train_ids.txt").write_text("p201-0003\np200-0001\n")
    settings = {"train": 4, "dev": 3, "ids": {"train": str(tmp_path / "train_ids.txt")}}
    args = ["subsample", "--task", "se", "--sampling", "paper", "--seed", "1", "--manifest-dir",
            str(tmp_path / "manifest"), "--out-dir", str(tmp_path / "out"), "--settings"]
    assert cli.main([*args, json.dumps(settings)]) == 0
    assert read_subset_list(tmp_path / "out", "train") == ["p200-0001", "p201-0003"]
    assert len(read_subset_list(tmp_path / "out", "dev")) == 3
    settings["ids"]["dev"] = str(tmp_path / "missing.txt")
    assert cli.main([*args, json.dumps(settings)]) == 2
    assert "id list sampling.paper.se.ids.dev" in capsys.readouterr().err


def timed(seconds: dict[str, float]) -> list[dict]:
    return [{"id": utt_id, "speaker": utt_id[0], "num_samples": int(value * 16000)} for utt_id, value in seconds.items()]


def test_minutes_take_utterances_in_key_order_until_the_audio_reaches_m_minutes():
    train = timed({f"s{i:03d}": 20.0 + i % 7 for i in range(40)})  # 20-26 s each, ~15 minutes
    data = {"train": train, "dev": manifest({"d": 5}, "dev"), "test": manifest({"t": 3}, "test")}
    seconds = {r["id"]: r["num_samples"] / 16000 for r in train}
    one, two = (subsample(data, name, 3, {}, "asr")["train"] for name in ("min1", "min2"))
    for chosen, minutes in ((one, 1), (two, 2)):
        total = sum(seconds[i] for i in chosen)
        assert total >= 60 * minutes and total - min(seconds[i] for i in chosen) < 60 * minutes + 26
    assert set(one) < set(two)  # nested for one seed
    assert one == subsample(data, "min1", 3, {}, "asr")["train"]  # deterministic
    assert one != subsample(data, "min1", 4, {}, "asr")["train"]
    assert len(subsample(data, "min2", 3, {}, "asr")["test"]) == 3


def test_minutes_beyond_the_split_fail_with_what_is_available():
    data = {"train": timed({"a1": 30.0, "a2": 30.0}), "dev": manifest({"d": 2}, "dev"), "test": manifest({"t": 2}, "test")}
    assert len(subsample(data, "min1", 0, {}, "asr")["train"]) == 2
    with pytest.raises(MinisuperbError, match="asks for 1.5 minutes of audio but the split has only 1.00"):
        subsample(data, "min1.5", 0, {}, "asr")
