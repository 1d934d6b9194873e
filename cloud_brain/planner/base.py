"""The planner interface every backend implements, and the registry that picks one by name.

Why: the gRPC service, the CLI (`brainstem plan`, `brainstem eval planner`) and the
evaluation talk to "a planner" without knowing whether it is the rule-based baseline, the
embedded MoE or a remote OpenAI-compatible server.

    python -c "from cloud_brain.planner.base import get_planner; from cloud_brain.domain.state import WorldState; print(get_planner('rules').plan('bring me the red cup', WorldState.initial()))"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Iterator, Protocol, runtime_checkable

from cloud_brain.domain.description import WorldDescription
from cloud_brain.domain.plan import Step, format_plan
from cloud_brain.domain.state import WorldState


ALREADY_DONE = "That's already done."  # the plan when every goal of the command already holds


@dataclass
class PlanResult:
    steps: list[Step]
    goals: list[list] = field(default_factory=list)  # the goal predicates understood
    refusal: str | None = None  # set when the plan is a single refuse(reason) step
    latency_ms: float = 0.0

    @property
    def text(self) -> str:
        return format_plan(self.steps)

    @classmethod
    def refused(cls, reason: str, latency_ms: float = 0.0) -> "PlanResult":
        return cls([Step("refuse", (reason,))], [["refused"]], reason, latency_ms)


@runtime_checkable
class Planner(Protocol):
    """Turns a command (free text) in a world state into a plan."""

    name: str

    def plan(self, command: str, state: WorldState) -> PlanResult: ...

    def stream(self, command: str, state: WorldState) -> Iterator[Step]:
        """Steps as soon as they are known; backends that decode incrementally override it."""
        yield from self.plan(command, state).steps


def _rules(world: WorldDescription | None) -> Planner:
    from cloud_brain.planner.rules import RulesPlanner
    return RulesPlanner(world)


def _moe(world: WorldDescription | None) -> Planner:
    from cloud_brain.planner.moe import MoEPlanner
    return MoEPlanner(world)


def _openai(world: WorldDescription | None) -> Planner:  # configured by OPENAI_BASE_URL etc.
    from cloud_brain.backends.openai_compat import OpenAIPlanner
    return OpenAIPlanner(world)


# The backend `plan`, `eval planner`, the gRPC service, the OpenAI-compatible server and the demo
# use unless told otherwise: the embedded MoE (moe-v7: 99.6% of the dev
# cases, every refusal; README); `--backend rules` / `--planner rules` is the rule baseline.
DEFAULT_BACKEND = "moe"

BACKENDS: "MappingProxyType[str, Callable[[WorldDescription | None], Planner]]" = \
    MappingProxyType({"rules": _rules, "moe": _moe, "openai": _openai})


def get_planner(name: str, world: WorldDescription | None = None) -> Planner:
    """The planner backend called `name` (see BACKENDS), for `world` (default: the home)."""
    factory = BACKENDS.get(name)
    if factory is None:
        raise ValueError(f"unknown planner backend '{name}'; known backends: {', '.join(sorted(BACKENDS))}")
    return factory(world)
