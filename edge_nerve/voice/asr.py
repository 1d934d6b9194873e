"""Offline speech recognition: pocketsphinx constrained by the world's grammar, or faster-whisper.

Why pocketsphinx + grammar: it runs on the robot's CPU with the English model its wheel ships,
needs nothing from the network, and a grammar of the robot's vocabulary is what makes it usable
(notes/setup-findings.md, "Speech"); here it decodes ~0.2 s per second of speech. faster-whisper is an optional backend
for users who point at a local CTranslate2 model folder; it is never downloaded.

Measured pitfalls this module handles (setup-findings): trailing *digital* silence makes the
decoder drop the last word, so every utterance is padded with -70 dBFS noise (-60 dBFS white
noise was itself heard as a trailing "f") and gets a -50 dBFS floor underneath; a hypothesis is
checked with the grammar's `accept` before it is trusted (pocketsphinx returns the best partial
path when no complete one survives); the confidence is the per-frame acoustic fit of the path.

    .venv/bin/python -m edge_nerve.voice.asr some.wav [--world FILE]
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cloud_brain.domain.description import WorldDescription, load_world
from edge_nerve.voice.grammar import build_jsgf, grammar_words

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
PAD_S = 0.25  # low noise around each utterance (the decoder drops words before digital silence)
FLOOR_DBFS = -50.0  # noise added under every utterance (see as_decoded)
PAD_DBFS = -70.0  # -60 dBFS white noise was heard as a trailing "f" ("for")
# Per-frame acoustic deficit (see SphinxRecognizer._result) that maps to confidence 1 and 0.
# Measured on espeak-ng speech: in-grammar commands 0.0028-0.0059, out-of-grammar speech
# forced through the grammar 0.0052-0.0071; the ranges overlap, so this is a weak detector.
DEFICIT_GOOD, DEFICIT_BAD = 0.0040, 0.0070
# Mean phone duration (ms) of the recognised words that maps to 1 and 0 (see _result).
PHONE_MS_GOOD, PHONE_MS_BAD = 150.0, 300.0
FILLERS = frozenset(("<s>", "</s>", "<sil>", "[NOISE]", "[BREATH]", "[COUGH]", "[SMACK]",
                     "[UH]", "[UM]", "[NULL]"))

# VTLN warp factors decoded per utterance (SphinxRecognizer): on `brainstem eval voice` (120
# espeak-ng commands, 6 voices) clean WER 10.1% -> 8.0%, command success 91.7% -> 94.2%, and
# better at 20 and 10 dB too, for ~4x the decode time (latency p50 92 -> 360 ms; README)
DEFAULT_WARPS = (0.94, 1.0, 1.06, 1.12)


class VoiceError(RuntimeError):
    """Speech input or recognition cannot work here (missing model, device, backend)."""


@dataclass
class Recognition:
    text: str  # "" when nothing was recognised
    confidence: float  # 0..1
    accepted: bool  # the grammar accepts the text (always True for free-form backends)
    words: list[tuple[str, float]] = field(default_factory=list)  # (word, posterior)
    decode_ms: float = 0.0  # from the end of the audio to this result
    audio_s: float = 0.0
    backend: str = "pocketsphinx"
    warp: float = 1.0  # the vocal-tract-length warp factor of the chosen decode (1.0: none)
    score: float = float("-inf")  # pocketsphinx's best-path log score (how the warp was chosen)

    def to_json(self) -> dict:
        return {"text": self.text, "confidence": round(self.confidence, 4), "accepted": self.accepted,
                "decode_ms": round(self.decode_ms, 2), "audio_s": round(self.audio_s, 3),
                "backend": self.backend, "warp": self.warp}


def pad_noise(seconds: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Low Gaussian noise (PAD_DBFS), int16: what a real microphone gives instead of zeros."""
    rng = rng or np.random.default_rng(0)
    n = int(seconds * SAMPLE_RATE)
    return np.clip(rng.normal(0.0, 32768 * 10 ** (PAD_DBFS / 20), n), -32768, 32767).astype(np.int16)


def as_decoded(speech: np.ndarray) -> np.ndarray:
    """An utterance as the decoder is given it: a microphone-like noise floor under the speech
    (synthetic audio has runs of exact zeros, on which the decoder hallucinated words: 31% ->
    18% WER on 30 clean commands) and low noise around it. Seeded per utterance: the same audio
    always gets the same noise (with one generator running on, a command's result depended on
    what had been decoded before)."""
    rng = np.random.default_rng(0)
    floor = rng.normal(0.0, 32768 * 10 ** (FLOOR_DBFS / 20), len(speech))
    speech = np.clip(speech + floor, -32768, 32767).astype(np.int16)
    return np.concatenate([pad_noise(PAD_S, rng), speech, pad_noise(PAD_S, rng)])


class PronouncingDictionary:
    """The CMU dictionary the acoustic model ships with, plus pronunciations built for
    compounds and British spellings it lacks ("worktop" = "work" + "top", "organise")."""

    def __init__(self, path: str | Path):
        self.phones: dict[str, str] = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.split(maxsplit=1)
                if len(parts) == 2 and "(" not in parts[0]:
                    self.phones.setdefault(parts[0], parts[1].split("#")[0].strip())
        self.extra: dict[str, str] = {}

    def lookup(self, word: str) -> str | None:
        if word in self.phones:
            return self.phones[word]
        if word in self.extra:
            return self.extra[word]
        guess = self._guess(word)
        if guess:
            self.extra[word] = guess
        return guess

    def _guess(self, word: str) -> str | None:
        for a, b in (("ise", "ize"), ("isation", "ization"), ("our", "or"), ("tre", "ter")):
            if word.endswith(a) and word[: -len(a)] + b in self.phones:
                return self.phones[word[: -len(a)] + b]
        for i in range(2, len(word) - 1):  # two dictionary words, each at least 2 letters
            head, tail = word[:i], word[i:]
            if len(head) >= 3 and len(tail) >= 3 and head in self.phones and tail in self.phones:
                return f"{self.phones[head]} {self.phones[tail]}"
        return None


class SphinxRecognizer:
    """pocketsphinx with the JSGF grammar of one world. One decoder; not thread-safe."""

    backend = "pocketsphinx"

    def __init__(self, world: WorldDescription | None = None, *, jsgf: str | None = None,
                 model_dir: str | Path | None = None, warps: Sequence[float] | None = None,
                 speaker: str | Path | None = None, **decoder_options):
        try:
            import pocketsphinx
        except ImportError as e:
            raise VoiceError("pocketsphinx is not installed (pip install pocketsphinx==5.1.1)") from e
        self._ps = pocketsphinx
        model_dir = Path(model_dir or pocketsphinx.get_model_path())
        hmm, dic = model_dir / "en-us" / "en-us", model_dir / "en-us" / "cmudict-en-us.dict"
        if not hmm.is_dir() or not dic.is_file():
            raise VoiceError(f"no English acoustic model under {model_dir}")
        self.dictionary = PronouncingDictionary(dic)
        self.world = world or load_world()
        self.jsgf = jsgf or build_jsgf(self.world, known=lambda w: self.dictionary.lookup(w) is not None)
        # bestpath (lattice rescoring, word posteriors) cost 2-5 s per command with this grammar
        # against 0.2-0.5 s without it, and changed no transcript in our trials: off
        # wip: a word insertion penalty stronger than the default 0.65; with a grammar full of
        # short optional words ("a", "it", "them", "and") the decoder padded misheard stretches
        # with them (clean WER 12.7% -> 10.5% on 120 espeak-ng commands, other settings as here)
        self._options = {"hmm": str(hmm), "dict": str(dic), "loglevel": "FATAL", "dither": True,
                         "bestpath": False, "samprate": SAMPLE_RATE, "cmn": "batch", "wip": 0.05,
                         **decoder_options}
        # An enrolled speaker (edge_nerve.voice.adapt: a SpeakerModel folder or an MLLR file),
        # checked here so a bad path is a clear error and not a decoder that fails to start.
        # It subsumes VTLN: with it one warp decodes as well as four (README, "Voice"), so that
        # is the default.
        self.speaker = str(speaker) if speaker else None
        if self.speaker:
            from edge_nerve.voice.adapt import speaker_options
            self._options.update(speaker_options(self.speaker))
        if warps is None:
            warps = (1.0,) if self.speaker else DEFAULT_WARPS
        self.decoder = self._make_decoder(self._options)
        # Vocal tract length normalisation by maximum likelihood: one decoder per warp factor
        # of the filterbank (piecewise linear), and the utterance keeps the warp whose best
        # path scores highest, so a voice whose formants sit off the acoustic model's speakers
        # is heard through the warp that fits it. Each warp costs one more decode.
        if not warps or any(not 0.7 <= w <= 1.4 for w in warps):
            raise VoiceError(f"warp factors must lie in [0.7, 1.4], got {list(warps)}")
        self.warps = tuple(float(w) for w in warps)
        self._warped = {w: self.decoder if w == 1.0 else self._make_decoder(
            {**self._options, "warp_type": "piecewise_linear", "warp_params": f"{w:g}"}) for w in self.warps}
        self.fsg = self.decoder.get_fsg("command")
        self._grammar_words = grammar_words(self.jsgf)
        self._wide = None  # wider beams, only for an utterance the first pass could not complete
        self._in_utt = False
        self._samples = 0

    def _make_decoder(self, options: dict):
        config = self._ps.Config()
        config["lm"] = None  # the generic language model is never searched: do not load it
        for k, v in options.items():
            config[k] = v
        decoder = self._ps.Decoder(config)
        for w in sorted(grammar_words(self.jsgf)):
            if decoder.lookup_word(w) is None:
                phones = self.dictionary.lookup(w)
                if phones is None:
                    raise VoiceError(f"the grammar uses '{w}', which has no pronunciation")
                decoder.add_word(w, phones, False)
        decoder.add_jsgf_string("command", self.jsgf)
        decoder.activate_search("command")
        return decoder

    # ---- start, feed while audio arrives, finish -----------------------------------------------
    # The decoder sees each utterance whole (full_utt): its cepstral mean normalisation is then
    # computed from that utterance. Fed chunk by chunk, the live CMN carried the previous
    # utterance's voice and noise into the next one and misheard e.g. "drive to the hall" as
    # "bottle" after another speaker; whole-utterance decoding fixed it at ~0.2 s per second
    # of speech.
    def start(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._in_utt, self._samples = True, 0

    def feed(self, samples: np.ndarray) -> None:
        if not self._in_utt:
            self.start()
        self._samples += len(samples)
        self._chunks.append(np.ascontiguousarray(samples, dtype=np.int16))

    def finish(self) -> Recognition:
        """End the utterance (the audio is complete) and return what was said."""
        t0 = time.perf_counter()
        speech = np.concatenate(getattr(self, "_chunks", []) or [np.zeros(0, np.int16)])
        audio = as_decoded(speech)
        self._in_utt, self._chunks = False, []
        best = None  # (accepted, path score, recognition)
        for w, decoder in self._warped.items():
            r = self._decode(decoder, audio)
            hyp = decoder.hyp()
            r.warp, r.score = w, float(hyp.score) if hyp is not None else -math.inf
            key = (r.accepted, r.score)
            if best is None or key > best[:2]:
                best = (*key, r)
        rec = best[2]
        if not rec.accepted:
            # no complete path survived the beams (pocketsphinx then returns nothing or a
            # partial path): once more with wide beams, which cost ~5x but only here
            if self._wide is None:
                self._wide = self._make_decoder({**self._options, "beam": 1e-80, "pbeam": 1e-80,
                                                 "wbeam": 1e-60, "maxhmmpf": -1})
            wide = self._decode(self._wide, audio)
            if wide.accepted:
                rec = wide
        rec.decode_ms = (time.perf_counter() - t0) * 1000.0
        rec.audio_s = self._samples / SAMPLE_RATE
        return rec

    def recognize(self, samples: np.ndarray) -> Recognition:
        """Decode one whole utterance (int16, 16 kHz mono)."""
        self.start()
        self.feed(samples)
        return self.finish()

    def accepts(self, text: str) -> bool:
        """Whether the grammar can produce `text` exactly (up to spelling that differs only
        by a space: the grammar keeps "bedroom" and drops the alias "bed room")."""
        words: list[str] = []
        for w in text.split():
            if words and words[-1] + w in self._grammar_words:
                words[-1] += w
            else:
                words.append(w)
        return bool(words) and all(self.decoder.lookup_word(w) is not None for w in words) \
            and bool(self.fsg.accept(" ".join(words)))

    def _decode(self, decoder, audio: np.ndarray) -> Recognition:
        # pocketsphinx keeps its spectral noise estimate across utterances (only a new stream
        # resets it), so the same audio decoded after other speech gave another path score;
        # each utterance starts fresh, as the enrollment front end computes it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            decoder.start_stream()
        decoder.start_utt()
        decoder.process_raw(audio.tobytes(), False, True)
        decoder.end_utt()
        return self._result(decoder)

    def _result(self, decoder=None) -> Recognition:
        decoder = decoder or self.decoder
        hyp = decoder.hyp()
        text = " ".join(hyp.hypstr.split()) if hyp is not None and hyp.hypstr else ""
        if not text:
            return Recognition("", 0.0, False, backend=self.backend)
        segs = [s for s in decoder.seg() if s.end_frame >= s.start_frame]
        speech = [s for s in segs if s.word.split("(")[0] not in FILLERS and s.word != "(NULL)"]
        # Acoustic fit: pocketsphinx scores each frame against the best-scoring senone of that
        # frame, so a word's `ascore` (as a probability) is how far its path fell behind the
        # best match per frame. Speech forced through the grammar that it does not fit falls
        # further behind; the per-frame deficit maps linearly onto 0..1.
        frames = sum(s.end_frame - s.start_frame + 1 for s in speech) or 1
        deficit = -sum(math.log(max(s.ascore, 1e-300)) for s in speech) / frames
        words = [(s.word.split("(")[0], math.exp(-deficit)) for s in speech]
        accepted = self.accepts(text)
        conf = min(1.0, max(0.0, (DEFICIT_BAD - deficit) / (DEFICIT_BAD - DEFICIT_GOOD)))
        # Speaking rate: hum, clicks and noise fit a short word ("cup") stretched over a second
        # or more, so the mean phone length of the words is far beyond speech (60-120 ms).
        phones = sum(len((self.dictionary.lookup(w) or "x").split()) for w, _ in words) or 1
        phone_ms = 10.0 * frames / phones
        conf *= min(1.0, max(0.0, (PHONE_MS_BAD - phone_ms) / (PHONE_MS_BAD - PHONE_MS_GOOD)))
        return Recognition(text, conf if accepted else 0.0, accepted, words, backend=self.backend)


class WhisperRecognizer:
    """faster-whisper from a local model folder (never downloaded); free-form text."""

    backend = "whisper"

    def __init__(self, model_dir: str | Path, world: WorldDescription | None = None,
                 compute_type: str = "int8"):
        model_dir = Path(model_dir)
        if not (model_dir / "model.bin").is_file():
            raise VoiceError(f"{model_dir} is not a faster-whisper (CTranslate2) model folder "
                             "(no model.bin); point at a local model, nothing is downloaded")
        try:
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise VoiceError("faster-whisper is not installed (pip install faster-whisper)") from e
        self.model = WhisperModel(str(model_dir), device="cpu", compute_type=compute_type,
                                  local_files_only=True)
        world = world or load_world()
        names = [n.replace("_", " ") for n in (*world.rooms, *world.furniture, *world.objects)]
        self.prompt = "Robot commands about " + ", ".join(names) + "."
        self._chunks: list[np.ndarray] = []

    def start(self) -> None:
        self._chunks = []

    def feed(self, samples: np.ndarray) -> None:
        self._chunks.append(np.asarray(samples, dtype=np.int16))

    def finish(self) -> Recognition:
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return self.recognize(audio)

    def recognize(self, samples: np.ndarray) -> Recognition:
        t0 = time.perf_counter()
        audio = samples.astype(np.float32) / 32768.0
        segments, _ = self.model.transcribe(audio, language="en", beam_size=1,
                                            initial_prompt=self.prompt, vad_filter=False)
        segments = list(segments)
        text = " ".join(s.text.strip() for s in segments).strip()
        conf = float(np.mean([math.exp(s.avg_logprob) for s in segments])) if segments else 0.0
        return Recognition(text, conf, True, decode_ms=(time.perf_counter() - t0) * 1000.0,
                           audio_s=len(samples) / SAMPLE_RATE, backend=self.backend)

    def accepts(self, text: str) -> bool:
        return bool(text.strip())


def make_recognizer(backend: str = "pocketsphinx", world: WorldDescription | None = None,
                    whisper_model: str | Path | None = None, warps: Sequence[float] | None = None,
                    speaker: str | Path | None = None):
    """The recogniser a node or the evaluation asks for, by name (`warps`: pocketsphinx's
    VTLN warp factors, None for the default; `speaker`: an enrolled speaker's folder or MLLR file;
    SphinxRecognizer)."""
    if backend == "pocketsphinx":
        return SphinxRecognizer(world, warps=warps, speaker=speaker)
    if backend in ("whisper", "faster-whisper"):
        model = whisper_model or os.environ.get("BRAINSTEM_WHISPER_MODEL")
        if not model:
            raise VoiceError("the whisper backend needs a local model folder (whisper_model / "
                             "BRAINSTEM_WHISPER_MODEL); nothing is downloaded")
        return WhisperRecognizer(model, world)
    raise VoiceError(f"unknown speech backend '{backend}' (pocketsphinx | whisper)")


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    from edge_nerve.voice.audio import read_wav
    ap = argparse.ArgumentParser(description="recognise one spoken command from a WAV file")
    ap.add_argument("wav")
    ap.add_argument("--world", default=None)
    ap.add_argument("--backend", default="pocketsphinx")
    ap.add_argument("--whisper-model", default=None)
    a = ap.parse_args(argv)
    rec = make_recognizer(a.backend, load_world(a.world), a.whisper_model)
    print(json.dumps(rec.recognize(read_wav(a.wav)).to_json()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
