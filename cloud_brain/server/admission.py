"""Backpressure: the error a planner raises when it admits no more requests, and the serve flags
of the batch engine.

Why its own module (no torch): the session logic (cloud_brain/server/session.py) turns it into
Error(OVERLOADED) — the robot may retry, its session lives on — and the CLI builds its flags,
without importing the batching engine (cloud_brain/server/batching.py) that raises it.
"""

from __future__ import annotations

import argparse


class Overloaded(RuntimeError):
    """The planner is at its admission bound (decoding + queued); the request was not taken."""

    def __init__(self, active: int, queued: int, max_active: int, max_queue: int):
        self.active, self.queued, self.max_active, self.max_queue = active, queued, max_active, max_queue
        super().__init__(f"planner overloaded: {active} plans decoding and {queued} queued "
                         f"(limits: {max_active} decoding + {max_queue} queued); retry later")


def add_batching_args(ap: argparse.ArgumentParser) -> None:
    """Flags of the embedded moe server — its weights and continuous batching
    (cloud_brain/server/batching.py) — shared by service.main and `brainstem cloud serve`."""
    ap.add_argument("--artifact", default=None, help="planner moe: weights folder (default: shipped)")
    ap.add_argument("--batching", action="store_true",
                    help="decode every session's plan in one continuous batch (planner moe)")
    ap.add_argument("--max-batch", type=int, default=32, help="with --batching: sequences decoded together")
    ap.add_argument("--max-queue", type=int, default=64,
                    help="with --batching: requests waiting for a batch row; more get Error(OVERLOADED)")
    ap.add_argument("--prefix-cache", type=int, default=64,
                    help="with --batching: world-state prefixes whose KV is kept")
    ap.add_argument("--engine-threads", type=int, default=1,
                    help="with --batching: torch threads of the batch engine (0: torch's default)")


def batching_config(args):
    if not args.batching:
        return None
    from cloud_brain.server.batching import BatchConfig

    return BatchConfig(max_active=args.max_batch, max_queue=args.max_queue,
                       prefix_cache=args.prefix_cache, threads=args.engine_threads)


def forward_batching_args(args) -> list[str]:
    """The batching flags of parsed `args` as argv (`brainstem cloud serve` -> service.main)."""
    argv = ["--artifact", args.artifact] if getattr(args, "artifact", None) else []
    if not getattr(args, "batching", False):
        return argv
    argv += ["--batching", "--max-batch", str(args.max_batch), "--max-queue", str(args.max_queue),
            "--prefix-cache", str(args.prefix_cache)]
    return argv + ["--engine-threads", str(args.engine_threads)]
