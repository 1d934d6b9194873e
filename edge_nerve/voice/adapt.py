"""Speaker enrollment: the acoustic model adapted to one speaker from a few dozen commands that
speaker reads (MLLR, then MAP).

Why: the wheel's English model is speaker independent, and most of what it still mishears
("the" as "my", "hall" as "toilet", "apple" as "novel") is a voice sitting off its average
speaker. Thirty enrollment commands (about a minute of speech) are enough to estimate one affine
transform per feature stream (MLLR, 3 x 13 x 14 numbers: moves every Gaussian the same way, so
even Gaussians the enrollment never touched follow the voice), and then to move each Gaussian the
speech did touch towards it, as far as the data outweighs the prior (MAP, Gauvain & Lee 1994).
The result is a speaker folder: `mllr` (the transform alone, 4 kB, usable by itself), `means` and
`variances` (the adapted model pocketsphinx loads in place of the wheel's), `enrollment.json`.
With it one VTLN warp decodes as well as four, so decoding is ~4x cheaper too (README, "Voice").

How: the enrollment audio goes through the decoder's own front end (edge_nerve.voice.frontend),
is force-aligned to the text it reads (pocketsphinx's state alignment: one senone per frame),
and each frame's posterior over the 128 Gaussians of its senone's codebook (the model is
phonetically tied: one codebook per base phone, per-senone mixture weights) gives the usual
statistics. Each MLLR row is a 14x14 solve (Leggetter & Woodland 1995, diagonal covariances); a
second pass re-aligns through the transform and fits a per-dimension variance scale; a last pass
gives the MAP statistics.

    .venv/bin/brainstem voice prompts --n 30 > prompts.txt          # what to read
    .venv/bin/brainstem voice enroll --prompts prompts.txt --wav-dir recordings/ --out speakers/me
    .venv/bin/brainstem voice enroll --espeak-voice en-us+f3 --out speakers/f3   # a synthetic speaker
    .venv/bin/python -m edge_nerve.nodes.voice --ros-args -p speaker:=speakers/me   # the robot hears me
"""

from __future__ import annotations

import json
import logging
import math
import random
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cloud_brain.domain.description import WorldDescription
from cloud_brain.planner.prompt import as_heard
from edge_nerve.voice import frontend
from edge_nerve.voice.asr import PronouncingDictionary, VoiceError, as_decoded

log = logging.getLogger(__name__)

STREAMS = 3  # 1s_c_d_dd: cepstra, deltas, double deltas, 13 each
DIM = 13
LOGMATH_BASE = 1.0001  # pocketsphinx's log base; mixture weights are stored >> 10 in it
MIXW_SHIFT = 10
VAR_FLOOR = 1e-4  # pocketsphinx's default varfloor
RIDGE = 1e-3  # keeps a row's 14x14 system solvable when a dimension saw little speech
# MAP prior weight, in frames: a Gaussian's mean moves halfway to this speaker's data once it
# explained MAP_TAU frames of it. On `brainstem eval voice` (enrolled, clean, 30 prompts per
# voice) 10 gave WER 0.8% / 1.1% on seeds 0 / 1 and 20-30 gave 1.2-1.3%; MLLR alone 4.0% / 5.3%.
MAP_TAU = 10.0


# ---- the acoustic model's files ----------------------------------------------------------------
def _read_gaussians(path: Path) -> np.ndarray:
    """A Sphinx-3 binary means/variances file -> (codebooks, streams, densities, 13)."""
    b = path.read_bytes()
    i = b.index(b"endhdr\n") + 7
    if struct.unpack_from("<I", b, i)[0] != 0x11223344:
        raise VoiceError(f"{path}: not a little-endian Sphinx-3 parameter file")
    n_cb, n_feat, n_den = struct.unpack_from("<3i", b, i + 4)
    veclen = struct.unpack_from(f"<{n_feat}i", b, i + 16)
    if n_feat != STREAMS or set(veclen) != {DIM}:
        raise VoiceError(f"{path}: expected {STREAMS} streams of {DIM}, got {veclen}")
    n, = struct.unpack_from("<i", b, i + 16 + 4 * n_feat)
    data = np.frombuffer(b, "<f4", n, i + 20 + 4 * n_feat)
    return data.reshape(n_cb, n_feat, n_den, DIM).astype(np.float64)


def _read_ciphones(path: Path) -> tuple[list[str], int]:
    """Binary model definition (BMDF) -> (base phone names in codebook order, senone count)."""
    b = path.read_bytes()
    if b[:4] != b"BMDF":
        raise VoiceError(f"{path}: not a binary model definition")
    i = 12 + struct.unpack_from("<i", b, 8)[0]
    fields = struct.unpack_from("<10i", b, i)
    i += 40
    names = []
    for _ in range(fields[0]):
        j = b.index(b"\0", i)
        names.append(b[i:j].decode())
        i = j + 1
    return names, fields[4]


def _read_mixture_weights(path: Path, n_sen: int, n_den: int) -> np.ndarray:
    """sendump (8-bit quantised -log weights) -> natural-log weights (streams, densities, senones)."""
    b = path.read_bytes()
    i = 0
    header: dict[str, str] = {}
    for k in range(10_000):
        n, = struct.unpack_from("<i", b, i)
        i += 4
        if n == 0 and k >= 2:
            break
        text = b[i:i + n].rstrip(b"\0").decode(errors="replace")
        i += n
        key, _, value = text.partition(" ")
        header[key] = value
    if int(header.get("cluster_count", "0") or 0) != 0:
        raise VoiceError(f"{path}: clustered (4-bit) mixture weights are not supported")
    rows, cols = struct.unpack_from("<2i", b, i)
    if (rows, cols) != (n_den, n_sen):
        raise VoiceError(f"{path}: {rows}x{cols} weights, expected {n_den}x{n_sen}")
    q = np.frombuffer(b, np.uint8, STREAMS * rows * cols, i + 8).reshape(STREAMS, rows, cols)
    return -q.astype(np.float64) * (1 << MIXW_SHIFT) * math.log(LOGMATH_BASE)


@dataclass
class AcousticModel:
    """The parts of a phonetically tied pocketsphinx model that adaptation needs."""

    means: np.ndarray  # (codebooks, 3, densities, 13)
    variances: np.ndarray  # same shape, floored
    log_weights: np.ndarray  # (3, densities, senones)
    ciphones: dict[str, int]  # base phone -> codebook

    @classmethod
    def load(cls, hmm_dir: str | Path) -> "AcousticModel":
        d = Path(hmm_dir)
        names, n_sen = _read_ciphones(d / "mdef")
        means = _read_gaussians(d / "means")
        variances = np.maximum(_read_gaussians(d / "variances"), VAR_FLOOR)
        if means.shape[0] != len(names):
            raise VoiceError(f"{d}: {means.shape[0]} codebooks for {len(names)} base phones "
                             "(only phonetically tied models can be adapted)")
        return cls(means, variances, _read_mixture_weights(d / "sendump", n_sen, means.shape[2]),
                   {n: k for k, n in enumerate(names)})


# ---- statistics and the transform --------------------------------------------------------------
class MLLRStatistics:
    """Occupancy-weighted sums per Gaussian: what the transform is solved from."""

    def __init__(self, model: AcousticModel, means: np.ndarray | None = None):
        self.model = model
        self.means = model.means if means is None else means  # where posteriors are computed
        shape = model.means.shape
        self.occupancy = np.zeros(shape[:3])
        self.first = np.zeros(shape)
        self.second = np.zeros(shape)
        self.frames = 0
        self._log_det = -0.5 * np.log(model.variances).sum(-1)

    def add(self, feats: np.ndarray, alignment: list[tuple[int, int, int]]) -> None:
        """`alignment`: (frame, senone, codebook) for each aligned frame of `feats` (T, 39)."""
        m = self.model
        for t, senone, cb in alignment:
            if t >= len(feats):
                continue
            for s in range(STREAMS):
                o = feats[t, DIM * s: DIM * (s + 1)]
                ll = (-0.5 * (((o - self.means[cb, s]) ** 2) / m.variances[cb, s]).sum(-1)
                      + self._log_det[cb, s] + m.log_weights[s, :, senone])
                g = np.exp(ll - ll.max())
                g /= g.sum()
                self.occupancy[cb, s] += g
                self.first[cb, s] += g[:, None] * o
                self.second[cb, s] += g[:, None] * (o * o)
            self.frames += 1


@dataclass
class SpeakerTransform:
    """mean' = A mean + b and variance' = h variance, per stream (pocketsphinx's MLLR file)."""

    A: np.ndarray  # (3, 13, 13)
    b: np.ndarray  # (3, 13)
    h: np.ndarray  # (3, 13)

    @classmethod
    def solve(cls, stats: MLLRStatistics, variances: bool = False) -> "SpeakerTransform":
        m = stats.model
        A, b, h = np.zeros((STREAMS, DIM, DIM)), np.zeros((STREAMS, DIM)), np.ones((STREAMS, DIM))
        for s in range(STREAMS):
            occ = stats.occupancy[:, s].reshape(-1)
            mu = m.means[:, s].reshape(-1, DIM)
            var = m.variances[:, s].reshape(-1, DIM)
            first = stats.first[:, s].reshape(-1, DIM)
            xi = np.concatenate([mu, np.ones((len(mu), 1))], axis=1)  # extended means (K, 14)
            for i in range(DIM):
                G = (xi * (occ / var[:, i])[:, None]).T @ xi + RIDGE * np.eye(DIM + 1)
                k = (first[:, i] / var[:, i]) @ xi
                row = np.linalg.solve(G, k)
                A[s, i], b[s, i] = row[:DIM], row[DIM]
            if variances and occ.sum() > 0:
                adapted = mu @ A[s].T + b[s]
                second = stats.second[:, s].reshape(-1, DIM)
                spread = second - 2 * adapted * first + adapted ** 2 * occ[:, None]
                h[s] = np.clip((spread / var).sum(0) / occ.sum(), 0.25, 4.0)
        return cls(A, b, h)

    def adapted_means(self, model: AcousticModel) -> np.ndarray:
        return np.einsum("sij,csdj->csdi", self.A, model.means) + self.b[None, :, None, :]

    def write(self, path: str | Path) -> Path:
        lines = ["1", str(STREAMS)]
        for s in range(STREAMS):
            lines.append(str(DIM))
            lines += [" ".join(f"{x:.7g}" for x in row) for row in self.A[s]]
            lines.append(" ".join(f"{x:.7g}" for x in self.b[s]))
            lines.append(" ".join(f"{x:.7g}" for x in self.h[s]))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> "SpeakerTransform":
        """Parse (and so validate) a transform file before pocketsphinx is given it."""
        try:
            values = [float(x) for x in Path(path).read_text().split()]
            if values[:2] != [1, STREAMS]:
                raise ValueError("expected one class and 3 streams")
            A, b, h, i = [], [], [], 2
            for _ in range(STREAMS):
                if values[i] != DIM:
                    raise ValueError(f"stream length {values[i]:g}, expected {DIM}")
                block = np.array(values[i + 1: i + 1 + DIM * (DIM + 2)])
                if len(block) != DIM * (DIM + 2) or not np.isfinite(block).all():
                    raise ValueError("truncated or not finite")
                A.append(block[:DIM * DIM].reshape(DIM, DIM))
                b.append(block[DIM * DIM: DIM * DIM + DIM])
                h.append(block[DIM * DIM + DIM:])
                i += 1 + DIM * (DIM + 2)
            if np.any(np.array(h) <= 0):
                raise ValueError("variance scales must be positive")
            return cls(np.array(A), np.array(b), np.array(h))
        except (OSError, ValueError, IndexError) as e:
            raise VoiceError(f"speaker transform {path}: {e}") from e


def _write_gaussians(path: Path, values: np.ndarray) -> None:
    """(codebooks, 3, densities, 13) -> a Sphinx-3 binary parameter file (no checksum)."""
    n_cb, n_feat, n_den, dim = values.shape
    head = b"s3\nversion 1.0\nendhdr\n" + struct.pack("<I", 0x11223344)
    head += struct.pack(f"<3i{n_feat}ii", n_cb, n_feat, n_den, *([dim] * n_feat), values.size)
    path.write_bytes(head + np.ascontiguousarray(values, "<f4").tobytes())


@dataclass
class SpeakerModel:
    """One enrolled speaker: a folder with the MLLR transform (`mllr`) and the means and
    variances adapted from it by MAP (`means`, `variances`), plus `enrollment.json`."""

    folder: Path

    @property
    def transform(self) -> Path:
        return self.folder / "mllr"

    @property
    def means(self) -> Path:
        return self.folder / "means"

    @property
    def variances(self) -> Path:
        return self.folder / "variances"


def speaker_options(speaker: str | Path) -> dict[str, str]:
    """The pocketsphinx options that decode with an enrolled speaker, checked first so that a
    bad path is a clear error: a SpeakerModel folder (MAP means and variances) or a bare MLLR
    transform file (the lighter, 4 kB form)."""
    path = Path(speaker)
    if path.is_dir():
        model = SpeakerModel(path)
        for f in (model.means, model.variances):
            try:
                values = _read_gaussians(f)
            except (OSError, ValueError, struct.error) as e:
                raise VoiceError(f"speaker model {path}: {f.name}: {e}") from e
            if not np.isfinite(values).all():
                raise VoiceError(f"speaker model {path}: {f.name} is not finite")
        return {"mean": str(model.means), "var": str(model.variances)}
    SpeakerTransform.read(path)
    return {"mllr": str(path)}


# ---- enrollment -------------------------------------------------------------------------------
@dataclass
class EnrollmentReport:
    path: str
    utterances: int  # aligned and used
    skipped: list[str]  # texts that could not be aligned (misread, out of vocabulary, silence)
    frames: int
    seconds: float  # of enrollment speech
    fit_gain: float  # per-frame forced-alignment score through the speaker model minus without it
    # (pocketsphinx acoustic score units, each frame against its best senone: > 0 fits better)
    wall_s: float

    def to_json(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


class Aligner:
    """Forced alignment of known text with pocketsphinx (optionally through an enrolled speaker)."""

    def __init__(self, hmm_dir: Path, dict_path: Path, speaker: str | Path | None = None,
                 dictionary: PronouncingDictionary | None = None):
        import pocketsphinx
        config = pocketsphinx.Config()
        config["lm"] = None
        for k, v in {"hmm": str(hmm_dir), "dict": str(dict_path), "loglevel": "FATAL",
                     "samprate": frontend.SAMPLE_RATE, "cmn": "batch",
                     **(speaker_options(speaker) if speaker else {})}.items():
            config[k] = v
        self.decoder = pocketsphinx.Decoder(config)
        self.dictionary = dictionary or PronouncingDictionary(dict_path)

    def align(self, cep: np.ndarray, text: str, codebooks: dict[str, int]):
        """-> ([(frame, senone, codebook)], per-frame path score) or None if it cannot align."""
        d = self.decoder
        words = text.split()
        for w in words:  # compounds and British spellings, as the recogniser adds them
            if d.lookup_word(w) is None and (phones := self.dictionary.lookup(w)):
                d.add_word(w, phones, True)
        if not words or any(d.lookup_word(w) is None for w in words):
            return None
        d.set_align_text(" ".join(words))
        for second in (False, True):  # words, then phones and states within them
            d.start_utt()
            d.process_cep(cep.tobytes(), False, True)
            d.end_utt()
            if second:
                break
            if d.hyp() is None:  # (hyp() is only valid after the word pass)
                return None
            d.set_alignment()
        out, score = [], 0
        for phone in d.get_alignment().phones():
            cb = codebooks.get(phone.name.split()[0])
            if cb is None:
                continue
            for state in phone:
                score += state.score
                out += [(t, int(state.name), cb) for t in range(state.start, state.start + state.duration)]
        return (out, score / max(len(out), 1)) if out else None


def enroll(recordings: list[tuple[np.ndarray, str]], out: str | Path, *, passes: int = 2,
           variances: bool = True, map_tau: float = MAP_TAU, model_dir: str | Path | None = None
           ) -> EnrollmentReport:
    """Estimate one speaker's model from (int16 16 kHz samples, the text read) pairs and write it
    to the folder `out` (SpeakerModel; SphinxRecognizer(speaker=out) decodes with it)."""
    import pocketsphinx
    t0 = time.perf_counter()
    base = Path(model_dir or pocketsphinx.get_model_path()) / "en-us"
    hmm, dic = base / "en-us", base / "cmudict-en-us.dict"
    model = AcousticModel.load(hmm)
    dictionary = PronouncingDictionary(dic)  # one parse of the CMU dictionary for every aligner
    prepared = []
    for samples, text in recordings:
        cep = frontend.cepstra(as_decoded(samples))
        prepared.append((cep, frontend.features(cep), as_heard(text), len(samples) / frontend.SAMPLE_RATE))
    speaker = SpeakerModel(Path(out))
    speaker.folder.mkdir(parents=True, exist_ok=True)
    transform, scores = None, []

    def accumulate(aligner, means):
        stats, skipped, seconds, pass_scores = MLLRStatistics(model, means), [], 0.0, []
        for cep, feats, text, secs in prepared:
            aligned = aligner.align(cep, text, model.ciphones)
            if aligned is None:
                skipped.append(text)
                continue
            stats.add(feats, aligned[0])
            pass_scores.append(aligned[1])
            seconds += secs
        if stats.frames == 0:
            raise VoiceError("no enrollment recording could be aligned to its text")
        return stats, skipped, seconds, float(np.mean(pass_scores))

    # MLLR: one transform of every mean, re-estimated after re-aligning through it
    for p in range(max(1, passes)):
        means = None if transform is None else transform.adapted_means(model)
        stats, skipped, seconds, score = accumulate(
            Aligner(hmm, dic, speaker.transform if transform else None, dictionary), means)
        scores.append(score)
        transform = SpeakerTransform.solve(stats, variances=variances and p == max(1, passes) - 1)
        transform.write(speaker.transform)
    # MAP: each Gaussian's (transformed) mean moves towards what it explained in this speaker's
    # speech, as far as its occupancy outweighs the prior weight map_tau
    means = transform.adapted_means(model)
    stats, skipped, seconds, _ = accumulate(Aligner(hmm, dic, speaker.transform, dictionary), means)
    if map_tau > 0:
        occupancy = stats.occupancy[..., None]
        means = (map_tau * means + stats.first) / (map_tau + occupancy)
    _write_gaussians(speaker.means, means)
    _write_gaussians(speaker.variances, model.variances * transform.h[None, :, None, :])
    final = Aligner(hmm, dic, speaker.folder, dictionary)
    after = [a[1] for cep, _, text, _ in prepared if (a := final.align(cep, text, model.ciphones))]
    gain = float(np.mean(after) - scores[0]) if after else 0.0
    log.info("enrolled %d utterances (%.0f s), %d skipped, alignment score gain %.1f per frame -> %s",
             len(prepared) - len(skipped), seconds, len(skipped), gain, speaker.folder)
    report = EnrollmentReport(str(speaker.folder), len(prepared) - len(skipped), skipped, stats.frames,
                              seconds, gain, time.perf_counter() - t0)
    (speaker.folder / "enrollment.json").write_text(json.dumps(report.to_json(), indent=1))
    return report


# ---- what to read ----------------------------------------------------------------------------
PROMPT_TEMPLATES = ("please bring me the {o}", "go to the {r}", "put the {o} on the {f}",
                    "tidy up the {r}", "could you fetch the {o}", "take the {o} to the {f}",
                    "head to the {r} and then go charge", "can i have the {o} please",
                    "drive to the {r}, then bring me the {o}", "place the {o} on the {f} and dock")


def enrollment_prompts(desc: WorldDescription, n: int = 30, seed: int = 0,
                       exclude: set[str] | frozenset = frozenset()) -> list[str]:
    """`n` commands to read aloud, cycling through every room, object and furniture name of the
    world (each name spoken at least once when n allows), so the transform sees the words the
    robot will hear. `exclude`: texts (as heard) never to prompt, e.g. an evaluation's tests."""
    rng = random.Random(seed)
    names = {"o": [o.replace("_", " ") for o in desc.objects],
             "r": [r.replace("_", " ") for r in desc.rooms],
             "f": [f.replace("_", " ") for f in desc.furniture if desc.furniture[f].surface]
             or [f.replace("_", " ") for f in desc.furniture]}
    queues = {k: [] for k in names}

    def draw(k):
        if not queues[k]:
            queues[k] = rng.sample(names[k], len(names[k]))
        return queues[k].pop()

    out: list[str] = []
    for _ in range(50 * n):
        if len(out) >= n:
            break
        template = PROMPT_TEMPLATES[len(out) % len(PROMPT_TEMPLATES)]
        text = template.format(**{k: draw(k) for k in "orf" if "{" + k + "}" in template})
        if as_heard(text) not in exclude and text not in out:
            out.append(text)
    return out


# ---- command line ------------------------------------------------------------------------------
def recordings_from(prompts_file: str | Path, wav_dir: str | Path) -> list[tuple[np.ndarray, str]]:
    """Pair the lines of a prompts file with the WAV files of a folder, in name order (what a
    user records while reading `brainstem voice prompts` aloud: 01.wav, 02.wav, ...)."""
    from edge_nerve.voice.audio import read_wav
    texts = [t.strip() for t in Path(prompts_file).read_text().splitlines() if t.strip()]
    wavs = sorted(Path(wav_dir).glob("*.wav"))
    if not texts or len(wavs) != len(texts):
        raise VoiceError(f"{len(texts)} prompts in {prompts_file} but {len(wavs)} WAV files in {wav_dir}: "
                         "one recording per prompt, in the same order")
    return [(read_wav(w), t) for w, t in zip(wavs, texts)]


def main(argv: list[str] | None = None) -> int:
    """`brainstem voice prompts | enroll` (cloud_brain.cli)."""
    import argparse
    import json
    import sys

    from cloud_brain.domain.description import load_world
    ap = argparse.ArgumentParser(prog="brainstem voice", description="speaker enrollment")
    sub = ap.add_subparsers(dest="voice_cmd", required=True)
    p = sub.add_parser("prompts", help="print commands to read aloud for enrollment, one per line")
    p.add_argument("--n", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--world")
    e = sub.add_parser("enroll", help="estimate a speaker transform from recordings of the prompts")
    e.add_argument("--out", required=True, help="the speaker folder to write (the voice node's `speaker`)")
    e.add_argument("--prompts", help="the prompts read (one per line), with --wav-dir")
    e.add_argument("--wav-dir", help="one WAV per prompt, in name order")
    e.add_argument("--espeak-voice", help="a synthetic speaker instead: espeak-ng voice[:speed[:pitch]]")
    e.add_argument("--n", type=int, default=30, help="prompts spoken by --espeak-voice")
    e.add_argument("--world")
    e.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    world = load_world(a.world)
    if a.voice_cmd == "prompts":
        print("\n".join(enrollment_prompts(world, a.n, a.seed)))
        return 0
    try:
        if a.espeak_voice:
            from edge_nerve.voice import synth
            name, *rest = a.espeak_voice.split(":")
            voice = synth.Voice(name, *(int(x) for x in rest))
            why = synth.available()
            if why:
                raise VoiceError(f"cannot synthesise: {why}")
            recordings = [(synth.speak(t.replace(",", ""), voice), t) for t in enrollment_prompts(world, a.n)]
        elif a.prompts and a.wav_dir:
            recordings = recordings_from(a.prompts, a.wav_dir)
        else:
            raise VoiceError("give --prompts and --wav-dir, or --espeak-voice")
        report = enroll(recordings, a.out)
    except (VoiceError, OSError, ValueError) as e:
        print(f"brainstem voice enroll: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(report.to_json()))
    else:
        print(f"enrolled {report.utterances} recordings ({report.seconds:.0f} s of speech, "
              f"{len(report.skipped)} skipped) in {report.wall_s:.1f} s -> {report.path}")
        for t in report.skipped:
            print(f"  skipped (could not be aligned to its text): {t}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
