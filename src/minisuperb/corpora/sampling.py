"""Subsampling: which utterances a run trains and validates on.

Sampling names (the `{sampling}` wildcard):
- `paper`: MiniSUPERB's per-task rule, with its parameters from `sampling.paper.<task>`:
  `fraction` (ASR: 1.0 of the 10 h set, or e.g. 0.1 of train-clean-100), `k` per speaker
  (SID: 11), or a `train` count (SE 1,000, SS 1,400);
- `full`: every utterance of every split;
- `frac<F>`: a fraction 0 < F <= 1 of train, stratified per speaker;
- `k<K>`: few-shot, K utterances of every speaker (SS: the speaker of source 1 is a mixture's class);
- `n<N>`: N utterances of train;
- `min<M>`: M minutes of train audio (e.g. `min2`, `min0.5`): utterances in key order until their
  audio reaches M minutes (the one that crosses the line included), for few-shot ASR.
Dev gets the paper's dev count (`sampling.paper.<task>.dev`, SE 300 and SS 1,000; ASR and SID use
their full dev sets) under every sampling but `full`; test is always full.

Given lists: `sampling.paper.<task>.ids: {train: FILE, dev: FILE}` (ids one per line, as in the
manifests) replace the drawn train split of `paper` and the drawn dev split of every sampling but
`full`, e.g. to train on the MiniSUPERB reference's own subsets (README, "Differences from the
reference"). A given list is the same for every seed, and each of its ids must be in the manifest.

Determinism: candidates are sorted by id and each gets one key from a numpy Generator seeded by
(seed, split); a selection takes the smallest keys (per speaker where stratified). The output
does not depend on manifest order or machine, and with one seed, smaller samples are subsets of
larger ones (n100 within n200, k5 within k10, min1 within min2), which keeps sweeps cheap to
extract.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from minisuperb.catalog import SPLITS
from minisuperb.corpora.audio import TARGET_RATE
from minisuperb.errors import MinisuperbError

# The {sampling} wildcard's constraint in rules/data.smk, too.
SAMPLING_WILDCARD = r"paper|full|frac[0-9.]+|k[0-9]+|n[0-9]+|min[0-9.]+"


@dataclass(frozen=True)
class Rule:
    """How to draw one split: `kind` is all, fraction, k (per speaker), count, minutes (of audio),
    or ids (a given list)."""

    kind: str
    value: float = 0
    ids: tuple[str, ...] = ()


ALL = Rule("all")


def parse_sampling(name: str) -> Rule:
    """The train rule of a non-paper sampling name."""
    if name == "paper" or not re.fullmatch(SAMPLING_WILDCARD, name):
        raise MinisuperbError(
            f"unknown sampling '{name}'. Use paper, full, frac<F> (0 < F <= 1), k<K>, n<N> or min<M>."
        )
    if name == "full":
        return ALL
    if name.startswith("min"):
        try:
            minutes = float(name[3:])
        except ValueError:
            minutes = -1.0
        if not minutes > 0:
            raise MinisuperbError(f"sampling '{name}': the minutes must be a number above 0, e.g. min2 or min0.5.")
        return Rule("minutes", minutes)
    if name.startswith("frac"):
        try:
            fraction = float(name[4:])
        except ValueError:
            fraction = -1.0
        if not 0 < fraction <= 1:
            raise MinisuperbError(f"sampling '{name}': the fraction must be a number in (0, 1], e.g. frac0.1.")
        return Rule("fraction", fraction)
    kind, value = ("k" if name[0] == "k" else "count"), int(name[1:])
    if value < 1:
        raise MinisuperbError(f"sampling '{name}': the count must be at least 1.")
    return Rule(kind, value)


def paper_train_rule(paper: dict) -> Rule:
    """The paper's train rule from `sampling.paper.<task>` (which holds one of these keys)."""
    if "fraction" in paper:
        return Rule("fraction", paper["fraction"])
    if "k" in paper:
        return Rule("k", paper["k"])
    return Rule("count", paper["train"])


def plan(sampling: str, paper: dict, id_lists: dict[str, list[str]] | None = None) -> dict[str, Rule]:
    """{split: rule} for a sampling name, given the task's paper settings and the id lists read
    from `paper["ids"]` ({split: ids})."""
    if sampling == "full":
        return dict.fromkeys(SPLITS, ALL)
    given = {split: Rule("ids", ids=tuple(ids)) for split, ids in (id_lists or {}).items()}
    if sampling == "paper":
        train = given.get("train") or paper_train_rule(paper)
    else:
        train = parse_sampling(sampling)
    dev = given.get("dev") or (Rule("count", paper["dev"]) if "dev" in paper else ALL)
    return {"train": train, "dev": dev, "test": ALL}


def subsample(manifests: dict[str, list[dict]], sampling: str, seed: int, paper: dict, task: str,
              id_lists: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """{split: sorted ids} of one (sampling, seed)."""
    rules = plan(sampling, paper, id_lists)
    return {
        split: draw(manifests[split], rules[split], seed_rng(seed, split), f"task {task}, sampling '{sampling}', split {split}")
        for split in SPLITS
    }


def seed_rng(seed: int, split: str) -> np.random.Generator:
    """One independent stream per split, so the dev draw does not depend on the train draw."""
    return np.random.default_rng([seed, SPLITS.index(split)])


def draw(records: list[dict], rule: Rule, rng: np.random.Generator, where: str) -> list[str]:
    """The sorted ids of `records` that `rule` picks."""
    ids = sorted(record["id"] for record in records)
    if rule.kind == "all":
        return ids
    if rule.kind == "ids":
        return _given(ids, rule.ids, where)
    key = dict(zip(ids, rng.random(len(ids))))
    if rule.kind == "count":
        if rule.value > len(ids):
            raise MinisuperbError(
                f"{where}: asks for {rule.value} utterances but only {len(ids)} are available. "
                "Lower the count (the sampling name, or sampling.paper in the config)."
            )
        return sorted(_smallest_keys(ids, key, int(rule.value)))
    if rule.kind == "minutes":
        return _first_minutes(records, key, rule.value, where)
    by_speaker = _group_by_speaker(records)
    if rule.kind == "k":
        quotas = _per_speaker_quotas(by_speaker, int(rule.value), where)
    else:
        quotas = proportional_quotas({speaker: len(group) for speaker, group in by_speaker.items()}, rule.value, where)
    return sorted(utt_id for speaker, group in by_speaker.items() for utt_id in _smallest_keys(group, key, quotas[speaker]))


def _given(ids: list[str], given: tuple[str, ...], where: str) -> list[str]:
    known = set(ids)
    missing = [utt_id for utt_id in given if utt_id not in known]
    if missing:
        raise MinisuperbError(
            f"{where}: {len(missing)} of the {len(given)} ids of the given list (sampling.paper.<task>.ids) "
            f"are not in the manifest, first: {missing[0]!r}. Ids are as in the manifest (e.g. SID "
            "idXXXXX-VIDEO-NNNNN); fix the list or point the corpus root at the corpus it was made from."
        )
    if len(set(given)) != len(given):
        repeated = next(utt_id for utt_id, count in Counter(given).items() if count > 1)
        raise MinisuperbError(f"{where}: the given id list names {repeated!r} more than once; list each id once.")
    return sorted(given)


def _first_minutes(records: list[dict], key: dict[str, float], minutes: float, where: str) -> list[str]:
    """The ids in key order up to the first whose audio brings the total to `minutes` (so a larger
    M extends a smaller M's prefix)."""
    samples = {record["id"]: record["num_samples"] for record in records}
    wanted, total, chosen = minutes * 60 * TARGET_RATE, 0, []
    for utt_id in sorted(samples, key=lambda utt_id: (key[utt_id], utt_id)):
        if total >= wanted:
            return sorted(chosen)
        chosen.append(utt_id)
        total += samples[utt_id]
    if total < wanted:
        raise MinisuperbError(
            f"{where}: asks for {minutes:g} minutes of audio but the split has only {total / TARGET_RATE / 60:.2f}. "
            "Lower the minutes (the sampling name)."
        )
    return sorted(chosen)


def _smallest_keys(ids: list[str], key: dict[str, float], count: int) -> list[str]:
    return sorted(ids, key=lambda utt_id: (key[utt_id], utt_id))[:count]


def _group_by_speaker(records: list[dict]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for record in records:
        groups[record["speaker"]].append(record["id"])
    return {speaker: sorted(groups[speaker]) for speaker in sorted(groups)}


def _per_speaker_quotas(by_speaker: dict[str, list[str]], k: int, where: str) -> dict[str, int]:
    short = {speaker: len(group) for speaker, group in by_speaker.items() if len(group) < k}
    if short:
        smallest = min(short, key=lambda speaker: (short[speaker], speaker))
        raise MinisuperbError(
            f"{where}: {len(short)} speakers have fewer than k={k} utterances, e.g. speaker "
            f"{smallest} has {short[smallest]} available. Lower k to at most {short[smallest]}."
        )
    return dict.fromkeys(by_speaker, k)


def proportional_quotas(counts: dict[str, int], fraction: float, where: str) -> dict[str, int]:
    """Per-speaker quotas summing to round(fraction * total), each within one of
    fraction * count: the largest remainders get the leftover units (ties: lower speaker id).
    Exact rational arithmetic, so no float rounding can shift a quota."""
    share = Fraction(str(fraction))
    total = round(share * sum(counts.values()))
    if total < 1:
        raise MinisuperbError(
            f"{where}: a fraction of {fraction} of {sum(counts.values())} utterances selects none. Raise it."
        )
    exact = {speaker: share * count for speaker, count in counts.items()}
    quotas = {speaker: math.floor(value) for speaker, value in exact.items()}
    leftover = total - sum(quotas.values())
    by_remainder = sorted(counts, key=lambda speaker: (quotas[speaker] - exact[speaker], speaker))
    for speaker in by_remainder[:leftover]:
        quotas[speaker] += 1
    return quotas


def union(subsets: list[dict[str, list[str]]]) -> dict[str, list[str]]:
    """{split: sorted ids} that any of `subsets` uses: what feature extraction must cover."""
    return {split: sorted({utt_id for subset in subsets for utt_id in subset[split]}) for split in SPLITS}


def seconds(records: list[dict]) -> float:
    """Audio seconds of `records`."""
    return sum(r["num_samples"] for r in records) / TARGET_RATE


def hours(records: list[dict]) -> float:
    return seconds(records) / 3600
