"""Audio in: a WAV file, a raw stream on stdin, or a microphone; always 16 kHz mono int16.

Why one format: the acoustic model is trained on 16 kHz speech, and every source is turned
into the same chunks of samples so the voice activity detector and the recogniser never care
where audio came from. espeak-ng writes 22.05 kHz WAVs (setup-findings): files at another
rate are resampled (with sox when present, else by linear interpolation after averaging).

    sox in.wav -t raw -r 16000 -c 1 -b 16 -e signed - | .venv/bin/python -m edge_nerve.voice.listen --stdin
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edge_nerve.voice.asr import SAMPLE_RATE, VoiceError

CHUNK = 1600  # samples (100 ms) per chunk a source yields


def resample(x: np.ndarray, rate: int, to: int = SAMPLE_RATE) -> np.ndarray:
    """Linear-interpolation resampling with a box pre-filter when going down (int16 in/out)."""
    if rate == to or len(x) == 0:
        return x.astype(np.int16)
    xf = x.astype(np.float64)
    if rate > to:
        k = max(1, int(round(rate / to)))
        xf = np.convolve(xf, np.ones(k) / k, mode="same") if k > 1 else xf
    n = int(round(len(xf) * to / rate))
    y = np.interp(np.arange(n) * rate / to, np.arange(len(xf)), xf)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def read_wav(path: str | Path) -> np.ndarray:
    """A WAV file as 16 kHz mono int16 samples."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
    except (OSError, wave.Error, EOFError) as e:
        raise VoiceError(f"cannot read WAV {path}: {e}") from e
    if (rate != SAMPLE_RATE or channels != 1 or width != 2) and shutil.which("sox"):
        out = subprocess.run(["sox", str(path), "-t", "raw", "-r", str(SAMPLE_RATE), "-c", "1",
                              "-b", "16", "-e", "signed-integer", "-"], capture_output=True)
        if out.returncode == 0:
            return np.frombuffer(out.stdout, dtype="<i2").astype(np.int16)
    if width != 2:
        raise VoiceError(f"{path}: only 16-bit PCM WAV is supported without sox")
    x = np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1).astype(np.int16)  # (N, ch) -> (N,)
    return resample(x, rate)


def file_chunks(path: str | Path, chunk: int = CHUNK) -> Iterator[np.ndarray]:
    x = read_wav(path)
    for i in range(0, len(x), chunk):
        yield x[i:i + chunk]


def stdin_chunks(stream=None, chunk: int = CHUNK) -> Iterator[np.ndarray]:
    """Raw signed 16-bit little-endian 16 kHz mono samples from a byte stream (stdin)."""
    stream = stream or sys.stdin.buffer
    carry = b""
    while True:
        data = stream.read(chunk * 2)
        if not data:
            break
        data = carry + data
        usable = len(data) - len(data) % 2
        carry = data[usable:]
        if usable:
            yield np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)


def microphone_chunks(device: str | int | None = None, chunk: int = CHUNK) -> Iterator[np.ndarray]:
    """Live microphone audio through sounddevice/PortAudio; a clear error when there is none."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as e:  # sounddevice raises OSError when PortAudio is missing
        raise VoiceError("no microphone input: sounddevice/PortAudio is not available "
                         f"({e}); install PortAudio (apt-get install libportaudio2) or use "
                         "a WAV file or --stdin") from e
    try:
        stream = sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="int16",
                                blocksize=chunk, device=device)
    except Exception as e:  # PortAudioError, ValueError: no such device
        raise VoiceError(f"cannot open microphone {device!r}: {e}") from e
    with stream:
        while True:
            data, _overflowed = stream.read(chunk)
            yield data[:, 0].copy()  # (chunk, 1) -> (chunk,)
