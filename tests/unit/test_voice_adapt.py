"""Speaker enrollment: the numpy front end is the decoder's own, the transform file is what
pocketsphinx reads, and enrolling a voice makes the model fit that voice's unseen commands better."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cloud_brain.domain.description import load_world
from cloud_brain.evaluation import as_heard
from edge_nerve.voice import frontend
from edge_nerve.voice.adapt import SpeakerTransform, enroll, enrollment_prompts
from edge_nerve.voice.asr import SphinxRecognizer, VoiceError, as_decoded

OFFICE = Path(__file__).with_name("office_world.yaml")
needs_speech = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                                  reason="espeak-ng and sox are not installed (make setup installs them)")
VOICE_ARGS = ("en-us+f3", 175, 65)


def _speak(text, voice=VOICE_ARGS):
    from edge_nerve.voice import synth
    return synth.speak(text.replace(",", ""), synth.Voice(*voice))


def _decode(decoder, raw=None, cep=None):
    decoder.start_stream()  # a fresh noise estimate, as the front end's
    decoder.start_utt()
    if raw is not None:
        decoder.process_raw(raw.tobytes(), False, True)
    else:
        decoder.process_cep(cep.tobytes(), False, True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return (hyp.hypstr, hyp.score) if hyp is not None else (None, None)


@needs_speech
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_front_end_gives_the_decoders_own_features():
    rec = SphinxRecognizer(load_world(), warps=(1.0,), dither=False)
    for text in ("bring me the red cup", "go to the kitchen and then tidy up the bedroom"):
        audio = as_decoded(_speak(text, ("en-us", 160, 50)))
        cep = frontend.cepstra(audio)
        assert cep.shape == (1 + (len(audio) - 410) // 160 + 1, 13)
        heard, score = _decode(rec.decoder, raw=audio)
        assert heard == text and (heard, score) == _decode(rec.decoder, cep=cep)
    feats = frontend.features(cep)
    assert feats.shape == (len(cep), 39)
    assert np.allclose(feats[:, :13].mean(0), 0.0, atol=1e-6)  # batch CMN


def test_transform_file_round_trip_and_bad_files(tmp_path):
    rng = np.random.default_rng(0)
    t = SpeakerTransform(np.eye(13)[None].repeat(3, 0) + 0.01 * rng.normal(size=(3, 13, 13)),
                         rng.normal(size=(3, 13)), np.full((3, 13), 1.1))
    back = SpeakerTransform.read(t.write(tmp_path / "s.mllr"))
    assert np.allclose(back.A, t.A, rtol=1e-6) and np.allclose(back.b, t.b, rtol=1e-6)
    assert np.allclose(back.h, t.h)
    (tmp_path / "bad.mllr").write_text("1\n3\n13\n1 2 3\n")
    with pytest.raises(VoiceError, match="truncated"):
        SpeakerTransform.read(tmp_path / "bad.mllr")
    with pytest.raises(VoiceError, match="speaker transform"):
        SphinxRecognizer(load_world(), speaker=tmp_path / "missing.mllr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VoiceError, match="speaker model .*means"):
        SphinxRecognizer(load_world(), speaker=tmp_path / "empty")


@needs_speech
def test_identity_transform_changes_nothing(tmp_path):
    identity = SpeakerTransform(np.eye(13)[None].repeat(3, 0), np.zeros((3, 13)), np.ones((3, 13)))
    path = identity.write(tmp_path / "id.mllr")
    audio = _speak("put the green book on the sofa")
    plain = SphinxRecognizer(load_world(), warps=(1.0,), dither=False)
    same = SphinxRecognizer(load_world(), speaker=path, dither=False)
    a, b = plain.recognize(audio), same.recognize(audio)
    assert same.warps == (1.0,)  # a speaker's transform replaces the VTLN search
    assert (a.text, round(a.score, 6)) == (b.text, round(b.score, 6))


@needs_speech
def test_enrollment_fits_the_voice_on_commands_it_never_read(tmp_path):
    world = load_world()
    held_out = ["could you bring me the apple", "head to the bathroom then tidy up the kitchen",
                "put the red cup on the dining table", "go charge"]
    prompts = enrollment_prompts(world, 12, exclude={as_heard(t) for t in held_out})
    report = enroll([(_speak(p), p) for p in prompts], tmp_path / "me")
    assert report.utterances == 12 and not report.skipped and report.seconds > 15
    assert report.fit_gain > 0
    import pocketsphinx
    from edge_nerve.voice.adapt import AcousticModel, Aligner
    base = Path(pocketsphinx.get_model_path()) / "en-us"
    codebooks = AcousticModel.load(base / "en-us").ciphones
    plain = Aligner(base / "en-us", base / "cmudict-en-us.dict")
    adapted = Aligner(base / "en-us", base / "cmudict-en-us.dict", report.path)
    gains = []
    for text in held_out:
        cep = frontend.cepstra(as_decoded(_speak(text)))
        gains.append(adapted.align(cep, as_heard(text), codebooks)[1] - plain.align(cep, as_heard(text), codebooks)[1])
    # the adapted model fits unseen speech of this voice better, frame by frame
    assert np.mean(gains) > 0 and sum(g > 0 for g in gains) >= 3
    after = SphinxRecognizer(world, speaker=report.path)
    assert after.recognize(_speak(held_out[0])).text == held_out[0]


def test_enrollment_prompts_cover_the_world_and_skip_what_they_must():
    office = load_world(OFFICE)
    prompts = enrollment_prompts(office, 30, seed=3)
    assert len(prompts) == 30 and len(set(prompts)) == 30
    text = " ".join(prompts)
    for name in [*office.rooms, *office.objects]:
        assert name.replace("_", " ") in text
    assert prompts == enrollment_prompts(office, 30, seed=3)
    banned = {as_heard(p) for p in prompts[:10]}
    assert not banned & {as_heard(p) for p in enrollment_prompts(office, 30, seed=3, exclude=banned)}


def test_enrolling_nothing_alignable_is_a_clear_error(tmp_path):
    silence = np.zeros(16000, np.int16)
    with pytest.raises(VoiceError, match="could be aligned"):
        enroll([(silence, "zzqx blorf")], tmp_path / "x")


@needs_speech
def test_enroll_command_pairs_prompts_with_recordings(tmp_path, capsys):
    from edge_nerve.voice import synth
    from edge_nerve.voice.adapt import main
    prompts = enrollment_prompts(load_world(), 4)
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n")
    rec = tmp_path / "rec"
    rec.mkdir()
    for i, p in enumerate(prompts):
        synth.speak(p.replace(",", ""), synth.Voice(*VOICE_ARGS), rec / f"{i + 1:02d}.wav")
    out = tmp_path / "me"
    assert main(["enroll", "--prompts", str(tmp_path / "prompts.txt"), "--wav-dir", str(rec),
                 "--out", str(out), "--json"]) == 0
    assert SpeakerTransform.read(out / "mllr").A.shape == (3, 13, 13)
    assert json.loads((out / "enrollment.json").read_text())["utterances"] == 4
    (rec / "01.wav").unlink()
    assert main(["enroll", "--prompts", str(tmp_path / "prompts.txt"), "--wav-dir", str(rec),
                 "--out", str(out)]) == 2
    assert "4 prompts" in capsys.readouterr().err


@needs_speech
def test_voice_evaluation_reports_enrolled_conditions_beside_speaker_independent():
    from edge_nerve.voice import synth
    from edge_nerve.voice.evaluation import evaluate_voice
    voices = (synth.Voice(*VOICE_ARGS), synth.Voice("en-us", 160, 50))
    report = evaluate_voice(6, conditions=(("clean", None),), voices=voices, enrollment=5,
                            warps=(1.0,), planner="rules", details=True)
    assert set(report["conditions"]) == {"clean", "enrolled_clean"}
    enrolled = report["enrollment"]
    assert enrolled["prompts_per_voice"] == 5 and set(enrolled["voices"]) == {v.label() for v in voices}
    said = {as_heard(u["said"]) for u in report["utterances"]}
    for v in voices:  # no voice read a test command while enrolling
        assert enrolled["voices"][v.label()]["utterances"] == 5
    prompts = {as_heard(p) for k in range(2) for p in enrollment_prompts(load_world(), 5, seed=k, exclude=said)}
    assert not prompts & said
    for c in report["conditions"].values():
        assert 0 <= c["wer"] <= 1 and set(c["per_voice"]) == {v.label() for v in voices}


def _voice_node(speaker):
    """A VoiceNode started in this process with `speaker:=...`; returns (node or error, state)."""
    rclpy = pytest.importorskip("rclpy")
    from edge_nerve.bringup.graph import reserve_ros_domain
    from edge_nerve.nodes.voice import VoiceNode
    domain, lock = reserve_ros_domain()
    with lock:
        rclpy.init(args=["--ros-args", "-p", f"speaker:={speaker}"], domain_id=domain)
        try:
            node = VoiceNode()
            try:
                rec = node.listener.recognizer
                return rec.speaker, rec.warps
            finally:
                node.destroy_node()
        except VoiceError as e:
            return e, None
        finally:
            rclpy.shutdown()


def test_voice_node_hears_through_the_speaker_it_is_given(tmp_path):
    identity = SpeakerTransform(np.eye(13)[None].repeat(3, 0), np.zeros((3, 13)), np.ones((3, 13)))
    path = identity.write(tmp_path / "me.mllr")
    assert _voice_node(path) == (str(path), (1.0,))  # one warp: the speaker replaces the VTLN search
    (tmp_path / "broken").mkdir()
    error, _ = _voice_node(tmp_path / "broken")
    assert isinstance(error, VoiceError) and "speaker model" in str(error)
