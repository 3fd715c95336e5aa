"""The demo corpus: real layouts, sane audio, distinct speakers, exact mixtures, determinism."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from minisuperb import cli
from minisuperb.corpora import demo
from minisuperb.errors import MinisuperbError

TINY = {
    "seed": 3,
    "asr": {"speakers": 3, "train": 6, "dev": 3, "test": 2},
    "sid": {"speakers": 3, "train": 2, "dev": 1, "test": 1},
    "se": {"train_speakers": 3, "test_speakers": 1, "utterances": 2},
    "ss": {"speakers": 3, "train": 3, "dev": 2, "test": 2},
}
UTTERANCE_ID = r"\d+-\d+-\d{4}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "corpus"
    demo.generate(out, TINY)
    return out


def tree_digest(root: Path) -> dict[str, str]:
    """Hash of every file, with the corpus root in the Libri2Mix CSVs' absolute paths masked."""
    digests = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        content = path.read_bytes().replace(str(root).encode(), b"<ROOT>")
        digests[str(path.relative_to(root))] = hashlib.sha256(content).hexdigest()
    return digests


def rms(wav: np.ndarray) -> float:
    return float(np.sqrt(np.mean(wav.astype(np.float64) ** 2)))


def mean_f0(wav: np.ndarray, rate: int, frame: int = 640) -> float:
    """Median autocorrelation pitch (60-400 Hz) over voiced frames."""
    estimates = []
    for start in range(0, len(wav) - frame, frame // 2):
        chunk = wav[start : start + frame] - wav[start : start + frame].mean()
        if rms(chunk) < 0.1 * rms(wav):
            continue
        correlation = np.correlate(chunk, chunk, "full")[frame - 1 :]
        low, high = rate // 400, rate // 60
        lag = low + int(np.argmax(correlation[low:high]))
        if correlation[lag] > 0.4 * correlation[0]:
            estimates.append(rate / lag)
    return float(np.median(estimates))


def spectral_centroid(wav: np.ndarray, rate: int) -> float:
    power = np.abs(np.fft.rfft(wav)) ** 2
    return float(np.sum(np.fft.rfftfreq(len(wav), 1 / rate) * power) / np.sum(power))


# --------------------------------------------------------------------------------------------
# Layouts, as the readers expect them


def test_librispeech_layout(corpus):
    root = corpus / "LibriSpeech"
    assert sorted(p.name for p in root.iterdir()) == ["dev-clean", "test-clean", "train-clean-100"]
    for split, folder in demo.LIBRISPEECH_SPLITS.items():
        audio = sorted((root / folder).glob("*/*/*.flac"))
        assert len(audio) == TINY["asr"][split]
        transcripts = {}
        for trans in (root / folder).glob("*/*/*.trans.txt"):
            speaker, chapter = trans.parent.parent.name, trans.parent.name
            assert trans.name == f"{speaker}-{chapter}.trans.txt"
            for line in trans.read_text().splitlines():
                utterance_id, words = line.split(" ", 1)
                assert re.fullmatch(rf"{speaker}-{chapter}-\d{{4}}", utterance_id)
                assert re.fullmatch(r"[A-Z']+( [A-Z']+){1,4}", words)
                transcripts[utterance_id] = trans.parent / f"{utterance_id}.flac"
        assert sorted(transcripts.values()) == audio
        assert {sf.info(str(path)).samplerate for path in audio} == {16_000}


def test_vocabulary_is_upper_case_with_apostrophes_and_no_homophones():
    assert all(re.fullmatch(r"[A-Z']+", word) for word in demo.WORDS)
    assert {"DON'T", "IT'S", "CAN'T"} <= set(demo.WORDS) and len(set(demo.WORDS)) == len(demo.WORDS) >= 100
    assert not {"TO", "TWO", "THERE", "THEIR", "ITS", "KNOW", "NO"} & set(demo.WORDS)


def test_voxceleb_layout(corpus):
    root = corpus / "VoxCeleb1"
    lines = (root / "iden_split.txt").read_text().splitlines()
    per_speaker = Counter()
    listed = set()
    for line in lines:
        label, relative = line.split(" ")
        assert re.fullmatch(r"id1\d{4}/[A-Za-z0-9_-]{11}/\d{5}\.wav", relative)
        homes = [root / archive / "wav" / relative for archive in ("vox1_dev_wav", "vox1_test_wav")]
        assert sum(home.is_file() for home in homes) == 1, relative
        per_speaker[relative.split("/")[0], label] += 1
        listed.add(relative)
    speakers = [f"id{10001 + i}" for i in range(TINY["sid"]["speakers"])]
    for speaker in speakers:
        for split, label in demo.VOXCELEB_SPLIT_LABELS.items():
            assert per_speaker[speaker, str(label)] == TINY["sid"][split]
    on_disk = {str(p.relative_to(p.parents[2])) for p in root.glob("vox1_*_wav/wav/*/*/*.wav")}
    assert on_disk == listed
    # The test archive holds other speakers than the dev archive, as in the real corpus.
    dev_speakers = {p.name for p in (root / "vox1_dev_wav" / "wav").iterdir()}
    test_speakers = {p.name for p in (root / "vox1_test_wav" / "wav").iterdir()}
    assert dev_speakers and test_speakers and not dev_speakers & test_speakers
    assert dev_speakers | test_speakers == set(speakers)


def test_voicebank_layout_rate_and_snr(corpus):
    root = corpus / "VoiceBank-DEMAND"
    for split, (noisy_folder, clean_folder) in demo.VOICEBANK_FOLDERS.items():
        clean = sorted(p.name for p in (root / clean_folder).glob("*.wav"))
        assert clean == sorted(p.name for p in (root / noisy_folder).glob("*.wav"))
        assert all(re.fullmatch(r"p\d{3}_\d{3}\.wav", name) for name in clean)
        for name in clean:
            clean_wav, clean_rate = sf.read(str(root / clean_folder / name))
            noisy_wav, noisy_rate = sf.read(str(root / noisy_folder / name))
            assert clean_rate == noisy_rate == 48_000
            snr = 10 * np.log10(np.sum(clean_wav**2) / np.sum((noisy_wav - clean_wav) ** 2))
            nearest = min(demo.VOICEBANK_SNRS_DB[split], key=lambda target: abs(target - snr))
            assert abs(snr - nearest) < 0.2, (name, snr)
    train_speakers = {name[:4] for name in (p.name for p in (root / "clean_trainset_28spk_wav").glob("*.wav"))}
    test_speakers = {name[:4] for name in (p.name for p in (root / "clean_testset_wav").glob("*.wav"))}
    assert {"p226", "p287"} <= train_speakers and len(train_speakers) == TINY["se"]["train_speakers"]
    assert test_speakers == {"p232"}


def test_noise_kinds_differ_in_spectrum():
    rng = np.random.default_rng(0)
    rate, length = 48_000, 48_000
    pool = [np.sin(2 * np.pi * 200 * np.arange(20_000) / rate)]
    centroids = {
        kind: spectral_centroid(demo.make_noise(kind, length, rate, rng, pool), rate) for kind in demo.NOISE_KINDS
    }
    assert centroids["white"] > 4 * centroids["pink"] > 4 * centroids["brown"]
    assert centroids["hum"] < 200 and abs(centroids["babble"] - 200) < 5


def test_libri2mix_layout_and_exact_mixtures(corpus):
    root = corpus / "Libri2Mix" / "wav16k" / "min"
    for split, part in demo.LIBRI2MIX_SPLITS.items():
        with (root / "metadata" / f"mixture_{part}_mix_clean.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert list(rows[0]) == list(demo.LIBRI2MIX_COLUMNS)
        assert len(rows) == TINY["ss"][split]
        for row in rows:
            first, second = row["mixture_ID"].split("_")
            assert re.fullmatch(UTTERANCE_ID, first) and re.fullmatch(UTTERANCE_ID, second)
            assert first.split("-")[0] != second.split("-")[0], "a mixture needs two speakers"
            signals = {}
            for column, folder in (("mixture_path", "mix_clean"), ("source_1_path", "s1"), ("source_2_path", "s2")):
                path = Path(row[column])
                assert path.is_absolute() and path == root / part / folder / f"{row['mixture_ID']}.wav"
                signals[folder], rate = sf.read(str(path), dtype="int16")
                assert rate == 16_000 and len(signals[folder]) == int(row["length"])
            # mix == s1 + s2, exactly in 16-bit samples (to within float rounding once decoded)
            assert np.array_equal(signals["mix_clean"].astype(np.int32), signals["s1"] + signals["s2"].astype(np.int32))
            assert rms(signals["s1"]) > 0 and rms(signals["s2"]) > 0


def test_audio_is_not_silent_and_durations_are_sane(corpus):
    files = sorted(corpus.rglob("*.wav")) + sorted(corpus.rglob("*.flac"))
    assert len(files) > 50
    for path in files:
        wav, rate = sf.read(str(path))
        assert 0.3 <= len(wav) / rate <= 5.0, path
        assert rms(wav) > 0.01, path  # louder than -40 dBFS
        assert np.abs(wav).max() < 1.0, path  # and never clipped


def test_marker_summarises_the_corpus(corpus):
    summary = json.loads((corpus / demo.MARKER).read_text())
    assert summary["seed"] == TINY["seed"] and summary["settings"]["asr"] == TINY["asr"]
    assert summary["settings"]["max_words"] == 5  # defaults filled in
    assert set(summary["parts"]) == set(demo.PART_FOLDERS)
    librispeech = summary["parts"]["LibriSpeech"]
    assert len(librispeech["voices"]) == TINY["asr"]["speakers"]
    seconds = sum(sf.info(str(p)).duration for p in (corpus / "LibriSpeech").rglob("*.flac"))
    assert librispeech["total_hours"] == pytest.approx(seconds / 3600, rel=1e-3)
    assert summary["total_hours"] == pytest.approx(sum(p["total_hours"] for p in summary["parts"].values()))


# --------------------------------------------------------------------------------------------
# Speakers


def test_speakers_differ_measurably(tmp_path):
    """Per utterance: mean F0 and spectral centroid. Two speakers are told apart when, in one of
    the two, their means differ by more than the sum of their within-speaker spreads."""
    rng = np.random.default_rng(11)
    demo.write_voxceleb(tmp_path, {"speakers": 8, "train": 3, "dev": 1, "test": 1}, demo.Texts(3, 4), rng)
    features: dict[str, list[tuple[float, float]]] = {}
    for path in sorted(tmp_path.glob("vox1_*_wav/wav/*/*/*.wav")):
        wav, rate = sf.read(str(path))
        features.setdefault(path.parts[-3], []).append((mean_f0(wav, rate), spectral_centroid(wav, rate)))
    assert len(features) == 8
    stats = {speaker: (np.mean(values, axis=0), np.std(values, axis=0)) for speaker, values in features.items()}
    separated = [
        bool(np.any(np.abs(stats[a][0] - stats[b][0]) > stats[a][1] + stats[b][1]))
        for a, b in itertools.combinations(sorted(stats), 2)
    ]
    assert np.mean(separated) >= 0.85, f"only {sum(separated)} of {len(separated)} speaker pairs differ"


def test_speakers_spread_over_genders_and_pitch():
    speakers = demo.make_speakers([str(i) for i in range(10)], np.random.default_rng(0))
    males = [s for s in speakers if s.variant.startswith("m")]
    females = [s for s in speakers if s.variant.startswith("f")]
    assert len(males) == len(females) == 5
    for group in (males, females):
        assert len({s.variant for s in group}) == 5 and len({s.pitch for s in group}) == 5


# --------------------------------------------------------------------------------------------
# Determinism, publishing, bad input


def test_same_settings_give_identical_files_and_the_cli_works(corpus, tmp_path):
    again = tmp_path / "again"
    assert cli.main(["demo-corpus", "--out", str(again), "--settings", json.dumps(TINY)]) == 0
    assert tree_digest(again) == tree_digest(corpus)
    other_seed = tmp_path / "other"
    demo.generate(other_seed, {**TINY, "seed": 4})
    changed = [name for name, digest in tree_digest(other_seed).items() if tree_digest(corpus).get(name) != digest]
    assert len(changed) > 20


def test_rerun_replaces_an_old_corpus_and_a_stale_partial_folder(tmp_path):
    out = tmp_path / "corpus"
    (out / "LibriSpeech" / "old").mkdir(parents=True)
    (tmp_path / ".corpus.partial" / "junk").mkdir(parents=True)
    small = {**TINY, "asr": {"speakers": 1, "train": 1, "dev": 1, "test": 1}}
    demo.generate(out, small)
    assert not (out / "LibriSpeech" / "old").exists()
    assert not (tmp_path / ".corpus.partial").exists()
    assert (out / demo.MARKER).is_file()


def test_interrupted_run_leaves_no_marker(tmp_path, monkeypatch):
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "write_libri2mix", killed)
    out = tmp_path / "corpus"
    with pytest.raises(KeyboardInterrupt):
        demo.generate(out, TINY)
    assert not (out / demo.MARKER).exists()


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(MinisuperbError, match="notes.txt.*did not write"):
        demo.generate(tmp_path, TINY)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"asr": {"speakers": 0}}, r"demo\.asr\.speakers': 0 is less than the minimum of 1"),
        ({"sid": {"speakers": 1}}, r"demo\.sid\.speakers': 1 is less than the minimum of 2"),
        ({"se": {"test_speakers": 3}}, r"demo\.se\.test_speakers': 3 is greater than the maximum of 2"),
        ({"ss": {"mixtures": 5}}, r"demo\.ss': Additional properties .*'mixtures'"),
        ({"min_words": 4, "max_words": 3}, r"demo\.min_words': 4 is more than demo\.max_words \(3\)"),
        ([1, 2], r"must be a JSON object"),
    ],
)
def test_bad_settings_are_named(settings, expected, tmp_path):
    with pytest.raises(MinisuperbError, match=expected):
        demo.generate(tmp_path / "corpus", settings)
    assert not (tmp_path / "corpus").exists()


def test_cli_exits_2_on_bad_settings(tmp_path, capsys):
    out = str(tmp_path / "corpus")
    assert cli.main(["demo-corpus", "--out", out, "--settings", '{"asr": {"speakers": 0}}']) == 2
    assert "demo.asr.speakers" in capsys.readouterr().err
    assert cli.main(["demo-corpus", "--out", out, "--settings", "{asr: 1"]) == 2
    assert "--settings is not valid JSON" in capsys.readouterr().err
