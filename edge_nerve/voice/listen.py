"""The voice pipeline without ROS: audio source -> energy VAD -> recogniser -> text.

Why a VAD in front: the recogniser gets exactly one utterance (pre-roll included) as soon as
the VAD hears its end, and decodes it whole (see SphinxRecognizer.finish for why not
chunk by chunk). The ROS `voice` node and `brainstem eval voice` both
use `Listener`; it has no rclpy import and is tested alone.

    .venv/bin/python -m edge_nerve.voice.listen --wav command.wav
    sox command.wav -t raw -r 16000 -c 1 -b 16 -e signed - | .venv/bin/python -m edge_nerve.voice.listen --stdin
    .venv/bin/python -m edge_nerve.voice.listen --mic
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator

import numpy as np

from edge_nerve.voice.asr import Recognition
from edge_nerve.voice.vad import EnergyVAD, VADConfig

log = logging.getLogger(__name__)


class Listener:
    """Turns a stream of audio chunks into one Recognition per spoken utterance."""

    def __init__(self, recognizer, vad: EnergyVAD | None = None):
        self.recognizer = recognizer
        self.vad = vad or EnergyVAD(VADConfig())

    def utterances(self, chunks: Iterable[np.ndarray], prime: np.ndarray | None = None) -> Iterator[Recognition]:
        """Every utterance of the stream, recognised as soon as its end is heard.
        `prime`: the whole recording when it is known in advance (sets the noise floor)."""
        self.vad.reset()
        if prime is not None:
            self.vad.prime(prime)
        rec = self.recognizer
        for chunk in chunks:
            for seg in self.vad.push(chunk, on_start=rec.start, on_audio=rec.feed):
                result = rec.finish()
                if seg.samples is not None:
                    yield result
        for seg in self.vad.flush():
            result = rec.finish()
            if seg.samples is not None:
                yield result

    def recognize_recording(self, samples: np.ndarray, chunk: int = 1600) -> Recognition:
        """The single command in a recording (the most confident if the VAD finds several
        segments; the whole recording if it finds none)."""
        chunks = (samples[i:i + chunk] for i in range(0, len(samples), chunk))
        results = list(self.utterances(chunks, prime=samples))
        if not results:
            return self.recognizer.recognize(samples)
        if len(results) > 1:  # a long pause split the command: decode it whole instead
            whole = self.recognizer.recognize(samples)
            return max([whole] + results, key=lambda r: (r.accepted, r.confidence))
        return results[0]


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    from cloud_brain.domain.description import load_world
    from edge_nerve.voice import audio
    from edge_nerve.voice.asr import VoiceError, make_recognizer

    ap = argparse.ArgumentParser(description="listen and print each recognised command as JSON")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--wav")
    src.add_argument("--stdin", action="store_true", help="raw s16le 16 kHz mono on stdin")
    src.add_argument("--mic", action="store_true")
    ap.add_argument("--world", default=None)
    ap.add_argument("--backend", default="pocketsphinx")
    ap.add_argument("--whisper-model", default=None)
    a = ap.parse_args(argv)
    try:
        listener = Listener(make_recognizer(a.backend, load_world(a.world), a.whisper_model))
        if a.wav:
            t0 = time.perf_counter()
            r = listener.recognize_recording(audio.read_wav(a.wav))
            print(json.dumps({**r.to_json(), "wall_ms": round((time.perf_counter() - t0) * 1e3, 1)}))
            return 0
        chunks = audio.stdin_chunks() if a.stdin else audio.microphone_chunks()
        for r in listener.utterances(chunks):
            print(json.dumps(r.to_json()), flush=True)
    except VoiceError as e:
        print(f"voice: {e}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
