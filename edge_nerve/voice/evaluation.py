"""`brainstem eval voice`: speech -> text -> plan, measured on commands synthesised at run time.

Why: the voice front end is judged by what reaches the robot, so besides word error rate each
utterance goes through the planner and its plan is executed symbolically against the goal the
command was generated with (`command_success`). Utterances come from varied templates over the
world's vocabulary (names, aliases, colours; politeness; "and"/"then" sequencing), plus the
in-grammar commands of tests/cases/*.jsonl; espeak-ng speaks them with several voices, speeds
and pitches, and sox mixes noise at 20 and 10 dB SNR. No audio is committed. Every condition
runs twice: speaker independent, and `enrolled_*`, each voice first reading 30 prompts of its
own (never a test command) for speaker enrollment (edge_nerve.voice.adapt).

The templates are written for the planner, independently of the grammar (the report's
`reference_in_grammar` says how many of their sentences the grammar can produce); the case-file
commands are drawn only from those the grammar accepts (`case_commands_in_grammar` counts how
many of the candidates that is), so they measure recognition, not coverage. Word errors ignore
spelling that differs only by a space ("bed room" / "bedroom"), see `word_errors`.

    .venv/bin/brainstem eval voice --json --utterances 120
    .venv/bin/python -m edge_nerve.voice.evaluation --errors [--clean-only]   # every error listed
"""

from __future__ import annotations

import json
import logging
import random
import re
import tempfile
import time
from pathlib import Path

from cloud_brain.domain.description import WorldDescription, load_world
from cloud_brain.domain.goals import check_goals
from cloud_brain.domain.state import WorldState
from cloud_brain.evaluation import as_heard, percentile
from cloud_brain.planner.base import DEFAULT_BACKEND, get_planner
from edge_nerve.voice import synth
from edge_nerve.voice.adapt import enroll, enrollment_prompts
from edge_nerve.voice.asr import DEFAULT_WARPS, SphinxRecognizer
from edge_nerve.voice.audio import read_wav
from edge_nerve.voice.grammar import SpeechVocabulary
from edge_nerve.voice.listen import Listener

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
VOICES = (synth.Voice("en-us", 160, 50), synth.Voice("en-us+f3", 175, 65),
          synth.Voice("en-us+m3", 145, 40), synth.Voice("en-us-nyc", 170, 55),
          synth.Voice("en-us+f2", 150, 75), synth.Voice("en-gb", 155, 45))
CONDITIONS = (("clean", None), ("snr20", 20.0), ("snr10", 10.0))
NOISES = ("pinknoise", "whitenoise", "brownnoise")
ENROLLMENT_PROMPTS = 30  # per voice: about a minute of speech (edge_nerve.voice.adapt)

# ---- utterances with known goals --------------------------------------------------------------
DELIVER_T = ("bring me {o}", "could you bring me {o}", "please fetch {o}", "get me {o} please",
             "can you get me {o}", "hand me {o}", "i would like {o}", "grab {o} for me",
             "pass me {o}", "robot, bring {o} to me", "can i have {o}", "fetch me {o}")
PUT_T = ("put {o} on {f}", "please place {o} on {f}", "move {o} to {f}", "could you put {o} on {f}",
         "take {o} to {f}", "leave {o} on {f}", "set {o} on {f}")
GO_T = ("go to {r}", "please go to {r}", "head to {r}", "navigate to {r}", "drive to {r}",
        "could you go to {r}")
TIDY_T = ("tidy up {r}", "please tidy {r}", "clean up {r}", "can you tidy {r}")
DOCK_T = ("go charge", "go and recharge", "go to the charging dock", "dock", "return to the dock")
JOIN = (" and ", " then ", " and then ", ", then ")


def _det(rng: random.Random) -> str:
    return rng.choice(("the", "the", "the", "my"))


def generate(desc: WorldDescription, n: int, seed: int = 0) -> list[dict]:
    """`n` commands with goals, from templates over the world's vocabulary (case format)."""
    rng = random.Random(seed)
    v = SpeechVocabulary.from_world(desc)
    # only spoken forms that name one entity (an alias shared by two objects would be ambiguous)
    def unique(table):
        owners: dict[str, set] = {}
        for name, forms in table.items():
            for f in forms:
                owners.setdefault(f, set()).add(name)
        return {name: [f for f in forms if len(owners[f]) == 1] for name, forms in table.items()}
    objs, furn, rooms = unique(v.objects), unique(v.furniture), unique(v.rooms)
    surfaces = [f for f in furn if desc.furniture[f].surface]

    def obj():
        name = rng.choice([o for o in objs if objs[o]])
        return name, f"{_det(rng)} {rng.choice(objs[name])}"

    def place_on(exclude: str | None = None):
        name = rng.choice([s for s in surfaces if s != exclude])
        return name, f"the {rng.choice(furn[name])}"

    def room():
        name = rng.choice(list(rooms))
        return name, f"the {rng.choice(rooms[name])}"

    def clause(kind):
        if kind == "deliver":
            o, ot = obj()
            return rng.choice(DELIVER_T).format(o=ot), [["delivered", o]]
        if kind == "put":
            o, ot = obj()
            f, ft = place_on(desc.objects[o].on)
            return rng.choice(PUT_T).format(o=ot, f=ft), [["on", o, f]]
        if kind == "go":
            r, rt = room()
            return rng.choice(GO_T).format(r=rt), [["robot_in", r]]
        if kind == "tidy":
            r, rt = room()
            return rng.choice(TIDY_T).format(r=rt), [["tidy", r]]
        return rng.choice(DOCK_T), [["docked"]]

    out: list[dict] = []
    while len(out) < n:
        k = rng.random()
        if k < 0.55:
            text, goal = clause(rng.choice(("deliver", "deliver", "put", "go", "tidy", "dock")))
        else:  # two clauses: go somewhere, then act; or act, then go / dock
            first = rng.choice(("go", "deliver", "put", "tidy"))
            second = {"go": rng.choice(("deliver", "put", "tidy")), "deliver": rng.choice(("dock", "deliver")),
                      "put": rng.choice(("go", "dock")), "tidy": rng.choice(("dock", "go"))}[first]
            t1, g1 = clause(first)
            t2, g2 = clause(second)
            if second == "deliver" and g1 == g2:
                continue
            text = t1 + rng.choice(JOIN) + re.sub(r"^robot, ", "", t2)
            goal = (g1 if first in ("deliver", "put", "tidy") else []) + g2
            if first == "tidy" and second == "go":
                goal = g1  # the robot leaves: only the tidy room is checked
        out.append({"command": text, "goal": goal, "world": None, "source": "templates"})
    return out


def case_file_commands(desc: WorldDescription, recognizer: SphinxRecognizer,
                       counts: dict | None = None) -> list[dict]:
    """tests/cases/*.jsonl commands that are speakable (in the grammar) and not refusals.
    `counts` (if given) gets how many candidates there were and how many the grammar accepts:
    this source is filtered BY the grammar, so its share of the evaluation says nothing about
    coverage; the templates of `generate` are not."""
    out = []
    n_candidates = 0
    for path in sorted((ROOT / "tests" / "cases").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                case = json.loads(line)
            except json.JSONDecodeError:
                continue
            words = normalise(case.get("command", ""))
            if not words or case.get("goal") == [["refused"]]:
                continue
            n_candidates += 1
            if not recognizer.accepts(words):
                continue
            out.append({"command": case["command"], "goal": case["goal"], "world": case.get("world"),
                        "source": path.name})
    seen, unique = set(), []
    for c in out:
        if normalise(c["command"]) not in seen:
            seen.add(normalise(c["command"]))
            unique.append(c)
    if counts is not None:
        counts.update(candidates=n_candidates, in_grammar=len(out))
    return unique


# ---- scoring ----------------------------------------------------------------------------------
normalise = as_heard  # references and transcripts compared as speech recognition gives them


def _join_split_compounds(words: list[str], other: set[str]) -> list[str]:
    """`words` with each adjacent pair joined where the other side has the pair as one word."""
    out: list[str] = []
    for w in words:
        if out and out[-1] + w in other and out[-1] + w not in words:
            out[-1] += w
        else:
            out.append(w)
    return out


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance in words, reference length).

    Spelling that differs only by a space ("bed room" / "bedroom", "in to" / "into": the same
    sounds, both in the world's aliases) is not an error, as in sclite's GLM normalisation:
    a pair on one side is joined when the other side has the joined word. The reference
    length is counted before joining."""
    r, h = normalise(ref).split(), normalise(hyp).split()
    n_ref = len(r)
    r, h = _join_split_compounds(r, set(h)), _join_split_compounds(h, set(r))
    prev = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        cur = [i] + [0] * len(h)
        for j in range(1, len(h) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
        prev = cur
    return prev[-1], n_ref


def evaluate_voice(n_utterances: int = 120, world: str | Path | None = None, seed: int = 0,
                   conditions=CONDITIONS, voices=VOICES, threshold: float = 0.5,
                   details: bool = False, warps=DEFAULT_WARPS, planner: str = DEFAULT_BACKEND,
                   enrollment: int = ENROLLMENT_PROMPTS) -> dict:
    """Synthesise, (add noise,) recognise through the VAD + streaming recogniser, plan, check.
    Every condition is run speaker independent, then (`enrollment` > 0) again as
    `enrolled_<condition>`, each voice heard through its own speaker model, adapted from
    `enrollment` prompts it read first (edge_nerve.voice.adapt).
    `details`: every utterance's result under `report["utterances"]` (not only failures);
    `planner`: the backend the transcripts go to (the robot's default, the embedded MoE)."""
    why = synth.available()
    if why:
        raise RuntimeError(f"cannot synthesise test speech: {why}")
    desc = load_world(world)
    recognizer = SphinxRecognizer(desc, warps=warps)
    listener = Listener(recognizer)
    planner_name, planner = planner, get_planner(planner, desc)
    case_counts: dict = {}
    from_cases = case_file_commands(desc, recognizer, case_counts)
    n_cases = min(len(from_cases), n_utterances // 4)
    rng = random.Random(seed)
    utterances = rng.sample(from_cases, n_cases) + generate(desc, n_utterances - n_cases, seed)
    report: dict = {"world": desc.name, "backend": "pocketsphinx+jsgf", "planner": planner_name,
                    "warps": list(recognizer.warps),
                    "utterances": len(utterances),
                    "voices": [v.label() for v in voices], "confidence_threshold": threshold,
                    "sources": {s: sum(u["source"] == s for u in utterances)
                                for s in sorted({u["source"] for u in utterances})},
                    "conditions": {}, "failures": []}
    # how much of what is said the grammar can produce at all (the templates are written
    # independently of the grammar; the case-file commands are drawn only from the accepted)
    report["reference_in_grammar"] = round(
        sum(recognizer.accepts(normalise(u["command"])) for u in utterances) / len(utterances), 4)
    report["case_commands_in_grammar"] = case_counts
    if details:
        report["utterances"] = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clean_files = []
        for i, u in enumerate(utterances):
            voice = voices[i % len(voices)]
            path = tmp / f"u{i}.wav"
            synth.speak(u["command"].replace(",", ""), voice, path)
            clean_files.append((path, voice))
        text_ok = 0
        for u in utterances:  # the planner alone, on the reference text: the ceiling
            state = WorldState.initial(desc, u["world"])
            text_ok += check_goals(u["goal"], state, planner.plan(u["command"], state).steps)[0]
        report["text_command_success"] = round(text_ok / len(utterances), 4)
        # Speaker enrollment (edge_nerve.voice.adapt): each voice reads `enrollment` prompts,
        # none of them a test command, and is then heard through its own speaker model
        listeners = {v.label(): listener for v in voices}
        runs = [(cond, snr, listeners) for cond, snr in conditions]
        if enrollment:
            said = {normalise(u["command"]) for u in utterances}
            enrolled, report["enrollment"] = {}, {"prompts_per_voice": enrollment, "voices": {}}
            for k, voice in enumerate(voices):
                prompts = enrollment_prompts(desc, enrollment, seed=k, exclude=said)
                rep = enroll([(synth.speak(p.replace(",", ""), voice), p) for p in prompts],
                             tmp / f"speaker{k}")
                report["enrollment"]["voices"][voice.label()] = {
                    k2: v2 for k2, v2 in rep.to_json().items() if k2 != "path"}
                enrolled[voice.label()] = Listener(SphinxRecognizer(desc, jsgf=recognizer.jsgf, speaker=rep.path))
            runs += [(f"enrolled_{cond}", snr, enrolled) for cond, snr in conditions]
        for cond, snr, by_voice in runs:
            errs = words = ok = exact = accepted = confident = 0
            latencies, decode, per_voice = [], [], {}
            for i, (u, (path, voice)) in enumerate(zip(utterances, clean_files)):
                wav = path
                if snr is not None:
                    wav = tmp / f"u{i}_{snr:g}dB.wav"
                    if not wav.exists():
                        synth.mix_noise(path, wav, snr, kind=NOISES[i % len(NOISES)])
                samples = read_wav(wav)
                t0 = time.perf_counter()
                rec = by_voice[voice.label()].recognize_recording(samples)
                state = WorldState.initial(desc, u["world"])
                plan = planner.plan(rec.text, state) if rec.text else None
                latencies.append(rec.decode_ms + (plan.latency_ms if plan else 0.0))
                decode.append((time.perf_counter() - t0) * 1000.0 / max(len(samples) / 16000, 1e-3))
                e, n = word_errors(u["command"], rec.text)
                errs, words = errs + e, words + n
                exact += e == 0
                accepted += rec.accepted
                confident += rec.confidence >= threshold
                good = bool(plan) and check_goals(u["goal"], state, plan.steps)[0]
                ok += good
                pv = per_voice.setdefault(voice.label(), [0, 0, 0])
                pv[0], pv[1], pv[2] = pv[0] + e, pv[1] + n, pv[2] + good
                if details:
                    report["utterances"].append({"condition": cond, "i": i, "voice": voice.label(),
                                                 "source": u["source"], "said": u["command"],
                                                 "heard": rec.text, "errors": e, "ok": bool(good),
                                                 "in_grammar": recognizer.accepts(normalise(u["command"])),
                                                 "confidence": round(rec.confidence, 3)})
                if not good and sum(f["condition"] == cond for f in report["failures"]) < 20:
                    report["failures"].append({"condition": cond, "voice": voice.label(),
                                               "said": u["command"], "heard": rec.text,
                                               "confidence": round(rec.confidence, 3)})
            m = len(utterances)
            report["conditions"][cond] = {
                "wer": round(errs / max(words, 1), 4),
                "sentence_accuracy": round(exact / m, 4),
                "command_success": round(ok / m, 4),
                "grammar_accepted": round(accepted / m, 4),
                "confident": round(confident / m, 4),
                "latency_ms": {"p50": round(percentile(latencies, 50), 1),
                               "p95": round(percentile(latencies, 95), 1)},
                "decode_ms_per_audio_s": round(percentile(decode, 50), 1),
                "per_voice": {k: {"wer": round(a / max(b, 1), 4), "command_success": round(c / (m / len(voices)), 4)}
                              for k, (a, b, c) in per_voice.items()},
            }
            log.info("voice eval %s: %s", cond, report["conditions"][cond])
    report["latency_note"] = ("latency_ms: end of the utterance (as the VAD closes it) -> recognised "
                              "text -> plan; the utterance is decoded whole at its end, and the VAD's "
                              "end-of-speech hangover (700 ms live) is not included")
    report["wall_s"] = round(time.perf_counter() - t_start, 1)
    return report


def parse_warps(text: str) -> tuple[float, ...]:
    """"0.94,1,1.06" -> (0.94, 1.0, 1.06): the --warps option of the evaluation and the CLI."""
    return tuple(float(w) for w in text.split(",") if w.strip())


def main(argv: list[str] | None = None) -> int:
    """`python -m edge_nerve.voice.evaluation --errors`: the evaluation with every utterance
    that has a word error or a failed command listed (what `brainstem eval voice` summarises)."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--utterances", type=int, default=120)
    ap.add_argument("--world", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clean-only", action="store_true")
    ap.add_argument("--errors", action="store_true", help="list every utterance with an error")
    ap.add_argument("--json", default=None, help="write the full report (with every utterance) here")
    ap.add_argument("--warps", type=parse_warps, default=DEFAULT_WARPS, help="VTLN warp factors ('1': none)")
    ap.add_argument("--planner", default=DEFAULT_BACKEND, help="planner backend: moe (default) or rules")
    ap.add_argument("--enrollment", type=int, default=ENROLLMENT_PROMPTS, help="prompts per voice (0: none)")
    a = ap.parse_args(argv)
    conds = CONDITIONS[:1] if a.clean_only else CONDITIONS
    report = evaluate_voice(a.utterances, a.world, a.seed, conditions=conds, details=True, warps=a.warps,
                            planner=a.planner, enrollment=a.enrollment)
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))
    if a.errors:
        for u in report["utterances"]:
            if u["errors"] or not u["ok"]:
                print(f"{u['condition']:6} {'ok ' if u['ok'] else 'BAD'} e={u['errors']} "
                      f"{'   ' if u['in_grammar'] else 'OOG'} {u['voice']:20} | {u['said']} | {u['heard']}")
    for name, c in report["conditions"].items():
        print(f"{name:>15}: WER {c['wer']:.1%}  command success {c['command_success']:.1%}  "
              f"latency p50 {c['latency_ms']['p50']:.0f} ms p95 {c['latency_ms']['p95']:.0f} ms")
    print(f"references the grammar can produce: {report['reference_in_grammar']:.1%}; "
          f"case-file commands in the grammar: {report['case_commands_in_grammar']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
