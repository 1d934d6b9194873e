"""Spoken command -> voice node -> cloud plan -> robot, over the real processes (brainstem demo --wav).

The WAV is synthesised at run time with espeak-ng (no committed audio); the voice node hears it,
publishes the text on brainstem/command, and the mission is judged in the simulated world.
"""

import shutil
import time

import numpy as np
import pytest

from edge_nerve.bringup.demo import Mission
from edge_nerve.nodes.common import PLAN_QOS, Topics

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                                 reason="espeak-ng and sox are not installed (make setup installs them)")]


def test_an_enrolled_speaker_is_heard_through_their_own_model(tmp_path):
    # first in the file: it brings up its own graph before the module's mission starts
    from cloud_brain.domain.description import load_world
    from edge_nerve.voice.adapt import enroll, enrollment_prompts
    from edge_nerve.voice.synth import Voice, speak
    voice = Voice("en-us+f3", 175, 65)
    prompts = enrollment_prompts(load_world(), 8, exclude={"go to the bedroom"})
    speaker = enroll([(speak(p.replace(",", ""), voice), p) for p in prompts], tmp_path / "speaker")
    wav = tmp_path / "command.wav"
    speak("go to the bedroom", voice, wav)
    lines = []
    with Mission(real_time_factor=3.0, run_dir=tmp_path / "run", echo=lines.append, voice=True,
                 speaker=speaker.path) as m:
        res = m.run(None, wav=wav, timeout_s=60)
    assert res.command == "go to the bedroom", res.command
    assert res.ok and ["robot_in", "bedroom"] in res.goals, (res.reason, lines)
    logs = "\n".join(p.read_text() for p in (tmp_path / "run").rglob("voice*.log"))
    assert "speaker=" in logs, logs[-2000:]


@pytest.fixture(scope="module")
def mission(tmp_path_factory):
    lines = []
    with Mission(real_time_factor=3.0, run_dir=tmp_path_factory.mktemp("run"), echo=lines.append,
                 voice=True) as m:
        m.lines = lines
        yield m


def test_spoken_command_becomes_a_plan_that_runs(mission, tmp_path):
    from edge_nerve.voice.synth import Voice, speak
    wav = tmp_path / "command.wav"
    speak("please go to the kitchen", Voice("en-us"), wav)
    res = mission.run(None, wav=wav, timeout_s=60)
    assert "kitchen" in res.command, res.command  # what the voice node heard
    assert res.ok, (res.reason, mission.lines)
    assert ["robot_in", "kitchen"] in res.goals


def test_unintelligible_audio_makes_the_robot_ask_to_repeat(mission, tmp_path):
    import wave
    from std_msgs.msg import String
    from edge_nerve.nodes.voice import REPEAT
    said = []
    node = mission.node.node
    sub = node.create_subscription(String, Topics.SAY, lambda m: said.append(m.data), PLAN_QOS)
    time.sleep(0.5)  # discovery
    rng = np.random.default_rng(0)
    hum = (3000 * np.sin(2 * np.pi * 120 * np.arange(32000) / 16000) + rng.normal(0, 800, 32000))
    path = tmp_path / "hum.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(np.clip(hum, -32768, 32767).astype(np.int16).tobytes())
    res = mission.run(None, wav=path, timeout_s=30)
    deadline = time.monotonic() + 5
    while not said and time.monotonic() < deadline:
        time.sleep(0.05)
    node.destroy_subscription(sub)
    assert res.refusal == REPEAT and res.steps == []
    assert res.ok, res.reason  # nothing moved
    assert REPEAT in said
