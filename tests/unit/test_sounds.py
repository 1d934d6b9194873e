"""Words a speech recogniser wrote for the home's names, put back by sound (cloud_brain/planner/
sounds.py), as both planners read them (through the speech repairs)."""

from pathlib import Path

import pytest

from cloud_brain.domain.description import load_world
from cloud_brain.planner.rules import RulesPlanner, _as_meant, _tokens
from cloud_brain.planner.sounds import phones

WORLDS = Path(__file__).resolve().parents[1] / "cases" / "worlds"
pytestmark = pytest.mark.skipif(not phones("red"), reason="the pronouncing dictionary is not installed")


def _meant(world: str, said: str) -> str:
    desc = load_world(WORLDS / f"{world}.yaml")
    return " ".join(_as_meant(_tokens(said), RulesPlanner(desc).vocabulary(desc)))


@pytest.mark.parametrize("world,said,meant", [
    ("townhouse_n", "um bring me the read mug", "bring me the red mug"),  # the same sound
    ("townhouse_n", "fetch me the blew one", "fetch me the blue one"),
    ("townhouse_n", "bring me the eye pad", "bring me the ipad"),  # two words heard for one
    ("townhouse_n", "move the ipad to the coffee cable", "move the ipad to the coffee table"),  # a name completed
    ("townhouse_n", "go up to the guessed room", "go up to the guest room"),
    ("townhouse_n", "tidy up the leaving room", "tidy up the living room"),
])
def test_a_misheard_name_is_put_back(world, said, meant):
    assert _meant(world, said) == meant


@pytest.mark.parametrize("world,said", [
    ("ranch_e", "grab me a beer out of the fridge"),  # "bear" only nearly sounds like it, and names nothing with it
    ("semi_l", "tidy the front room before your nan turns up"),  # "can" only nearly, too
    ("farmhouse_j", "tom's mum will be collecting him soon"),  # "mum" is a word of its own; "tom's mug" is not meant
    ("townhouse_n", "bring me the headphones"),  # the home's own words stay
])
def test_words_that_only_nearly_sound_like_a_name_stay(world, said):
    assert _meant(world, said) == " ".join(_tokens(said)).replace("'s", "")
