"""Energy-based voice activity detection: which stretches of a stream are speech.

Why energy, not a model: the robot needs the start and end of a spoken command, in a quiet-ish
home, at almost no CPU; an adaptive noise floor and hysteresis do that. Frames of 10 ms; a
frame is loud when its energy is `threshold_db` above the tracked noise floor; speech starts
after `start_ms` of mostly loud frames (so a click does not) and ends after `end_ms` of quiet
(so the pauses between words and clauses do not). `pre_roll_ms` of audio before the start is
kept, because the first consonant is quieter than the vowel that triggers the detector.

    from edge_nerve.voice.vad import EnergyVAD; EnergyVAD().segments(samples)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000


@dataclass
class VADConfig:
    frame_ms: float = 10.0
    threshold_db: float = 9.0  # above the noise floor
    start_ms: float = 60.0  # loud frames (within 2x this window) before speech starts
    end_ms: float = 700.0  # quiet time that ends an utterance
    pre_roll_ms: float = 250.0  # audio kept before the detected start
    min_speech_ms: float = 250.0  # shorter bursts are dropped as noise
    floor_init_db: float = 20.0  # dB re 1 LSB (a very quiet room) until measured
    floor_rise_db_s: float = 3.0  # how fast the floor may rise while it is quiet (dB/s)
    max_utterance_s: float = 20.0

    def __post_init__(self):
        if self.frame_ms <= 0 or self.threshold_db <= 0 or self.end_ms <= 0:
            raise ValueError("frame_ms, threshold_db and end_ms must be positive")


@dataclass
class Segment:
    start: int  # sample index of the first sample (pre-roll included)
    end: int  # one past the last sample
    samples: np.ndarray | None = None


def frame_db(frame: np.ndarray) -> float:
    """Mean energy of one frame in dB re 1 LSB^2 (0 dB for digital silence)."""
    e = float(np.mean(frame.astype(np.float64) ** 2)) if len(frame) else 0.0
    return 10.0 * np.log10(max(e, 1.0))


class EnergyVAD:
    """Streaming detector: `push(chunk)` returns every utterance that ended in it."""

    def __init__(self, config: VADConfig | None = None, sample_rate: int = SAMPLE_RATE):
        self.c = config or VADConfig()
        self.rate = sample_rate
        self.n = int(sample_rate * self.c.frame_ms / 1000)
        self.reset()

    def reset(self) -> None:
        c, fr = self.c, self.c.frame_ms
        self.floor = c.floor_init_db
        self._floor_set = False
        self.in_speech = False
        self._buf = np.zeros(0, np.int16)
        self._pos = 0  # samples consumed into frames
        self._history: deque = deque(maxlen=max(1, int(2 * c.start_ms / fr)))
        self._pre: deque = deque(maxlen=max(1, int(c.pre_roll_ms / fr)))
        self._speech: list[np.ndarray] = []
        self._quiet = 0
        self._start = 0
        self._loud_frames = 0

    @property
    def started(self) -> bool:
        return self.in_speech

    def push(self, chunk: np.ndarray, on_start=None, on_audio=None) -> list[Segment]:
        """Consume samples. `on_start()` fires when speech begins; `on_audio(samples)` gets the
        speech audio (pre-roll first) as it arrives, so a recogniser can decode while the user
        is still talking. Returns the utterances that ended within this chunk."""
        c = self.c
        out: list[Segment] = []
        self._buf = np.concatenate([self._buf, np.asarray(chunk, dtype=np.int16)])
        need_start = max(1, int(c.start_ms / c.frame_ms))
        end_frames = max(1, int(c.end_ms / c.frame_ms))
        max_frames = int(c.max_utterance_s * 1000 / c.frame_ms)
        while len(self._buf) >= self.n:
            frame, self._buf = self._buf[:self.n], self._buf[self.n:]
            db = frame_db(frame)
            if not self._floor_set:
                self.floor, self._floor_set = db, True
            loud = db > self.floor + c.threshold_db
            self._history.append(loud)
            if not self.in_speech:
                # the floor follows quiet frames: down at once, up slowly
                rise = c.floor_rise_db_s * c.frame_ms / 1000
                self.floor = db if db < self.floor else min(db, self.floor + rise) if not loud else self.floor
                self._pre.append(frame)
                if sum(self._history) >= need_start:
                    self.in_speech, self._quiet = True, 0
                    self._start = self._pos + self.n - len(self._pre) * self.n
                    self._speech = list(self._pre)
                    self._loud_frames = sum(self._history)
                    self._pre.clear()
                    if on_start:
                        on_start()
                    if on_audio:
                        on_audio(np.concatenate(self._speech))
            else:
                self._speech.append(frame)
                if on_audio:
                    on_audio(frame)
                self._quiet = 0 if loud else self._quiet + 1
                self._loud_frames += loud
                if self._quiet >= end_frames or len(self._speech) >= max_frames:
                    seg = self._close()
                    if seg is not None:
                        out.append(seg)
            self._pos += self.n
        return out

    def flush(self) -> list[Segment]:
        """The stream ended: close an utterance still open."""
        if self.in_speech:
            seg = self._close()
            return [seg] if seg is not None else []
        return []

    def _close(self) -> Segment | None:
        audio = np.concatenate(self._speech) if self._speech else np.zeros(0, np.int16)
        self.in_speech, self._speech, self._history = False, [], deque(maxlen=self._history.maxlen)
        if self._loud_frames * self.c.frame_ms < self.c.min_speech_ms:
            return Segment(self._start, self._start + len(audio), None)  # too short: noise
        return Segment(self._start, self._start + len(audio), audio)

    def prime(self, samples: np.ndarray) -> None:
        """Set the noise floor from a recording known in advance (its quietest tenth), so a
        file that starts with speech is still detected from its first word."""
        frames = [frame_db(samples[i:i + self.n]) for i in range(0, len(samples) - self.n + 1, self.n)]
        if frames:
            self.floor, self._floor_set = float(np.percentile(frames, 10)), True

    def segments(self, samples: np.ndarray, chunk: int = 1600) -> list[Segment]:
        """Offline: every speech segment of a whole recording (noise bursts dropped)."""
        self.reset()
        self.prime(samples)
        out: list[Segment] = []
        for i in range(0, len(samples), chunk):
            out += self.push(samples[i:i + chunk])
        out += self.flush()
        return [s for s in out if s.samples is not None]
