"""The embedded demo corpus: speech synthesised with eSpeak NG, written in the four real layouts.

`minisuperb demo-corpus --out DIR --settings JSON` writes under DIR:
- `LibriSpeech/{train-clean-100,dev-clean,test-clean}/SPK/CHAP/SPK-CHAP-UTT.flac` + `SPK-CHAP.trans.txt`
- `VoxCeleb1/vox1_{dev,test}_wav/wav/idXXXXX/VIDEO/NNNNN.wav` + `VoxCeleb1/iden_split.txt`
- `VoiceBank-DEMAND/{clean,noisy}_{trainset_28spk,testset}_wav/pNNN_MMM.wav` (48 kHz, as the original)
- `Libri2Mix/wav16k/min/{train-100,dev,test}/{mix_clean,s1,s2}/ID.wav` + `metadata/mixture_*_mix_clean.csv`
and finally `DIR/demo_corpus.json` (settings, voices, hours per part), the completion marker.

Speakers are eSpeak voice variants (`en+m1` ... `en+f5`) with their own pitch, pitch range and
speaking rate; each utterance jitters rate and pitch a little so no two are identical. Texts are
2-5 words from a small built-in vocabulary, so an ASR head learns something within a demo's
step budget. Every random choice comes from `seed`, one stream per part, so the same settings
give byte-identical files, and resizing one part leaves the others unchanged.
"""

from __future__ import annotations

import csv
import logging
import shutil
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from math import ceil
from pathlib import Path

import numpy as np
import soundfile as sf

from minisuperb.catalog import TASKS
from minisuperb.config import json_object, validate_section
from minisuperb.corpora import espeak
from minisuperb.corpora.audio import resample
from minisuperb.corpora.librimix import COLUMNS as LIBRI2MIX_COLUMNS
from minisuperb.corpora.librimix import PART_OF_SPLIT as LIBRI2MIX_SPLITS
from minisuperb.corpora.voicebank import TEST_FOLDERS, TRAIN_FOLDERS
from minisuperb.corpora.voxceleb1 import FIRST_SPEAKER as VOXCELEB_FIRST_ID
from minisuperb.corpora.voxceleb1 import SPLIT_OF_CODE
from minisuperb.errors import MinisuperbError
from minisuperb.files import TMP_SUFFIX, write_json_atomic

log = logging.getLogger(__name__)

MARKER = "demo_corpus.json"
MARKER_TMP = MARKER + TMP_SUFFIX
PART_FOLDERS = ("LibriSpeech", "VoxCeleb1", "VoiceBank-DEMAND", "Libri2Mix")

# Common English words without homophones among them (no TO/TWO, THERE/THEIR), so that a
# character-level ASR head can in principle reach 0 % WER; a few apostrophes as in LibriSpeech.
WORDS = (
    "ABOUT AFTER AGAIN ALWAYS AND ANIMAL ANSWER APPLE ASK BABY BACK BEFORE BETTER BIG BIRD BLACK "
    "BOOK BOX BREAD BRING BROTHER BUT CAN'T CAR CAT CHAIR CHILDREN CITY CLEAN COLD COME COUNTRY "
    "DAY DIDN'T DINNER DOCTOR DOG DON'T DOOR DOWN DRINK EARLY EAT EVENING EVERY FAMILY FAST FATHER "
    "FIRE FISH FLOWER FOOD FRIEND GARDEN GIVE GOOD GREEN HAND HAPPY HAVE HEAVY HELP HOME HORSE "
    "HOUSE HUNDRED I'M IT'S KITCHEN LATER LETTER LIGHT LITTLE LONG MAKE MANY MARKET MONEY MORNING "
    "MOTHER MUSIC NEVER NIGHT NUMBER OPEN ORANGE OTHER PAPER PEOPLE PICTURE PLEASE QUESTION QUICK "
    "RAIN RIVER ROOM SCHOOL SEVEN SHE SHOULD SISTER SLEEP SLOWLY SMALL SNOW SOMETHING SPRING STAR "
    "STORY STREET SUMMER TABLE TEACHER THAT'S THINK THREE TODAY TOMORROW TRAIN TREE UNDER VERY "
    "WALK WARM WATER WE WHAT WHITE WINDOW WINTER WITH WOMAN WON'T WORK YELLOW YES YESTERDAY YOU'RE"
).split()

# eSpeak NG voice variants (espeak-ng-data/voices/!v) with natural-sounding formants.
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8")
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")
LANGUAGE = "en"
# Within a gender, speakers' pitch parameters (0-99) are spread evenly over this interval.
PITCH_LOW, PITCH_HIGH = 10, 90
RATE_WPM = (150, 195)  # a speaker's base rate, words per minute
RANGE = (30, 71)  # a speaker's pitch range (intonation), 0-99
RATE_JITTER, PITCH_JITTER = 15, 2  # per utterance
PEAK_LEVEL = (0.3, 0.7)  # recording level, as a peak amplitude, per utterance
NOISE_FLOOR = 1e-3  # relative to the peak: a faint hiss, as in real recordings; no digital silence

LIBRISPEECH_SPLITS = {"train": "train-clean-100", "dev": "dev-clean", "test": "test-clean"}
LIBRISPEECH_RATE = 16_000

VOXCELEB_RATE = 16_000
VOXCELEB_SPLIT_LABELS = {split: int(code) for code, split in SPLIT_OF_CODE.items()}  # iden_split.txt codes
VIDEOS_PER_SPEAKER = 3
YOUTUBE_ID_CHARS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

VOICEBANK_RATE = 48_000
# The 28 training speakers of VoiceBank-DEMAND; the readers hold out p226 and p287 as dev.
VOICEBANK_TRAIN_SPEAKERS = (
    "p226 p287 p227 p228 p230 p231 p233 p236 p239 p243 p244 p250 p254 p256 p258 p259 p267 p268 "
    "p269 p270 p273 p274 p276 p277 p278 p279 p282 p286"
).split()
VOICEBANK_TEST_SPEAKERS = ("p232", "p257")
VOICEBANK_FOLDERS = {"train": TRAIN_FOLDERS, "test": TEST_FOLDERS}  # (noisy, clean)
VOICEBANK_SNRS_DB = {"train": (15.0, 10.0, 5.0, 0.0), "test": (17.5, 12.5, 7.5, 2.5)}
NOISE_KINDS = ("white", "pink", "brown", "babble", "hum")
COLOURED_NOISE_EXPONENTS = {"white": 0, "pink": 1, "brown": 2}  # power spectrum ~ 1/f^exponent
BABBLE_TALKERS = 4
HUM_HARMONICS = 8
MAX_PEAK = 0.99

LIBRI2MIX_RATE = 16_000
SOURCE_RMS_DBFS = (-33.0, -25.0)  # level of the first source
RELATIVE_LEVEL_DB = 5.0  # the second source is within +-5 dB of the first
MIX_PEAK = 0.9


@dataclass(frozen=True)
class Speaker:
    id: str
    variant: str
    pitch: int
    pitch_range: int
    rate: int

    @property
    def voice(self) -> str:
        return f"{LANGUAGE}+{self.variant}"


@dataclass(frozen=True)
class Texts:
    """How utterance texts are drawn: min_words..max_words words from WORDS."""

    min_words: int
    max_words: int

    def draw(self, rng: np.random.Generator) -> list[str]:
        count = int(rng.integers(self.min_words, self.max_words + 1))
        return [WORDS[i] for i in rng.integers(len(WORDS), size=count)]


# --------------------------------------------------------------------------------------------
# Settings


def validate_settings(settings: dict) -> dict:
    """Check the `demo` config section against config/schema/demo.schema.yaml and fill defaults.

    The Snakefile has validated it already; this covers `minisuperb demo-corpus` run by hand.
    """
    if not isinstance(settings, dict):
        raise MinisuperbError(f"demo corpus settings must be a JSON object, got {type(settings).__name__}.")
    settings = validate_section(settings, ("demo",), source="the demo corpus settings")
    if settings["min_words"] > settings["max_words"]:
        raise MinisuperbError(
            f"invalid demo corpus settings: key 'demo.min_words': {settings['min_words']} is more than "
            f"demo.max_words ({settings['max_words']}). Fix the `demo` section of the config."
        )
    return settings


def part_rng(seed: int, part: str) -> np.random.Generator:
    """One random stream per task's part: changing one part's sizes leaves the others' audio alone."""
    return np.random.default_rng([seed, TASKS[part].demo_stream])


# --------------------------------------------------------------------------------------------
# Speakers and utterances


def spread_pitch(rank: int, count: int) -> int:
    """The rank-th of `count` pitch values evenly spaced inside [PITCH_LOW, PITCH_HIGH]."""
    return round(PITCH_LOW + (PITCH_HIGH - PITCH_LOW) * (rank + 0.5) / count)


def make_speakers(ids: list[str], rng: np.random.Generator) -> list[Speaker]:
    """One voice per id, as distinct as eSpeak allows: half male and half female variants, and
    within a gender the pitch parameters spread evenly, so mean F0 and formants differ."""
    females = len(ids) // 2
    males = len(ids) - females
    # Variants in a random order, cycled, so that a gender repeats a variant only when it must.
    male_variants, female_variants = rng.permutation(MALE_VARIANTS), rng.permutation(FEMALE_VARIANTS)
    slots = [(male_variants, rank, males) for rank in range(males)]
    slots += [(female_variants, rank, females) for rank in range(females)]
    speakers = []
    for speaker_id, slot in zip(ids, rng.permutation(len(slots))):
        variants, rank, count = slots[slot]
        speakers.append(
            Speaker(
                id=speaker_id,
                variant=str(variants[rank % len(variants)]),
                pitch=spread_pitch(rank, count),
                pitch_range=int(rng.integers(*RANGE)),
                rate=int(rng.integers(*RATE_WPM)),
            )
        )
    return speakers


def trim_silence(wav: np.ndarray, rate: int, threshold: float = 0.02, margin_s: float = 0.05) -> np.ndarray:
    """Cut eSpeak's leading and trailing pauses, keeping a short margin around the speech."""
    loud = np.flatnonzero(np.abs(wav) > threshold * np.abs(wav).max())
    margin = int(margin_s * rate)
    return wav[max(0, loud[0] - margin) : loud[-1] + margin + 1]


def speak(speaker: Speaker, words: list[str], rate_out: int, rng: np.random.Generator) -> np.ndarray:
    """One utterance of `speaker` at `rate_out`, float64, peak at a random recording level."""
    samples, rate = espeak.synthesize(
        " ".join(words).lower(),  # lower case: eSpeak spells out some all-capital words
        speaker.voice,
        rate=speaker.rate + int(rng.integers(-RATE_JITTER, RATE_JITTER + 1)),
        pitch=int(np.clip(speaker.pitch + rng.integers(-PITCH_JITTER, PITCH_JITTER + 1), 0, 99)),
        pitch_range=speaker.pitch_range,
        seed=int(rng.integers(2**31)),
    )
    wav = resample(trim_silence(samples / 32768.0, rate), rate, rate_out)
    wav = wav / np.abs(wav).max() + NOISE_FLOOR * rng.standard_normal(len(wav))
    return wav * (rng.uniform(*PEAK_LEVEL) / np.abs(wav).max())


def to_int16(wav: np.ndarray) -> np.ndarray:
    return np.clip(np.round(wav * 32767.0), -32768, 32767).astype(np.int16)


def write_audio(path: Path, samples: np.ndarray, rate: int) -> None:
    """Write 16-bit PCM (WAV or FLAC by extension); float input is quantised first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if samples.dtype != np.int16:
        samples = to_int16(samples)
    sf.write(str(path), samples, rate, subtype="PCM_16")


def balanced_order(rng: np.random.Generator, items: int, count: int) -> list[int]:
    """`count` indices into `items`, each used equally often (+-1), in random order."""
    rounds = [rng.permutation(items) for _ in range(ceil(count / items))]
    return [int(index) for index in np.concatenate(rounds)[:count]]


def librispeech_speakers(rng: np.random.Generator, count: int) -> tuple[list[Speaker], np.ndarray]:
    """Speakers with LibriSpeech-style numeric ids, and a distinct chapter id per (split, speaker)."""
    ids = [str(number) for number in sorted(rng.choice(np.arange(10, 9000), size=count, replace=False))]
    chapters = rng.choice(np.arange(100, 200_000), size=(len(LIBRISPEECH_SPLITS), count), replace=False)
    return make_speakers(ids, rng), chapters


def voices(speakers: list[Speaker]) -> list[dict]:
    return [{**asdict(speaker), "voice": speaker.voice} for speaker in speakers]


def hours(seconds: dict[str, float]) -> dict:
    return {
        "hours": {split: round(value / 3600, 6) for split, value in seconds.items()},
        "total_hours": round(sum(seconds.values()) / 3600, 6),
    }


# --------------------------------------------------------------------------------------------
# The four parts


def write_librispeech(root: Path, sizes: dict, texts: Texts, rng: np.random.Generator) -> dict:
    """ASR: LibriSpeech layout; the same speakers in every split, one chapter per split."""
    speakers, chapters = librispeech_speakers(rng, sizes["speakers"])
    seconds = {}
    for split_index, (split, folder) in enumerate(LIBRISPEECH_SPLITS.items()):
        transcripts: dict[Path, list[str]] = defaultdict(list)
        next_utterance = Counter()
        seconds[folder] = 0.0
        for index in balanced_order(rng, len(speakers), sizes[split]):
            speaker, chapter = speakers[index], chapters[split_index, index]
            chapter_dir = root / folder / speaker.id / str(chapter)
            utterance_id = f"{speaker.id}-{chapter}-{next_utterance[index]:04d}"
            next_utterance[index] += 1
            words = texts.draw(rng)
            wav = speak(speaker, words, LIBRISPEECH_RATE, rng)
            write_audio(chapter_dir / f"{utterance_id}.flac", wav, LIBRISPEECH_RATE)
            transcripts[chapter_dir / f"{speaker.id}-{chapter}.trans.txt"].append(f"{utterance_id} {' '.join(words)}")
            seconds[folder] += len(wav) / LIBRISPEECH_RATE
        for path, lines in transcripts.items():
            path.write_text("".join(f"{line}\n" for line in sorted(lines)))
    return {"voices": voices(speakers), **hours(seconds)}


def write_voxceleb(root: Path, sizes: dict, texts: Texts, rng: np.random.Generator) -> dict:
    """SID: VoxCeleb1 layout. As in the real corpus the dev and test archives hold different
    speakers (the last fifth here) while iden_split.txt splits every speaker's utterances."""
    count = sizes["speakers"]
    speakers = make_speakers([f"id{VOXCELEB_FIRST_ID + index}" for index in range(count)], rng)
    first_in_test_archive = count - max(1, count // 5)
    split_lines = []
    seconds = Counter({split: 0.0 for split in VOXCELEB_SPLIT_LABELS})
    for index, speaker in enumerate(speakers):
        archive = "vox1_test_wav" if index >= first_in_test_archive else "vox1_dev_wav"
        videos = ["".join(rng.choice(YOUTUBE_ID_CHARS, size=11)) for _ in range(VIDEOS_PER_SPEAKER)]
        splits = [split for split in VOXCELEB_SPLIT_LABELS for _ in range(sizes[split])]
        next_segment = Counter()
        for utterance, split_index in enumerate(rng.permutation(len(splits))):
            video = videos[utterance % len(videos)]
            next_segment[video] += 1
            relative = f"{speaker.id}/{video}/{next_segment[video]:05d}.wav"
            wav = speak(speaker, texts.draw(rng), VOXCELEB_RATE, rng)
            write_audio(root / archive / "wav" / relative, wav, VOXCELEB_RATE)
            split = splits[split_index]
            split_lines.append((relative, f"{VOXCELEB_SPLIT_LABELS[split]} {relative}"))
            seconds[split] += len(wav) / VOXCELEB_RATE
    (root / "iden_split.txt").write_text("".join(f"{line}\n" for _, line in sorted(split_lines)))
    return {"voices": voices(speakers), **hours(dict(seconds))}


def fit_length(wav: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """`wav` repeated or cut to `length` samples, starting at a random offset."""
    return np.roll(np.resize(wav, max(length, len(wav))), -int(rng.integers(len(wav))))[:length]


def make_noise(kind: str, length: int, rate: int, rng: np.random.Generator, babble_pool: list[np.ndarray]) -> np.ndarray:
    if kind in COLOURED_NOISE_EXPONENTS:
        spectrum = np.fft.rfft(rng.standard_normal(length))
        frequency = np.arange(len(spectrum), dtype=np.float64)
        frequency[0] = 1.0  # keep the DC bin finite
        return np.fft.irfft(spectrum / frequency ** (COLOURED_NOISE_EXPONENTS[kind] / 2), length)
    if kind == "babble":
        talkers = rng.choice(len(babble_pool), size=min(BABBLE_TALKERS, len(babble_pool)), replace=False)
        return sum(fit_length(babble_pool[index], length, rng) for index in talkers)
    if kind == "hum":  # mains hum: 50 or 60 Hz with decaying harmonics
        time_s = np.arange(length) / rate
        mains = rng.choice((50.0, 60.0))
        phases = rng.uniform(0, 2 * np.pi, size=HUM_HARMONICS)
        return sum(np.sin(2 * np.pi * mains * k * time_s + phases[k - 1]) / k for k in range(1, HUM_HARMONICS + 1))
    raise ValueError(f"unknown noise kind {kind}")


def add_noise(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) with the noise scaled to `snr_db` against the whole utterance, both
    scaled down together if the noisy signal would clip (which keeps the SNR)."""
    noise = noise * np.sqrt(np.mean(clean**2) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    noisy = clean + noise
    scale = min(1.0, MAX_PEAK / np.abs(noisy).max())
    return clean * scale, noisy * scale


def write_voicebank(root: Path, sizes: dict, texts: Texts, rng: np.random.Generator) -> dict:
    """SE: VoiceBank-DEMAND layout at 48 kHz; noisy = clean + noise of one kind at one of the
    corpus's SNRs. Babble is made of other speakers' utterances."""
    speaker_splits = {"train": VOICEBANK_TRAIN_SPEAKERS[: sizes["train_speakers"]]}
    speaker_splits["test"] = list(VOICEBANK_TEST_SPEAKERS[: sizes["test_speakers"]])
    speakers = make_speakers([speaker for ids in speaker_splits.values() for speaker in ids], rng)
    clean = []  # (split, speaker, utterance id, 48 kHz waveform)
    for speaker in speakers:
        split = "train" if speaker.id in speaker_splits["train"] else "test"
        for number in range(1, sizes["utterances"] + 1):
            wav = speak(speaker, texts.draw(rng), VOICEBANK_RATE, rng)
            clean.append((split, speaker.id, f"{speaker.id}_{number:03d}", wav))
    seconds = Counter({split: 0.0 for split in speaker_splits})
    for split, speaker_id, utterance_id, wav in clean:
        babble_pool = [other for _, other_speaker, _, other in clean if other_speaker != speaker_id]
        noise = make_noise(rng.choice(NOISE_KINDS), len(wav), VOICEBANK_RATE, rng, babble_pool)
        clean_wav, noisy_wav = add_noise(wav, noise, float(rng.choice(VOICEBANK_SNRS_DB[split])))
        noisy_folder, clean_folder = VOICEBANK_FOLDERS[split]
        write_audio(root / clean_folder / f"{utterance_id}.wav", clean_wav, VOICEBANK_RATE)
        write_audio(root / noisy_folder / f"{utterance_id}.wav", noisy_wav, VOICEBANK_RATE)
        seconds[split] += len(wav) / VOICEBANK_RATE
    return {"voices": voices(speakers), **hours(dict(seconds))}


def at_rms_dbfs(wav: np.ndarray, level_db: float) -> np.ndarray:
    return wav * (10 ** (level_db / 20) / np.sqrt(np.mean(wav**2)))


def mix_sources(first: np.ndarray, second: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Libri2Mix `min` mode: gain-scale both sources, truncate to the shorter one, sum.

    Returns int16 (mixture, s1, s2) with mixture == s1 + s2 exactly: the sources are quantised
    first and the mixture is their integer sum (scaled so that it cannot overflow)."""
    level = rng.uniform(*SOURCE_RMS_DBFS)
    first = at_rms_dbfs(first, level)
    second = at_rms_dbfs(second, level + rng.uniform(-RELATIVE_LEVEL_DB, RELATIVE_LEVEL_DB))
    length = min(len(first), len(second))
    first, second = first[:length], second[:length]
    scale = min(1.0, MIX_PEAK / np.abs(first + second).max())
    s1, s2 = to_int16(first * scale), to_int16(second * scale)
    return (s1.astype(np.int32) + s2).astype(np.int16), s1, s2


def write_libri2mix(
    root: Path, published_root: Path, sizes: dict, texts: Texts, rng: np.random.Generator
) -> dict:
    """SS: Libri2Mix layout (wav16k/min, mix_clean) from utterances of LibriSpeech-style speakers.

    The metadata CSVs hold absolute paths under `published_root`, where `root` ends up."""
    speakers, chapters = librispeech_speakers(rng, sizes["speakers"])
    next_utterance = Counter()
    seconds = {}
    for split_index, (split, part) in enumerate(LIBRI2MIX_SPLITS.items()):
        rows = []
        seconds[part] = 0.0
        for _ in range(sizes[split]):
            sources, utterance_ids = [], []
            for index in rng.choice(len(speakers), size=2, replace=False):
                speaker, chapter = speakers[index], chapters[split_index, index]
                utterance_ids.append(f"{speaker.id}-{chapter}-{next_utterance[speaker.id, chapter]:04d}")
                next_utterance[speaker.id, chapter] += 1
                sources.append(speak(speaker, texts.draw(rng), LIBRI2MIX_RATE, rng))
            mixture_id = "_".join(utterance_ids)
            signals = dict(zip(("mix_clean", "s1", "s2"), mix_sources(*sources, rng)))
            for folder, samples in signals.items():
                write_audio(root / "wav16k" / "min" / part / folder / f"{mixture_id}.wav", samples, LIBRI2MIX_RATE)
            published = {folder: published_root / "wav16k" / "min" / part / folder / f"{mixture_id}.wav" for folder in signals}
            length = len(signals["mix_clean"])
            rows.append((mixture_id, published["mix_clean"], published["s1"], published["s2"], length))
            seconds[part] += length / LIBRI2MIX_RATE
        metadata = root / "wav16k" / "min" / "metadata" / f"mixture_{part}_mix_clean.csv"
        metadata.parent.mkdir(parents=True, exist_ok=True)
        with metadata.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(LIBRI2MIX_COLUMNS)
            writer.writerows(rows)
    return {"voices": voices(speakers), **hours(seconds)}


# --------------------------------------------------------------------------------------------
# Publishing


def check_replaceable(out: Path) -> None:
    """Refuse to delete a folder that holds anything the demo corpus did not write."""
    if out.exists() and not out.is_dir():
        raise MinisuperbError(f"--out {out} exists and is not a folder. Choose another --out path.")
    if out.is_dir():
        foreign = sorted(entry.name for entry in out.iterdir() if entry.name not in (*PART_FOLDERS, MARKER, MARKER_TMP))
        if foreign:
            raise MinisuperbError(
                f"--out {out} holds {', '.join(foreign[:3])}, which the demo corpus did not write; "
                "refusing to replace it. Choose an empty or new folder for --out."
            )


def generate(out: str | Path, settings: dict) -> dict:
    """Synthesise the demo corpus under `out` and return the summary written to its marker.

    Writes into a hidden sibling folder and renames it to `out`, then writes the marker
    `out/demo_corpus.json` last, so a killed run never leaves a corpus that looks complete.
    """
    settings = validate_settings(settings)
    out = Path(out).resolve()
    check_replaceable(out)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    seed = settings["seed"]
    texts = Texts(settings["min_words"], settings["max_words"])
    writers = {
        "LibriSpeech": lambda root: write_librispeech(root, settings["asr"], texts, part_rng(seed, "asr")),
        "VoxCeleb1": lambda root: write_voxceleb(root, settings["sid"], texts, part_rng(seed, "sid")),
        "VoiceBank-DEMAND": lambda root: write_voicebank(root, settings["se"], texts, part_rng(seed, "se")),
        "Libri2Mix": lambda root: write_libri2mix(root, out / "Libri2Mix", settings["ss"], texts, part_rng(seed, "ss")),
    }
    parts = {}
    for name, write_part in writers.items():
        started = time.perf_counter()
        parts[name] = write_part(staging / name)
        log.info("%s: %.4f h of audio in %.1f s", name, parts[name]["total_hours"], time.perf_counter() - started)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    summary = {
        "settings": settings,
        "seed": seed,
        "vocabulary_size": len(WORDS),
        "parts": parts,
        "total_hours": round(sum(part["total_hours"] for part in parts.values()), 6),
    }
    write_json_atomic(out / MARKER, summary)
    return summary


def run_demo_corpus(args) -> None:
    # Single-threaded: eSpeak, numpy's FFT and scipy's resampling.
    started = time.perf_counter()
    summary = generate(args.out, json_object(args.settings, "--settings"))
    log.info("demo corpus: %.4f h of audio written to %s in %.1f s", summary["total_hours"], args.out, time.perf_counter() - started)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo-corpus",
        help="synthesise the demo corpus (eSpeak NG) in the four real layouts",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--out", required=True, help="folder to write (replaced if it holds an older demo corpus)")
    parser.add_argument("--settings", required=True, help="JSON: the config's `demo` section")
    parser.set_defaults(func=run_demo_corpus)
