"""Test speech made at run time: espeak-ng speaks, sox resamples and mixes noise at a set SNR.

Why at run time: the benchmark and the tests need many voices, speeds and pitches and noisy
copies, but the repository commits no audio. espeak-ng writes 22.05 kHz, so sox converts to
16 kHz mono 16-bit (setup-findings, "Speech").

    python -c "from edge_nerve.voice.synth import speak; print(len(speak('bring me the red cup')))"
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_nerve.voice.asr import SAMPLE_RATE, VoiceError


@dataclass(frozen=True)
class Voice:
    name: str = "en-us"  # espeak-ng voice, with an optional +variant (en-us+f3)
    speed: int = 160  # words per minute
    pitch: int = 50  # 0..99

    def label(self) -> str:
        return f"{self.name}/s{self.speed}/p{self.pitch}"


def available() -> str | None:
    """None when espeak-ng and sox are both installed, else what is missing."""
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    return None if not missing else f"{' and '.join(missing)} not installed (apt-get install espeak-ng sox)"


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(argv, capture_output=True, **kw)
    if out.returncode != 0:
        raise VoiceError(f"{argv[0]} failed: {out.stderr.decode(errors='replace')[-300:]}")
    return out


def speak(text: str, voice: Voice = Voice(), wav_out: str | Path | None = None) -> np.ndarray:
    """`text` spoken by espeak-ng, as 16 kHz mono int16 (also written to `wav_out` if given)."""
    why = available()
    if why:
        raise VoiceError(why)
    with tempfile.TemporaryDirectory() as d:
        raw = Path(d) / "espeak.wav"
        _run(["espeak-ng", "-v", voice.name, "-s", str(voice.speed), "-p", str(voice.pitch),
              "-w", str(raw), text])
        out = Path(wav_out) if wav_out else Path(d) / "16k.wav"
        _run(["sox", "-R", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
              str(out)])
        return _read(out)


def mix_noise(wav_in: str | Path, wav_out: str | Path, snr_db: float, kind: str = "pinknoise",
              pad_s: float = 0.5) -> None:
    """Noise mixed by sox at `snr_db` (speech power over the active part vs noise power).
    `pad_s` seconds of noise-only lead-in and tail, as a microphone would record. `kind`: a
    sox noise (whitenoise, pinknoise, brownnoise); `-R` makes it repeatable."""
    x = _read(wav_in).astype(np.float64)
    active = x[np.abs(x) > 0.02 * (np.abs(x).max() or 1)]
    speech_rms = float(np.sqrt(np.mean(active ** 2))) if len(active) else 1.0
    dur = len(x) / SAMPLE_RATE + 2 * pad_s
    with tempfile.TemporaryDirectory() as d:
        noise, padded = Path(d) / "noise.wav", Path(d) / "padded.wav"
        _run(["sox", "-R", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
              str(noise), "synth", f"{dur:.3f}", kind, "vol", "0.3"])
        _run(["sox", "-R", str(wav_in), str(padded), "pad", f"{pad_s}", f"{pad_s}"])
        n = _read(noise).astype(np.float64)
        noise_rms = float(np.sqrt(np.mean(n ** 2))) or 1.0
        gain = speech_rms / noise_rms / (10 ** (snr_db / 20))
        # both halved: headroom against clipping, the ratio (the SNR) unchanged
        _run(["sox", "-R", "-m", "-v", "0.5", str(padded), "-v", f"{gain / 2:.6f}", str(noise), str(wav_out),
              "trim", "0", f"{dur:.3f}"])


def _read(path: str | Path) -> np.ndarray:
    from edge_nerve.voice.audio import read_wav
    return read_wav(path)
