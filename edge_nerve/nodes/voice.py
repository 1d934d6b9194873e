"""`voice` node: spoken commands -> `brainstem/command`, with a confidence gate.

Listens (microphone, raw audio on stdin, or WAV files asked for on `brainstem/voice/wav`),
recognises each utterance offline (edge_nerve.voice: energy VAD + pocketsphinx constrained by
the grammar of this world), and publishes
  - `brainstem/voice/transcript` (std_msgs/String, JSON: text, confidence, accepted, decode_ms,
    audio_s, backend, published) for every utterance: a JSON string rather than a new msg so
    that tools without brainstem_interfaces can read it and the interface package need not
    be rebuilt under running nodes; its fields are documented here and in TRANSCRIPT_FIELDS;
  - `brainstem/command` (std_msgs/String) with the text, only when confidence >= threshold;
  - `brainstem/say` "Sorry, could you repeat that?" otherwise: the robot asks, it never acts.

    .venv/bin/python -m edge_nerve.nodes.voice --ros-args -p source:=wav   # then publish a path
    .venv/bin/python -m edge_nerve.nodes.voice --ros-args -p source:=mic -p confidence_threshold:=0.6
    .venv/bin/python -m edge_nerve.nodes.voice --ros-args -p speaker:=speakers/me   # enrolled (edge_nerve.voice.adapt)
"""

from __future__ import annotations

import json
import queue
import threading

from rclpy.node import Node
from std_msgs.msg import String

from edge_nerve.nodes.common import LATCHED_QOS, PLAN_QOS, Topics, declare, declare_world, spin_node
from edge_nerve.voice import audio
from edge_nerve.voice.asr import DEFAULT_WARPS, VoiceError, make_recognizer
from edge_nerve.voice.listen import Listener

TRANSCRIPT = "brainstem/voice/transcript"  # std_msgs/String, JSON (TRANSCRIPT_FIELDS)
WAV_REQUEST = "brainstem/voice/wav"  # std_msgs/String: path of a WAV file to listen to
VOICE_STATE = "brainstem/voice/state"  # std_msgs/String "ready" | "error: ...", latched
TRANSCRIPT_FIELDS = ("text", "confidence", "accepted", "decode_ms", "audio_s", "backend", "published")
REPEAT = "Sorry, could you repeat that?"


def gate(rec, threshold: float) -> tuple[bool, dict]:
    """Whether a Recognition may become a command, and the transcript record (no ROS)."""
    ok = bool(rec.text) and rec.accepted and rec.confidence >= threshold
    return ok, {**rec.to_json(), "published": ok}


class VoiceNode(Node):
    def __init__(self):
        super().__init__("voice")
        world = declare_world(self)
        self.source = declare(self, "source", "wav", "audio input: wav (paths on brainstem/voice/wav) | mic | stdin")
        self.threshold = declare(self, "confidence_threshold", 0.5, "below this the robot asks to repeat")
        backend = declare(self, "backend", "pocketsphinx", "pocketsphinx | whisper")
        whisper_model = declare(self, "whisper_model", "", "local faster-whisper model folder (never downloaded)")
        self.device = declare(self, "mic_device", "", "sounddevice input device ('' = default)")
        warps = declare(self, "vtln_warps", list(DEFAULT_WARPS),
                        "pocketsphinx VTLN warp factors decoded per utterance ([1.0]: none)")
        speaker = declare(self, "speaker", "",
                          "an enrolled speaker's folder (brainstem voice enroll); '' = speaker independent")
        self.command_pub = self.create_publisher(String, Topics.COMMAND, PLAN_QOS)
        self.transcript_pub = self.create_publisher(String, TRANSCRIPT, PLAN_QOS)
        self.say_pub = self.create_publisher(String, Topics.SAY, PLAN_QOS)
        self.state_pub = self.create_publisher(String, VOICE_STATE, LATCHED_QOS)
        self.create_subscription(String, WAV_REQUEST, self.wav_callback, PLAN_QOS)
        self.results: queue.SimpleQueue = queue.SimpleQueue()  # (Recognition) from the audio thread
        self.requests: queue.SimpleQueue = queue.SimpleQueue()  # WAV paths for the audio thread
        self._stop = threading.Event()
        try:
            self.listener = Listener(make_recognizer(
                backend, world, whisper_model or None, speaker=speaker or None,
                # the parameter left at its default: the recogniser's own default (four warps, or
                # one with a speaker, whose model subsumes the warp search)
                warps=None if [float(w) for w in warps] == list(DEFAULT_WARPS) else tuple(warps)))
        except VoiceError as e:
            self.get_logger().error(str(e))
            self.state_pub.publish(String(data=f"error: {e}"))
            raise
        self.worker = threading.Thread(target=self._audio_loop, name="voice-audio", daemon=True)
        self.worker.start()
        self.outbox: list[str] = []  # recognised commands not yet delivered
        self.create_timer(0.02, self.timer_callback)
        self.state_pub.publish(String(data="ready"))
        self.get_logger().info(f"voice: source={self.source} backend={backend} "
                               f"threshold={self.threshold:.2f} world={world.name} "
                               f"speaker={speaker or '(speaker independent)'}")

    # ---- audio thread: blocking reads and decoding stay out of the executor ----------------------
    def _audio_loop(self) -> None:
        try:
            if self.source == "wav":
                while not self._stop.is_set():
                    try:
                        path = self.requests.get(timeout=0.1)
                    except queue.Empty:
                        continue
                    try:
                        self.results.put(self.listener.recognize_recording(audio.read_wav(path)))
                    except VoiceError as e:
                        self.get_logger().error(str(e))
                return
            chunks = audio.stdin_chunks() if self.source == "stdin" else \
                audio.microphone_chunks(self.device or None)
            for rec in self.listener.utterances(chunks):
                self.results.put(rec)
                if self._stop.is_set():
                    return
        except VoiceError as e:
            self.get_logger().error(str(e))
            self.state_pub.publish(String(data=f"error: {e}"))

    def wav_callback(self, msg: String) -> None:
        self.requests.put(msg.data)

    def timer_callback(self) -> None:
        # a command waits until the cloud link's subscription has matched ours: published
        # earlier, a volatile message would be lost in discovery
        while self.outbox and self.command_pub.get_subscription_count() >= 1:
            self.command_pub.publish(String(data=self.outbox.pop(0)))
        while True:
            try:
                rec = self.results.get_nowait()
            except queue.Empty:
                return
            ok, record = gate(rec, self.threshold)
            self.transcript_pub.publish(String(data=json.dumps(record)))
            if ok:
                self.outbox.append(rec.text)
                self.get_logger().info(f"heard {rec.text!r} (confidence {rec.confidence:.2f})")
            else:
                self.say_pub.publish(String(data=REPEAT))
                self.get_logger().info(f"not sure ({rec.text!r}, confidence {rec.confidence:.2f}); "
                                       "asking to repeat")

    def destroy_node(self):
        self._stop.set()
        super().destroy_node()


def main(args=None):
    spin_node(VoiceNode, args)


if __name__ == "__main__":
    main()
