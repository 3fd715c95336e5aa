"""A minimal ctypes binding to eSpeak NG, as shipped by the `espeakng-loader` wheel.

Only what the demo corpus needs: initialise in synchronous mode with a callback that collects
the 16-bit samples, choose a voice (`en+m1`, `en+f3`, ...), set rate/pitch/range, and synthesise
a sentence. The declarations follow `espeak-ng/speak_lib.h` (the legacy API, still exported).

Reproducibility: eSpeak NG keeps synthesis state in C statics that no API call resets (the
phase of its pitch flutter, an automatic gain, a cycle counter), so the same call gives
slightly different audio depending on what was synthesised before. Each utterance therefore
gets a freshly loaded library (load, initialise, speak, unload: a few milliseconds) and seeded
random generators (eSpeak's own and libc's `rand`, used for breath noise). An utterance then
depends only on its own arguments, whatever ran before it in the process.
"""

from __future__ import annotations

import _ctypes
import ctypes
from pathlib import Path

import numpy as np

from minisuperb.errors import MinisuperbError

# speak_lib.h: espeak_AUDIO_OUTPUT
AUDIO_OUTPUT_SYNCHRONOUS = 2
# speak_lib.h: espeak_PARAMETER
ESPEAK_RATE = 1
ESPEAK_PITCH = 3
ESPEAK_RANGE = 4
# speak_lib.h: espeak_POSITION_TYPE and flags
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1
# Return an error code instead of calling exit() when the data folder is unusable.
ESPEAK_INITIALIZE_DONT_EXIT = 0x8000
EE_OK = 0

# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events); events are not used.
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_LIBC = ctypes.CDLL(None)


def _paths() -> tuple[str, bytes]:
    """The library file and the folder that holds `espeak-ng-data` (what espeak_Initialize wants)."""
    import espeakng_loader

    return espeakng_loader.get_library_path(), str(Path(espeakng_loader.get_data_path()).parent).encode()


def _declare(lib: ctypes.CDLL) -> None:
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Terminate.restype = ctypes.c_int


def _check(status: int, what: str) -> None:
    if status != EE_OK:
        raise MinisuperbError(f"eSpeak NG failed to {what} (status {status}).")


def synthesize(text: str, voice: str, rate: int, pitch: int, pitch_range: int = 50, seed: int = 0) -> tuple[np.ndarray, int]:
    """Speak `text`; return (int16 samples, sample rate), the rate being 22050 Hz for eSpeak NG.

    voice: an eSpeak voice name with an optional variant (`en+m3`, `en+f2`); rate in words per
    minute (80-450); pitch and pitch_range 0-99 (50 = the voice's default); seed: breath noise.
    """
    library_path, data_folder = _paths()
    try:
        lib = ctypes.CDLL(library_path)
    except OSError as error:
        raise MinisuperbError(
            f"cannot load the eSpeak NG library {library_path}: {error}. Reinstall the `espeakng-loader` package."
        ) from error
    chunks: list[np.ndarray] = []

    def collect(wav, num_samples, _events) -> int:
        # wav is NULL at the end of the text; returning 0 continues synthesis.
        if wav and num_samples > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0

    callback = _SYNTH_CALLBACK(collect)  # referenced until unloaded: a collected callback crashes
    try:
        _declare(lib)
        sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_folder, ESPEAK_INITIALIZE_DONT_EXIT)
        if sample_rate <= 0:
            raise MinisuperbError(
                f"eSpeak NG failed to initialise with the data in {data_folder.decode()}. "
                "Reinstall the `espeakng-loader` package."
            )
        lib.espeak_SetSynthCallback(callback)
        _check(lib.espeak_SetVoiceByName(voice.encode()), f"select voice '{voice}'")
        # Parameters after the voice: selecting a voice resets them to the voice's defaults.
        _check(lib.espeak_SetParameter(ESPEAK_RATE, rate, 0), f"set rate {rate}")
        _check(lib.espeak_SetParameter(ESPEAK_PITCH, pitch, 0), f"set pitch {pitch}")
        _check(lib.espeak_SetParameter(ESPEAK_RANGE, pitch_range, 0), f"set range {pitch_range}")
        lib.espeak_ng_SetRandSeed(seed)
        _LIBC.srand(seed)
        encoded = text.encode("utf-8") + b"\0"
        _check(
            lib.espeak_Synth(encoded, len(encoded), 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None),
            f"synthesise '{text}'",
        )
        lib.espeak_Terminate()
    finally:
        _ctypes.dlclose(lib._handle)
    if not chunks:
        raise MinisuperbError(f"eSpeak NG produced no audio for '{text}' with voice '{voice}'.")
    return np.concatenate(chunks), sample_rate
