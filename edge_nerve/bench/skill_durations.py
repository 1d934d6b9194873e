"""How long each skill takes in the MuJoCo home world: the clock of the timed robot stand-in.

Why: `brainstem bench prefetch` runs many missions under three strategies; running every skill
in physics would make it a CPU-bound hour on a 2-core machine and mix physics jitter into the
network figures it measures. So the stand-in (edge_nerve/bench/timed_robot.py) holds each skill
for the mean duration its closed-loop controller (edge_nerve/skills/teachers.py) needs in the
sim, measured here over randomised starts (evaluate_skills) and stored in skill_durations.json.
Skills with no physics controller (say, refuse) get a stated assumption instead.

    python -m edge_nerve.bench.skill_durations --trials 20      # re-measure, rewrite the JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DURATIONS_FILE = Path(__file__).with_name("skill_durations.json")
ASSUMED_S = {"say": 1.0, "refuse": 0.0}  # no controller in the sim: not measured


def measure(trials: int = 20, seed: int = 0) -> dict:
    """Mean simulated seconds per skill over `trials` randomised starts, with provenance."""
    from edge_nerve.skills.teachers import evaluate_skills

    res = evaluate_skills(trials, seed)
    skills = res["skills"]
    bad = {k: v["failures"] for k, v in skills.items() if not v["trials"] or v["succeeded"] < v["trials"]}
    durations = {k: v["mean_duration_s"] for k, v in skills.items() if v["trials"]}
    return {
        "source": "MuJoCo home world (sim/home_sim.py), teacher controllers "
                  "(edge_nerve/skills/teachers.py evaluate_skills), randomised starts; simulated seconds",
        "command": f"python -m edge_nerve.bench.skill_durations --trials {trials} --seed {seed}",
        "trials_per_skill": {k: v["trials"] for k, v in skills.items()},
        "succeeded": {k: v["succeeded"] for k, v in skills.items()},
        "failures": bad,
        "durations_s": {**durations, **{k: v for k, v in ASSUMED_S.items() if k not in durations}},
        "assumed": sorted(k for k in ASSUMED_S if k not in durations),
    }


def load(path: str | Path | None = None) -> dict:
    """The stored measurement (see measure()); a clear error if it is missing or malformed."""
    p = Path(path) if path else DURATIONS_FILE
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{p} is missing; measure it: python -m edge_nerve.bench.skill_durations") from None
    if not isinstance(data.get("durations_s"), dict) or not data["durations_s"]:
        raise ValueError(f"{p}: no 'durations_s' mapping of skill -> seconds")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(DURATIONS_FILE))
    a = ap.parse_args(argv)
    data = measure(a.trials, a.seed)
    Path(a.out).write_text(json.dumps(data, indent=2) + "\n")
    sys.stdout.write(json.dumps(data["durations_s"]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
