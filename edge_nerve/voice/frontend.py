"""The pocketsphinx acoustic front end, in numpy: audio -> the cepstra and features the decoder sees.

Why: speaker adaptation (edge_nerve.voice.adapt) estimates its transform from the very feature
vectors the decoder scores, and the pocketsphinx wheel does not expose them. This reproduces its
float front end for the en-us model's parameters (feat.params: 25 filters 130-6800 Hz, DCT-II,
lifter 22, spectral noise removal on; 25.625 ms Hamming frames every 10 ms, pre-emphasis 0.97,
512-point FFT) and its `1s_c_d_dd` features (batch CMN, deltas over +-2 frames, double deltas
over +-1). Fed back through `Decoder.process_cep`, the cepstra decode to the same path score as
the decoder's own front end on the same audio (tests/unit/test_voice_adapt.py), when the
decoder's noise estimate starts fresh, as it does here for every utterance.

    cepstra(samples)  -> (frames, 13) float32   (what process_cep takes)
    features(cepstra) -> (frames, 39) float64   (what the Gaussians score)
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
FRAME_SIZE = 410  # int(0.025625 s * 16 kHz + 0.5)
FRAME_SHIFT = 160  # 100 frames per second
NFFT = 512
N_FILTERS, LOWER_HZ, UPPER_HZ = 25, 130.0, 6800.0
N_CEP, LIFTER = 13, 22
PRE_EMPHASIS = 0.97
LOG_FLOOR = 1e-4


def _mel(hz):
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_inverse(mel):
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def _filterbank() -> np.ndarray:
    """(N_FILTERS, NFFT/2+1) triangular filters of unit area, edges rounded to FFT bins."""
    bin_hz = SAMPLE_RATE / NFFT
    lo, hi = _mel(LOWER_HZ), _mel(UPPER_HZ)
    width = (hi - lo) / (N_FILTERS + 1)
    fb = np.zeros((N_FILTERS, NFFT // 2 + 1))
    for i in range(N_FILTERS):
        left, centre, right = (int(_mel_inverse(lo + (i + j) * width) / bin_hz + 0.5) * bin_hz for j in range(3))
        for j in range(NFFT // 2 + 1):
            hz = j * bin_hz
            if hz < left:
                continue
            if hz > right or j == NFFT // 2:
                break
            up, down = (hz - left) / (centre - left), (right - hz) / (right - centre)
            fb[i, j] = min(up, down) * 2.0 / (right - left)
    return fb


FILTERBANK = _filterbank()
HAMMING = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(FRAME_SIZE) / (FRAME_SIZE - 1.0))
_k = np.arange(N_CEP)[:, None] * (np.arange(N_FILTERS)[None, :] + 0.5)
DCT = np.cos(np.pi / N_FILTERS * _k) * np.sqrt(2.0 / N_FILTERS)  # (13, 25), orthonormal DCT-II
DCT[0] = np.sqrt(1.0 / N_FILTERS)
LIFTER_WEIGHTS = 1.0 + LIFTER / 2.0 * np.sin(np.arange(N_CEP) * np.pi / LIFTER)


def _frames(samples: np.ndarray) -> np.ndarray:
    """(frames, FRAME_SIZE) pre-emphasised, windowed; the last frame is what is left, zero-padded."""
    x = samples.astype(np.float64)
    y = np.empty_like(x)
    y[:1], y[1:] = x[:1], x[1:] - PRE_EMPHASIS * x[:-1]
    n_full = 1 + (len(y) - FRAME_SIZE) // FRAME_SHIFT if len(y) >= FRAME_SIZE else 0
    out = [y[t * FRAME_SHIFT: t * FRAME_SHIFT + FRAME_SIZE] for t in range(n_full)]
    rest = y[n_full * FRAME_SHIFT: n_full * FRAME_SHIFT + FRAME_SIZE]
    if len(rest):
        out.append(np.pad(rest, (0, FRAME_SIZE - len(rest))))
    return np.stack(out) * HAMMING if out else np.zeros((0, FRAME_SIZE))


def remove_noise(mel: np.ndarray) -> np.ndarray:
    """pocketsphinx's spectral noise removal (fe_noise.c), from a fresh estimate: a slowly
    rising, quickly falling lower envelope is the noise, subtracted with temporal masking,
    and the resulting gain is smoothed over 9 neighbouring filters."""
    mel = mel.copy()
    if not len(mel):
        return mel
    power, noise, floor, peak = mel[0].copy(), mel[0] / 20.0, mel[0] / 20.0, np.zeros(mel.shape[1])
    idx = np.arange(mel.shape[1])
    lo, hi = np.maximum(idx - 4, 0), np.minimum(idx + 4, mel.shape[1] - 1)

    def envelope(x, env):
        return np.where(x >= env, 0.995 * env + 0.005 * x, 0.5 * env + 0.5 * x)

    for t in range(len(mel)):
        power = 0.7 * power + 0.3 * mel[t]
        noise = envelope(power, noise)
        signal = np.maximum(power - noise, 1.0)
        floor = envelope(signal, floor)
        peak = peak * 0.85
        masked = np.where(signal < 0.85 * peak, 0.2 * peak, signal)
        peak = np.where(signal > peak, signal, peak)
        signal = np.maximum(masked, floor)
        gain = np.maximum(np.where(signal < 20.0 * power, signal / power, 20.0), 1.0 / 20.0)
        cum = np.concatenate([[0.0], np.cumsum(gain)])
        mel[t] *= (cum[hi + 1] - cum[lo]) / (hi - lo + 1)
    return mel


def cepstra(samples: np.ndarray, noise_removal: bool = True) -> np.ndarray:
    """int16 16 kHz mono -> (frames, 13) liftered MFCC, float32 (Decoder.process_cep's input)."""
    spectrum = np.abs(np.fft.rfft(_frames(samples), NFFT)) ** 2
    mel = spectrum @ FILTERBANK.T
    if noise_removal:
        mel = remove_noise(mel)
    return ((np.log(mel + LOG_FLOOR) @ DCT.T) * LIFTER_WEIGHTS).astype(np.float32)


def features(cep: np.ndarray) -> np.ndarray:
    """(frames, 13) cepstra -> (frames, 39): batch-CMN cepstra, deltas, double deltas (edges
    repeat the first and last frame)."""
    c = cep.astype(np.float64)
    c -= c.mean(0)
    padded = np.concatenate([np.repeat(c[:1], 3, 0), c, np.repeat(c[-1:], 3, 0)])
    delta = padded[4:] - padded[:-4]  # c[t+2] - c[t-2], for t = -1 .. T
    return np.concatenate([c, delta[1:-1], delta[2:] - delta[:-2]], axis=1)
