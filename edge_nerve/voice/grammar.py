"""The speech grammar: a JSGF grammar generated from the world description and the planner's phrasings.

Why a grammar: a generic language model misheard synthetic commands 45-80% of the time
(notes/setup-findings.md, "Speech"); constrained to what the robot can do, the same acoustic
model decodes whole commands almost exactly. The grammar is generated, never written by hand:
every room, furniture and object (names with underscores read as words, `aliases`, colour +
noun) comes from the world description, and the verbs come from the rule planner's own word
sets (cloud_brain.planner.rules), so a new room or object reaches the recogniser by itself and
the recogniser can only produce words the planner understands.

The structure covers the planner's phrasings generally rather than listing sentences:

    [vocative] [politeness] request ((and | then | and then | after that ...) request)* [closer]

with requests for deliver / place / put away / go / dock / tidy / stop / where-is, objects
with or without colour and determiner, "it"/"them" follow-ups, places with "from"/"in".

    .venv/bin/python -m edge_nerve.voice.grammar [--world FILE]   # prints the JSGF
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from cloud_brain.domain.description import WorldDescription
from cloud_brain.planner import rules

log = logging.getLogger(__name__)

# ---- phrasings (general English; every verb must also be one the planner knows) -------------
# Each list is intersected with the planner's word set of the same role, so the grammar can
# never promise a verb the planner would not understand.
DELIVER = ("bring", "fetch", "get", "give", "hand", "pass", "grab", "deliver", "retrieve", "carry")
PLACE = ("put", "place", "set", "leave", "move", "drop", "store", "take", "carry", "bring", "stash")
GO = ("go", "head", "drive", "navigate", "walk", "come", "return", "move", "proceed", "travel", "roll")
TIDY = ("tidy", "clean", "declutter", "organize", "organise", "straighten")
STOP = ("stop", "halt", "cancel", "freeze", "wait", "pause", "abort")
DOCK_VERBS = ("charge", "recharge", "dock")
NEEDS = {"drink": ("thirsty",), "eat": ("hungry", "starving"), "read": (), "play with": ("bored",)}

VOCATIVES = ("robot", "hey robot", "ok robot", "okay robot", "hey", "okay", "ok", "hello robot",
             "hi robot", "buddy")
POLITE = ("please", "could you", "can you", "would you", "will you", "could you please",
          "can you please", "would you please", "will you please", "kindly", "i want you to",
          "i would like you to", "i'd like you to", "i need you to", "would you mind",
          "go ahead and", "now", "now please", "please now", "first", "just")
CLOSERS = ("please", "for me", "for me please", "thanks", "thank you", "now", "right now",
           "now please", "please thank you", "when you can", "thanks a lot", "right away")
JOINERS = ("and", "then", "and then", "after that", "and after that", "afterwards",
           "and afterwards", "also", "and also", "then please", "and please", "finally",
           "and finally", "next", "plus")
DETS = ("the", "my", "a", "an", "that", "this", "your", "some", "our")
DEST_PREPS = ("on", "onto", "on top of", "in", "into", "inside", "to", "at", "by", "next to",
              "near", "beside", "over to", "back on", "back in", "back to")
GO_PREPS = ("to", "into", "in", "over to", "back to", "inside", "towards", "toward", "in to")
TO_USER = ("to me", "over to me", "here", "over here", "back to me", "back here", "for me",
           "to us", "here to me")
PUTAWAY_TAILS = ("away", "back", "back where it belongs", "where it belongs", "back in its place",
                 "in its place", "back where they belong", "where they belong")


def _tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("_", " ")).split()


def _alts(items) -> str:
    """JSGF alternatives of word sequences (duplicates and empties dropped, order kept)."""
    seen = list(dict.fromkeys(" ".join(_tokens(i)) for i in items if _tokens(i)))
    if not seen:
        return "<NULL>"
    return "(" + " | ".join(seen) + ")"


@dataclass
class SpeechVocabulary:
    """The spoken forms of every entity of one world, and the words they use."""

    rooms: dict[str, list[str]] = field(default_factory=dict)  # name -> spoken forms
    furniture: dict[str, list[str]] = field(default_factory=dict)
    objects: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_world(cls, desc: WorldDescription) -> "SpeechVocabulary":
        v = cls()
        for name, r in desc.rooms.items():
            v.rooms[name] = _forms(name, r.aliases)
        for name, f in desc.furniture.items():
            forms = _forms(name, f.aliases)
            room_words = " ".join(_tokens(f.room))
            forms += [f"{room_words} {x}" for x in list(forms) if not x.startswith(room_words)]
            v.furniture[name] = list(dict.fromkeys(forms))
        for name, o in desc.objects.items():
            colour = (o.color or "").lower()
            words = _tokens(name)
            heads = [" ".join(_tokens(a)) for a in o.aliases]
            rest = [w for w in words if w != colour]
            if rest:
                heads += [" ".join(rest), rest[-1]]
            forms = [" ".join(words)] + heads
            if colour:
                forms += [f"{colour} {h}" for h in heads if not h.startswith(colour + " ")]
            v.objects[name] = [f for f in dict.fromkeys(forms) if f]
        return v

    def words(self) -> set[str]:
        return {w for table in (self.rooms, self.furniture, self.objects)
                for forms in table.values() for f in forms for w in f.split()}


def _forms(name: str, aliases) -> list[str]:
    return list(dict.fromkeys([" ".join(_tokens(name))] + [" ".join(_tokens(a)) for a in aliases
                                                             if _tokens(a)]))


def _planner_knows(words, *planner_sets) -> list[str]:
    known = frozenset().union(*planner_sets)
    return [w for w in words if w in known]


def build_jsgf(desc: WorldDescription, name: str = "brainstem") -> str:
    """The JSGF grammar (text) for commands in world `desc`; its public rule is `<command>`."""
    v = SpeechVocabulary.from_world(desc)
    deliver = _planner_knows(DELIVER, rules.DELIVER_VERBS)
    place = _planner_knows(PLACE, rules.PLACE_VERBS, rules.DELIVER_VERBS)
    go = _planner_knows(GO, rules.NAV_VERBS)
    tidy = _planner_knows(TIDY, rules.TIDY_WORDS)
    stop = _planner_knows(STOP, rules.STOP_WORDS)
    dock_verbs = _planner_knows(DOCK_VERBS, rules.DOCK_WORDS)
    colours = sorted({(o.color or "").lower() for o in desc.objects.values()} - {""})
    dock_forms = [f for n, forms in v.furniture.items() if not desc.furniture[n].surface
                  and n in {_dock_name(desc)} for f in forms]
    surfaces = [f for n, forms in v.furniture.items() if desc.furniture[n].surface for f in forms]
    all_furniture = [f for forms in v.furniture.values() for f in forms]
    needs = [(verb, adjs) for verb, adjs in NEEDS.items()
             if any(w in rules.CATEGORY_WORDS for w in verb.split() + list(adjs))]
    lines = [
        "#JSGF V1.0;",
        f"grammar {name};",
        "public <command> = [<vocative>] [<polite>] <request> (<joiner> [<polite>] <request>)* [<closer>];",
        f"<vocative> = {_alts(VOCATIVES)};",
        f"<polite> = {_alts(POLITE)};",
        f"<closer> = {_alts(CLOSERS)};",
        f"<joiner> = {_alts(JOINERS)};",
        f"<det> = {_alts(DETS)};",
        # ---- entities, from the world description
        f"<object_name> = {_alts(f for forms in v.objects.values() for f in forms)};",
        f"<room> = {_alts(f for forms in v.rooms.values() for f in forms)};",
        f"<furniture> = {_alts(all_furniture)};",
        f"<surface> = {_alts(surfaces)};",
        f"<colour> = {_alts(colours)};",
        "<object> = [<det>] <object_name> | <det> <colour> one | it | them | both | both of them | all of them;",
        "<objects> = <object> ([and | ','] <object>)*;",
        "<place> = [<det>] (<furniture> | <room>) | [<det>] <furniture> in [<det>] <room>;",
        "<from_place> = (from | in | on | off | off of | out of) [<det>] (<furniture> | <room>);",
        "<destination> = [<det>] (<surface> | <room>) | [<det>] <surface> in [<det>] <room>;",
        # ---- requests, with the planner's verbs
        f"<deliver_verb> = {_alts(deliver)};",
        f"<place_verb> = {_alts(place)};",
        f"<go_verb> = {_alts(go)};",
        f"<tidy_verb> = {_alts(tidy)};",
        f"<to_user> = {_alts(TO_USER)};",
        "<request> = <deliver> | <place> | <putaway> | <go> | <dock> | <tidy> | <stop> | <where> | <need> | <objects>;",
        "<deliver> = [<go_verb> [and]] <deliver_verb> [me | us] <objects> [<from_place>] [<to_user>]"
        " | (i want | i need | i would like | i'd like | can i have | could i have | may i have | i'll have)"
        " <objects> [<from_place>] [<to_user>]"
        " | pick up <objects> [<from_place>] | pick <objects> up;",
        f"<place> = [<go_verb> [and]] <place_verb> <objects> [<from_place>] {_alts(DEST_PREPS)} <destination>"
        f" | <place_verb> {_alts(DEST_PREPS)} <destination> <objects>;",
        f"<putaway> = (put | place | move | take | bring) <objects> {_alts(PUTAWAY_TAILS)}"
        " | (put | take | bring) (away | back) <objects>;",
        f"<go> = <go_verb> [back] {_alts(GO_PREPS)} <place> | (come | come back | get) (here | over here | to me | back here)"
        f" | <go_verb> to (me | the user) | come [over] here | come back;",
        f"<dock> = [<go_verb> [and] | <go_verb> back and] {_alts(dock_verbs)} [yourself | your battery | your batteries | up]"
        f" | <go_verb> [back] {_alts(GO_PREPS)} [<det>] ({_alts(dock_forms) if dock_forms else '<NULL>'} | base | charging station | charger)"
        " | (plug yourself in | go to sleep | go home | go back home);",
        f"<tidy> = <tidy_verb> [up] [<det>] (<room> [and [<det>] <room>] | whole house | house | everything | everywhere)"
        f" | <tidy_verb> up [<det>] (<furniture> | <room>) | <tidy_verb> up | <tidy_verb> (it | them) up;",
        f"<stop> = {_alts(stop)} | never mind | stop (it | that | everything);",
        "<where> = where (is | are) <object> | where did you put <object>;",
    ]
    if needs:
        need_verbs = _alts(verb for verb, _ in needs)
        adjs = _alts(a for _, aa in needs for a in aa)
        lines.append(f"<need> = (i am | i'm) {adjs} | [<deliver_verb> [me | us]] something to {need_verbs};")
    else:
        lines.append("<need> = <NULL>;")
    return "\n".join(lines) + "\n"


def _dock_name(desc: WorldDescription) -> str | None:
    from cloud_brain.domain import skills
    return skills.dock_furniture(desc)


def grammar_words(jsgf: str) -> set[str]:
    """Every terminal word of a grammar (what the pronunciation dictionary must cover)."""
    body = re.sub(r"<[^>]*>", " ", "\n".join(jsgf.splitlines()[2:]))
    body = re.sub(r"/[0-9.]+/", " ", body)
    return {t for t in re.split(r"[\s()\[\]|*+;=',]+", body) if t and t not in ("public",)} | \
        {t for t in re.findall(r"[a-z]+'[a-z]+", body)}


def main(argv: list[str] | None = None) -> int:
    import argparse

    from cloud_brain.domain.description import load_world
    ap = argparse.ArgumentParser(description="print the speech grammar generated from a world")
    ap.add_argument("--world", default=None, help="world description YAML (default: the home)")
    a = ap.parse_args(argv)
    print(build_jsgf(load_world(a.world)), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
