"""Corpus readers on tiny corpora written in the real layouts (tests/corpus_fixtures.py)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from corpus_fixtures import (
    FOREIGN_LIBRI2MIX_ROOT,
    write_audio,
    write_libri2mix,
    write_librilight_finetuning,
    write_librispeech,
    write_voicebank,
    write_voxceleb1,
)
from minisuperb.corpora import audio
from minisuperb.corpora.commands import read_corpus
from minisuperb.errors import MinisuperbError


@pytest.fixture
def no_decoding(monkeypatch):
    """Readers must take durations from headers (or CSVs), never by decoding whole files."""

    def refuse(*args, **kwargs):
        raise AssertionError("a corpus reader decoded audio; read the header instead")

    monkeypatch.setattr(sf, "read", refuse)


def ids(records):
    return [record["id"] for record in records]


# --- LibriSpeech / Libri-light -------------------------------------------------------------------


@pytest.fixture
def librispeech(tmp_path):
    root = tmp_path / "LibriSpeech"
    texts = write_librilight_finetuning(root)
    texts |= write_librispeech(root, "dev-clean", ("2277",), 1, 2)
    texts |= write_librispeech(root, "test-clean", ("1089",), 2, 2, suffix=".wav")
    return root, texts


def test_librispeech_reads_the_10h_set_with_transcripts_and_header_lengths(librispeech, no_decoding):
    root, texts = librispeech
    splits = read_corpus("asr", {"root": str(root)})
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [8, 2, 4]
    assert ids(splits["train"]) == sorted(ids(splits["train"]))
    for records in splits.values():
        for record in records:
            assert record["transcript"] == texts[record["id"]]
            assert Path(record["path"]).is_absolute() and Path(record["path"]).stem == record["id"]
            assert record["speaker"] == record["id"].split("-")[0]
            assert record["num_samples"] == sf.info(record["path"]).frames
            assert record["sample_rate"] == 16000
    # the 10 h set nests 1h/{0..5}/{clean,other} and 9h/{clean,other}: all of them are read
    folds = {Path(r["path"]).relative_to(root.resolve() / "librispeech_finetuning").parts[:-3] for r in splits["train"]}
    assert folds == {("1h", "0", "clean"), ("1h", "3", "other"), ("9h", "clean"), ("9h", "other")}


def test_librispeech_keeps_apostrophes(librispeech):
    root, texts = librispeech
    transcripts = [r["transcript"] for r in read_corpus("asr", {"root": str(root)})["train"]]
    assert any("'" in text for text in transcripts)
    assert all(text == text.upper() for text in transcripts)


def test_librispeech_train_clean_100_and_fractions_of_folders(tmp_path):
    root = tmp_path / "LibriSpeech"
    write_librispeech(root, "train-clean-100", ("103", "1034"), 2, 2)
    write_librispeech(root, "dev-clean", ("2277",), 1, 1)
    write_librispeech(root, "test-clean", ("1089",), 1, 1)
    splits = read_corpus("asr", {"root": str(root), "train": ["train-clean-100"]})
    assert len(splits["train"]) == 8
    assert {r["speaker"] for r in splits["train"]} == {"103", "1034"}


def test_librispeech_missing_root_names_the_key(tmp_path):
    with pytest.raises(MinisuperbError, match=r"data\.asr\.root.*does not exist"):
        read_corpus("asr", {"root": str(tmp_path / "nowhere")})


def test_librispeech_missing_split_folder_names_the_key(librispeech):
    root, _ = librispeech
    shutil.rmtree(root / "dev-clean")
    with pytest.raises(MinisuperbError, match=r"data\.asr\.dev.*dev-clean"):
        read_corpus("asr", {"root": str(root)})


def test_librispeech_missing_transcript_file_is_named(librispeech):
    root, _ = librispeech
    transcript = next((root / "dev-clean").rglob("*.trans.txt"))
    transcript.unlink()
    with pytest.raises(MinisuperbError, match=f"transcript file {transcript} is missing"):
        read_corpus("asr", {"root": str(root)})


def test_librispeech_utterance_missing_from_its_transcript_is_named(librispeech):
    root, _ = librispeech
    transcript = next((root / "dev-clean").rglob("*.trans.txt"))
    lines = transcript.read_text().splitlines()
    transcript.write_text(lines[0] + "\n")
    missing_id = lines[1].split()[0]
    with pytest.raises(MinisuperbError, match=f"{missing_id} .*no line in its transcript file {transcript}"):
        read_corpus("asr", {"root": str(root)})


def test_librispeech_empty_transcript_is_named(librispeech):
    root, _ = librispeech
    transcript = next((root / "dev-clean").rglob("*.trans.txt"))
    lines = transcript.read_text().splitlines()
    empty_id = lines[0].split()[0]
    transcript.write_text("\n".join([empty_id + "  ", *lines[1:]]) + "\n")
    with pytest.raises(MinisuperbError, match=f"empty transcript for utterance {empty_id} in {transcript}"):
        read_corpus("asr", {"root": str(root)})


def test_empty_audio_file_is_named(librispeech):
    root, _ = librispeech
    victim = next((root / "dev-clean").rglob("*.flac"))
    sf.write(str(victim), np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(MinisuperbError, match=f"{victim}.*empty"):
        read_corpus("asr", {"root": str(root)})


def test_unreadable_audio_file_is_named(librispeech):
    root, _ = librispeech
    victim = next((root / "test-clean").rglob("*.wav"))
    victim.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(MinisuperbError, match=f"{victim}: has no readable WAV/FLAC header"):
        read_corpus("asr", {"root": str(root)})


def test_truncated_flac_is_refused_with_its_path(librispeech):
    root, _ = librispeech
    victim = next((root / "dev-clean").rglob("*.flac"))
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size * 9 // 10])
    assert sf.info(str(victim)).frames > 0  # the header alone does not show it
    with pytest.raises(MinisuperbError, match=rf"1 of 2 audio files cannot be read:\n  {victim}: is truncated"):
        read_corpus("asr", {"root": str(root)})


def test_unreadable_files_are_counted_and_the_first_ten_listed(tmp_path):
    root = tmp_path / "VoxCeleb1"
    listed = write_voxceleb1(root, speakers=3, train=5)
    victims = [next(root.glob(f"*/wav/{rel}")) for rel in listed["train"][:12]]
    for victim in victims:
        victim.write_bytes(b"RIFF broken")
    with pytest.raises(MinisuperbError) as error:
        read_corpus("sid", {"root": str(root)})
    message = str(error.value)
    assert message.startswith(f"12 of {len(listed['train'])} audio files cannot be read:")
    assert sum(str(victim) in message for victim in victims) == 10
    assert "... and 2 more" in message and "Re-extract or re-download them" in message


def test_invalid_settings_name_the_key(librispeech):
    root, _ = librispeech
    with pytest.raises(MinisuperbError, match=r"data\.asr\.train"):
        read_corpus("asr", {"root": str(root), "train": "train-clean-100"})
    with pytest.raises(MinisuperbError, match=r"data\.asr.*trian"):
        read_corpus("asr", {"root": str(root), "trian": ["x"]})


# --- VoxCeleb1 -----------------------------------------------------------------------------------


def test_voxceleb1_follows_the_split_file_across_both_archives(tmp_path, no_decoding):
    root = tmp_path / "VoxCeleb1"
    listed = write_voxceleb1(root, speakers=3, train=4, dev=1, test=2)
    splits = read_corpus("sid", {"root": str(root)})
    for split, rels in listed.items():
        assert sorted(ids(splits[split])) == sorted(rel[:-4].replace("/", "-") for rel in rels)
    record = splits["train"][0]
    assert record["speaker"] == "id10001" and record["label"] == 0
    assert {r["label"] for r in splits["test"]} == {0, 1, 2}
    assert any("vox1_test_wav" in r["path"] for r in splits["train"])  # the last speaker's tree
    assert all(r["num_samples"] == sf.info(r["path"]).frames for r in splits["dev"])


def test_voxceleb1_split_file_elsewhere(tmp_path):
    root = tmp_path / "VoxCeleb1"
    write_voxceleb1(root)
    moved = tmp_path / "meta" / "my_split.txt"
    moved.parent.mkdir()
    (root / "iden_split.txt").rename(moved)
    assert read_corpus("sid", {"root": str(root), "split_file": str(moved)})["dev"]


def test_voxceleb1_missing_split_file(tmp_path):
    root = tmp_path / "VoxCeleb1"
    write_voxceleb1(root)
    (root / "iden_split.txt").unlink()
    with pytest.raises(MinisuperbError, match=r"split file.*data\.sid\.split_file.*iden_split\.txt does not exist"):
        read_corpus("sid", {"root": str(root)})


def test_voxceleb1_listed_files_missing_are_counted_and_named(tmp_path):
    root = tmp_path / "VoxCeleb1"
    listed = write_voxceleb1(root)
    shutil.rmtree(root / "vox1_test_wav")
    with pytest.raises(MinisuperbError, match=r"6 files listed in .*iden_split\.txt are not under .*id10003/"):
        read_corpus("sid", {"root": str(root)})
    assert len([rel for rels in listed.values() for rel in rels if rel.startswith("id10003")]) == 6


def test_voxceleb1_malformed_split_line_is_named(tmp_path):
    root = tmp_path / "VoxCeleb1"
    write_voxceleb1(root)
    with (root / "iden_split.txt").open("a") as handle:
        handle.write("4 id10001/x/00001.wav\n")
    with pytest.raises(MinisuperbError, match=r"line 19 of the split file"):
        read_corpus("sid", {"root": str(root)})


# --- VoiceBank-DEMAND ----------------------------------------------------------------------------


def test_voicebank_48k_originals_pair_noisy_and_clean_and_hold_out_dev_speakers(tmp_path, no_decoding):
    root = tmp_path / "VoiceBank-DEMAND"
    written = write_voicebank(root, rate=48000)
    splits = read_corpus("se", {"root": str(root)})
    assert {r["speaker"] for r in splits["dev"]} == {"p226", "p287"}
    assert {r["speaker"] for r in splits["train"]} == {"p227", "p228"}
    assert sorted(ids(splits["train"] + splits["dev"])) == sorted(written["trainset"])
    assert ids(splits["test"]) == written["testset"]
    record = splits["test"][0]
    frames = sf.info(record["path"]).frames
    assert record["sample_rate"] == 48000
    assert record["num_samples"] == -(-frames // 3)  # at 16 kHz
    assert Path(record["clean_path"]).name == Path(record["path"]).name
    assert "clean_testset_wav" in record["clean_path"] and "noisy_testset_wav" in record["path"]


def test_voicebank_16k_copies_and_one_loader_for_everything(tmp_path):
    root = tmp_path / "VoiceBank-DEMAND"
    write_voicebank(root, rate=16000, folder_suffix="_16k")
    splits = read_corpus("se", {"root": str(root), "dev_speakers": ["p226"]})
    assert splits["train"][0]["sample_rate"] == 16000
    assert {r["speaker"] for r in splits["dev"]} == {"p226"}


def test_audio_load_resamples_48k_to_the_manifest_length(tmp_path):
    root = tmp_path / "VoiceBank-DEMAND"
    write_voicebank(root, rate=48000, utterances=1)
    record = read_corpus("se", {"root": str(root)})["train"][0]
    wav = audio.load(record["path"])
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert len(wav) == record["num_samples"]


def test_voicebank_unmatched_pairs_are_listed(tmp_path):
    root = tmp_path / "VoiceBank-DEMAND"
    write_voicebank(root)
    (root / "clean_trainset_28spk_wav" / "p227_002.wav").unlink()
    with pytest.raises(MinisuperbError, match=r"1 files .* no partner .*p227_002\.wav"):
        read_corpus("se", {"root": str(root)})


def test_voicebank_mixed_rates_in_one_split_fail(tmp_path):
    root = tmp_path / "VoiceBank-DEMAND"
    write_voicebank(root, rate=48000)
    for kind in ("clean", "noisy"):
        write_audio(root / f"{kind}_trainset_28spk_wav" / "p228_002.wav", 4000, 16000, seed=3)
    with pytest.raises(MinisuperbError, match=r"mixes sample rates .*p228_002\.wav is at 16000 Hz"):
        read_corpus("se", {"root": str(root)})


def test_voicebank_unknown_dev_speaker_and_missing_folder(tmp_path):
    root = tmp_path / "VoiceBank-DEMAND"
    write_voicebank(root)
    with pytest.raises(MinisuperbError, match=r"p999 .*data\.se\.dev_speakers"):
        read_corpus("se", {"root": str(root), "dev_speakers": ["p999"]})
    shutil.rmtree(root / "noisy_testset_wav")
    with pytest.raises(MinisuperbError, match=r"neither noisy_testset_wav/ nor noisy_testset_wav_16k/"):
        read_corpus("se", {"root": str(root)})


# --- Libri2Mix -----------------------------------------------------------------------------------


def test_libri2mix_reroots_csv_paths_and_takes_lengths_from_the_csv(tmp_path, no_decoding, monkeypatch):
    root = tmp_path / "Libri2Mix"
    written = write_libri2mix(root)
    monkeypatch.setattr(sf, "info", lambda *a, **k: pytest.fail("lengths come from the CSV"))
    splits = read_corpus("ss", {"root": str(root)})
    assert {split: ids(records) for split, records in splits.items()} == {
        "train": sorted(written["train-100"]), "dev": sorted(written["dev"]), "test": sorted(written["test"])
    }
    record = splits["dev"][0]
    assert record["path"] == str((root / "wav16k/min/dev/mix_clean" / f"{record['id']}.wav").resolve())
    assert [Path(p).parent.name for p in record["source_paths"]] == ["s1", "s2"]
    assert not any(FOREIGN_LIBRI2MIX_ROOT in p for p in [record["path"], *record["source_paths"]])
    monkeypatch.undo()
    assert record["num_samples"] == sf.info(record["path"]).frames
    first, second = (utt.split("-")[0] for utt in record["id"].split("_"))
    assert record["speaker"] == first and record["speakers"] == [first, second]


def test_libri2mix_missing_csv(tmp_path):
    root = tmp_path / "Libri2Mix"
    write_libri2mix(root)
    (root / "wav16k/min/metadata/mixture_dev_mix_clean.csv").unlink()
    with pytest.raises(MinisuperbError, match=r"dev metadata CSV .*mixture_dev_mix_clean\.csv does not exist"):
        read_corpus("ss", {"root": str(root)})


def test_libri2mix_wrong_columns(tmp_path):
    root = tmp_path / "Libri2Mix"
    write_libri2mix(root)
    csv_path = root / "wav16k/min/metadata/mixture_test_mix_clean.csv"
    rows = list(csv.reader(csv_path.open()))
    rows[0][4] = "duration"
    with csv_path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(MinisuperbError, match=r"lacks the columns length"):
        read_corpus("ss", {"root": str(root)})


def test_libri2mix_missing_or_empty_mixture_and_foreign_path(tmp_path):
    root = tmp_path / "Libri2Mix"
    written = write_libri2mix(root)
    mixture = root / "wav16k/min/train-100/mix_clean" / f"{written['train-100'][1]}.wav"
    mixture.write_bytes(b"")
    with pytest.raises(MinisuperbError, match=f"1 audio files listed in .* are empty, e.g. {mixture}"):
        read_corpus("ss", {"root": str(root)})
    mixture.unlink()
    with pytest.raises(MinisuperbError, match=f"1 audio files listed in .* are missing, e.g. {mixture}"):
        read_corpus("ss", {"root": str(root)})
    with pytest.raises(MinisuperbError, match=r"wav16k/max does not exist"):
        read_corpus("ss", {"root": str(root), "mode": "max"})


def test_threaded_header_reads_give_the_same_records(tmp_path):
    root = tmp_path / "VoxCeleb1"
    write_voxceleb1(root)
    assert read_corpus("sid", {"root": str(root)}, threads=3) == read_corpus("sid", {"root": str(root)}, threads=1)


# --- every reader --------------------------------------------------------------------------------


def put_asr_dev_in_train(root: Path) -> dict:
    write_librispeech(root, "dev-clean", ("2277",), 1, 2)
    write_librispeech(root, "test-clean", ("1089",), 1, 2)
    return {"root": str(root), "train": ["dev-clean"]}


def list_a_sid_train_file_as_test(root: Path) -> dict:
    listed = write_voxceleb1(root)
    with (root / "iden_split.txt").open("a") as handle:
        handle.write(f"3 {listed['train'][0]}\n")
    return {"root": str(root)}


def copy_se_dev_pair_into_the_testset(root: Path) -> dict:
    write_voicebank(root)
    for kind in ("clean", "noisy"):
        shutil.copy(root / f"{kind}_trainset_28spk_wav" / "p226_001.wav", root / f"{kind}_testset_wav")
    return {"root": str(root)}


def add_ss_train_row_to_dev(root: Path) -> dict:
    write_libri2mix(root)
    metadata = root / "wav16k/min/metadata"
    train_row = (metadata / "mixture_train-100_mix_clean.csv").read_text().splitlines()[1]
    with (metadata / "mixture_dev_mix_clean.csv").open("a") as handle:
        handle.write(train_row + "\n")
    return {"root": str(root)}


@pytest.mark.parametrize("task, make, count, example", [
    ("asr", put_asr_dev_in_train, 2,
     r"2277-1240-0000 is in ASR split 'train' \(dev-clean .*ASR split 'dev'.*data\.asr\.train"),
    ("sid", list_a_sid_train_file_as_test, 1,
     r"id10001-vid0_0Ab-x-00001 is in SID split 'train' \(from .*iden_split\.txt\).*SID split 'test'.*one code"),
    ("se", copy_se_dev_pair_into_the_testset, 1, r"p226_001 is in SE split 'dev' .*SE split 'test'.*remove one copy"),
    ("ss", add_ss_train_row_to_dev, 1,
     r"19-198-0000_26-227-0000 is in SS split 'train' \(.*train-100_mix_clean\.csv\).*SS split 'dev' \(.*dev_mix"),
])
def test_an_utterance_in_two_splits_is_refused(tmp_path, task, make, count, example):
    settings = make(tmp_path / "corpus")
    with pytest.raises(MinisuperbError, match=rf"{count} utterance ids occur in two splits, e.g. {example}"):
        read_corpus(task, settings)
