"""When the plan executor asks the skill runner again, and when it gives a step up (edge_nerve/skill_call.py)."""

from edge_nerve.skill_call import ASK, GIVE_UP, SkillCall


def test_a_goal_answered_in_time_is_never_asked_again():
    c = SkillCall("s1", started=100.0, ack_s=2.0, give_up_s=10.0)
    assert c.due(101.9) is None
    c.accepted(101.9)
    for t in (105.0, 150.0, 400.0):  # a long skill runs as long as its own timeout allows
        assert c.due(t) is None


def test_a_lost_goal_answer_is_asked_for_again_then_the_step_fails_with_a_reason():
    c = SkillCall("s1", started=0.0, ack_s=2.0, give_up_s=10.0)
    kind, why = c.due(2.1)
    assert kind == ASK and "no answer" in why
    c.asked(2.1)
    assert c.due(3.0) is None  # the next ask waits a full ack_s again
    assert c.due(4.2)[0] == ASK
    for t in (4.2, 6.3, 8.4):
        c.asked(t)
    kind, why = c.due(10.1)
    assert kind == GIVE_UP and "did not answer" in why and "5 asks" in why


def test_a_result_missing_after_the_skill_ended_is_asked_for_again():
    c = SkillCall("s1", started=0.0, ack_s=2.0, give_up_s=10.0)
    c.accepted(0.1)
    c.ended(30.0)  # the server's status: the goal ended
    assert c.due(31.0) is None  # the result is normally a moment behind the status
    kind, why = c.due(32.5)
    assert kind == ASK and "result is missing" in why
    c.asked(32.5)
    assert c.due(40.1)[0] == GIVE_UP


def test_a_skill_runner_gone_from_the_graph_fails_the_step_only_if_it_stays_gone():
    c = SkillCall("s1", started=0.0, ack_s=2.0, give_up_s=10.0)
    c.accepted(0.1)
    c.server(False, 5.0)
    assert c.due(14.0) is None  # nobody to ask: wait for it
    c.server(True, 14.0)  # back (a blip in discovery): the step goes on
    assert c.due(20.0) is None
    c.server(False, 30.0)
    kind, why = c.due(40.5)
    assert kind == GIVE_UP and "gone" in why
