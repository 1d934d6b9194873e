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
NEEDS = ("drink", "eat", "read", "play with")  # "something to drink"
NEED_ADJECTIVES = ("thirsty", "hungry", "starving", "bored")  # "i'm thirsty"
WANT = ("i want", "i need", "i would like", "i'd like", "can i have", "could i have",
        "may i have", "i'll have", "can you get me", "i want you to get")

VOCATIVES = ("robot", "hey robot", "okay robot", "hey", "okay")
POLITE = ("please", "could you", "can you", "would you", "will you", "could you please",
          "can you please", "would you please", "i want you to", "i would like you to",
          "i'd like you to", "i need you to", "go ahead and", "now")
CLOSERS = ("please", "for me", "for me please", "thanks", "thank you", "now", "right now",
           "please thank you", "right away")
JOINERS = ("and", "then", "and then", "after that", "and after that", "afterwards", "also",
           "and also", "and please", "then please", "finally", "and finally")
DETS = ("the", "my", "a", "your", "some")  # "that"/"this" left out: "the" was heard as "that"
DEST_PREPS = ("on", "onto", "on top of", "in", "into", "to", "at", "by", "next to", "back on",
              "back in", "back to")
GO_PREPS = ("to", "into", "in", "over to", "back to", "towards")
TO_USER = ("to me", "over to me", "here", "over here", "back to me", "back here", "for me", "to us")
# Priors (JSGF weights, relative within one list; 1 when not listed): how often a word is
# used in spoken commands, not fitted to any test sentence. "the" names a known object far
# more often than any other determiner, and the short, reduced "the" of fast speech was
# heard as "a"; "and" / "then" are the common joiners; a noun with no determiner at all is as
# rare as "a" or "your" before a known object (an optional [<det>] gave it even odds with all of
# them together: "get the ball" was heard as "get novel"; clean WER 8.9% -> 8.4%, seed 1 11.5% ->
# 11.1%, `python -m edge_nerve.voice.evaluation --clean-only [--seed 1]`).
WEIGHTED = True
DET_WEIGHTS = {"the": 10, "my": 2}
NO_DET_WEIGHT = 1
JOINER_WEIGHTS = {"and": 4, "then": 4, "and then": 2}
PARTICLES = ("away", "back", "back where it belongs", "where it belongs", "back in its place",
             "in its place")


def _tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("_", " ")).split()


def _alts_known(items, known=None, weights=None) -> str:
    """JSGF alternatives of word sequences (duplicates, empties and unpronounceable dropped).
    `weights` (phrase -> relative weight, default 1) become JSGF `/w/` priors."""
    seen = list(dict.fromkeys(" ".join(_tokens(i)) for i in items if _tokens(i)))
    if known is not None:
        dropped = [s for s in seen if not all(known(w) for w in s.split())]
        if dropped:
            log.info("grammar: no pronunciation for %s; left out", dropped)
        seen = [s for s in seen if s not in dropped]
    # "bed room" next to "bedroom" (aliases, "in to" / "into"): the same sounds twice only
    # split the decoder's choice between two spellings; the one-word form stays
    joined = {s.replace(" ", "") for s in seen if " " not in s}
    seen = [s for s in seen if " " not in s or s.replace(" ", "") not in joined]
    if not seen:
        return "<NULL>"
    if weights and len(seen) > 1:
        return "(" + " | ".join(f"/{weights.get(s, 1)}/ {s}" for s in seen) + ")"
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
            v.furniture[name] = _forms(name, f.aliases)
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


def build_jsgf(desc: WorldDescription, name: str = "brainstem", known=None) -> str:
    """The JSGF grammar (text) for commands in world `desc`; its public rule is `<command>`.

    `known(word) -> bool` says which words the recogniser can pronounce; phrases with other
    words are left out (logged), so a world with an unusual name still yields a valid grammar."""
    def _alts(items, weights=None):
        return _alts_known(items, known, weights if WEIGHTED else None)

    v = SpeechVocabulary.from_world(desc)
    deliver = _planner_knows(DELIVER, rules.DELIVER_VERBS)
    place = _planner_knows(PLACE, rules.PLACE_VERBS, rules.DELIVER_VERBS)
    go = _planner_knows(GO, rules.NAV_VERBS)
    tidy = _planner_knows(TIDY, rules.TIDY_WORDS)
    stop = _planner_knows(STOP, rules.STOP_WORDS)
    dock_verbs = _planner_knows(DOCK_VERBS, rules.DOCK_WORDS)
    furniture = [f for forms in v.furniture.values() for f in forms]
    need_verbs = [n for n in NEEDS if any(w in rules.CATEGORY_WORDS for w in n.split())]
    FIXED = ([f"{s} {a}" for s in ("i am", "i'm") for a in NEED_ADJECTIVES if a in rules.CATEGORY_WORDS]
             + stop + ["never mind"])
    lines = [
        "#JSGF V1.0;",
        f"grammar {name};",
        # One copy of <clause> in a loop: pocketsphinx expands every rule reference into its
        # own copy of the network, and a grammar with the entity lists copied into every
        # phrasing decoded 100x slower than real time. Joiners open each clause, so "go to
        # the kitchen and bring me the cup" and "bring me the cup and the plate" are both a
        # sequence of clauses, as the planner reads them.
        "public <command> = [<vocative>] [<polite>] <clauses> [<closer>];",
        "<clauses> = <request> [please] [<joiner> [<polite>] <clauses>];",  # right recursion: a loop, one copy
        "<request> = <deliver> | <put> | <go> | <tidy> | <dock> | <fixed>;",
        # one reference to each entity list per request kind: every reference is a copy
        f"<deliver> = (<deliver_verb> [me] | {_alts(WANT)} | pick up | where is) <objects> [<to_user>];",
        # a put needs where: "set the plate" alone was the commonest confusion for "fetch the plate"
        "<put> = <place_verb> <objects> (<particle> | <dest_prep> <place>) | put away <objects>;",
        "<go> = <go_verb> (<go_prep> <place> | <to_user>);",
        "<tidy> = <tidy_verb> [up] <place> | <tidy_verb> up;",
        # "the cup and the plate"; a pronoun or "something to eat" stands alone ("them and a
        # mug" was a frequent misrecognition, and nobody says it)
        "<objects> = <det> <object_name> [and <det> <object_name>] | it | them | something to <need>;",
        "<place> = <det> <place_name>;",
        f"<vocative> = {_alts(VOCATIVES)};",
        f"<polite> = {_alts(POLITE)};",
        f"<need> = {_alts(need_verbs)};",
        f"<deliver_verb> = {_alts(deliver)};",
        f"<place_verb> = {_alts(place)};",
        f"<go_verb> = {_alts(go)};",
        f"<tidy_verb> = {_alts(tidy)};",
        f"<dest_prep> = {_alts(DEST_PREPS)};",
        f"<go_prep> = {_alts(GO_PREPS)};",
        f"<closer> = {_alts(CLOSERS)};",
        f"<joiner> = {_alts(JOINERS, JOINER_WEIGHTS)};",
        # no determiner is one choice among them, not the even odds an optional [<det>] gets
        f"<det> = {_alts(DETS, DET_WEIGHTS)[:-1]} | /{NO_DET_WEIGHT}/ <NULL>);" if WEIGHTED
        else f"<det> = [{_alts(DETS)}];",
        # ---- entities, from the world description
        f"<object_name> = {_alts(f for forms in v.objects.values() for f in forms)};",
        f"<place_name> = {_alts([f for forms in v.rooms.values() for f in forms] + furniture)};",
        f"<particle> = {_alts(PARTICLES)};",
        f"<to_user> = {_alts(TO_USER)};",
        # ---- verbs: the planner's own (see the lists above)
        f"<dock> = [go [and]] {_alts(dock_verbs)} [yourself | your battery] | go home | go back home;",
        f"<fixed> = {_alts(FIXED)};",
    ]
    return "\n".join(lines) + "\n"


def grammar_words(jsgf: str) -> set[str]:
    """Every terminal word of a grammar (what the pronunciation dictionary must cover)."""
    body = "\n".join(ln.split("=", 1)[1] for ln in jsgf.splitlines() if "=" in ln)
    body = re.sub(r"<[^>]*>|/[0-9.]+/", " ", body)
    return {t for t in re.split(r"[\s()\[\]|*+;]+", body) if t}


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
