"""The world description: one file, validated, with case overrides."""

import pytest

from cloud_brain.domain.description import WorldError, load_world, parse_world


@pytest.fixture(scope="module")
def home():
    return load_world()


def test_default_home_has_the_contract_names(home):
    assert set(home.rooms) == {"kitchen", "living_room", "bedroom", "bathroom", "hallway"}
    assert {"kitchen_counter", "sink", "dining_table", "sofa", "shelf", "bed", "charging_dock"} <= set(home.furniture)
    assert set(home.objects) == {"red_cup", "blue_bottle", "green_book", "yellow_ball", "white_plate",
                                 "apple", "remote"}
    assert home.user_room == "living_room"


def test_walls_leave_every_door_open(home):
    for d in home.doors:
        for w in home.walls:
            (x0, y0), (x1, y1) = w.start, w.end
            on_wall = (min(x0, x1) - 1e-6 <= d.at[0] <= max(x0, x1) + 1e-6
                       and min(y0, y1) - 1e-6 <= d.at[1] <= max(y0, y1) + 1e-6)
            assert not on_wall, f"door {d.between} at {d.at} is walled by {w}"


def test_objects_rest_on_their_furniture(home):
    for name, (x, y, z) in home.object_slots().items():
        f = home.furniture[home.objects[name].on]
        assert f.contains_xy(x, y) and z == f.height


def test_overrides_move_objects_user_and_robot(home):
    w = home.with_overrides({"objects": {"red_cup": "bed"}, "user": "kitchen", "robot": "sofa"})
    assert w.objects["red_cup"].on == "bed"
    assert w.user_room == "kitchen"
    assert w.room_at(*w.robot_start[:2]) == "living_room"
    assert home.objects["red_cup"].on == "kitchen_counter"  # the original is untouched


@pytest.mark.parametrize("overrides, message", [
    ({"objects": {"unicorn": "bed"}}, "unknown object 'unicorn'"),
    ({"objects": {"red_cup": "charging_dock"}}, "not a surface"),
    ({"user": "garage"}, "unknown room 'garage'"),
    ({"robot": "roof"}, "unknown place 'roof'"),
    ({"weather": "rain"}, "unknown world override keys"),
])
def test_bad_overrides_are_named(home, overrides, message):
    with pytest.raises(WorldError, match=message):
        home.with_overrides(overrides)


def test_yaml_on_key_is_caught_with_a_hint():
    raw = {"rooms": {"a": {"rect": [0, 0, 4, 4]}},
           "furniture": {"t": {"room": "a", "at": [2, 2], "size": [1, 1, 0.7]}},
           "objects": {"o": {"shape": "sphere", "size": [0.05], True: "t", "home": "t"}}}
    with pytest.raises(WorldError, match="rests_on"):
        parse_world(raw)


def test_furniture_outside_its_room_is_rejected():
    raw = {"rooms": {"a": {"rect": [0, 0, 4, 4]}},
           "furniture": {"t": {"room": "a", "at": [9, 9], "size": [1, 1, 0.7]}}}
    with pytest.raises(WorldError, match="not inside room"):
        parse_world(raw)
