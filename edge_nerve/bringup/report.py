"""What a recorded mission did, read back from its MCAP file (edge_nerve.nodes.recorder).

Prints the mission timeline (the command, each plan step as it arrived, each outcome with its
duration, rollbacks, refusals, errors, link changes) and draws three histograms: the cloud's
decode time per step, the robot's time per step, and the jitter of the control commands on
cmd_vel (inter-arrival time minus its median: how evenly the 50 Hz loop really ticked).

    .venv/bin/python -m edge_nerve.bringup.report runs/demo.mcap runs/report/
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory

from edge_nerve.nodes.common import Topics

NS_PER_S = 1_000_000_000


def _resolved(topic: str, namespace: str = "") -> str:
    return topic if topic.startswith("/") else f"{namespace.rstrip('/')}/{topic}"


def _histogram(path: Path, values: list[float], title: str, xlabel: str) -> Path:
    """A PNG histogram, drawn on its own Agg canvas (no pyplot: no global figure state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if values:
        ax.hist(values, bins=min(50, max(5, len(values) // 4)))
        s = sorted(values)
        title += f"  (n={len(s)}, median {s[len(s) // 2]:.3g}, p99 {s[min(len(s) - 1, int(0.99 * len(s)))]:.3g})"
    else:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    fig.tight_layout()
    fig.savefig(path)
    return path


def _args(msg) -> str:
    return ", ".join(msg.args)


def report(mcap_path: str | Path, out_dir: str | Path, *, namespace: str = "",
           stream: TextIO | None = sys.stdout) -> dict:
    """Read the recording, print the timeline to `stream` (None: don't), write the histograms.

    Returns {"counts": {topic: messages}, "timeline": [lines], "pngs": {name: path},
    "decode_ms": [...], "step_s": [...], "cmd_vel_jitter_ms": [...]}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    command, events, outcomes, link, cmd_vel = (
        _resolved(t, namespace) for t in (Topics.COMMAND, Topics.PLAN_EVENTS, Topics.STEP_OUTCOMES,
                                          Topics.LINK_STATE, Topics.CMD_VEL))
    decoded_topics = {command, events, outcomes, link}
    factory = DecoderFactory()
    decoders: dict[int, object] = {}
    counts: dict[str, int] = {}
    timeline: list[tuple[int, str]] = []
    decode_ms: list[float] = []
    step_s: list[float] = []
    cmd_times: list[int] = []

    with open(mcap_path, "rb") as f:
        for schema, channel, message in make_reader(f).iter_messages(log_time_order=True):
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            t = message.log_time
            if channel.topic == cmd_vel:
                cmd_times.append(t)
            if channel.topic not in decoded_topics:
                continue
            if channel.id not in decoders:
                decoders[channel.id] = factory.decoder_for(channel.message_encoding, schema)
            msg = decoders[channel.id](message.data)
            if channel.topic == command:
                timeline.append((t, f"command    {msg.data!r}"))
            elif channel.topic == link:
                timeline.append((t, f"link       {msg.data}"))
            elif channel.topic == outcomes:
                step_s.append(msg.duration_s)
                verdict = "ok" if msg.success else ("REJECTED" if msg.rejected else "FAILED")
                why = f" ({msg.message})" if msg.message else ""
                timeline.append((t, f"outcome    #{msg.index} {msg.skill}({_args(msg)}) {verdict} "
                                    f"in {msg.duration_s:.2f} s{why}"))
            elif msg.kind == "step":
                decode_ms.append(msg.decode_ms)
                spec = " speculative" if msg.speculative else ""
                timeline.append((t, f"step       #{msg.index} {msg.skill}({_args(msg)}) rev {msg.revision}, "
                                    f"decoded in {msg.decode_ms:.1f} ms{spec}"))
            elif msg.kind == "rollback":
                timeline.append((t, f"ROLLBACK   steps from #{msg.index} withdrawn -> revision {msg.revision}"
                                    + (f": {msg.text}" if msg.text else "")))
            elif msg.kind in ("refusal", "error"):
                timeline.append((t, f"{msg.kind.upper():<10} {msg.text}"))
            elif msg.kind == "done":
                timeline.append((t, f"done       {msg.index} steps"))
            elif msg.kind == "commit":
                timeline.append((t, f"commit     up to #{msg.index}"))
            else:
                timeline.append((t, f"{msg.kind:<10} {msg.text}"))

    t0 = timeline[0][0] if timeline else 0
    lines = [f"{(t - t0) / NS_PER_S:8.3f} s  {text}" for t, text in timeline]
    gaps = [(b - a) / 1e6 for a, b in zip(cmd_times, cmd_times[1:])]
    median = sorted(gaps)[len(gaps) // 2] if gaps else 0.0
    jitter_ms = [g - median for g in gaps]
    pngs = {
        "decode_ms": _histogram(out / "step_decode_ms.png", decode_ms, "cloud decode time per step", "ms"),
        "step_s": _histogram(out / "step_duration_s.png", step_s, "step duration on the robot", "s"),
        "cmd_vel_jitter_ms": _histogram(out / "cmd_vel_jitter_ms.png", jitter_ms,
                                        f"{cmd_vel} inter-arrival - median ({median:.1f} ms)", "ms"),
    }
    if stream is not None:
        print(f"{mcap_path}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), file=stream)
        for line in lines:
            print(line, file=stream)
        print("histograms: " + ", ".join(str(p) for p in pngs.values()), file=stream)
    return {"counts": counts, "timeline": lines, "pngs": pngs, "decode_ms": decode_ms,
            "step_s": step_s, "cmd_vel_jitter_ms": jitter_ms}


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mcap")
    p.add_argument("out_dir", nargs="?", default=None, help="default: <mcap stem>_report/ beside it")
    p.add_argument("--namespace", default="")
    a = p.parse_args(argv)
    out_dir = a.out_dir or Path(a.mcap).with_name(Path(a.mcap).stem + "_report")
    report(a.mcap, out_dir, namespace=a.namespace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
