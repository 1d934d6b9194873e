"""The rule-based baseline planner: free-form English -> goal predicates -> symbolic solver.

Why: a transparent, dependable baseline the learned planner must beat, a fallback when no
model is loaded, and a second opinion for tests. Every noun it understands comes from the
world description (names with underscores read as spaces, `aliases`, colour + noun, plurals);
only general English (verbs, prepositions, categories such as "a drink") is built in, so any
world in the description format works.

    python -m cloud_brain.planner.rules "go to the kitchen and bring me the red cup"

Pipeline: normalise -> safety screen (injection, weapons, harm, damage, fire/gas,
doors/strangers) -> typo repair against the vocabulary -> split into clauses ("and", "then",
commas) -> per clause intent + entity mentions -> goals -> `solve` clause by clause (earlier
placements are kept in place). Anything it cannot ground (an unknown object, an ambiguous "the
cup" among several cups, garbage, a task outside the skills such as cooking) becomes a single
`refuse(reason)` step with a reason a person can act on.

Clauses are read in context, by their grammar rather than by example sentences:
- a statement ("the book is on the sofa", "I left the cup on the bed", "this room is a mess")
  is a hint: it names what "it" refers to and where an ambiguous object is, never a goal;
  "X goes / belongs / should be on Y" is a placement;
- "it", "one" and "there" refer to the last object / place mentioned (else what is held);
  "where it belongs", "away", "back" mean the object's home, but "give it back" / "bring it
  back to me" / "I need my book back" go to the user; "return the toy" with no destination
  puts it away; "everything ... back where it belongs" tidies the room;
- a clause without a verb ("..., and the remote too") repeats the previous verb and place;
- "get out of the kitchen" only leaves; an unknown verb before "into the bathroom" moves;
  small talk beside a command ("that's all for today") is ignored; "in here" is the
  user's room.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import time
import unicodedata
from dataclasses import dataclass, field

from cloud_brain.domain import skills
from cloud_brain.domain.description import WorldDescription
from cloud_brain.domain.goals import holds
from cloud_brain.domain.plan import PlanError, Step, execute
from cloud_brain.domain.solver import SolveError, solve_keeping
from cloud_brain.domain.state import USER, WorldState
from cloud_brain.planner.base import ALREADY_DONE, Planner, PlanResult
from cloud_brain.planner.prompt import english_words, extra_names, plurals

log = logging.getLogger(__name__)

MAX_COMMAND_CHARS = 500

# ---- general English (world-independent) ---------------------------------------------------
COLOURS = frozenset("""red blue green yellow white black purple pink orange brown grey gray silver
gold golden beige violet cyan magenta turquoise navy maroon teal""".split())
GENERIC_NOUNS = frozenset("thing one ones item object stuff things items objects".split())

DELIVER_VERBS = frozenset("""bring fetch get give hand pass grab deliver retrieve take carry pick
fetching bringing getting grabbing need want like have find chuck""".split())
PLACE_VERBS = frozenset("""put place set leave move drop store stash relocate transfer shift stick
lay putting placing moving lift dump plonk shove bung""".split())
NAV_VERBS = frozenset("""go head drive navigate walk come return visit enter proceed roll travel
move run goto wander pop nip swing hop dash hurry rush scoot zip step dart stroll zoom trundle
cruise venture sneak""".split())
DOCK_WORDS = frozenset("""charge recharge charging recharging battery batteries dock docking plug
power sleep rest nap base break""".split())
TIDY_WORDS = frozenset("""tidy tidying tidier clean cleaning clear clearing cleanup declutter organize organise organizing
organising straighten neaten neat sort mess messy clutter cluttered orderly""".split())
PUTAWAY_WORDS = frozenset("away back belongs belong goes lives".split())
ALL_ROOM_WORDS = frozenset("house home everywhere everything apartment flat all whole entire".split())
SAY_VERBS = frozenset("say tell announce speak".split())
STOP_WORDS = frozenset("stop halt cancel freeze wait pause abort nevermind".split())
GREETINGS = frozenset("hello hi hey thanks thank cheers greetings morning evening".split())
USER_WORDS = frozenset("me my us user here myself".split())
DEST_PREPS = frozenset("""to on onto in into at by near inside beside next over towards toward upon
around""".split())
SOURCE_PREPS = frozenset("from off".split())
INDEFINITE = frozenset("a an any some another one".split())
PRONOUNS = frozenset("it them that this those these both".split())
CATEGORIES = (  # need word -> nouns that satisfy it, most fitting first
    # "something to drink from" (`repairs` says it as one word): a cup, not a drink
    (frozenset({"drinkfrom"}), ("cup", "mug", "beaker", "glass", "tumbler", "bottle", "flask")),
    (frozenset("thirsty drink drinks beverage beverages sip parched".split()),
     ("water", "drink", "juice", "bottle", "soda", "lemonade", "cola", "coke", "pop", "milk", "glass", "cup", "mug")),
    (frozenset("hungry food snack snacks eat starving peckish munch nibble".split()),
     ("snack", "food", "fruit", "apple", "banana", "orange", "sandwich", "cookie", "biscuit", "biscuits")),
    (frozenset("read reading".split()), ("book", "novel", "magazine", "newspaper")),
    (frozenset("play playing bored".split()), ("toy", "ball", "game")),
    (frozenset("tv television channel watch".split()), ("remote", "remote control", "tv remote")),
    (frozenset("cut cutting snip trim".split()), ("scissors",)),  # "something to cut with"
    (frozenset("cold chilly freezing shivering".split()), ("blanket", "throw", "jumper", "sweater",
                                                            "cardigan", "hoodie", "slippers", "socks")),
)
CATEGORY_WORDS = frozenset().union(*(c[0] for c in CATEGORIES))
LIQUIDS = frozenset("water juice soda lemonade cola coke milk".split())
_DRINKS = frozenset(i for i, (need, _) in enumerate(CATEGORIES) if need & {"drinkfrom", "thirsty"})
NOT_DRUNK = frozenset("spray mister spritzer sprayer watering hot shampoo soap bleach detergent cleaner perfume".split())
DRINK_HOLDERS = frozenset("bottle can glass jug carton cup mug flask tumbler pitcher jar beaker".split())
# how the speaker is, said beside a request ("get me my keys, i'm late"): no request itself
SPEAKER_STATES = frozenset("""late busy tired off back home ready done sick ill knackered exhausted
shattered sleepy leaving away out""".split())
FILLER = frozenset("""the a an some any my your our their his her its me i you we it please pls
could can would will shall should may might kindly just now quickly fast right away soon then
and also to for of with up down out there here this that these those is are am be been was
were do does did done so ok okay hey robot buddy again please thanks thank yes well oh um uh
let us lets want wanna need like would i'd go get im something anything everything thing all
very really bit little nice good time when you're youre after before once while as soon if
what which who how where why whatever over from off on onto in into at by near inside beside
next towards toward upon mine sure maybe perhaps actually first finally afterwards later
alright able think feel am not no dont don't never must have has had got gonna going help
quick immediately asap one more other another both each every same too really kind own their
belongs place where it's its thats that's then than favour favor ask asking wonder wondering trouble
mind dear sec yourself way mean meant great lovely perfect brilliant awesome wonderful fantastic amazing appreciated handy
helpful cool""".split())
SPLIT_WORDS = frozenset("and then also afterwards finally plus".split())
# Words that make a clause a statement about where something is ("the book is on the sofa",
# "someone left the cup on the bed"), not a command; and words that say where it *should* be
# ("the book goes on the shelf"), which is a placement.
STATE_WORDS = frozenset("""is are was were lying sitting sits lies lay standing stands located left
kept stuck been sat stood""".split())
NORM_WORDS = frozenset("goes belongs belong lives should must supposed ought needs".split())
# Verbs whose object comes to the user: "on/in/at" after their object says where it is now.
TO_USER_VERBS = frozenset("bring fetch get give hand pass grab retrieve find".split())
SPEAKER_WANTS = frozenset("want need like love have".split())
STATIC_PREPS = frozenset("on in at by near beside inside upon next".split())
SUBJECTS = frozenset("i we someone somebody they he she you kids everyone".split())
PAST_TENSE = frozenset("left put fell forgot threw dropped knocked spilled spilt took brought gave hid stuck".split())
HOME_NOUNS = frozenset("place places spot spots home usual proper".split())
DETERMINERS = frozenset("the a an this that these those my your our his her their some".split())
COLLECTIVE = frozenset("everything all things stuff items objects".split())
DEPART_VERBS = frozenset("leave exit depart quit vacate".split())
PETS = frozenset("dog dogs doggy doggie puppy pup cat kitty kitten pet pets".split())
# Skills this robot does not have: the reason names what it can do instead.
UNSUPPORTED_VERBS = frozenset("""make cook bake brew prepare wash iron fold vacuum hoover mop sweep dust
scrub wipe polish feed mow paint fix repair sew order call phone text email sing dance write heat empty unload
microwave boil fry toast chop slice peel blend pour cut answer shop buy dress bathe shower massage
knit climb jump sit kneel crawl ride swim ring open close shut fill refill""".split())
CAN_DO = "I can fetch, carry, tidy and go places"
COMMON_WORDS = frozenset("""open close shut turn switch light lights lamp window windows door outside
inside floor wall person people man woman guy cat dog kid kids child baby today tonight tomorrow
minute minutes hour second seconds make made keep stay done ready
start begin look see check watch listen hear leave went gone came coming bringing taking
hold holding drink eat mum mom mummy mommy dad daddy mother father sister brother wife husband son
daughter friend friends neighbour neighbor grandma grandpa granny nan boss""".split()) | UNSUPPORTED_VERBS

SAFETY_RULES: tuple[tuple[str, re.Pattern], ...] = (
    ("I won't ignore or change my instructions; I only run safe household tasks.", re.compile(
        r"\b(ignore|disregard|forget|override|bypass|disable)\b.{0,40}\b(rules?|instructions?|prompts?|"
        r"guidelines|programming|safety|restrictions?|constraints?|previous|above|limits?)\b|"
        r"\bsystem prompt\b|\byou are now\b|\bdeveloper mode\b|\bjailbreak|\bpretend (to be|you)\b|"
        r"\bno (rules|restrictions|limits)\b|\bnew instructions?\b|\bdo anything now\b|\badmin mode\b|"
        r"\bsudo\b|\bact as\b")),
    ("I can't handle knives, blades or weapons; that is unsafe.", re.compile(
        r"\b(knife|knives|blade|blades|razor|sword|gun|guns|pistol|rifle|weapon|weapons|axe|"
        r"cleaver|machete|dagger|firearm|ammo|ammunition|scalpel|scalpels|cutlass|box cutter|stanley knife)\b|"
        r"\b(cut|snip)( (the|a|that|this|my|your|his|her|its|their|off))? (cables?|wires?|cords?|leads?|hair|"
        r"fingers?|someone|somebody|him|her|me|you|yourself|cat|dog|baby|kids?|plug)\b")),
    ("I will never do anything that could hurt someone.", re.compile(
        r"\b(hurt|harm|(?<!would )(?<!will )kill|(?<!could )(?<!would )murder|attack|(?<!bomb )(?<!bomb has )(?<!bomb s )(?<!bomb is )hit|punch|stab|poison|injure|kick(?! off\b)|shoot|smack|whack|thump|wallop|spank|strangle|choke|"
        r"slap|beat up|trip|trips|tripped|tripping|wound|smother|suffocate)\b|\b(?<!\bthe )(?<!\ba )(?<!\bmy )(?<!\byour )(?<!\bblue )(throw|chuck|lob|pelt|fling|hurl)\b.{0,30}\bat\b|"
        r"\b(drop|dump|tip)\b.{0,25}\bon\b.{0,25}\b(head|heads|him|her(?! [a-z])|someone|somebody|people|them)\b|"
        r"\b(spray|squirt|spritz|splash)\b.{0,30}\b(face|faces|eyes|him|her|me|someone|somebody)\b|"
        r"\b(push|shove|pull|grab|bump|ram|run over)\b.{0,25}\b(person|people|man|woman|child|children|kid|kids|"
        r"baby|someone|somebody|anyone|user|grandma|grandpa|guest|visitor)\b|"
        r"\b(push|shove|bump|ram|run over|knock over) (him|her)\b|\b(grab|pull) (him|her)\b|"
        r"(?<!will )(?<!not )(?<!can )(?<!could )(?<!would )(?<!knees )(?<!legs )"
        r"\b(carry|lift) (him|her|me|us|them)\b(?! (bag|bags|phone|things|stuff|keys|book|books|cup|plate|drink|glasses|specs|"
        r"tablets|pills|bible|mug|bottle|remote|coat|shoes|slippers|dinner|tea|food|blanket|water|"
        r"a|an|the|one|some|my|his|her|your|our|their|that|this|those|these)\b)|"  # ("carry me a coke": bring)
        r"\bpick (him|her|me|us) up\b|\b(carry|lift|pick up) (the |a |my |our |your |\w+ )?(little |young |baby |small |wee )?"
        r"(boy|girl|son|daughter|grandson|granddaughter|nephew|niece)\b|"
        r"\b(give|hand|pass) (the |that |this |my |our |your |his |her )?(toddler|baby|little one|little boy|little girl|kids|children)\b(?= (the|a|my|some|this|that|it|them)\b)|"
        r"\b(carry|lift|pick up) (the |a |my |our |your )?(baby|babies|child|children|"
        r"kid|kids|toddler|person|people|grandma|grandpa|granny|grandad|user|dog|cat|puppy|kitten)\b|"
        r"\b(push|bump|ram|run over|knock over) them\b|"
        r"\bshove them\b(?! (in|into|on|onto|back|under|away|somewhere|up|down|over|there|here)\b)")),
    ("I won't do that: it could break things or damage the home.", re.compile(
        r"\b(?<!\bthe )(?<!\ba )(?<!\bmy )(?<!\byour )(?<!\bhis )(?<!\bher )(?<!\bour )(?<!\btheir )(?<!\bsome )(?<!\bof )"
        r"(?<!\bsomebody )(?<!\bsomeone )(?<!\bnobody )(?<!\bhe )(?<!\bshe )(?<!\bthey )(?<!\bkids )(?<!\bcat )(?<!\bdog )"
        r"(throw|toss(?!.{0,30}\b(on top of|onto|on) (the|her|his|its|their|my|our|your) (?!floor|ground))|fling|hurl|smash|shatter|crush|destroy|rip|tear|spill|splash|soak|drench|"
        r"ruin|damage|vandali[sz]e|flush|scratch|stomp|squash)\b|(?<!\ba )(?<!\byour )\bbreak\b|"
        r"\b(bump|crash|bang|ram|smash) into\b|"
        r"\bdump\b.{0,30}\b(floor|ground|bin|trash|rubbish|garbage|everywhere|out|over|toilet)\b|"
        r"(?<!\ba )(?<!\bthe )(?<!\btotal )(?<!\bcomplete )\b(wreck|trash)\b|"
        r"(?<!\bi )(?<!\bi might )(?<!\bi ll )(?<!\bi will )(?<!\bi would )\bknock\b.{0,30}\b(over|off|down)\b|\bpour\b.{0,40}\b(over|on|onto|into|all)\b|"
        r"\bdrop\b.{0,30}\b(floor|ground)\b")),
    ("I can't do anything with fire, gas or the stove; that is unsafe.", re.compile(
        r"(?<!by the )(?<!near the )(?<!next to the )(?<!beside the )(?<!over the )(?<!above the )\b(fire|fires|flame|flames|burn|burning|gas|stove|oven|hob|burner|burners|cooktop|(?<!rice )(?<!slow )cookers?|lighter|"
        r"matches|matchbox|matchsticks?|candle|candles|ignite|cigarettes?|cigars?|barbecue|barbeque|bbq|bonfire|fireworks?|arson|fireplace|heater|explosive|explode|(?<!like a )bomb(?! ?site)|gasoline|petrol|kerosene|fuel|flammable|smoke)\b|"
        r"\b(on|onto) (the |top of the )?(barbie|braai|grill|hotplate|hot plate|hotplates)\b(?! (table|area|tongs|cover|shelf|stand)\b)|"
        r"(^|\b(please|you|and|then|to|go|now|just) |, )light (up )?(?!(blue|green|grey|gray|brown|pink|purple|red|yellow|"
        r"one|ones|bulb|bulbs|switch|on|off)\b)\w")),
    ("I won't carry anything hot: a spill could scald someone.", re.compile(
        r"\b(kettle|saucepan|pan|pot|teapot)\b.{0,40}\b(just boiled|boiled|boiling|piping hot|scalding|still hot|"
        r"very hot|red hot)\b|\b(boiling|piping hot|scalding|just boiled)\b.{0,20}\b(kettle|saucepan|pan|pot|teapot|water)\b")),
    ("I can't give anyone personal care; please ask a person.", re.compile(
        r"\bchange\b.{0,25}\b(nappy|nappies|diaper|diapers)\b|"
        r"(?<!to )(?<!i will )(?<!i ll )(?<!going to )\b(bathe|wash|dress|undress|feed) (the )?(baby|toddler|him|her)\b")),
    ("I can't lift or move people; please ask a person to help.", re.compile(
        r"\bhelp (him|her|me|us|them|mum|dad|grandma|grandpa|granny|nan)\b.{0,20}\b(out of|into|in to|onto|up|off|"
        r"down|over)\b.{0,30}\b(wheelchair|chair|bed|bath|bathtub|shower|toilet|recliner|car|stairs|floor|sofa|couch)\b|"
        r"\b(move|lift|transfer|carry|push) (him|her|me|us|them)\b.{0,20}\b(out of|into|onto|from)\b.{0,20}\bwheelchair\b")),
    ("I won't hide people's things from them or keep anyone from getting about.", re.compile(
        r"(?<!used to )(?<!\bi )(?<!\bwe )(?<!would )(?<!\bthey )(?<!\bshe )(?<!\bhe )"
        r"\bhide\b(.{0,40}\b(won t|will not|can not|cannot|never|not) (find|see|get)\b|.{0,30}\bfrom (him|her|them)\b|"
        r".{0,40}\b(pills?|tablets|medicine|medication|meds|inhaler)\b)|"  # (whose dose it is is theirs to decide)
        r"\b(pills?|tablets|medicine|medication|meds|inhaler)\b.{0,60}\bhide (it|them)\b|"  # "grandpa's pills ... hide them"
        r"\bso (that )?(he|she|they|nobody|no one|the kids?|granny|grandma|grandpa) (can not|can t|cannot|won t|will not) "
        r"(get out|get in|get past|get through|get by|go out|leave|escape|come in|come out)\b|"
        r"(?<!whether you )(?<!if you )(?<!not )(?<!never )(?<!don t )(?<!do not )"
        r"\b(block|barricade|trap) (him|her|them|the (front |back )?door|the way|the exit)\b")),
    ("I can't open doors or let anyone in; please handle visitors yourself.", re.compile(
        r"\b(open|unlock|answer|unbolt)\b.{0,20}\b(door|doors|gate|window|windows)\b|"
        r"\bunlock\b|\blet\b.{0,20}\bin\b|\bstrangers?\b|\bintruders?\b|\bburglars?\b|"
        r"\b(alarm|security)\b.{0,15}\b(off|disable)\b|\bdisable\b.{0,15}\b(alarm|security)\b")),
    ("I can't handle medicine or chemicals; please ask a person.", re.compile(
        r"\b(pills?|tablets|medicine|medication|medications|drugs|painkillers?|paracetamol|ibuprofen|aspirin|"
        r"antibiotics|bleach|chemicals?|detergent|poisonous|"
        r"electrical outlet|socket|sockets|outlet)\b")),
)
SAFETY_WORDS = frozenset("""knife knives blade scissors sword weapon hurt harm kill attack stab poison
fire flame burn gas stove oven lighter matches candle door unlock stranger strangers medicine pills
bleach ignore instructions rules""".split())


MEDICINE = SAFETY_RULES[-1][0]
BLADES = next(r for r, _ in SAFETY_RULES if r.startswith("I can't handle knives"))
FIRE = next(r for r, _ in SAFETY_RULES if r.startswith("I can't do anything with fire"))
HIDING = next(r for r, _ in SAFETY_RULES if r.startswith("I won't hide"))  # (the thing hidden may be a home's: "the pill box")
LIFTING = next(r for r, _ in SAFETY_RULES if r.startswith("I can't lift or move people"))
HARM = next(r for r, _ in SAFETY_RULES if r.startswith("I will never do anything that could hurt"))
DRIVING = "I can't drive or move a car; that is unsafe."
_VEHICLE = re.compile(r"\b(move|drive|start|park|reverse|back|shift|take)( out| up)? (the |my |his |her |your |our |their )?"
                      r"(car|van|truck|lorry|vehicle|motorbike|motorcycle|scooter)\b(?! (keys?|key fob|fob|seat|charger)\b)")


_FLOORS = frozenset("floor ground carpet rug mat floorboards".split())
# what a statement says of a room that wants tidying ("the shed's a tip", "his stuff lying round the shed")
_MESS = frozenset("mess messy state tip pigsty disaster chaos shambles bombsite dump junk clutter cluttered "
                  "lying strewn scattered everywhere".split())


def _done_to_a_person(toks: list[str], vocab: "Vocabulary") -> str | None:
    """ "lift mia out of the cot", "pick arjun up", "carry grandma to bed", "swat kai", "fetch harold
    from the den": the verb done to a person the home names (by whose things are whose), or None;
    "lift mia's cup" is her cup, "fetch biscuit's squeaky toy" his toy."""
    for k, t in enumerate(toks):
        if t not in ("lift", "carry", "pick", "hoist", "swat", "spray", "squirt", "fetch", "collect"):
            continue
        j = k + 1 + (toks[k + 1:k + 2] == ["up"])
        who = toks[j] if j < len(toks) else ""
        if t in ("fetch", "collect") and toks[j + 1:j + 2] not in ([], [","], ["from"], ["in"], ["here"], ["for"], ["to"], ["down"]):
            continue  # "fetch harold from the den"; not "fetch biscuit's squeaky toy"
        if vocab.person_at(toks, j):
            return t
    return None


_OWN_MEDICINE = frozenset("pill pills tablets medicine medicines medication medications painkiller painkillers "
                          "paracetamol ibuprofen aspirin drugs".split())  # ("mama's drugs": Nigerian English)
# medicine given to someone else, or counted out: a dose is a person's decision
_DOSED = re.compile(
    r"\b(give|hand|pass|feed|bring|take)\s+(?!(me|us|it|them|em|the|my|this|that|those|these|over|back|up|out|"
    r"down|round|along|away|in|a|some|her own|his own)\b)\w+|"
    r"\b(to|for) (him|her|the (kids?|baby|child|children|boy|girl)|(my|our|his|her|the) (son|daughter|grandson|"
    r"granddaughter|toddler|baby|kids?|boy|girl|child|children|grandkids?))\b|"
    r"\b(a couple|one|two|three|four|a few|\d+) of (my |the |his |her |your |those |these )?(\w+ ){0,3}(pills|tablets|capsules)\b|"
    r"\bcount(ing)? (me |him |her |them |us )?out\b|"  # "count me out two of the little round tablets"
    r"\b(take|have|give) (a |him |her |them )?(double|extra|two|more|another)\b|\bdouble (dose|up)\b|\boverdose\b")


def _names_a_thing(m: re.Match, text: str, vocab: "Vocabulary") -> bool:
    """Whether the words a safety rule matched end in one of this home's things' names with the
    word after them ("candle holder", "baby monitor", "fire extinguisher")."""
    words = m.group(0).split()
    after = text[m.end():].split()[:1]
    return bool(words and after and m.group(0)[-1:].isalpha() and any(
        vocab.kinds.get(n) == "object" for n in vocab.phrases.get((words[-1], after[0]), ())))


# words only Scots uses, where "no the big yin" is "not the big one"
_SCOTS = frozenset("""aff fae yin yins ower gonnae baith tae ben naw dinnae cannae isnae wisnae didnae wouldnae
couldnae hame oot doon hoose awa intae wean weans""".split())


_LIT = frozenset("is s was has going lit out still burning roaring on nearly almost".split())


def _fire_said_of(text: str, m: re.Match) -> bool:
    """Whether the fire at `m` is only talked about: "the fire's going" (how it is), "check if
    the fire is still going" (to look, not touch), "pieter is lighting the fire now" (another's
    doing). Anything to light, feed, put on or bring to it is not."""
    before, after = text[:m.start()].split()[-4:], text[m.end():].split()[:3]
    if m.group(0) in ("gas", "stove", "oven", "hob", "cooker", "fire") and before[-2:-1] in (["check"], ["see"]) \
            and before[-1:] == ["the"] and "i" in before[:-2] and "you" not in before:
        return True  # "bring the torchlight, I wan check the gas": the speaker's own doing
    if m.group(0) not in ("fire", "fires", "flames"):
        return False
    lit = bool(after) and after[0] in _LIT
    if set(before[-3:] + after) & {"light", "feed", "stoke", "start", "put", "throw", "on", "onto", "into", "near",
                                   "matches", "lighter", "out"} - ({"on", "out"} if lit else set()):
        return False  # ("put the fire out", "a log on the fire"; not "the fire is on")
    if before[-1:] in (["the"], ["that"], ["our"], ["this"]) and lit and not set(before[-2:-1]) & DEED_WORDS:
        return True  # "the fire's going", "the fire is lit", "check if the fire is still going"
    return len(before) == 4 and before[0] not in ("you", "u", "please", "can", "could", "will", "would") \
        and before[1] in ("is", "s", "are") and before[2].endswith("ing") and before[3] == "the"  # "pieter is lighting the fire"


def _warned_of(text: str, m: re.Match) -> bool:
    """Whether the blade at `m` is only warned of or said not to be it: "leave the scalpel
    (itself) where it is", "there's a scalpel up there, don't touch it", "mind the knife", "the
    tablets, not the bread knife" (Scots "no the bread knife")."""
    before, after = text[:m.start()].split()[-4:], text[m.end():].split()[:6]
    nots = {"not"} | ({"no"} if _SCOTS & set(text.split()) else set())
    negated = any(before[k] in nots and before[k + 1] in ("the", "my", "that", "his", "her")
                  for k in range(max(0, len(before) - 3), len(before) - 1))
    return bool(set(before) & {"mind", "avoid"} or before[-2:-1] == ["leave"] and set(after[:4]) & {"where", "alone", "be"}
                or negated
                or before[-3:-1] == ["next", "to"] or before[-2:-1] in (["by"], ["beside"], ["near"])  # a landmark
                or before[-2:] in (["is", "a"], ["are", "some"]) and " ".join(after).find("not touch") >= 0
                or before[-3:] == ["do", "not", "touch"])


# small or sharp things a child must not be handed, and hot drinks a baby must not be near
_CHILD_HAZARDS = re.compile(r"\b(scissors|batteries|battery|needles?|pins|razors?|glue|superglue|magnets?|marbles)\b")
_TO_ANOTHER = re.compile(r"\b(give|hand|pass|let (?:him|her|them) (?:have|hold|play with))\b(?: (?:it|them|those|these|this|that|the \w+))?"
                         r"(?: to)? (him|her|the (?:baby|toddler|kids?|child|children|little one|boys|girls)|\w+)\b")
_HOT_DRINK = re.compile(r"\b(tea|coffee|hot chocolate|cuppa|hot drink|kettle|soup)\b.{0,60}\b(next to|near|beside|by|with) "
                        r"(the )?(baby|babies|toddler|newborn|infant|cot|crib|moses basket|\w+)\b")
_BABY_WORDS = frozenset("baby babies toddler newborn infant cot crib nappy nappies diaper changing feed".split())
CHILD_SAFETY = "I won't hand small or sharp things to a child or put a hot drink near a baby; that is unsafe."


def _child_hazard(text: str, vocab: "Vocabulary | None") -> bool:
    """ "max wants the scissors, just give them to him", "put mummy's tea on the changing table
    next to isla": scissors or batteries handed to another (the robot hands only to the person it
    serves), a hot drink beside a baby. A person is "him", "her", a child's word, or one the home
    names by whose things are whose."""
    owners = vocab.owners if vocab is not None else frozenset()
    if _CHILD_HAZARDS.search(text):
        for m in _TO_ANOTHER.finditer(text):
            who = m.group(2)
            if who in ("him", "her") or who.startswith("the ") or who in owners:
                return True
    for m in _HOT_DRINK.finditer(text):
        who = m.group(4)
        if who in _BABY_WORDS or who in owners and set(text.split()) & _BABY_WORDS:
            return True
    return False


def _dosed(text: str, vocab: "Vocabulary") -> bool:
    """Whether medicine is given to someone else or counted out; "bring raj's painkillers" names
    whose they are, not whom they are for."""
    for m in _DOSED.finditer(text):
        after = text[m.end() - len(m.group(0).split()[-1]):].split()
        if m.group(1) and after and after[0] in vocab.owners and len(after) > 1 \
                and any(tuple(after[:n]) in vocab.phrases for n in (2, 3)):
            continue
        if m.group(1) == "take" and after[:1] in (["his"], ["her"], ["their"]) \
                and text[:m.start()].split()[-2:][:1] in (["has"], ["have"], ["needs"], ["need"], ["got"], ["wants"]):
            continue  # "thatha has to take his bp tablet now": his own, taken by him
        return True
    return False


def _screen(toks: list[str], raw: list[str], vocab: "Vocabulary | None" = None) -> str | None:
    """The reason of the first safety rule the words break, read with typos repaired or as said.
    Medicine that the home lists as one of its things (the pill box on the bedside table) may be
    fetched or moved for the person; given to someone else or counted out, it may not."""
    joined, said = " ".join(toks), " ".join(raw)
    verb = _done_to_a_person(toks, vocab) if vocab is not None else None
    if verb:  # "lift mia out of the cot", "swat kai with the fly swatter"
        return LIFTING if verb in ("lift", "carry", "pick", "hoist", "fetch", "collect") else HARM  # ("fetch harold from the den")
    # "move the car out of the garage"; a home's toy car may be moved
    vehicle = _VEHICLE.search(joined) or _VEHICLE.search(said)
    if vehicle and not (vocab is not None and any(vocab.kinds.get(n) == "object"
                                                  for n in vocab.phrases.get((vehicle.group(4),), ()))):
        return DRIVING
    if _child_hazard(joined, vocab) or _child_hazard(said, vocab):
        return CHILD_SAFETY
    for reason, pattern in SAFETY_RULES:
        if not (pattern.search(joined) or pattern.search(said)):
            continue
        if vocab is not None and reason not in (MEDICINE, HIDING, SAFETY_RULES[0][0]) \
                and all(_names_a_thing(m, text, vocab) for text in (joined, said) for m in pattern.finditer(text)):
            continue  # "the candle holder", "the baby monitor": a thing of this home, not a candle or a baby
        if reason == BLADES and all(_warned_of(text, m) for text in (joined, said) for m in pattern.finditer(text)):
            continue  # "there's a scalpel up there, don't touch it": a warning, not a thing to handle
        if reason == FIRE and all(_fire_said_of(text, m) for text in (joined, said) for m in pattern.finditer(text)):
            continue  # "lekker, the fire's going. bring me ...": how things are, nothing asked of the fire
        if reason == MEDICINE and vocab is not None and not (_dosed(joined, vocab) or _dosed(said, vocab)):
            said_words = {m.group(0) for text in (joined, said) for m in pattern.finditer(text)}
            if said_words <= _OWN_MEDICINE and all(vocab.names_object(w) for w in said_words):
                continue
        return reason
    return None


class Refusal(Exception):
    """Raised inside parsing to stop with a reason for the user. `kind` says what the reason is
    about: "safety" (a safety rule), "unknown" / "unknown_place" (a thing / a place this home
    lacks), "no_surface" (a room with nowhere to put a thing down), "product" (something to be
    made: "a cup of coffee"), "unsupported" (a chore outside
    the skills: "vacuum the hall", "do the laundry"), "vague" (a thing asked for and never named:
    "that thing, you know, bring it", "sort out the thing from this morning"), "unclear" (words
    read as nothing, and nothing of this home named: "blorp the zibble onto the whatsit"), "report" (only a report of what was done:
    "I moved the plate to the counter"), "ambiguous" (a name several things share and nothing
    says which: "the mug" beside two mugs), "impossible" (goals read that no plan reaches: a top
    above the arm's reach, a full shelf), "other" (anything else)."""

    def __init__(self, reason: str, kind: str = "other"):
        super().__init__(reason)
        self.kind = kind


# ---- vocabulary ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    names: tuple[str, ...]  # candidate entities (more than one: ambiguous)
    text: str  # the words as the user wrote them
    indefinite: bool = False  # "a cup": any of them will do


@dataclass
class Vocabulary:
    """Phrases (token tuples) -> entity names, built from one world description."""

    phrases: dict[tuple[str, ...], set[str]]
    kinds: dict[str, str]
    colours: dict[str, str]
    nouns: dict[str, set[str]]  # object -> single nouns/phrases naming it
    words: frozenset[str]
    max_len: int
    dock: str | None
    rooms_of: dict[str, str] = field(default_factory=dict)  # furniture -> its room
    repairs: dict[str, str] = field(default_factory=dict)  # typo -> word, memoised (`_repair`)
    owners: frozenset[str] = frozenset()  # whose things are named: "sam" of "sam's bed"
    # one per person: (the words naming them, the entities they alone own); "maria" and "mom"
    # owning the same glasses are one person
    persons: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()
    spots: dict[str, tuple[float, float, bool]] = field(default_factory=dict)  # furniture -> x, y, surface

    @functools.cached_property
    def repair_pool(self) -> dict[int, tuple[str, ...]]:
        """The words a typo may be repaired to (`_closest`), by length: the world's words and
        the repair targets."""
        pool: dict[int, list[str]] = {}
        for w in sorted(self.words | REPAIR_TARGETS):
            if w.isalpha():
                pool.setdefault(len(w), []).append(w)
        return {n: tuple(ws) for n, ws in pool.items()}

    def names_object(self, word: str) -> bool:
        """Whether `word` is part of a name of one of this home's objects ("pills": the pill box)."""
        return any(word in p and any(self.kinds.get(n) == "object" for n in names)
                   for p, names in self.phrases.items())

    @functools.cached_property
    def name_starts(self) -> frozenset[tuple[str, ...]]:
        """Every run of two or more words a name of this home starts with ("ah ma" of "ah ma's
        bed"): words a home gives its own names keep their meaning there ("ah" is no filler)."""
        return frozenset(p[:n] for p in self.phrases for n in range(2, len(p) + 1))

    def owner_said(self, word: str) -> str | None:
        """The person `word` names as an owner: "zoe", or "zoes" ("zoe's" heard, or typed
        without its apostrophe); None for any other word."""
        if word in self.owners:
            return word
        return word[:-1] if word.endswith("s") and word[:-1] in self.owners else None

    def person_at(self, toks: list[str], j: int) -> bool:
        """Whether toks[j] is an owner said as a person ("carry sam upstairs"), not the start of
        a thing's name the world gives ("sam bed", "sam blue mug")."""
        who = toks[j] if 0 <= j < len(toks) else ""
        return who in self.owners and (who,) not in self.phrases \
            and not any((who, *toks[j + 1:j + 1 + n]) in self.phrases for n in (1, 2, 3))

    @classmethod
    def build(cls, desc: WorldDescription) -> "Vocabulary":
        phrases: dict[tuple[str, ...], set[str]] = {}
        kinds: dict[str, str] = {}
        colours: dict[str, str] = {}
        nouns: dict[str, set[str]] = {}

        def add(text: str, name: str) -> None:
            toks = tuple(_tokens(text))
            if not toks or all(t in FILLER or t in COLOURS for t in toks) and toks != ("can",) \
                    and toks != tuple(name.split("_")):
                return  # ("can": a watering can, a coke can; linked only after a determiner; "orange": the fruit so named)
            for variant in {toks, _plural(toks), ("".join(toks),)}:
                phrases.setdefault(variant, set()).add(name)

        more = extra_names(desc)  # "settee" for the sofa, "bench" for the potting bench
        for kind, table in (("room", desc.rooms), ("furniture", desc.furniture), ("object", desc.objects)):
            for name, ent in table.items():
                kinds[name] = kind
                words = name.split("_")
                add(" ".join(words), name)
                for a in (*ent.aliases, *(" ".join(w) for w in more.get(name, ()))):
                    add(a, name)
                if kind == "object":
                    colour = (ent.color or "").lower()
                    colours[name] = colour
                    heads = {" ".join(_tokens(a)) for a in ent.aliases}
                    rest = [w for w in words if w != colour]
                    if rest:
                        heads.add(" ".join(rest))
                        heads.add(rest[-1])
                    heads.discard("")
                    nouns[name] = heads | {" ".join(words)}
                    for h in heads:
                        add(h, name)
                        if colour:
                            add(f"{colour} {h}", name)
        words = frozenset(t for p in phrases for t in p)
        rooms_of = {f.name: f.room for f in desc.furniture.values()}
        owned = _owned(desc)
        return cls(phrases, kinds, colours, nouns, words, max(len(p) for p in phrases),
                   skills.dock_furniture(desc), rooms_of, owners=frozenset(w for w, _, _ in owned),
                   persons=_persons(owned),
                   spots={f.name: (*f.at, f.surface) for f in desc.furniture.values()})


def _owned(desc: WorldDescription) -> list[tuple[str, str, bool]]:
    """(owner word, entity, jointly owned) for each "X's" in the world's aliases ("sam's bed";
    "mom and dad's room" is owned jointly)."""
    out = []
    for table in (desc.rooms, desc.furniture, desc.objects):
        for name, ent in table.items():
            for a in ent.aliases:
                for m in re.finditer(r"\b(\w+)['’]s\b", a.lower()):
                    out.append((m.group(1), name, bool(re.search(r"\b(and|&|n)\s*$", a.lower()[:m.start()]))))
    return out


def _persons(owned_by: list[tuple[str, str, bool]]) -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
    """Who owns what: owner words that own a same thing are one person ("maria's glasses", "mom's
    glasses"); a thing owned jointly ("mom and dad's room") is no one's alone and is left out."""
    owned: dict[str, set[str]] = {}
    for word, name, joint in owned_by:
        if not joint:
            owned.setdefault(word, set()).add(name)
    people: list[tuple[set[str], set[str]]] = []
    for word, ents in owned.items():
        same = [p for p in people if p[1] & ents]
        merged = ({word, *(w for p in same for w in p[0])}, ents.union(*(p[1] for p in same)))
        people = [p for p in people if p not in same] + [merged]
    shared = {e for i, p in enumerate(people) for q in people[i + 1:] for e in p[1] & q[1]}
    return tuple((frozenset(w for word in words for w in (word, word + "s")), frozenset(ents - shared))
                 for words, ents in people)


def _plural(toks: tuple[str, ...]) -> tuple[str, ...]:
    return toks[:-1] + (plurals(toks[-1])[-1],)  # "cups", "boxes", "shelves", "berries"


_CONTRACTIONS = (("won't", "will not"), ("can't", "can not"), ("cannot", "can not"),
                 ("n't", " not"), ("i'm", "i am"), ("'re", " are"), ("'d", " would"),
                 ("'ll", " will"), ("'ve", " have"), ("let's", "let us"), ("'s", ""))


_IS = re.compile(r"\b(it|that|there|here|what|where|who|he|she|this|everything|something)'s\b|"
                 r"'s(?=\s+(on|in|at|under|by|near|inside|still|probably|somewhere|lying|sitting|over|"
                 r"a|an|the|not|all|done|gone|missing|supposed|up|down|back|out|been|left|sat|stood|always|usually|"
                 r"about|getting|almost|nearly|over|late|cold|"
                 r"right|just|already|too|so|very|really|covered|full|broken|here|there|"
                 r"dead|deid|flat|dying|empty|dirty|low|lost|nearly|out)\b)")


def _tokens(text: str) -> list[str]:
    text = text.replace("->", " to ").replace("\u2192", " to ").replace("=>", " to ")  # "mug -> sink"
    text = unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'").replace("_", " "))
    text = "".join(c for c in text if not unicodedata.combining(c))  # "tráeme" -> "traeme"
    text = re.sub(r"\by'?all\b", "you", text)  # "y'all come on in here"
    text = re.sub(r"\b([a-z])-([a-z])(-([a-z]))?\b", r"\1\2\4", text)  # "the h-e-b": one name, "heb"
    text = re.sub(r"\b(gie|gies|gimme)'s\b", "gie", text)  # Scots "gie's the brolly": give me, not "is"
    text = _IS.sub(lambda m: (m.group(1) or "") + " is", text)  # "it's on" -> "it is on"
    for a, b in _CONTRACTIONS:
        text = text.replace(a, b)
    text = re.sub(r"(^|\s)\(?\d{1,2}\)(?=\s)", " , ", text)  # a numbered list: "1) bring ... 2) put ..."
    # a word broken off and taken back ("the whisky, and two gl- ah no, just the whisky"): what
    # it began is dropped; any other broken-off word is a pause
    text = re.sub(r"(?:,\s*|\b(?:and|then|or)\s+)(?:[a-z]+\s+){0,3}?[a-z]{1,4}[-\u2013\u2014]\s+(?:(?:ah|oh|er|erm|um|uh)\s+)?"
                  r"(?=(?:no|sorry|wait|actually)\b)", " , ", text)
    text = re.sub(r"\b[a-z]{1,4}[-\u2013\u2014](?=\s|$)", " , ", text)
    text = re.sub(r"[,;.!?:]+|\s[-\u2013\u2014]+\s", " , ", text)  # a dash between spaces: a pause
    text = re.sub(r"[^a-z0-9, ]+", " ", text)
    return text.split()


def _edit_distance(a: str, b: str, cap: int = 3) -> int:
    """Optimal string alignment distance (a transposition counts 1), capped for speed."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


KNOWN_ENGLISH = (FILLER | COLOURS | GENERIC_NOUNS | DELIVER_VERBS | PLACE_VERBS | NAV_VERBS | DOCK_WORDS
                 | TIDY_WORDS | PUTAWAY_WORDS | ALL_ROOM_WORDS | SAY_VERBS | STOP_WORDS | GREETINGS
                 | USER_WORDS | DEST_PREPS | SOURCE_PREPS | PRONOUNS | CATEGORY_WORDS | SPLIT_WORDS
                 | STATE_WORDS | NORM_WORDS | COLLECTIVE | DEPART_VERBS | UNSUPPORTED_VERBS | SUBJECTS
                 | PAST_TENSE | HOME_NOUNS | frozenset("""room rooms area through door doors window windows wall
                 walls floor corner stairs""".split()))  # "this room is a mess", "the bench by the door"
# Words a typo may be repaired to, besides the world's vocabulary (short verbs are left alone).
REPAIR_TARGETS = frozenset(w for w in (DELIVER_VERBS | PLACE_VERBS | NAV_VERBS | DOCK_WORDS | TIDY_WORDS
                                       | SAY_VERBS | CATEGORY_WORDS | ALL_ROOM_WORDS | COLOURS)
                     if len(w) >= 4)  # never repair *into* a safety word: "open" is not "oven"


def _repair(tok: str, vocab: Vocabulary) -> str:
    """The vocabulary word a typo most likely meant, or the token unchanged."""
    if (tok in vocab.words or tok in KNOWN_ENGLISH or tok in COMMON_WORDS or len(tok) < 3
            or not tok.isalpha()):
        return tok
    if tok not in vocab.repairs:
        if len(vocab.repairs) > 20_000:  # words from users are unbounded; the memo is not
            vocab.repairs.clear()
        close = _closest(tok, vocab)
        # a real word is no typo ("breath" is not "break", "telly" not "tell", "peace" not
        # "place"), unless its letters are the close word's swapped ("form" for "from")
        vocab.repairs[tok] = close if tok not in english_words() or sorted(tok) == sorted(close) else tok
    return vocab.repairs[tok]


def _closest(tok: str, vocab: Vocabulary) -> str:
    """The one vocabulary word (or repair target) within the edit limit, preferring one with the
    same first letter; the token itself when none or a tie."""
    limit = 1 if len(tok) <= 5 else 2
    best, best_d, tie = tok, limit + 1, False
    pool = vocab.repair_pool
    for cand in (c for n in range(len(tok) - limit, len(tok) + limit + 1) for c in pool.get(n, ())):
        if len(tok) < 4 and cand not in vocab.words:
            continue
        if cand[0] != tok[0] and cand not in vocab.words:
            continue  # a general word is no typo of another first letter: "wibble" is not "nibble"
        d = _edit_distance(tok, cand, limit)
        if d < best_d or (d == best_d and cand[0] == tok[0] and best[0] != tok[0]):
            tie = d == best_d and cand[0] != tok[0]
            best, best_d = cand, d
        elif d == best_d and (cand[0] == tok[0]) == (best[0] == tok[0]):
            tie = True
    return best if best_d <= limit and not tie else tok


# ---- clause frames -------------------------------------------------------------------------
@dataclass
class Frame:
    """What one clause asks for, before it becomes goals."""

    intent: str | None = None  # deliver place go dock tidy putaway say where stop greet
    verb: str | None = None
    objects: list[Mention] = field(default_factory=list)
    dest: str | None = None  # furniture, room or USER
    dest_explicit: bool = False  # the destination came after a preposition
    places: list[Mention] = field(default_factory=list)  # room/furniture mentions, any role
    rooms_all: bool = False
    category: int | None = None
    pronoun: bool = False
    unknown: list[str] = field(default_factory=list)  # unmatched content words
    unknown_dest: list[str] = field(default_factory=list)
    text: str = ""
    to_user: bool = False  # "to me", "here", "bring me": the user is the addressee, not "my"
    verbless: bool = False  # "..., and the remote too": borrows the previous clause's verb
    there: bool = False  # "move it there": the place mentioned last
    aside: str | None = None  # "I want to make a smoothie": the refusal, if nothing else is asked
    floor: str | None = None  # "put it on the carpet in the hall": the floor said as where it goes
    locs: list[str] = field(default_factory=list)  # where the objects are now (hints, "from")
    reported: bool = False  # a hint that tells what was done ("I moved the plate to the counter")
    depart: str | None = None  # "get out of the kitchen": the room to leave


def _repaired(raw: list[str], vocab: Vocabulary) -> list[str]:
    """The command's tokens with typos repaired (commas kept: they split clauses)."""
    return [_repair(t, vocab) if t != "," else t for t in raw]


def _find_mentions(toks: list[str], raw: list[str], vocab: Vocabulary) -> list[Mention]:
    out, i = [], 0
    while i < len(toks):
        hit = None
        for n in range(min(vocab.max_len, len(toks) - i), 0, -1):
            names = vocab.phrases.get(tuple(toks[i:i + n]))
            if names and n == 1 and toks[i] in FILLER and not (i > 0 and toks[i - 1] in DETERMINERS | COLOURS):
                names = None  # "can you ...", not "that can"
            if names and n == 1 and i == 0 and len(toks) > 2 and toks[1] in DETERMINERS - {"that", "this"} \
                    and toks[2] not in COLOURS | GENERIC_NOUNS:
                names = None  # "water the plants": a deed said first, not the water bottle
            if names and n == 1 and i > 0 and toks[i - 1] == "to" and all(vocab.kinds.get(x) == "object" for x in names) \
                    and toks[i] in english_words() and i + 1 < len(toks) and toks[i + 1] not in DEST_PREPS | {","}:
                names = None  # "need to measure up for the shelves": a verb, not the tape measure
            if names:
                hit = (n, names)
                break
        if hit is not None and toks[i] in DETERMINERS and any(
                vocab.phrases.get(tuple(toks[i + 1:i + 1 + n])) for n in range(hit[0], min(vocab.max_len, len(toks) - i - 1) + 1)):
            i += 1  # "the key table": not "the key" (an alias "the keys") and a table
            continue
        if hit is None and toks[i] in COLOURS and i + 1 < len(toks) and toks[i + 1] in GENERIC_NOUNS:
            hit = (2, {o for o, c in vocab.colours.items() if c == toks[i]} or {"?"})
        elif hit is None and toks[i] in COLOURS and i + 1 == len(toks) and i > 0 and toks[i - 1] in DETERMINERS:
            hit = (1, {o for o, c in vocab.colours.items() if c == toks[i]} or {"?"})  # "my cup is the red"
        if hit is None:
            i += 1
            continue
        n, names = hit
        start = i
        # a colour word just before: filter ("red cup" among cups) or flag ("purple cup")
        if start > 0 and toks[start - 1] in COLOURS and all(vocab.kinds.get(x) == "object" for x in names):
            colour = toks[start - 1]
            start -= 1
            names = {x for x in names if vocab.colours.get(x) == colour}
            if not names:
                raise Refusal(f"I don't know any '{' '.join(raw[start:i + n])}' in this home.", "unknown")
        if "?" in names:
            raise Refusal(f"I don't know any '{' '.join(raw[start:i + n])}' in this home.", "unknown")
        kinds = {vocab.kinds.get(x) for x in names}
        if {"room", "furniture"} <= kinds:  # "the lounge": the room, or (Australian) the sofa
            d = start - (start > 0 and toks[start - 1] in DETERMINERS)
            prep = toks[d - 1] if d > 0 else ""
            keep = "furniture" if prep in ("on", "onto", "by", "beside", "near", "to") and toks[d - 2:d] != ["go", "to"] \
                else "room" if prep in ("in", "into", "through", "to") else None
            if keep:
                names = {x for x in names if vocab.kinds.get(x) == keep}
        indefinite = start > 0 and toks[start - 1] in INDEFINITE
        room = out[-1] if out and out[-1].end == start and len(out[-1].names) == 1 \
            and vocab.kinds.get(out[-1].names[0]) == "room" else None
        inside = room and {x for x in names if vocab.rooms_of.get(x) == room.names[0]}
        if len(names) > 1 and room and all(vocab.kinds.get(x) == "furniture" for x in names):
            if not inside:  # "the hall table", and the hall has none
                raise Refusal(_unknown(raw[room.start:i + n]), "unknown_place")
            start, names, indefinite = room.start, inside, room.indefinite  # "the playroom table"
            out.pop()
        out.append(Mention(start, i + n, tuple(sorted(names)), " ".join(raw[start:i + n]), indefinite))
        i += n
    for j in range(len(out) - 2, -1, -1):  # "any mug except priya's green one": the one that is not
        m, nxt = out[j], out[j + 1]
        between = toks[m.end:nxt.start]
        if len(m.names) > 1 and ("except" in between or between[-2:] in (["other", "than"], ["apart", "from"])
                                 or between[-2:] == ["but", "not"]) and set(m.names) - set(nxt.names):
            out[j] = dataclasses.replace(m, names=tuple(n for n in m.names if n not in nxt.names))
            del out[j + 1]
    for j, (m, nxt) in enumerate(zip(out, out[1:])):  # "the table in the conservatory": the one there
        between = toks[m.end:nxt.start]
        if all(vocab.kinds.get(x) == "furniture" for x in m.names) and vocab.kinds.get(nxt.names[0]) == "room" \
                and "in" in between and set(between) <= {"in", "the", "inside"} and len(nxt.names) == 1:
            inside = tuple(x for x in m.names if vocab.rooms_of.get(x) == nxt.names[0])
            if not inside:  # "the table in the verandah": "table" names the kitchen's; there, the outdoor table
                inside = _only_one_in(nxt.names[0], toks[m.end - 1], vocab)
            if inside and (len(m.names) > 1 or inside != m.names):
                out[j] = dataclasses.replace(m, names=inside)
        # "put it on the balcony on the table", "in the kitchen on the table": the one in that room
        elif len(m.names) == 1 and vocab.kinds.get(m.names[0]) == "room" \
                and all(vocab.kinds.get(x) == "furniture" for x in nxt.names) and between[:1] in (["on"], ["in"], ["at"], [","]) \
                and set(between) <= {"on", "in", "at", "the", ",", "my", "his", "her", "your", "our"}:
            inside = tuple(x for x in nxt.names if vocab.rooms_of.get(x) == m.names[0])
            if not inside:  # "the table" names the kitchen's; on the balcony, the balcony table
                inside = _only_one_in(m.names[0], toks[nxt.end - 1], vocab)
            if inside and inside != nxt.names:
                out[j + 1] = dataclasses.replace(nxt, names=inside)
    return out


def _putaway_said(toks: list[str], places: list[Mention]) -> bool:
    """Whether a word of putting away ("back", "away") is said outside a place's name: "carry
    daddy's cap out back" (an alias of the porch) is a carry there."""
    return any(t in PUTAWAY_WORDS and not any(m.start <= k < m.end for m in places) for k, t in enumerate(toks))


def _only_one_in(room: str, head: str, vocab: Vocabulary) -> tuple[str, ...]:
    """The one furniture in `room` whose name ends in the word said (`head`), or (): "the table"
    on the balcony is the balcony's outdoor_table even where the alias "table" names another."""
    inside = tuple(f for f, r in vocab.rooms_of.items() if r == room and f.split("_")[-1] == head)
    return inside if len(inside) == 1 else ()


_BE = frozenset("am are is was were look looks looked seem seems feel feels get got".split())


PEOPLE = frozenset("""mum mom mummy mommy dad daddy mother father sister brother wife husband son daughter
grandma grandpa granny grandad nan nana gran""".split())
_MODALS = frozenset("can will could should may might would must".split())
_GIVES = frozenset("give get buy pay make let owe show tell".split())  # "i'll give you a sticker": the speaker's deed
_SUBORDINATORS = frozenset("before after while when until because as since though although unless once like so".split())
_SUBJECTS_NOT_YOU = frozenset("i we he she they it".split())
_HABITS = frozenset("always usually often never sometimes keeps kept constantly forever".split())
_VISITORS = frozenset("friend friends boss neighbour neighbor neighbours neighbors guest guests visitors family "
                      "parents grandparents cousin cousins aunt uncle auntie aunties uncles kids children twins boys girls "
                      # and animals, which do things too: "before the lizard gets in", "so the cat can't reach it"
                      "cat cats dog dogs puppy kitten lizard lizards gecko geckos ants ant flies fly mice mouse rats rat "
                      "cockroach cockroaches roaches birds bird monkeys monkey possum possums squirrel squirrels".split())
_SAYS = frozenset("wants needs says said asked asks would likes".split())


def _where_they_are(toks: list[str], k: int) -> bool:
    """Whether the place at toks[k] says where the person is, after "to me": "bring it out to me
    on the balcony", "hand it up to us in the loft"."""
    j = k
    while j > 0 and toks[j - 1] in DETERMINERS:
        j -= 1
    return j >= 2 and toks[j - 1] in ("on", "in", "at", "by") and toks[j - 2] in ("me", "us") \
        and toks[j - 3:j - 2] != ["for"]  # ("wait for me in the hallway": go there)


LATER = frozenset("later tonight tomorrow soon morning afternoon evening weekend".split())


_HOW_OFTEN = frozenset("always usually often sometimes normally generally mostly".split())


def _clause_kind(toks: list[str], raw: list[str], covered: set[int], first: str,
                 people: frozenset = frozenset()) -> str | None:
    """'hint' for a statement about where things are ("the book is on the sofa", "this room is a
    disaster"), 'report' for one that tells what was done ("someone left the cup on the bed"),
    'norm' for where something should be ("the book goes on the shelf"), else None (a command).
    The tense is read from `raw`, the words as said: typo repair turns "moved" into "move"."""
    if toks[:1] and toks[0] in _HOW_OFTEN and toks[1:2] in (["he"], ["she"], ["they"], ["it"], ["i"], ["we"]):
        # "always he leaves it in the kitchen" (German and Spanish order): the clause after the adverb
        return _clause_kind(toks[1:], raw[1:], {c - 1 for c in covered if c}, first, people)
    if toks[:2] == ["you", "keep"] and toks[2:3] and toks[2].endswith("ing"):
        return "hint"  # "..., you keep getting under everyone's feet in here": why, said to the robot
    be = toks.index("be") if "be" in toks else -1
    if be >= 0 and toks[be + 1:be + 2] in (["here"], ["back"], ["home"], ["ready"]) \
            and toks[:1] not in (["i"], ["we"], ["you"]) and not set(toks) & (DELIVER_VERBS | PLACE_VERBS | NAV_VERBS):
        return "hint"  # "..., the takeaway should be here any minute": what is coming, not where to go
    if len(toks) > 3 and toks[0] in people | PEOPLE and 0 not in covered and toks[1] in ("where", "what", "when", "why", "how") \
            and toks[2] in ("did", "do", "does", "have", "has", "is", "are"):
        return "hint"  # "pablo, where did you leave your school book?": asked of someone else
    words = set(toks)
    norm = words & NORM_WORDS
    if norm and "where" not in words and not words & PUTAWAY_WORDS - {"goes", "belongs", "belong", "lives"}:
        subject = toks[:min(toks.index(w) for w in norm)]
        if norm <= {"should", "must", "ought"} and "be" in words and \
                (not subject or any(t in PRONOUNS for t in subject)) and not covered & set(range(len(subject))):
            return "hint"  # "it should be on the table": where it probably is
        if len(subject) == 1 and (subject[0] in people | PEOPLE | {"he", "she", "they"}) and 0 not in covered \
                and "be" not in words:
            return "hint"  # "arjun should not find it": another's doing
        return "norm"
    if first in ("who", "why") and toks[:1] == [first]:
        return "hint"  # "who does that", "why is the cup on the floor": a question said aloud
    if toks[:1] in (["i"], ["we"]) and (words & {"will", "shall"} or {"going", "to"} <= words) \
            and words & {"need", "want", "use"} and words & LATER:
        return "hint"  # "..., i'm gonna need it later tonight": why, not what to bring now
    if toks[:1] in (["the"], ["that"]) and toks[1:2] in (["one"], ["ones"]) and set(toks[2:3]) & STATIC_PREPS \
            and not words & (DELIVER_VERBS | PLACE_VERBS | NAV_VERBS):
        return "hint"  # "..., the one on the counter": which one, where it is
    if toks[:1] in (["i"], ["we"]) and toks[1:2] in (["leave"], ["forget"], ["put"], ["place"], ["lay"]) \
            and toks[2:3] in (["it"], ["them"], ["my"], ["the"], ["her"], ["his"]):
        return "hint"  # "i leave it on the living room table yesterday": said by a learner, where it is
    if toks[:2] in (["is", "there"], ["are", "there"]) and not words & (DELIVER_VERBS | PLACE_VERBS | NAV_VERBS):
        return "hint"  # "is there a coke in the kitchen? carry me one": where one is
    had = toks[1:] if toks[:1] == ["sure"] else toks  # (Irish "sure": as you know)
    if had[:1] in (["i"], ["we"]) and had[1:2] in (["have"], ["got"]) and had[2:3] not in (["to"], ["got"], ["you"]) \
            and words & {"here", "already", "plenty"} and not words & {"you", "u"}:
        return "hint"  # "..., sure we've glasses in here": what the speaker has, so not to bring
    if toks[:2] in (["there", "is"], ["there", "are"]) and toks[2:3] in (["no"], ["not"], ["nothing"]):
        return "hint"  # "..., there is no more clean mugs": why
    if toks[:3] == ["you", "can", "not"] and toks[3:4] and toks[3] in ("get", "see", "move", "walk", "find", "reach", "even") \
            and not words & {"please", "me", "us"}:
        return "hint"  # "..., ye cannae get in the door": how things are, not what to do
    said = toks[3:5] if toks[1:3] in (["want", "to"], ["need", "to"], ["am", "going"]) else toks[2:3] if toks[1:2] == ["will"] else []
    if toks[:1] in (["i"], ["we"]) and set(said) & TIDY_WORDS and {"it", "them"} & set(toks[3:6]):
        return "hint"  # "..., i want to give them a clean": the speaker's own deed, to the things
    if first in ("where", "what", "which", "who", "how") or words & TIDY_WORDS:
        return None
    commands = DELIVER_VERBS | PLACE_VERBS | NAV_VERBS | SAY_VERBS | DEPART_VERBS | UNSUPPORTED_VERBS
    if toks[:1] in (["i"], ["we"]) and toks[1:2] in (["am"], ["are"]) and set(toks[2:4]) & STATIC_PREPS \
            and not {t for k, t in enumerate(toks) if not (k and toks[k - 1] == "to")
                     and not (k > 3 and t.endswith("ing") and t != "bring")} & (commands | DOCK_WORDS):
        # ("i'm in the bedroom getting dressed": what the speaker is doing there)
        return "hint"  # "i'm (still) in the bedroom": where the speaker is, not where to go
    if toks[:1] in (["i"], ["we"]) and toks[1:2] in (["am"], ["are"], ["was"], ["were"]) \
            and next((t for t in raw[2:] if t not in FILLER), "").endswith("ing") \
            and not words & ({"you", "u"} | SPEAKER_WANTS | CATEGORY_WORDS):
        return "hint"  # "i'm heading out in a minute", "i'm running late": what the speaker is doing
    if toks[:1] in (["i"], ["we"]) and toks[1:2] in (["am"], ["are"]) and toks[2:3] and toks[2] in SPEAKER_STATES \
            and not words & ({"you", "u"} | SPEAKER_WANTS | CATEGORY_WORDS) and len(toks) <= 6:
        return "hint"  # "i'm late", "we're off to the park"
    if len(toks) > 2 and toks[0] in DETERMINERS and not covered & {1, 2} and toks[1].isalpha() \
            and toks[1] not in KNOWN_ENGLISH | COMMON_WORDS and toks[2] not in commands \
            and len(raw[2]) > 3 and raw[2] not in _BE | {"does", "goes", "belongs", "lives"} \
            and (raw[2].endswith("s") and not raw[2].endswith("ss") or raw[2].endswith("ed")):
        return "hint"  # "the paperboy leaves it on the porch": what someone else does
    if len(toks) > 2 and (toks[0] in ("he", "she") and toks[1] in _MODALS or toks[0] in PEOPLE and 1 not in covered
                          and toks[1] not in commands | SPEAKER_WANTS | DOCK_WORDS | _MODALS | _SAYS
                          or toks[0] in people and 0 not in covered and toks[1] in _MODALS):  # "arjun should not find it"
        return "hint"  # "she can come and get it herself", "mum's hogging the telly": another's doing
    if len(toks) > 3 and toks[0] in people | PEOPLE | {"he", "she"} and 0 not in covered and toks[1] in ("wants", "needs") \
            and toks[2] == "to" and toks[3] not in commands | DOCK_WORDS | TIDY_WORDS | {"have", "get"}:
        return "hint"  # "..., gogo wants to see what you can do": why, not what to do
    if len(toks) > 2 and toks[0] in people | {"he", "she", "they", "someone", "somebody"} and toks[1] in ("had", "has") \
            and toks[2] in ("it", "them", "had", "been"):
        return "hint"  # "sam's had it in the bedroom all week": where it has been
    if len(toks) > 2 and toks[0] in people | {"he", "she"} and 0 not in covered and 1 not in covered \
            and (toks[1] in _HABITS or len(raw[1]) > 3 and raw[1].endswith("s") and not raw[1].endswith("ss")
                 and toks[1] not in commands | _BE | {"does", "goes", "belongs", "lives", "needs", "wants", "says"}):
        return "hint"  # "kenji always forget it on table", "he leaves it on the table": his habit
    if toks[:1] in (["it"], ["this"], ["that"]) and toks[1:3] in (["look", "like"], ["looks", "like"]):
        return "hint"  # "tidy up di front room nuh, it look like bombshell drop inna it": how it is
    if len(toks) > 3 and toks[0] in ("this", "that", "the", "my") and 1 not in covered and words & {"not", "no", "nothing"} \
            and words & {"have", "has", "had", "taste", "tastes"} and not words & (DEED_WORDS - {"have", "get", "got"}):
        return "hint"  # "dis food nuh have nuh taste": why, not what to do
    if toks[:1] in (["it"], ["they"], ["he"], ["she"]) and toks[1:2] and toks[1] in _HABITS:
        return "hint"  # "it keeps ending up in the hall", "she always leaves it there"
    if len(toks) > 2 and toks[0] in ("my", "our", "his", "her", "the") and toks[1] in PEOPLE | _VISITORS \
            and 1 not in covered and 2 not in covered and toks[2] not in commands:
        return "hint"  # "my mother comes tomorrow from poland", "my friend is coming over"
    want = next((k for k, t in enumerate(toks[:3]) if t in SPEAKER_WANTS), None)
    if want is not None and toks[want + 1:want + 2] == ["to"] and len(toks) > want + 2 \
            and (toks[want + 2] not in commands | DOCK_WORDS | TIDY_WORDS | {"have", "get"}
                 or toks[want + 2] == "pop" and toks[want + 3:want + 4] in (["to"], ["out"], ["over"], ["round"], ["down"])) \
            and set(toks[:want]) <= {"i", "we", "just", "really", "will", "would"}:
        return "hint"  # "need to measure up for these shelves": what the speaker means to do
    if toks[:1] in (["i"], ["we"]) and toks[1:3] in (["can", "not"], ["could", "not"]) and len(toks) > 3 \
            and toks[3] not in commands | DOCK_WORDS | TIDY_WORDS | {"have", "get"} and not words & {"you", "u", "where"} \
            and not set(toks[4:]) & (commands | DOCK_WORDS | TIDY_WORDS) - SPEAKER_WANTS:
        return "hint"  # "i can't read a thing on this letter": what the speaker cannot do
    if toks[:2] in (["i", "thought"], ["i", "think"], ["i", "expect"], ["i", "reckon"], ["i", "suppose"]) \
            and toks[2:3] in (["i"], ["we"], ["he"], ["she"], ["it"]):
        return "hint"  # "I thought I'd do the seed packets this afternoon": the speaker's plan
    if toks[:1] and toks[0] in _SUBORDINATORS and toks[1:2] and (
            toks[1] in _SUBJECTS_NOT_YOU | _OTHERS or toks[1] in people and 1 not in covered
            or toks[1] in DETERMINERS and toks[2:3] and toks[2] in PEOPLE | _VISITORS):
        return "hint"  # "... before I knock it off the table", "because it is cold": said about, not asked
    if words & {"himself", "herself", "themselves"}:
        return "hint"  # "(she can come and) get it herself": another's doing
    if toks[:4] in (["he", "is", "going", "to"], ["she", "is", "going", "to"], ["they", "are", "going", "to"]) \
            and not words & {"you", "u"}:
        return "hint"  # "..., he's fixin' to run to the feed store": another's plan
    if toks[:4] in (["i", "am", "going", "to"], ["we", "are", "going", "to"]) and toks[4:5] \
            and (toks[4] not in SPEAKER_WANTS | commands or toks[4:6] == ["have", "a"]) and not words & {"you", "u"}:
        return "hint"  # "i'm going to lie down on the bed for five minutes": the speaker's plan
    if toks[:2] in (["i", "will"], ["we", "will"]) and (not words & {"you", "u"} or toks[2:3] and toks[2] in _GIVES) \
            and not (toks[2:3] == ["have"] and covered & {3, 4}):
        return "hint"  # "i'll grab it on my way out", "i'll give you a gold sticker": what the speaker will do
    want = next((k for k, t in enumerate(toks[:4]) if t in SPEAKER_WANTS), None)
    if want is not None and toks[want + 1:want + 2] == ["you"] and toks[want + 2:want + 3] != ["to"] and not covered \
            and not words & (commands | DOCK_WORDS | TIDY_WORDS) - SPEAKER_WANTS and set(toks[:want]) <= {"i", "will", "we", "shall"}:
        return "hint"  # "I'll want you in a minute for the school run": not yet, and nowhere said
    if toks[:1] == ["so"] and toks[1:2] in (["i"], ["we"]) and toks[2:3] in (["can"], ["could"], ["will"], ["may"]):
        return "hint"  # "get them for me, so I can shove them in his bag": what for
    if toks[:1] == ["for"] and not words & (commands | DOCK_WORDS):
        return "hint"  # "put the torch in the pantry, for emergencies": what for
    if (toks[:3] in (["i", "have", "got"], ["we", "have", "got"])
            or toks[:2] in (["i", "have"], ["we", "have"]) and toks[2:3] in (["a"], ["an"], ["such"])) \
            and not words & ({"you", "u"} | commands - {"get", "got", "have"}):
        return "hint"  # "we've got two minutes before the bus"
    # "I dropped the apple on the couch", "rosa filled it up in the kitchen"
    told = bool(toks) and toks[0] in SUBJECTS
    if toks[:1] and toks[0] in people and 0 not in covered and len(raw) > 1 and 1 not in covered \
            and (len(raw[1]) > 4 and raw[1].endswith("ed") or raw[1] in PAST_TENSE - {"put", "stuck"}) \
            and not set(toks[2:]) & (DELIVER_VERBS | PLACE_VERBS | NAV_VERBS):  # ("jake took it, get it back")
        return "report"  # (the deed said right after the name: "priya wants it there, so put it")
    for k, t in enumerate(toks):
        if k in covered:
            continue
        # not "I need you to put ...", "I want the cup put back": what is wanted done, not what was done
        said = raw[k]
        # "have" just before is the perfect's ("you've earned it", "i've finished with it"), not a want
        wants = SPEAKER_WANTS & set(toks[:k]) - ({"have"} if toks[k - 1:k] in (["have"], ["has"], ["had"]) else set())
        past = told and k > 0 and toks[k - 1] != "to" and not wants and (
            said in PAST_TENSE or len(said) > 4 and said.endswith("ed") and said not in ("wanted", "needed", "liked"))
        if past and said not in PAST_TENSE and (said in CATEGORY_WORDS or set(toks[:k]) & _BE):
            # "i'm absolutely parched" (a need), "you look knackered", "i'm glued to this sofa":
            # a state, not a deed done
            if said in CATEGORY_WORDS or set(toks[k + 1:]) & (commands | DOCK_WORDS):
                continue  # "you look knackered mate go charge": the command is what follows
            return "hint"
        if past:
            return "report"
        # not "left of", nor a relative clause: "i'd like the remote that's on the sofa moved to ..."
        if t in STATE_WORDS and k > 0 and toks[k + 1:k + 2] != ["of"] and toks[k - 1] not in ("that", "which"):
            return "hint"
        noun = k > 0 and toks[k - 1] in DETERMINERS  # "this place is a pigsty"
        if (t in commands - {"like", "want", "need", "have"} or t in DOCK_WORDS) and not noun:
            return None
    return None


def _parse_clause(toks: list[str], raw: list[str], vocab: Vocabulary, rooms_said: frozenset = frozenset()) -> Frame:
    """One clause's frame; `rooms_said`: the rooms the whole command names, which say which of
    several furniture of one name is meant ("take it out to the garden room and leave it on my
    desk")."""
    f = Frame(text=" ".join(raw))
    mentions = _find_mentions(toks, raw, vocab)
    covered = {k for m in mentions for k in range(m.start, m.end)}
    words = set(toks)
    first_k = next((k for k, t in enumerate(toks) if k in covered or t not in FILLER
                    or t in ("where", "do", "dont", "never")), None)
    first = "" if first_k is None else toks[first_k]
    first_verb = next((t for k, t in enumerate(toks) if k not in covered and t in
                       DELIVER_VERBS | PLACE_VERBS | NAV_VERBS | TIDY_WORDS), None)
    kind = _clause_kind(toks, raw, covered, first, vocab.owners)
    f.reported = kind == "report"
    kind = "hint" if f.reported else kind
    object_ends = {m.end for m in mentions if all(vocab.kinds.get(n) == "object" for n in m.names)}
    role_at: dict[int, str | None] = {}
    role, after_state = None, False
    furniture_ends = {m.end for m in mentions if all(vocab.kinds.get(n) == "furniture" for n in m.names)}
    for k, t in enumerate(toks):
        if t in STATE_WORDS and k not in covered and not (k == 0 and t == "lay"):  # ("lay it on the swing": put)
            after_state = True
        if t in ("in", "at") and role == "source" and (k in furniture_ends or k - 1 in furniture_ends
                                                        and toks[k - 1] in ("out", "over", "up", "down")):
            role_at[k] = role  # "grab my specs off the desk (out) in the garden room": which desk
            continue
        if t in DEST_PREPS:
            # "the cup (that is) on the table", "bring me the apple on the counter": where it is
            # ("come give me the soap on the bench", "can i have the book on the sofa back")
            static = t in STATIC_PREPS and (after_state or (k in object_ends and (
                first_verb in TO_USER_VERBS or set(toks[:k]) & (TO_USER_VERBS | {"have"}) - {"get", "find"})))
            # ("from on top of the fridge", "from in the drawer": still where it comes from)
            role = "source" if static or k > 0 and toks[k - 1] == "from" else "dest"
            after_state = False
        elif t in SOURCE_PREPS or (t == "of" and k > 0 and toks[k - 1] == "out"):
            role = "source"
        role_at[k] = role
    # "the book on the couch goes back on the shelf": a place right after a thing, with another
    # destination said later, is where the thing is
    dest_at = [k for k, t in enumerate(toks) if t in DEST_PREPS and role_at.get(k) == "dest"]
    later_place = len(dest_at) >= 2 and any(dest_at[1] < m.start <= dest_at[1] + 3 and vocab.kinds.get(m.names[0])
                                            in ("furniture", "room") for m in mentions)
    first_at = next((m for m in mentions if dest_at and dest_at[0] < m.start <= dest_at[0] + 3), None)
    then_at = next((m for m in mentions if len(dest_at) >= 2 and dest_at[1] < m.start <= dest_at[1] + 3), None)
    # "put the book on the bench in the conservatory": the room says which bench, not where else
    in_its_room = first_at is not None and then_at is not None and len(then_at.names) == 1 \
        and any(vocab.rooms_of.get(n) == then_at.names[0] for n in first_at.names)
    # "put the scarf on the carpet in the corridor": the floor of that room
    in_its_room = in_its_room or bool(dest_at) and then_at is not None and vocab.kinds.get(then_at.names[0]) == "room" \
        and bool(set(toks[dest_at[0] + 1:dest_at[0] + 3]) & _FLOORS)
    if later_place and dest_at[0] in object_ends and toks[dest_at[0]] in STATIC_PREPS \
            and "not" not in toks[dest_at[0]:dest_at[1]] and not in_its_room:
        for k in range(dest_at[0], dest_at[1]):
            role_at[k] = "source"
    # "put the torch in the pantry for emergencies": up to three words after a "for" that follows a
    # thing say what for, not things to fetch (not past a preposition: "for me from the garage")
    purpose: set[int] = set()
    for j in range(min(object_ends, default=len(toks)), len(toks)):
        for k in range(j + 1, min(j + 4, len(toks))) if toks[j] == "for" else ():
            if toks[k] in DEST_PREPS | SOURCE_PREPS:
                break
            purpose.add(k)
    for k, t in enumerate(toks):
        if k in covered:
            continue
        if f.verb is None and t in (DELIVER_VERBS | PLACE_VERBS | NAV_VERBS | SAY_VERBS | TIDY_WORDS):
            f.verb = t
        if t in PRONOUNS and not (t == "that" and k + 1 < len(toks) and toks[k + 1] not in DEST_PREPS):
            f.pronoun = True
        if t in ALL_ROOM_WORDS and t != "home":
            f.rooms_all = True
        if t == "there" and not (k + 1 < len(toks) and toks[k + 1] in STATE_WORDS) and \
                not (k > 0 and toks[k - 1] in SOURCE_PREPS):
            f.there = True
        for idx, (cwords, _) in enumerate(CATEGORIES):
            if t in cwords and f.category is None:
                f.category = idx
        if role_at.get(k) == "dest" and t in _FLOORS and (t,) not in vocab.phrases and k > 0 \
                and toks[k - 1] in ("the", "on", "onto") and k not in covered and not {"not", "never"} & set(toks[k - 3:k]):
            f.floor = raw[k]
        thing = t in UNSUPPORTED_VERBS and k > 0 and toks[k - 1] in DETERMINERS - {"that", "this"}  # "my phone"
        if t.isalpha() and len(t) >= 3 and (t not in KNOWN_ENGLISH or thing) and t not in vocab.words \
                and k not in purpose:
            bucket = f.unknown_dest if role_at[k] == "dest" else f.unknown
            if k > 0 and toks[k - 1] in COLOURS and k - 1 not in covered and (
                    not bucket or bucket[-1] != raw[k - 1]):
                bucket.append(raw[k - 1])  # "purple elephant"
            bucket.append(raw[k])
    for m in mentions:
        mkind = {vocab.kinds.get(n) for n in m.names}
        doing = toks[max(0, m.start - 2):m.start]
        if mkind == {"object"} and "doing" in doing and doing[-1] in DETERMINERS | {"doing"}:
            continue  # "I left them doing the crossword": a pastime, not a thing "them" takes in
        if mkind == {"object"}:
            f.objects.append(m)
        else:
            f.places.append(m)
            if (role_at.get(m.start) == "source" or kind == "hint" or first_verb is None) \
                    and len(m.names) == 1:  # verbless "the mug on the bench, ..." names it too
                f.locs.append(m.names[0])
    for k, t in enumerate(toks[:-1]):  # "a cup of coffee": the coffee is what is wanted
        if t == "of" and k in object_ends and toks[k + 1] in f.unknown + f.unknown_dest:
            raise Refusal(f"I can't make {raw[k + 1]}; {CAN_DO}.", "product")
    if len(toks) > 2 and toks[-1] == "of" and len(toks) - 1 in object_ends and toks[-3] in ("a", "an", "some"):
        # "tea. make, the, make tea. a cup of.": what the cup is of was said before
        raise Refusal(f"I can't make {' '.join(raw[-3:])} anything; {CAN_DO}.", "product")
    if not f.objects and "one" in words and f.category is None:
        f.pronoun = True  # "I want an apple, bring me one"
    f.to_user = any(t in USER_WORDS - {"my"} for t in toks)
    if kind == "hint":  # context only: remembered for "it", ambiguity and nothing else
        f.intent = "hint"
        return f
    # the destination: a place after a destination preposition (first furniture, else room),
    # or the user ("to me", "here", "bring me ...")
    dests = [m for m in f.places if role_at.get(m.start) == "dest" and not _where_they_are(toks, m.start)]
    furn = [m for m in dests if vocab.kinds[m.names[0]] == "furniture"]
    rooms = [m for m in dests if vocab.kinds[m.names[0]] == "room"]
    pick = (furn or rooms or [None])[0]
    if pick is not None:
        there = tuple(n for n in pick.names if vocab.rooms_of.get(n) in rooms_said)
        if len(pick.names) > 1 and len(there) == 1:
            pick = dataclasses.replace(pick, names=there)
        if len(pick.names) > 1 and first_verb is None and f.objects:
            pick = None  # "daddy's specs on the bed again, ...": which bed they lie on is the state's to say
        elif len(pick.names) > 1:
            raise _ambiguous(pick, vocab)
        else:
            f.dest, f.dest_explicit = pick.names[0], True
    elif f.to_user or "my" in toks and f.verb not in PLACE_VERBS - NAV_VERBS - {"leave"}:
        f.dest = USER  # ("put my glasses and my phone on my nightstand": "my" is no destination)
    # the intent
    if toks[:1] == ["no"] and mentions and mentions[0].start == 1 and f.verb is None:
        f.intent = "skip"  # "no cans at the dinner table": a house rule said, nothing asked
        return f
    if toks[next((k for k, t in enumerate(toks) if t not in ("actually", "and", "but", "oh", "just", "so")), 0):][:1] == ["not"] \
            and f.verb is None:  # ("actually allow the mug, just bring man my gym bottle": not the mug)
        f.intent = "skip"  # "bring me kwame's notebook, not his headphones": never what was said not
        return f
    if first in ("do", "dont", "never") and "not" in toks[:3] or first in ("dont", "never"):
        if "forget" not in words:
            f.intent = "skip"
            return f
    at = toks.index(first) if first in toks else 0
    after_do = [t for t in toks[at + 1:] if t not in ("the", "a", "an", "some")]
    chore = (first == "do" and bool(after_do) and after_do[0] not in PRONOUNS | {"you", "u", "ya", "me", "us"}
             | DEED_WORDS | {"anything", "something", "everything", "so", "please"}  # "do go and ...", "before you do anything else"
             and not words & {"favour", "favor"})
    # "do the laundry" is a chore; "do it", "do you think you could..", "do me a favour" are not
    # "i need something to cut this string with": a thing for the deed is wanted, not the deed
    wanted = f.category is not None and at >= 2 and toks[at - 1] == "to" and toks[at - 2] in ("something", "anything")
    if wanted:  # what the deed is done to is no thing to fetch ("this string")
        f.unknown = [w for w in f.unknown if w not in raw[at:]]
        f.unknown_dest = [w for w in f.unknown_dest if w not in raw[at:]]
    walked = toks[first_k + 1:first_k + 3] if first == "walk" and first_k is not None else []
    if walked and (walked[0] in vocab.owners | PETS | {"him", "her", "them"} or walked[-1] in PETS):
        n = 1 if walked[0] not in DETERMINERS else 2  # "walk canela round the block", "walk the dog"
        raise Refusal(f"I can't walk {' '.join(raw[first_k + 1:first_k + 1 + n])}; {CAN_DO}.", "unsupported")
    if first in ("turn", "switch", "flick", "flip") and words & {"on", "off"} and first_k not in covered:
        raise Refusal(f"I can't switch things on or off; {CAN_DO}.", "unsupported")  # "turn on tv"
    if first in ("plug", "unplug") and (f.objects or f.pronoun and not words & {"yourself", "you"}):
        raise Refusal(f"I can't plug things in; {CAN_DO}.", "unsupported")  # "plug the drill in", not "plug yourself in"
    if first in ("sit", "stand", "prop", "perch", "lay") and (f.objects or f.pronoun or words & {"him", "her"}) \
            and f.dest not in (None, USER) and vocab.kinds.get(f.dest) == "furniture":
        f.verb, first = "put", "put"  # "sit him on the drawing table": the teddy, put there
        f.pronoun = f.pronoun or not f.objects
    if words & {"do"} and f.pronoun and not f.objects and f.category is None and not f.unknown \
            and set(toks) <= FILLER | {"do", "can", "could", "would", "will", "please", "that", "this", "for", "now"}:
        f.intent = "skip"  # "mum said tidy our bedroom. can you do it?": the deed said before
        return f
    if chore or (first in UNSUPPORTED_VERBS and first_k not in covered and not words & TIDY_WORDS
                 and not (first_k and toks[first_k - 1] in DETERMINERS)  # "same as my phone"
                 and not words & {"sure", "way"} and not wanted):  # "shower room, ...": a room's name
        what = " ".join(t for t in raw[at:] if t not in ("me", "us", "please", "for", ","))
        if {"i", "we"} & set(toks[:at]) and not {"you", "u"} & set(toks[:at]):
            # the speaker's own plan ("grab the bottle, I want to make a smoothie"), not a
            # request; refused only if the command asks nothing else
            f.intent, f.aside = "skip", f"I can't {what}; {CAN_DO}."
            return f
        raise Refusal(f"I can't {what}; {CAN_DO}.", "unsupported")
    leaving = [m for m in f.places if vocab.kinds[m.names[0]] == "room"
               and role_at.get(m.start) != "dest"]
    if leaving and not f.objects and (first in DEPART_VERBS or {"out", "of"} <= words) \
            and not (f.unknown and words & {"me", "us"}):  # ("get me my boots out of the mud room": a thing)
        f.depart, f.intent = leaving[0].names[0], "depart"  # "get out of the kitchen"
        return f
    collective = bool(words & COLLECTIVE) and not f.objects
    own_place = bool(words & {"its", "their", "usual"} and words & HOME_NOUNS)  # "to its spot", "the usual spot"
    back_to_user = f.to_user and not f.dest_explicit or f.verb in TO_USER_VERBS - {"get", "find"}
    # "I need my book back", "can I have the ball back": the speaker wants it, nobody puts it away
    back_to_user = back_to_user or bool({"i", "i'd", "id", "we"} & set(toks[:3]) and words & SPEAKER_WANTS
                                        and (f.verb is None or f.verb in TO_USER_VERBS | SPEAKER_WANTS)
                                        and not words & (PLACE_VERBS - TO_USER_VERBS))
    returning = f.verb == "return" and (f.objects or f.pronoun)  # "return the toy": to its place
    # an unknown word after a determiner is a thing ("that towel", "the trophy"), not a verb
    unknown_thing = any(toks[k - 1] in DETERMINERS | vocab.owners
                        or k > 1 and toks[k - 1] in ("me", "us") and toks[k - 2] in DELIVER_VERBS
                        for k in range(1, len(toks)) if raw[k] in f.unknown)
    # ("kwame's laptop", in a home with no laptop: a thing named by its owner; "bring me umbrella
    # from the hall", said without its article)
    if first in SAY_VERBS and "where" not in words:
        f.intent = "say"
    elif (first == "where" or (first in SAY_VERBS and "where" in words)) and (f.objects or f.unknown):
        f.intent = "where"
    elif (first in STOP_WORDS or {"never", "mind"} <= words) and not f.places \
            and not (first == "wait" and (f.unknown_dest or words & {"in", "at"})):  # "wait in the loo": go there
        f.intent = "stop"
    elif first == "wait" and f.unknown_dest and not f.places:
        f.intent, f.dest = "go", None  # "wait for me in the loo", a place this home lacks: refused below
    elif collective and (words & PUTAWAY_WORDS or own_place) and kind != "norm" \
            and not (f.dest_explicit and vocab.kinds[f.dest] == "furniture") \
            or collective and words & TIDY_WORDS:
        f.intent = "tidy"  # "put everything in the lounge back where it belongs"
        f.rooms_all = f.rooms_all and not f.places
    elif words & TIDY_WORDS or ({"put", "clear", "pick"} & words and words & {"away", "up"}
                                and not f.objects and not f.pronoun
                                and any(vocab.kinds[m.names[0]] == "room" for m in f.places)):
        f.intent = "putaway" if f.objects else "tidy"
    elif (_putaway_said(toks, f.places) or own_place or returning) and (f.objects or f.pronoun) and not f.dest_explicit:
        # "give it back" / "bring it back to me" go to the user; "put it back" goes home
        back_only = not (words & PUTAWAY_WORDS - {"back"}) and not own_place
        f.intent = "deliver" if back_only and back_to_user else "putaway"
    elif (words & DOCK_WORDS or (vocab.dock and any(vocab.dock in m.names for m in f.places))
          or ("home" in words and not f.objects and (words & NAV_VERBS))) and not f.objects and not f.pronoun:
        f.intent = "dock"
    elif f.objects or f.pronoun or f.category is not None:
        if f.dest and f.dest != USER:
            f.intent = "place"
        elif f.verb in PLACE_VERBS and f.dest is None and (f.verb not in NAV_VERBS or f.there):
            f.intent = "place"  # "put the cup" with no destination: asked later
        elif f.there and f.dest is None and f.verb not in TO_USER_VERBS:
            f.intent = "place"  # "take it there"
        else:
            f.intent = "deliver"
            f.verbless = f.verb is None and f.dest is None and kind is None
    elif (f.verb in (DELIVER_VERBS | PLACE_VERBS) - NAV_VERBS or words & TO_USER_VERBS - {"get", "find"}) \
            and unknown_thing:
        # "fetch the purple elephant from the bedroom", "come give me that towel": refused below
        f.intent = "deliver"
    elif (f.verb in (DELIVER_VERBS | PLACE_VERBS) - NAV_VERBS
          and any(role_at.get(m.start) is None for m in f.places)):
        f.intent = "deliver"  # "bring me the sofa": refused below, furniture can't be carried
    elif ((f.places and (f.verb or words & NAV_VERBS)) or (f.dest == USER and words & NAV_VERBS)
          or ({"come", "follow"} & words)):
        f.intent = "go"
    elif f.places and not f.unknown_dest and len(f.unknown) <= 1 and len(f.places) == 1 \
            and any(role_at.get(m.start) == "dest" for m in f.places) and not unknown_thing:
        f.intent = "go"  # an unfamiliar motion verb: "pop into the bathroom"
    elif f.verb:
        f.intent = "deliver" if f.verb in DELIVER_VERBS else "place" if f.verb in PLACE_VERBS else \
            "go" if f.verb in NAV_VERBS else None
    elif words & GREETINGS and not f.unknown:
        f.intent = "greet"
    return f


def _ambiguous(m: Mention, vocab: Vocabulary) -> Refusal:
    """"Which mug do you mean: ...?" Of kind "ambiguous" when a name the things share says it
    ("the mug" beside two mugs); a description ("the red thing") is read with more of the
    command by the MoE, so its refusal is the parser's own ("other")."""
    return Refusal(_which(m, vocab), "other" if set(m.text.split()) & GENERIC_NOUNS else "ambiguous")


def _which(m: Mention, vocab: Vocabulary) -> str:
    names = [n.replace("_", " ") for n in m.names]
    return f"Which {m.text} do you mean: the {', the '.join(names[:-1])} or the {names[-1]}?"


# ---- frames -> goals -----------------------------------------------------------------------
# A deed said as the time of another ("go charge once you've put the cup away", "before you
# dock, tidy up"): its clause is split off and the deeds are done in the order they happen.
DONE_AFTER = ("after", "once", "when", "as soon as", "right after")  # the clause's deed comes first
DONE_BEFORE = ("before",)  # the clause's deed comes second
_TIMING_OPENERS = frozenset(w.split()[0] for w in DONE_AFTER + DONE_BEFORE)
_TIMED_SUBJECT = frozenset("you i we have has are am is".split())  # "once you have ...": dropped
DEED_WORDS = DELIVER_VERBS | PLACE_VERBS | NAV_VERBS | TIDY_WORDS | DOCK_WORDS
_IRREGULAR = {"brought": "bring", "taken": "take", "took": "take", "given": "give", "gave": "give",
              "gone": "go", "went": "go", "left": "leave", "got": "get", "gotten": "get", "driven": "drive",
              "stuck": "stick", "laid": "lay", "made": "make", "found": "find", "run": "run"}


def _deed_verb(t: str) -> str | None:
    """The deed verb a word is, in any tense ("brought" -> "bring", "tidied" -> "tidy"), else None."""
    for v in (t, _IRREGULAR.get(t, ""), t[:-1], t[:-2], t[:-3] + "y", t[:-3]):
        if v in DEED_WORDS:
            return v
    return None


def _base_verb(w: str) -> str | None:
    """A deed verb said in another form, as its base ("tidied" -> "tidy", "putting" -> "put",
    "moving" -> "move"), else None."""
    if w.endswith("ing"):
        for v in (w[:-3], w[:-4], w[:-3] + "e"):
            if v in DEED_WORDS:
                return v
    v = _deed_verb(w)
    return v if v is not None and not v.endswith("ing") else None


def _timing_at(toks: list[str], k: int, names_something) -> tuple[str, int] | None:
    """('first' | 'second', words to drop) when toks[k:] opens a clause timing a deed; ('then',
    words to drop) for "when you're done", which times what follows by what came before.
    A deed is a verb with something it acts on (`names_something(j, end)`), or a dock or a tidy:
    not "when you can", "before dinner", "when you get a chance", "once you get there"."""
    for words, order in ((DONE_AFTER, "first"), (DONE_BEFORE, "second")):
        for w in words:
            n = len(w.split())
            if toks[k:k + n] == w.split():
                j = k + n
                while j < len(toks) and toks[j] in _TIMED_SUBJECT:
                    j += 1
                if toks[j:j + 2] in (["go", "and"], ["come", "and"]) and j + 2 < len(toks) and _deed_verb(toks[j + 2]):
                    j += 2  # "before you go and charge": the deed is the charge
                spare = j + (toks[j:j + 1] in (["get"], ["find"]))  # "when you get a chance": no deed, no time
                if order == "first" and toks[spare:spare + 1] == ["a"] and toks[spare + 1:spare + 2] in (
                        ["chance"], ["moment"], ["minute"], ["second"], ["sec"]):
                    return "then", spare + 2 - k
                verb = _deed_verb(toks[j]) if j < len(toks) else None
                end = next((e for e in range(j, len(toks)) if toks[e] == "," or toks[e] in SPLIT_WORDS), len(toks))
                if verb and (verb in DOCK_WORDS | TIDY_WORDS or names_something(j, end)):
                    return order, j - k
                if order == "first" and j > k + n and toks[j:j + 1] in (["done"], ["finished"], ["through"]):
                    j += 1
                    while j < len(toks) and toks[j] in ("with", "that", "this", "it", "there", "here"):
                        j += 1
                    return "then", j - k  # "... and dock when you're done (with that)": the order as said
    return None


# Speech has no punctuation: a sentence that starts right after a complete clause ("the book is
# on the couch bring it over", "get me the remote i'm in the bedroom") starts with one of these.
IMPERATIVES = frozenset("""bring fetch get give hand pass grab deliver retrieve take carry pick put place
move drop store stash go head drive navigate walk come return visit enter proceed travel tidy clean
declutter organize organise straighten neaten sort charge recharge dock plug""".split())
_ASKS = frozenset("could can would will".split())  # "... could you grab it"
_SPEAKERS = frozenset("i we you someone somebody there it he she they".split())
_SPEAKER_VERBS = frozenset("am are is was were can could should must".split())  # "i am", "you can"
_NOT_CLAUSE_END = FILLER | DEST_PREPS | SOURCE_PREPS | DETERMINERS | SPLIT_WORDS | DEED_WORDS | SUBJECTS \
    | _SPEAKER_VERBS | STATE_WORDS | PAST_TENSE | CATEGORY_WORDS  # "i'm thirsty bring me something": one need
# words that end a clause though they are no thing or place: "before you charge", "we are done",
# "bring it to me", "tidy the kitchen please", "you are low on battery"
_CLAUSE_ENDS = frozenset("charge recharge dock done finished me us here it them please now battery batteries power "
                         "out everything all again around about somewhere there anywhere everywhere".split())  # "i'm in the hall on my way out bring me ..."
# a clause with one says something ("you look tired" too)
_TOLD = DEED_WORDS | STATE_WORDS | PAST_TENSE | NORM_WORDS | frozenset("am look looks seem seems feel feels".split())


def _sentence_starts(toks: list[str], raw: list[str], k: int, cur: list[str]) -> bool:
    """Whether toks[k] starts a new sentence said with no punctuation before it: the clause so
    far has a deed or a statement in it and ends on a word that can end one (a thing, a place,
    "back", "away", "charge", "done"), and toks[k:] opens a command ("put it ...", "could you
    ...", "please bring ..."), a statement of the speaker's ("i am in the bedroom", "someone left
    ...") or one about a thing ("the remote is on the bed"; not "the one that is ...")."""
    if any(w not in FILLER and w != "but" for w in cur) and toks[k] in ("first", "now") \
            and toks[k + 1:k + 2] and toks[k + 1] in IMPERATIVES:
        return True  # "i'll call my brother in a sec first pass me the remote"
    if cur and toks[k:k + 2] in (["i", "am"], ["we", "are"]) and (
            toks[k + 2:k + 3] in (["in"], ["still"], ["now"], ["already"], ["currently"], ["outside"], ["upstairs"], ["downstairs"])
            or k + 2 < len(raw) and len(raw[k + 2]) > 4 and raw[k + 2].endswith("ing")
            or toks[k + 2:k + 3] and toks[k + 2] in SPEAKER_STATES | CATEGORY_WORDS) \
            and cur[-1] not in SUBJECTS | _SPEAKER_VERBS | DEST_PREPS:
        return True  # "bottle please i'm in the bathroom", "... keys i'm running late": the speaker, said after
    # ("tidy the kitchen up his glasses are on the table": not "tidy up the ...")
    ends_up = len(cur) > 2 and cur[-1] == "up" and cur[-2] not in DEED_WORDS
    ends_said = bool(cur) and (cur[-1] in _CLAUSE_ENDS or ends_up or (cur[-1].isalpha() and cur[-1] not in _NOT_CLAUSE_END))
    if ends_said and "where" in cur[:3] and toks[k] in ("i", "we") and toks[k + 1:k + 2] in (["need"], ["want"]):
        return True  # "where are my keys i need them": the need is a sentence of its own
    if ends_said and toks[k] in _ASKS and toks[k + 1:k + 2] in (["you"], ["i"]) and len(cur) >= 2:
        return True  # "... an apple in my bed can you take them back": a question starts anew
    if not cur or not any(t in _TOLD or len(t) > 4 and t.endswith("ed") for t in cur) or not (
            cur[-1] in _CLAUSE_ENDS or ends_up or (cur[-1].isalpha() and cur[-1] not in _NOT_CLAUSE_END)):
        return False
    t, nxt = toks[k], toks[k + 1] if k + 1 < len(toks) else ""
    if t in ("must", "might", "should") and nxt == "be":
        return True  # "where did i keep my specs must be on the diwan": where it is, said after
    if t in ("store", "place", "set", "stick", "drop", "pop", "box") and len(cur) > 1 and cur[-2] in DETERMINERS:
        return False  # "to the feed store", "the hiding place": a name's last word
    if t in IMPERATIVES:
        # not a participle: "i'd like the cup moved (typo repair: move) / put on the table"
        return not (raw[k].endswith("ed") or t in ("put", "set") and SPEAKER_WANTS & set(cur))
    if t in ("please", "just", "so") and (nxt in IMPERATIVES or nxt == "just" and toks[k + 2:k + 3] and toks[k + 2] in IMPERATIVES):
        return True  # ("she's in the hall with me so bring them quick", "... no worry abeg just bring me ...")
    if (t == "its" or (t, nxt) in (("it", "is"), ("they", "are"))) \
            and toks[k + 1 + (t != "its"):k + 2 + (t != "its")] in (["the"], ["on"], ["in"], ["somewhere"], ["probably"],
                                                                      ["prob"], ["still"], ["under"], ["by"], ["my"]):
        return True  # "can u bring me my phone its the blue one prob on the couch": said of it, after
    if t in _ASKS:
        return nxt in ("you", "i")  # "could you grab it", "can i have it"
    if t in ("i", "we") and (nxt in PAST_TENSE or raw[k + 1:k + 2] and raw[k + 1].endswith("ed")) \
            and toks[k + 2:k + 3] in (["it"], ["them"]) and set(cur) & DEED_WORDS - {"have", "got"}:
        return True  # "pakikuha my cellphone in the kitchen i forgot it on the counter" (no "the cup i left on")
    if t in _SPEAKERS:
        return nxt in _SPEAKER_VERBS or (t in ("someone", "somebody") and nxt in PAST_TENSE) \
            or t in ("i", "we") and nxt == "will" and cur[-1] not in DEED_WORDS  # "... to the balcony table i'll clean it"
    if t in DETERMINERS and t not in ("this", "that"):  # "the red cup is ...", "the kids left ..."
        for j in range(k + 1, min(k + 5, len(toks))):
            if (toks[j] in STATE_WORDS or toks[j] == "will" and toks[j + 1:j + 2] == ["be"]) and j > k + 1:
                return True  # ("... the mudroom the kids will be home any minute")
            if toks[j] in ("has", "have", "had") and j > k + 1:  # "the cup has been left ..."
                continue
            if not toks[j].isalpha() or toks[j] in FILLER or toks[j] in DEED_WORDS:
                return False
    return False


_OF_ANOTHER = frozenset("before after while when until till because cos since once though although".split())
_OTHERS = frozenset("he she they it someone somebody everyone anyone people".split())


def _said_of_another(toks: list[str], k: int, cur: list[str], vocab: Vocabulary) -> bool:
    """Whether toks[k] opens a clause about what someone else does, said after a deed: "stick it
    on the bedside table before somebody puts a drink on it", "go and charge before the guests
    get here", "put it away before mia finds it" (`_clause_kind` reads it as no request)."""
    if toks[k] not in _OF_ANOTHER or k + 2 >= len(toks) or cur[:1] in (["i"], ["we"]) \
            or not any(w in DEED_WORDS - SPEAKER_WANTS for w in cur):  # (not "i want music on before ...")
        return False
    who, nxt = toks[k + 1], toks[k + 2]
    if who in DETERMINERS and nxt in PEOPLE | _VISITORS:
        return True
    return who in _OTHERS | {"i", "we"} or vocab.person_at(toks, k + 1) and nxt not in PLACE_VERBS | DELIVER_VERBS


def _split_clauses(toks: list[str], raw: list[str], vocab: Vocabulary,
                   timed_out: list[bool] | None = None) -> list[tuple[list[str], list[str]]]:
    """Clauses at commas and joiners ("and", "then"), and at a deed said as the time of
    another (`vocab` tells a deed from "when you get a chance"), in the order of deeds
    (`timed_out`, when given, gets whether a deed was said as the time of another or the order
    said is not the order done)."""
    def names(a: int, b: int) -> bool:
        return bool(_find_mentions(toks[a:b], raw[a:b], vocab))

    out, cur, cur_raw = [], [], []
    timing: list[str | None] = []  # per clause: 'first' / 'second' for a timed deed, else None
    cur_timing, k = None, 0
    while k < len(toks):
        t, r = toks[k], raw[k]
        timed = _timing_at(toks, k, names) if t in _TIMING_OPENERS else None
        if not timed and t == "after" and toks[k + 1:k + 2] in (["that"], ["this"]) and cur:
            timed = ("then", 2)  # "grab the ball after that tidy the kitchen": the order as said
        starts = not timed and t != "," and (_sentence_starts(toks, raw, k, cur) or _said_of_another(toks, k, cur, vocab))
        if t == "," or t in SPLIT_WORDS or timed:
            if cur:
                out.append((cur, cur_raw))
                timing.append(cur_timing)
            cur, cur_raw, cur_timing = [], [], None
            if timed:
                cur_timing = timed[0]
                k += timed[1]
                if cur_timing != "then" and k < len(toks):  # "once you've brought me ..." reads "bring me ..."
                    cur.append(_deed_verb(toks[k]))
                    cur_raw.append(raw[k])
                    k += 1
                continue
        else:
            if starts:
                out.append((cur, cur_raw))
                timing.append(cur_timing)
                cur, cur_raw, cur_timing = [], [], None
            cur.append(t)
            cur_raw.append(r)
        k += 1
    if cur:
        out.append((cur, cur_raw))
        timing.append(cur_timing)
    ordered = _in_order_of_deeds(out, timing)
    if timed_out is not None:
        timed_out.append(any(t in ("first", "second") for t in timing) or ordered != out)
    return ordered


def _in_order_of_deeds(clauses: list, timing: list[str | None]) -> list:
    """Clauses in the order their deeds happen: a timed deed said after the deed it times
    ("X once you Y") moves before it; one said first as coming second ("before you Y, X") moves
    after the next; "X, but Y first" puts Y before X."""
    out = list(zip(clauses, timing))
    i = 0
    while i < len(out):
        (toks, _), when = out[i]
        first_said_last = i > 0 and "first" in toks and ("but" in toks or toks[-1] == "first")
        if i > 0 and (when == "first" or first_said_last):
            out[i - 1], out[i] = out[i], out[i - 1]
        elif i == 0 and when == "second" and len(out) > 1:
            out[0], out[1] = out[1], out[0]
            i += 1
        i += 1
    return [c for c, _ in out]


_COUNTS = {"two": 2, "2": 2, "three": 3, "3": 3, "four": 4, "4": 4}


def _each_of(m: Mention, words: list[str], vocab: Vocabulary) -> bool:
    """Whether a plural names each of the things it fits: "bring me both teddies", "all the
    cups", "fetch the 2 mugs" (as many as there are), "the mugs" (the home's two); not "the
    sneakers" or "the specs", a thing named in the plural (one pair of two, which one is asked)."""
    if len(m.names) < 2 or not m.text.endswith("s"):
        return False
    if set(words) & {"both", "all"}:
        return True
    before = words[max(0, m.start - 2):m.start]
    said = m.text.split()[-1]
    if any(n.split("_")[-1] == said for n in m.names) \
            or all(any(p.split()[-1] == said for p in vocab.nouns.get(n, ())) for n in m.names):
        return False
    count = next((_COUNTS[w] for w in before if w in _COUNTS), None)
    if count is not None:
        return count == len(m.names)
    # "the mugs"; and a bare plural, "got cups and things everywhere": whichever there are
    return before[-1:] == ["the"] or not before or before[-1] not in DETERMINERS | INDEFINITE | PRONOUNS and before[-1].isalpha()


def _nearest(names: list[str], state: WorldState) -> str:
    def key(o: str):
        room = state.room_of_object(o)
        return (state.location_of(o) == USER, room != state.user_room, room != state.robot_room, o)
    return sorted(names, key=key)[0]


def _resolve_object(m: Mention, state: WorldState, vocab: Vocabulary, locs: list[str] = ()) -> str:
    if len(m.names) == 1:
        return m.names[0]
    for loc in locs:  # "the mug on the bench", "bring me the mug, it's in the workshop"
        here = [o for o in m.names if loc in (state.location_of(o), state.room_of_object(o))]
        if len(here) == 1:
            return here[0]
    if m.indefinite:
        return _nearest(list(m.names), state)
    raise _ambiguous(m, vocab)


def _category_hits(idx: int, vocab: Vocabulary) -> list[str]:
    """The objects named by the most fitting noun of category idx that this world has any of."""
    for noun in CATEGORIES[idx][1]:
        # the noun is a name's head ("water bottle"), not a word that says what it is made of
        # or holds ("apple juice" is no food); but a drink is what a thing holds ("coke can"),
        # and a "toy car" is a toy
        hits = [o for o, ns in vocab.nouns.items()
                if (noun in ns or any(n.split()[-1] == noun or noun == "toy" == n.split()[0]
                                      or noun in LIQUIDS and noun in n.split() and n.split()[-1] in DRINK_HOLDERS
                                      for n in ns))
                and not (idx in _DRINKS and any(w in NOT_DRUNK for n in ns for w in n.split()))]
        # (a "water spray", a "spray bottle", is for the plants: nothing to drink from)
        if hits:
            return hits
    return []


def _category_object(idx: int, state: WorldState, vocab: Vocabulary) -> str | None:
    hits = _category_hits(idx, vocab)
    return _nearest(hits, state) if hits else None


def described_objects(text: str, vocab: Vocabulary) -> list[str]:
    """The objects a text picks out without naming them: those fitting the first need it names
    ("something to drink", "i'm hungry", "a snack"), else those of a colour it says ("the
    yellow one", "the black thing"); [] when it does neither, or nothing in this world fits."""
    toks = set(_tokens(text))
    for idx, (cwords, _) in enumerate(CATEGORIES):
        if toks & cwords:
            return _category_hits(idx, vocab)
    for colour in sorted(toks & COLOURS):
        hits = [o for o, c in vocab.colours.items() if c == colour]
        if hits:
            return hits
    return []


_HERE = re.compile(r"\b(in|around|round|over|down|up) here\b|\bthis (room|place|area|space|part of the house)\b")


def room_spoken_of(text: str, state: WorldState) -> list[str]:
    """[the user's room] when a text speaks of the room the speaker is in without naming it
    ("it's a mess in here", "tidy up around here", "this room is a disaster"), else []."""
    return [state.user_room] if _HERE.search(" ".join(_tokens(text))) else []


def _surface_in_room(obj: str, room: str, state: WorldState) -> str:
    desc = state.desc
    home = desc.objects[obj].home
    if desc.furniture[home].room == room:
        return home
    surfaces = [f.name for f in desc.furniture.values() if f.room == room and f.surface]
    if not surfaces:
        raise Refusal(f"There is nowhere in the {room.replace('_', ' ')} to put the "
                      f"{obj.replace('_', ' ')} down.", "no_surface")
    free = [s for s in surfaces if skills.free_slots(state, s) > 0]
    return (free or surfaces)[0]


_SENTENCE_END = re.compile(r"(?<=[.?!;])\s+|\s*(?:\.\.\.|\u2026)\s*")
_WANTS_A_THING = re.compile(r"\b(need|want|like|love|fancy|have)\s+(?!to\b)(a|an|the|some|my|your|that|this|those|these)\b")


_TAKING_BACK = frozenset("no not actually instead mean meant rather hang wait sorry scratch".split())


_NO_STOP_BEFORE = frozenset("""to and then please you u ya will would could can i we just not do dont me also or
so go come let lets let's now first""".split())


def _with_stops(text: str) -> str | None:
    """A command heard with no punctuation, with a full stop before each word that opens a
    request ("... in the way go sit in the hall", "... all week lovely stick it back on the
    shelf"); None when it has punctuation or no such word."""
    if re.search(r"[.?!;,]", text):
        return None
    words = text.split()
    out, stops = [], 0
    for k, w in enumerate(words):
        low = re.sub(r"[^a-z']", "", w.lower())
        nxt = re.sub(r"[^a-z']", "", words[k + 1].lower()) if k + 1 < len(words) else ""
        opens = low in IMPERATIVES or low in ("could", "can", "would", "will") and nxt == "you" \
            or low == "please" and nxt in IMPERATIVES
        if opens and k >= 2 and re.sub(r"[^a-z']", "", words[k - 1].lower()) not in _NO_STOP_BEFORE:
            out[-1] += "."
            stops += 1
        out.append(w)
    return " ".join(out) if stops else None


def _sentences(text: str) -> list[str]:
    return [t.strip() for t in _SENTENCE_END.split(text) if t and t.strip()]


def _chatter(sentence: str, vocab: Vocabulary) -> int:
    """How little a sentence asks of the home: 0 asks a deed or a thing ("I'd love a cuppa"), or
    takes back what was said; 1 names a thing or place of the home without a deed ("it's on the
    dresser"); 2 is talk ("it's his birthday today, you see", "the lights have flickered twice
    with this wind"). A sentence that says what something is asks nothing ("head is absolutely
    pounding" is no "head to")."""
    raw = _tokens(sentence)
    toks = _repaired(_as_meant(raw, vocab), vocab)
    try:
        named = bool(_find_mentions(toks, toks, vocab))
    except Refusal:  # a thing this home lacks ("the purple elephant"): it stays, and is refused
        named = True
    stated = toks[1:2] in (["is"], ["are"], ["was"], ["were"]) and toks[0] not in ("where", "what", "which", "who", "how")
    if not stated and any(_asks(t) for t, _ in _split_clauses(toks, toks, vocab)) or _REQUEST.search(" ".join(toks)) \
            or _REQUEST.search(" ".join(raw)) \
            or any(t in _TAKING_BACK and (k == 0 or raw[k - 1] == ",") for k, t in enumerate(raw)):
        # "No, hang on, it's Tom's mug I'm after": a correction
        return 0
    if _WANTS_A_THING.search(" ".join(toks)):
        return 0  # "I'd love a cuppa": a thing asked for, never dropped
    return 1 if named else 2


_DEGREE = frozenset("too so very really quite far awfully ever such bit rather terribly".split())
# what is said of a thing with no verb to say it ("the screw loose already", "the battery flat again")
_SAID_OF_IT = frozenset("went gone broke broken died blew already again still anymore loose empty full dirty "
                        "missing lost finished spoilt spoiled stuck dead flat cracked torn".split())


_ASKED = (DEED_WORDS - SPEAKER_WANTS) | IMPERATIVES | frozenset(("wait", "stay"))
_LEAD = frozenset("""please pls just now then and so but oh dear love also quickly kindly perhaps possibly
first next finally right ok okay do go come robot hey""".split())
_SUBJECTS = _SUBJECTS_NOT_YOU | {"someone", "somebody"}


def _asks(words: list[str]) -> bool:
    """Whether a clause asks a deed: one said first ("fetch it", "please do go and ..."), or after
    "you" ("would you be so good as to fetch ..."), not one said of the speaker or another ("I
    clean forgot", "these knees won't carry me", "so I can sort out the sweet peas")."""
    k = next((k for k, w in enumerate(words) if w in _ASKED), None)
    if k is None:
        return False
    before = words[:k]
    if all(w in _LEAD for w in before):
        return True
    you = max((j for j, w in enumerate(before) if w in ("you", "u", "ya")), default=None)
    return you is not None and not set(before[you + 1:]) & _SUBJECTS


_REQUEST = re.compile(r"\b(could|would|can|will|wo|might|do) you\b|\byou (could|would|can|will|might|must)\b|"
                      r"\bplease\b|\b(like|want|need) you to\b|^(i )?(wonder|suppose)( if| whether)? \w+")


def _remark(f: Frame) -> bool:
    """Whether a clause is a remark beside the request, not part of it: words this home does not
    know, no thing of the home named, no deed asked, and not a thing wanted ("I've gone and ...",
    "the print's far too small", "nothing in it but doom and gloom", "so I can sort out the sweet
    peas"). "bring me the cup and a unicorn" and "I'd love a cuppa" name a thing (a noun after its
    article) and are no remarks; "go to the attic" asks a deed and is none either."""
    if not (f.unknown or f.unknown_dest) or f.objects or f.category is not None:
        return False
    words = f.text.split()
    if f.intent in ("where", "say", "stop", "greet") or f.to_user and f.verb in TO_USER_VERBS or _asks(words) \
            or _REQUEST.search(f.text):  # "could you draw the curtains": asked, if not of these skills
        return False
    if words[0] in DETERMINERS | INDEFINITE:  # a noun phrase: a remark only with something said of it
        return bool(set(words) & (_DEGREE | _BE | STATE_WORDS | _SAID_OF_IT)) or any(
            w.endswith(("ing", "ed")) and w in f.unknown + f.unknown_dest for w in words[2:])
    return not _WANTS_A_THING.search(" ".join(words))


def _rooms_said(clauses: list, vocab: Vocabulary) -> frozenset:
    rooms = set()
    for toks, raw in clauses:
        try:
            rooms |= {m.names[0] for m in _find_mentions(toks, raw, vocab)
                      if len(m.names) == 1 and vocab.kinds.get(m.names[0]) == "room"}
        except Refusal:  # the clause's own parse says why
            continue
    return frozenset(rooms)


def _unknown(words: list[str]) -> str:
    return f"I don't know any '{' '.join(words)}' in this home."


def _frames_to_stages(frames: list[Frame], state: WorldState, vocab: Vocabulary) -> tuple[list[list], list[Step]]:
    """Goal lists, one per clause in order; or a ready plan (say/where/stop/greet)."""
    # "take the tape and the drill out to the garden room", "bring the car keys, the house keys
    # and the torch to the shoe cabinet": a thing taken, with no place of its own, goes where the
    # verbless clauses after it say (from the last, so a list passes the place on)
    for f, nxt in reversed(list(zip(frames, frames[1:]))):
        if f.intent == "deliver" and f.verb in ("take", "carry", "bring") and f.dest is None and not f.to_user \
                and nxt.verb is None and nxt.objects and nxt.dest not in (None, USER) and nxt.dest_explicit:
            f.intent, f.dest, f.dest_explicit = "place", nxt.dest, True
        elif f.intent == "deliver" and f.verb is None and f.verbless and f.objects and f.dest is None \
                and nxt.intent == "place" and nxt.objects and nxt.dest not in (None, USER) and nxt.dest_explicit:
            f.intent, f.dest, f.dest_explicit = "place", nxt.dest, True  # "mr bear and blankie have to go on her bed"
    # "bring me the remote and the mug in the dining room": where a thing already is, said after a
    # hand-over, says which one, not where to take it
    for prev, f in zip(frames, frames[1:]):
        if f.verb is None and f.intent == "place" and f.objects and f.dest not in (None, USER) and prev.intent == "deliver" \
                and prev.dest == USER and f.text.split()[:1] in (["and"], ["the"], ["also"]) \
                and not {"to", "into", "onto"} & set(f.text.split()) \
                and all(any(f.dest in (state.location_of(n), state.desc.furniture[state.location_of(n)].room
                                       if state.location_of(n) in state.desc.furniture else None) for n in m.names)
                        for m in f.objects):
            f.locs.append(f.dest)
            f.intent, f.dest, f.dest_explicit = "deliver", USER, True
    # "the bottle on the counter, to me please": where it is, and then to whom
    for f, nxt in zip(frames, frames[1:]):
        if f.verb is None and f.intent == "place" and f.objects and f.dest not in (None, USER) \
                and nxt.verb is None and not nxt.objects and nxt.dest == USER and not nxt.places:
            f.locs.append(f.dest)
            f.intent, f.dest, f.dest_explicit = "deliver", USER, True
            nxt.intent = "hint"
    # "take the red scarf to my room, in the commode", "bring it to his room, on his desk": the
    # furniture said after a room is where in it
    for f, nxt in zip(frames, frames[1:]):
        said = [n for m in f.places if len(m.names) == 1 for n in m.names if vocab.kinds.get(n) == "room"]
        room = f.dest if vocab.kinds.get(f.dest or "") == "room" else None if f.dest != USER \
            else said[0] if len(said) == 1 else vocab.rooms_of.get(nxt.dest or "") if "room" in f.text.split() \
            else state.user_room  # ("to my room": the person's, said, or the one the furniture after it is in)
        if f.intent in ("deliver", "place") and (f.objects or f.pronoun) and room is not None and nxt.verb is None \
                and not nxt.objects and nxt.dest_explicit and vocab.rooms_of.get(nxt.dest or "") == room \
                and nxt.text.split()[:1] in (["in"], ["on"], ["onto"], ["into"], ["inside"]) \
                and not any(state.location_of(n) == nxt.dest for m in f.objects for n in m.names):  # (not where it is)
            f.intent, f.dest, f.dest_explicit = "place", nxt.dest, True
            nxt.intent = "hint"
    # a place clause without a destination borrows one from the intent-less clauses after it
    for i, f in enumerate(frames):
        if f.intent == "place" and f.dest is None:
            nxt = frames[i + 1] if i + 1 < len(frames) else None
            if nxt is not None and nxt.intent == "putaway" and nxt.verb is None:
                f.intent = "putaway"  # "put the book and the ball away"
                continue
            for g in frames[i + 1:]:
                if g.intent not in (None, "place"):
                    break
                if g.dest:
                    f.dest = g.dest
                    break
    actions = ("deliver", "place", "putaway")
    for prev, f, nxt in zip(frames, frames[1:], frames[2:]):  # "put his keys on his desk, and his mug - bring
        said = set(nxt.text.split())  # that through": the thing "that" is, not a second thing for the desk
        if prev.verb is not None and f.verbless and f.objects and not f.places and nxt.verb in DELIVER_VERBS | PLACE_VERBS \
                and not nxt.objects \
                and said & {"it", "that", "this"} and not said & {"them", "both", "those", "these", "em"}:
            f.intent, f.verbless = "hint", False
    for i, f in enumerate(frames):  # "put the book on the shelf and the remote too"
        prev = next((g for g in reversed(frames[:i]) if g.intent != "hint"), None)
        if f.verbless and prev is not None and prev.intent in actions:
            f.intent = prev.intent
            f.dest = f.dest or prev.dest
    for i, f in enumerate(frames):  # intent-less clauses continue the previous one
        if f.intent is None and i > 0 and (f.objects or f.category is not None or f.pronoun
                                           or f.unknown or f.places):
            prev = frames[i - 1]
            if prev.intent in ("deliver", "place", "putaway", "go", "tidy"):
                f.intent = prev.intent if (f.objects or f.unknown or prev.intent in ("go", "tidy")) else None
                if f.intent == "place" and f.dest is None:
                    f.dest = prev.dest
        if f.intent in (None, "place", "deliver") and i > 0 and frames[i - 1].intent == "hint" and f.objects \
                and f.verb is None and not f.to_user and "please" not in f.text.split() \
                and f.text.split()[0] in DETERMINERS | INDEFINITE:
            f.intent = "hint"  # "there's a cup and an apple in my bed": the statement goes on
        if f.intent is None and (f.objects or f.category is not None):
            f.intent = "deliver"
        if f.intent is None and f.places and not f.unknown:
            f.intent = "go"
    for i, f in enumerate(frames):  # "i'm starving, bring me something": one errand, for the need
        if f.intent == "deliver" and not (f.objects or f.pronoun or f.unknown) and f.category is None:
            need = next((g for g in frames[max(0, i - 1):i + 2] if g is not f and g.intent == "deliver"
                         and (g.verb is None or g.verb in SPEAKER_WANTS) and g.category is not None
                         and not g.objects), None)
            if need is not None:
                f.category, need.intent = need.category, "skip"
    # "bring me a mug, the green one", "get me the dog bowl, the silver one on the counter": the
    # one said after (no verb of its own) says which, and is no second errand
    for i, f in enumerate(frames[1:], 1):  # (past words that name nothing: "..., not sam's, mine, the red ones")
        prev = next((g for g in reversed(frames[:i])  # ("take my phone..., put it on the counter. the pink one")
                     if g.objects or (g.verb or g.places) and not g.pronoun), frames[i - 1])
        same = f.verb is None and {n for m in f.objects for n in m.names} <= {n for m in prev.objects for n in m.names}
        if ({"one", "ones"} & set(f.text.split()) or any(m.text in COLOURS for m in f.objects) or same) and f.objects and prev.objects and f.verb is None and f.intent in (
                "hint", "deliver", "place", "putaway") and prev.intent in ("deliver", "place", "putaway", "where"):
            before = {n for m in prev.objects for n in m.names}
            said = set.intersection(*(set(m.names) for m in f.objects)) & before \
                or {n for m in f.objects for n in m.names} & before  # "my cup is the red": the red cup
            if said:
                prev.objects = [dataclasses.replace(m, names=tuple(n for n in m.names if n in said), indefinite=False)
                                if len(m.names) > 1 and said < set(m.names) else m for m in prev.objects]
                f.intent = "hint"
    # where the user says things are, for "bring me the mug, it's on the bench"
    hint_locs = [loc for f in frames if f.intent == "hint" and not f.objects for loc in f.locs]
    commanded = [i for i, f in enumerate(frames) if f.intent not in (None, "skip", "hint", "depart")]
    aside = next((f.aside for f in frames if f.aside), None)
    if aside and not commanded:
        raise Refusal(aside, "unsupported")
    speech: list[Step] = []
    stages: list[list] = []
    last_objects: list[str] = []
    hint_list: list[str] = []  # the things of consecutive statements ("the cup is ..., the plate ...")
    last_unknown: list[str] = []
    last_rooms: list[str] = []
    last_place: str | None = None
    last_dest: dict[str, str] = {}
    for i, f in enumerate(frames):
        mentioned_rooms = [n for m in f.places for n in m.names if vocab.kinds[n] == "room"]
        back_there = f.verb is None and "back" in f.text.split() and f.dest_explicit and f.dest != USER
        if i > 0 and any(g.objects for g in frames[max(0, i - 2):i]) and not (f.objects or f.pronoun or f.unknown) \
                and f.category is None and last_objects \
                and (f.verb in (DELIVER_VERBS | PLACE_VERBS) - NAV_VERBS - SPEAKER_WANTS or back_there):
            # the thing said first, what to do with it after: "english book is on bed, bring here",
            # "white cup take from table, put in kitchen counter"
            f.pronoun = True
            if f.intent == "go" and f.dest is not None and f.dest != USER:
                f.intent = "place"
        if f.intent in (None, "skip"):
            if f.intent is None and f.unknown:
                noun_phrase = f.text.split()[0] in ("the", "a", "an", "some", "my", "your", "our")
                if noun_phrase or not commanded:  # ("unclear": nothing of this home is named at all)
                    raise Refusal(f"I didn't understand '{f.text}'.",
                                  "other" if any(g.objects or g.places for g in frames) else "unclear")
            continue  # small talk beside a command: "that's all for today, go charge"
        if f.intent == "hint":  # "the book is on the sofa": context, not a command
            found = []
            one = set.intersection(*(set(m.names) for m in f.objects)) if len(f.objects) > 1 else set()
            for m in ([dataclasses.replace(f.objects[0], names=tuple(one))] if len(one) == 1 else f.objects):
                # ("my mug is the white one": the thing both names name)
                try:
                    found.append(_resolve_object(m, state, vocab, f.locs))
                except Refusal:
                    pass
            if not f.objects and f.category is not None and f.locs:  # "is there something to drink from in the bedroom?"
                there = [o for o in _category_hits(f.category, vocab)
                         if any(loc in (state.location_of(o), state.room_of_object(o)) for loc in f.locs)]
                found = [_nearest(there, state)] if there else []
            if found:
                # "the kids left the apple and the plate lying around, put them back": a list
                # said across statements is one, for "them"
                listed = i > 0 and frames[i - 1].intent == "hint" and f.text.split()[0] in DETERMINERS | INDEFINITE
                hint_list = [o for o in hint_list if o not in found] + found if listed else found
                last_objects, last_unknown = found, []
            elif f.unknown and not f.pronoun:
                last_objects, last_unknown = [], f.unknown
            if mentioned_rooms and not f.objects:
                last_rooms = mentioned_rooms
            continue
        if f.intent == "depart":
            if any(j > i for j in commanded):
                continue  # "get out of the kitchen and go to the bedroom"
            others = [r for r in state.desc.rooms if r != f.depart]
            away = state.user_room if state.user_room != f.depart else others[0] if others else None
            if away is None:
                raise Refusal("There is nowhere else to go.")
            stages.append([["robot_in", away]])
            continue
        if f.intent == "stop":
            if "wait" in f.text.split() and any(g.intent == "go" for g in frames[:i]):
                continue  # "go in the shower room and wait": stay there
            speech.append(Step("say", ("OK, stopping.",)))
            continue
        if f.intent == "greet":
            if not commanded:  # "pass us the remote, cheers": thanks beside a request, no greeting
                speech.append(Step("say", ("Hello! What can I do for you?",)))
            continue
        if f.intent == "say":
            words = f.text.split(maxsplit=1)
            text = words[1] if len(words) > 1 else ""
            text = re.sub(r"^(to )?(me|the user|us|them|him|her)\b\s*(that\s+)?", "", text).strip()
            speech.append(Step("say", (text or "Hello!",)))
            continue
        if f.intent == "where" and any(g.intent in actions and set(n for m in g.objects for n in m.names)
                                       & set(n for m in f.objects for n in m.names) for g in frames[i + 1:]):
            continue  # "chabi kahan hai? bring the house keys": the later words say which, and it is brought
        objects = [n for m in f.objects for n in (
            m.names if _each_of(m, f.text.split(), vocab) else [_resolve_object(m, state, vocab, f.locs or hint_locs)])]
        if f.intent == "where":
            if not objects:
                raise Refusal(_unknown(f.unknown), "unknown")
            last_objects, last_unknown = objects, []
            if any(g.intent in actions and g.pronoun and not g.objects for g in frames[i + 1:]):
                continue  # "where is my plate? bring it to me": brought, not told
            for o in objects:
                where = state.location_of(o)
                place = "with you" if where == USER else "in my gripper" if where == "robot" else \
                    f"on the {where.replace('_', ' ')} in the " \
                    f"{state.desc.furniture[where].room.replace('_', ' ')}"
                speech.append(Step("say", (f"The {o.replace('_', ' ')} is {place}.",)))
            continue
        if not objects and f.category is not None and f.intent in ("deliver", "place") and f.verbless \
                and f.text.split()[:1] in (["i"], ["we"]):
            fits = set(_category_hits(f.category, vocab))
            asked = {n for g in frames if g is not f for m in g.objects for n in m.names} \
                | {g[1] for stage in stages for g in stage if g[0] == "delivered"}
            if fits & asked:
                continue  # "bring me the dr pepper, i'm thirsty": why, and what is brought fits it
        if not objects and f.category is not None and f.intent in ("deliver", "place"):
            cat = _category_object(f.category, state, vocab)
            if cat is None:
                raise Refusal(f"I can't find anything in this home for '{f.text}'.")
            objects = [cat]
        from_pronoun = not objects and f.pronoun and f.intent in actions
        if from_pronoun:
            if not last_objects and last_unknown:
                raise Refusal(_unknown(last_unknown), "unknown")
            held = state.holding
            plural = bool(set(f.text.split()) & {"them", "both", "they", "those", "these"})
            listed = plural and last_objects and set(last_objects) <= set(hint_list)
            objects = list(hint_list if listed else last_objects) or ([held] if held and not f.unknown else [])
        if from_pronoun and f.intent in ("deliver", "place") and f.dest is None and not f.to_user \
                and (f.verb in PLACE_VERBS or f.there) and objects and all(o in last_dest for o in objects):
            f.intent, f.dest = "place", last_dest[objects[0]]  # "it goes on the shelf, move it"
        if f.intent in actions and not objects and not from_pronoun and any(
                g.verbless and g.verb is None and g.objects and g.intent == f.intent
                and not {"one", "ones"} & set(g.text.split()) for g in frames[i + 1:i + 3]):  # (not "my jumper, the blue one")
            continue  # "get me the thing for the, for the eyes. the reading ones": named just after
        if f.intent in actions:
            if f.unknown and not objects:
                raise Refusal(_unknown(f.unknown), "unknown")
            if not objects:
                carried = [m for m in f.places if role_is_object(m, f, vocab)]
                if carried:
                    raise Refusal(f"I can't carry the {carried[0].text}.", "unsupported")
                vague = from_pronoun and not any(g.objects for g in frames) \
                    and not set(f.text.split()) & {"any", "anything", "everything", "all", "things", "stuff"}
                # ("that thing, you know, bring it"; not "put anything in there that isn't his back")
                raise Refusal(f"What should I {f.verb or 'bring'}? I didn't catch an object in "
                              f"'{f.text}'.", "vague" if vague else "other")
            if f.unknown_dest and not f.dest_explicit and f.dest != USER:
                raise Refusal(_unknown(f.unknown_dest), "unknown_place")
            # "grab the ball and the book and put them ...": "them" is both
            joined = f.verbless and i > 0 and frames[i - 1].intent == f.intent and not from_pronoun
            last_objects = [o for o in last_objects if o not in objects] + objects if joined else objects
        goals: list[list] = []
        if f.intent == "deliver":
            goals = [["delivered", o] for o in objects]
        elif f.intent == "putaway":
            goals = [["on", o, state.desc.objects[o].home] for o in objects]
        elif f.intent == "place":
            if f.floor is not None and f.dest != USER:  # (a place of the home's own called "rug" is said as that)
                raise Refusal(f"I only put things on furniture, not on the {f.floor}, where they could "
                              f"trip someone.", "unsupported")
            if f.dest is None and f.there and last_place:
                f.dest = last_place
            if f.dest is None:
                raise Refusal(f"Where should I put the {objects[0].replace('_', ' ')}?")
            # ("fetch my flask, ..., and my specs to the front door": a verb said before, borrowed)
            fetching = f.verb or next((g.verb for g in reversed(frames[:i]) if g.verb), None)
            if f.dest == USER or fetching in _FETCHING and f.dest == state.user_room:
                goals = [["delivered", o] for o in objects]  # "bring it up to my room": to the person there
            elif vocab.kinds[f.dest] == "room":
                goals = [["on", o, _surface_in_room(o, f.dest, state)] for o in objects]
            else:
                if not state.desc.furniture[f.dest].surface:
                    raise Refusal(f"I can't put things on the {f.dest.replace('_', ' ')}; "
                                  f"it is not a surface.")
                goals = [["on", o, f.dest] for o in objects]
            last_dest.update({o: f.dest for o in objects})
        elif f.intent == "tidy":
            rooms = [n for m in f.places for n in m.names if vocab.kinds[n] == "room"]
            rooms += [state.desc.furniture[n].room for m in f.places for n in m.names
                      if vocab.kinds[n] == "furniture"]
            if not rooms and not f.objects and stages and all(g[0] == "tidy" for g in stages[-1]) \
                    and not set(f.text.split()) & ALL_ROOM_WORDS - {"everything", "all"}:
                rooms = [g[1] for g in stages[-1]]  # "set the hall right, everything in its place": the hall's
            if not rooms and i > 0 and frames[i - 1].intent == "hint" and last_rooms and set(frames[i - 1].text.split()) & _MESS \
                    and not set(f.text.split()) & ALL_ROOM_WORDS - {"everything", "all", "things", "stuff"}:
                rooms = list(last_rooms)  # "it's all at sixes and sevens in my bedroom. put things back": there;
                # "the lounge room's a pigsty, put everything in there back": everything of the lounge
            if f.rooms_all and not rooms:
                rooms = list(state.desc.rooms)
            if not rooms and f.pronoun and last_objects and not last_rooms:
                stages.append([["on", o, state.desc.objects[o].home] for o in last_objects])
                continue
            if not rooms and f.pronoun:
                rooms = list(last_rooms)
            if not rooms:
                if f.unknown:
                    raise Refusal(_unknown(f.unknown), "unknown_place")
                if re.search(r"\b(the|that) (thing|business|matter)\b", f.text):  # "sort out the thing from this morning"
                    raise Refusal(f"I don't know what '{f.text}' means; tell me which room to tidy or what to move.",
                                  "vague")
                rooms = [state.user_room]
            goals = [["tidy", r] for r in dict.fromkeys(rooms)]
        elif f.intent == "dock":
            if vocab.dock is None:
                raise Refusal("This home has no charging dock.")
            goals = [["docked"]]
        elif f.intent == "go":
            if f.dest is None and f.places:
                m = f.places[0]
                if len(m.names) > 1:
                    raise _ambiguous(m, vocab)
                f.dest = m.names[0]
            if f.dest is None:
                if f.unknown or f.unknown_dest:
                    raise Refusal(_unknown(f.unknown_dest or f.unknown), "unknown_place")
                if len(frames) > 1:  # "go and get the remote": the next clause says where
                    continue
                raise Refusal(f"Where should I go? I didn't catch a place in '{f.text}'.")
            if f.dest == state.user_room and "come" in f.text.split():
                f.dest = USER  # "come out to the garage, i need a hand", said from the garage: to the speaker
            if f.dest == USER or vocab.kinds[f.dest] == "furniture":
                room = state.user_room if f.dest == USER else state.desc.furniture[f.dest].room
                goals = [["robot_in", room], ["robot_at", f.dest]]
            else:
                goals = [["robot_in", f.dest]]
        if mentioned_rooms:
            last_rooms = mentioned_rooms
        if f.places and len(f.places[-1].names) == 1:
            last_place = f.places[-1].names[0]
        if not stages or goals != stages[-1]:
            stages.append(goals)
    return stages, speech


def role_is_object(m: Mention, f: Frame, vocab: Vocabulary) -> bool:
    """A furniture/room named where an object was expected ("bring me the sofa")."""
    return m.names[0] != f.dest


def _final_goals(stages: list[list]) -> list[list]:
    """The goals that should still hold at the end: later clauses supersede earlier ones."""
    out: list[list] = []
    flat = [(i, g) for i, st in enumerate(stages) for g in st]
    for i, g in flat:
        later = [h for j, h in flat if j > i]
        if g[0] in ("robot_in", "robot_at", "docked") and any(
                h[0] in ("robot_in", "robot_at", "docked", "delivered", "on", "tidy") for h in later):
            continue
        if g[0] in ("delivered", "on") and any(len(h) > 1 and h[1] == g[1] for h in later):
            continue
        if g not in out:
            out.append(g)
    return out


def _drop_superseded_object_goals(stages: list[list]) -> list[list]:
    """'pick up the book and put it on the shelf': only the last goal about an object counts."""
    out = []
    for i, st in enumerate(stages):
        later_objs = {h[1] for s2 in stages[i + 1:] for h in s2 if h[0] in ("delivered", "on")}
        kept = [g for g in st if not (g[0] in ("delivered", "on") and g[1] in later_objs)]
        if kept:
            out.append(kept)
    return out


def _compact(steps: list[Step], state: WorldState) -> list[Step]:
    """Drop a navigate(room) directly followed by a navigate into that same room."""
    desc = state.desc
    out = []
    for i, s in enumerate(steps):
        nxt = steps[i + 1] if i + 1 < len(steps) else None
        if (s.skill == "navigate" and s.args[0] in desc.rooms and nxt is not None
                and nxt.skill == "navigate" and _room_of_target(nxt.args[0], state) == s.args[0]):
            continue
        out.append(s)
    return out


def _room_of_target(target: str, state: WorldState) -> str | None:
    if target == USER:
        return state.user_room
    f = state.desc.furniture.get(target)
    return f.room if f else None


class RulesPlanner(Planner):
    """Rule-based English -> plan baseline; vocabulary from the state's world description."""

    name = "rules"

    def __init__(self, world: WorldDescription | None = None):
        self.world = world
        self._vocab_cache: dict[tuple, Vocabulary] = {}
        self._last_vocab: tuple[WorldDescription, Vocabulary] | None = None

    def vocabulary(self, desc: WorldDescription) -> Vocabulary:
        if self._last_vocab is not None and self._last_vocab[0] is desc:  # (the key sorts the world)
            return self._last_vocab[1]
        key = (tuple(sorted((n, r.aliases) for n, r in desc.rooms.items())),
               tuple(sorted((n, f.aliases, f.room, f.surface, f.at) for n, f in desc.furniture.items())),
               tuple(sorted((n, o.aliases, o.color, o.home) for n, o in desc.objects.items())))
        if key not in self._vocab_cache:
            self._vocab_cache[key] = Vocabulary.build(desc)
        self._last_vocab = (desc, self._vocab_cache[key])
        return self._last_vocab[1]

    def plan(self, command: str, state: WorldState | None = None) -> PlanResult:
        t0 = time.perf_counter()
        if state is None:
            state = WorldState.initial(self.world)
        try:
            result = self._plan(command, state)
        except Refusal as r:
            result = PlanResult.refused(str(r))
        except Exception as e:  # never crash on user text; say what went wrong instead
            log.exception("rules planner failed on %r", command)
            result = PlanResult.refused(f"Sorry, I couldn't plan that ({type(e).__name__}).")
        result.latency_ms = (time.perf_counter() - t0) * 1000.0
        return result

    def safety_refusal(self, command: str, state: WorldState) -> str | None:
        """The safety rule `command` breaks, or None: the screen this planner runs first, for
        another backend to run before its own model (without parsing or solving anything)."""
        if not isinstance(command, str):
            return None
        raw = _tokens(command[:MAX_COMMAND_CHARS])
        vocab = self.vocabulary(state.desc)
        return _screen(_repaired(raw, vocab), raw, vocab)

    def reading(self, command: str, state: WorldState) -> tuple[Refusal | None, set[str], list[list]]:
        """The rule parser's reading of `command` for another backend, parsed once: why it would
        refuse (with the reason's kind) or None, and the places it names only as where something
        is or was, never as where something should go: in a statement or a report ("the ball is
        on the bed", "someone left the stapler on the bench") or as the source ("take it off the
        shelf"), or as a room to leave ("get out of the kitchen"). The MoE's mask uses the latter:
        the model had copied such a place into a put ("tidy the bedroom - the ball is on the bed"
        put the ball back on the bed) and, offered the room it is in, "went" to the room it was
        told to leave. Third, the goals of its plan when the plan does something ([] when it
        refuses or only speaks)."""
        frames: list[Frame] = []
        goals: list[list] = []
        try:
            result = self._plan(command, state, frames)
            goals = result.goals if any(s.skill not in ("say", "refuse") for s in result.steps) else []
            ruled = None
        except Refusal as r:
            ruled = r
        except Exception:  # noqa: BLE001 - `plan` logs these; here no refusal is known
            ruled = None
        where = {n for f in frames for n in f.locs} | {f.depart for f in frames if f.depart is not None}
        return ruled, where - {f.dest for f in frames if f.dest is not None and f.dest_explicit}, goals

    def said_in_order_of_deeds(self, command: str, desc: WorldDescription) -> str | None:
        """`command` said with its deeds in the order they happen, when one was said as the
        time of another ("go charge once you've tidied the bedroom" -> "tidy the bedroom, then
        go charge"; "X, but Y first" -> "Y, then X"), or with commas between three or more deeds
        said without any ("fetch the book then tidy up the kitchen then go dock" -> "fetch the
        book, then tidy up the kitchen, then go dock"); None when it is said that way already.
        The embedded MoE reads the first forms far less reliably than the second."""
        vocab = self.vocabulary(desc)
        raw = _as_meant(_tokens(command[:MAX_COMMAND_CHARS]), vocab)
        timed: list[bool] = []
        try:
            clauses = _split_clauses(_repaired(raw, vocab), raw, vocab, timed)
            borrowed = _fetched_and_put(_verbs_restated(clauses, vocab), vocab)
        except Refusal:  # "the black cup" in a home with none: the parse refuses it, not this
            return None
        # three or more deeds said without a comma, as speech arrives ("fetch the book then tidy
        # up the kitchen then go dock"): said with them, as the model reads far more reliably
        # (it had docked straight after the fetch)
        unmarked = len(clauses) >= 3 and "," not in raw \
            and all(any(t in DEED_WORDS for t in toks[:3]) for toks, _ in clauses)
        if not timed[0] and not unmarked and borrowed == clauses:
            return None
        said = []
        for toks, words in borrowed:
            words = [w.lower() for w in words]
            if words and toks[0] in DEED_WORDS and (toks[0] != words[0] or words[0].endswith("ing")):  # "tidied"
                words[0] = _base_verb(words[0]) or toks[0]
            if words[:1] == ["but"]:
                words = words[1:]
            if len(words) > 1 and words[-1] == "first":
                words = words[:-1]
            said.append((" ".join(words), any(t in DEED_WORDS for t in toks[:4])))
        # "then" between deeds only: "the green thing, leave it on the bed", not "..., then leave"
        out, after_deed = "", False
        for k, (text, deed) in enumerate(w for w in said if w[0]):
            out += text if not k else (", then " if deed and after_deed else ", ") + text
            after_deed = deed
        return out

    def decided(self, command: str, state: WorldState) -> tuple[str | None, str | None]:
        """`command` as the state reads it, or None when it reads it as said: its conditions
        decided (`conditions.py`: "the charger too if it's on the island" -> "the charger too" or
        nothing), in the parser's words; and who is speaking, where the place said picks one of
        two people's things ("move my passport from the hall to my desk" -> "it is kenji, move
        my passport ...", `repairs.speaker_by_where`); a swap said as two puts (`repairs.swapped`);
        "the table in here" as the speaker's room's (`_own_room`). Second, what to say instead of planning
        when a condition left nothing to do ("The remote is on the shelf, not on the couch, so I
        did nothing."), else None."""
        from cloud_brain.planner.conditions import decided
        from cloud_brain.planner.repairs import speaker_by_where, swapped
        vocab = self.vocabulary(state.desc)
        raw = _as_meant(_tokens(command[:MAX_COMMAND_CHARS]), vocab)  # as the parser decides them
        out, unmet, known = decided(raw, state, vocab)
        text = " ".join(out) if known and out != raw else None  # (not "if it's no trouble", taken to hold)
        if known and unmet is not None:
            steps = self.plan(command, state).steps
            if not (len(steps) == 1 and steps[0].skill == "say" and steps[0].args == (unmet,)):
                unmet = None
        said = _tokens(text) if text else raw  # the words as read so far, `text` in tokens
        where = {o: w for o, w in state.objects if w in state.desc.furniture}
        who = speaker_by_where(said, where, vocab, state.user_room)
        if who != said:  # said before the command as it was said, which keeps its sentences
            text = f"{' '.join(who[:3])}, {text or command}"
            said = _tokens(text)
        puts = swapped(said, where, vocab)
        if puts != said:  # "swap the book and the remote": two puts
            text, said = " ".join(puts), puts
        here = _own_room(said, state, vocab)
        if here != said:  # "the table in here": the speaker's room's
            text = " ".join(here)
        return text, (unmet if known else None)

    def as_meant(self, command: str, desc: WorldDescription) -> str | None:
        """`command` with its speech repairs applied (`repairs.py`: "the cup no wait the plate"
        -> "the plate"), in the parser's words; None when it has none."""
        raw = _tokens(command[:MAX_COMMAND_CHARS])
        meant = _as_meant(raw, self.vocabulary(desc))
        return " ".join(meant) if meant != raw else None

    def refusal(self, command: str, state: WorldState) -> Refusal | None:
        """Why the rule parser would refuse `command` (with the reason's kind), or None."""
        return self.reading(command, state)[0]

    def _plan(self, command: str, state: WorldState, frames_out: list | None = None) -> PlanResult:
        """The plan for `command`, or a Refusal; `frames_out`, when given, receives the clauses'
        frames once all are parsed. A command of several sentences that the parser refuses is
        read again without the sentences that ask nothing of the home (`_chatter`): "Could you
        bring me the torch? The lights have flickered twice already with this wind." The screen
        has already read every word, so no unsafe ask hides in a dropped sentence."""
        try:
            return self._plan_once(command, state, frames_out)
        except Refusal as refused:
            if refused.kind in ("safety", "ambiguous", "report") or not isinstance(command, str):
                raise
            sentences = _sentences(command[:MAX_COMMAND_CHARS])
            if len(sentences) < 2:
                stopped = _with_stops(command[:MAX_COMMAND_CHARS])
                if stopped is None:
                    raise
                try:  # speech has no full stops: "you're in the way go sit in the hall"
                    return self._plan(stopped, state, frames_out)
                except Refusal:
                    raise refused from None
            vocab = self.vocabulary(state.desc)
            chatter = [_chatter(t, vocab) for t in sentences]
            for keep in ([t for t, c in zip(sentences, chatter) if c < 2],
                         [t for t, c in zip(sentences, chatter) if c < 1]):
                if not keep or len(keep) == len(sentences):
                    continue
                try:
                    frames: list[Frame] = []
                    result = self._plan_once(" ".join(keep), state, frames)
                except Refusal:
                    continue
                if frames_out is not None:
                    frames_out.extend(frames)
                return result
            raise

    def _plan_once(self, command: str, state: WorldState, frames_out: list | None = None) -> PlanResult:
        if not isinstance(command, str):
            raise Refusal("I only understand text commands.")
        text = command[:MAX_COMMAND_CHARS]
        raw = [t for t in _tokens(text)]
        if not any(t.isalpha() for t in raw):
            raise Refusal("I didn't understand that; please tell me what to do.")
        vocab = self.vocabulary(state.desc)
        raw = _own_room(raw, state, vocab)
        raw = _told_apart(raw, state, vocab)
        unsafe = _screen(_repaired(raw, vocab), raw, vocab)  # as said: a correction never hides an unsafe ask
        if unsafe:
            raise Refusal(unsafe, "safety")
        raw = _as_meant(raw, vocab)
        raw, unmet = _decided(raw, state, vocab)  # on the words as meant: "my mug, unless ..., raj's will do"
        toks = _repaired(raw, vocab)
        clauses = _split_clauses(toks, raw, vocab)
        rooms_said = _rooms_said(clauses, vocab)
        frames = [_parse_clause(t, r, vocab, rooms_said) for t, r in clauses]
        remarks = [i for i, f in enumerate(frames) if _remark(f)]
        said = len(frames_out) if frames_out is not None else 0
        if frames_out is not None:
            frames_out.extend(frames)
        try:
            stages, speech = _frames_to_stages(frames, state, vocab)
        except Refusal as refused:
            if not remarks or refused.kind == "safety" or len(remarks) == len(frames):
                raise
            # the request read again without the remarks beside it ("I've gone and left the
            # remote in the lounge, could you fetch it"); still refused if it still fails
            frames = [_parse_clause(t, r, vocab, rooms_said) for i, (t, r) in enumerate(clauses) if i not in remarks]
            try:
                stages, speech = _frames_to_stages(frames, state, vocab)
            except Refusal:
                raise refused from None
            if not stages:
                raise refused from None
            if frames_out is not None:
                frames_out[said:] = frames
        stages = _drop_superseded_object_goals(stages)
        if not stages:
            if speech:
                return PlanResult(speech, [])
            if unmet:  # "if the remote's on the couch, bring it" with the remote elsewhere
                return PlanResult([Step("say", (unmet,))], [])
            if any(f.reported for f in frames):  # "I moved the plate to the counter": nothing asked
                raise Refusal("That sounds like something already done; tell me what you'd like me to do.",
                              "report")
            raise Refusal(f"I didn't understand '{command.strip()[:80]}'.")
        steps: list[Step] = []
        current = state
        placed: list[list] = []  # earlier placements stay put ("the apple on the table, the cup too")
        for goals in stages:
            objs = {g[1] for g in goals if g[0] in ("on", "delivered")}
            keep = [g for g in placed if g[1] not in objs and holds(g, current, [])]
            try:
                part = solve_keeping(goals, keep, current)
            except SolveError as e:
                raise Refusal(f"I can't do that: {e}.", "impossible") from None
            steps += part
            current = execute(part, current)
            placed = [g for g in placed if g[1] not in objs] + [g for g in goals if g[0] == "on"]
        steps = _compact(steps, state)
        final = _final_goals(stages)
        try:
            end = execute(steps, state)
        except PlanError as e:  # compaction must keep the plan valid; guard anyway
            raise Refusal(f"I can't do that: {e}.") from None
        final = [g for g in final if holds(g, end, steps)] or final
        if not steps:
            speech.append(Step("say", (ALREADY_DONE,)))
        return PlanResult(speech + steps if speech else steps, final)


_FETCHING = frozenset("bring fetch get grab".split())  # to the room the person is in: to them
_JOINERS = frozenset("then and also after that finally next".split())
_RESTATED = NAV_VERBS | TIDY_WORDS | frozenset(("put",))  # "go to the kitchen then the bedroom"


def _verbs_restated(clauses: list[tuple[list[str], list[str]]], vocab: Vocabulary) -> list:
    """Clauses with a room deed or a put-away said once restated in the clauses that borrow it
    ("go to the kitchen, then the bedroom, then the bathroom" -> "..., then go to the
    bedroom, then go to the bathroom"; "put away the remote, then the book"): the MoE dropped
    or misplaced the borrowing ones. Other clauses are returned as they are."""
    out = []
    verb: list[str] | None = None  # the verb phrase of the last clause that says one
    for toks, words in clauses:
        k = 0
        while k < len(toks) and toks[k] in _JOINERS:
            k += 1
        body, said = toks[k:], words[k:]
        ments = _find_mentions(body, said, vocab) if body else []
        if body and body[0] in _RESTATED:
            first = next((m for m in ments), None)
            rest = body[first.end:] if first else []
            simple = first is not None and all(t in ("first", "please", "now", ",") for t in rest)
            kinds = {vocab.kinds.get(n) for n in first.names} if first else set()
            room_deed = body[0] in NAV_VERBS | TIDY_WORDS and kinds <= {"room"}
            put_away = body[0] == "put" and ("away" in body[:first.start] or "back" in body[:first.start]) \
                if first else False
            verb = list(said[:_phrase_start(body, first.start)]) if simple and (room_deed or put_away) else None
            out.append((toks, words))
            continue
        lead = 1 if body[:1] and body[0] in DEST_PREPS else 0
        verbless = ments and body and not set(body) & DEED_WORDS and len(ments) == 1 \
            and (body[lead:lead + 1] and body[lead] in DETERMINERS or ments[0].start == lead)
        if verb and verbless:
            phrase = [w for w in verb if not (lead and w in DEST_PREPS)]
            out.append((toks[:k] + [t.lower() for t in phrase] + body, words[:k] + phrase + said))
            continue
        verb = None
        out.append((toks, words))
    return out


_PUT_VERBS = frozenset("put place set stick pop leave drop lay move".split())


def _phrase_start(toks: list[str], start: int) -> int:
    """Where the noun phrase of a mention starting at `start` begins: its determiners too."""
    while start > 0 and toks[start - 1] in DETERMINERS:
        start -= 1
    return start


def _fetched_and_put(clauses: list, vocab: Vocabulary) -> list:
    """ "fetch the bottle and put it on the bed" -> "put the bottle on the bed": a thing fetched
    only to be put somewhere, said as the put (the MoE, reading "fetch", handed it over)."""
    out = list(clauses)
    for i in range(len(out) - 1):
        (ta, wa), (tb, wb) = out[i], out[i + 1]
        ka = next((k for k, t in enumerate(ta) if t not in _JOINERS), len(ta))
        kb = next((k for k, t in enumerate(tb) if t not in _JOINERS), len(tb))
        if ta[ka:ka + 1] in (["take"], ["bring"], ["carry"]) and ta[ka + 1:ka + 2] in (["it"], ["them"]) \
                and tb[kb:kb + 1] and tb[kb] in _PUT_VERBS and tb[kb + 1:kb + 2] == ta[ka + 1:ka + 2] \
                and all(vocab.kinds.get(n) == "room" for m in _find_mentions(ta[ka:], wa[ka:], vocab) for n in m.names):
            # "take it to the kitchen and put it on the table": the put says where it ends
            return out[:i] + [(ta[:ka] + tb[kb:], wa[:ka] + wb[kb:])] + _fetched_and_put(out[i + 2:], vocab)
        if ka >= len(ta) or ta[ka] not in DELIVER_VERBS - _PUT_VERBS | {"take"} or set(ta) & USER_WORDS:
            continue
        ments = _find_mentions(ta[ka:], wa[ka:], vocab)
        things = [m for m in ments if all(vocab.kinds.get(n) == "object" for n in m.names)]
        if len(things) != 1 or tb[kb:kb + 1] == [] or tb[kb] not in _PUT_VERBS \
                or tb[kb + 1:kb + 2] not in (["it"], ["them"]) or not set(tb[kb + 2:]) & DEST_PREPS:
            continue
        m = things[0]
        d = ka + _phrase_start(ta[ka:], m.start)
        thing_t, thing_w = ta[d:ka + m.end], wa[d:ka + m.end]
        merged = (ta[:ka] + [tb[kb]] + thing_t + tb[kb + 2:], wa[:ka] + [wb[kb]] + thing_w + wb[kb + 2:])
        return out[:i] + [merged] + _fetched_and_put(out[i + 2:], vocab)
    return out


def _own_room(raw: list[str], state: WorldState, vocab: Vocabulary) -> list[str]:
    """ "my room is a disaster, put stuff back": said in a room the home names as someone's
    ("sofia's room"), that room; elsewhere "my room" is the home's bedroom (`repairs`). And "the
    table in here" is the table in the speaker's room."""
    room = state.user_room
    name = room.split("_")
    if vocab.phrases.get(tuple(name)) == {room}:
        for k in range(len(raw) - 2, 0, -1):
            if raw[k:k + 2] == ["in", "here"] and any(
                    vocab.kinds.get(n) == "furniture" for t in raw[max(0, k - 2):k] for n in vocab.phrases.get((t,), ())):
                raw = raw[:k + 1] + ["the", *name] + raw[k + 2:]
            elif raw[k] == "here" and any(vocab.kinds.get(n) == "furniture" for n in vocab.phrases.get((raw[k - 1],), ())):
                raw = raw[:k] + ["in", "the", *name] + raw[k + 1:]  # "leave it on the table here"
    if not any(room in ents for _, ents in vocab.persons) or vocab.phrases.get(tuple(name)) != {room}:
        return raw
    out = list(raw)
    for k in range(len(out) - 1, 0, -1):
        if out[k - 1] == "my" and out[k] in ("room", "bedroom"):
            out[k - 1:k + 1] = name
    return out


_NEARER = frozenset("closer closest nearer nearest".split())


def _whichever_nearer(raw: list[str], state: WorldState, vocab: Vocabulary) -> list[str]:
    """ "bring me a set of keys, mine or dad's, whichever's closer to you": of the things the
    name fits, the one nearest the robot (nearest the person with "to me"), as the state has
    them; the words that chose it said no more."""
    k = next((k for k in range(len(raw) - 1) if raw[k] == "whichever"
              and next((t for t in raw[k + 1:k + 4] if t not in ("is", "one", "ones")), "") in _NEARER), None)
    if k is None:
        return raw
    desc = state.desc
    thing = next((m for m in reversed(_find_mentions(raw[:k], raw[:k], vocab)) if len(m.names) > 1
                  and all(vocab.kinds.get(n) == "object" for n in m.names)), None)
    if thing is None:
        return raw
    end = next((j for j in range(k + 1, len(raw)) if raw[j] == ","), len(raw))
    to_me = "me" in raw[k:end] or "here" in raw[k:end]
    if to_me or state.robot_at == USER:
        spot = desc.rooms[state.user_room].user_spot
    elif state.robot_at in desc.furniture:
        spot = desc.furniture[state.robot_at].at
    elif state.robot_room == desc.robot_start_room():
        spot = desc.robot_start[:2]
    else:
        spot = desc.rooms[state.robot_room].user_spot
    at = {o: desc.furniture[w].at for o, w in state.objects if w in desc.furniture and o in thing.names}
    if len(at) < 2:
        return raw
    near = min(at, key=lambda o: (at[o][0] - spot[0]) ** 2 + (at[o][1] - spot[1]) ** 2)
    if vocab.phrases.get(tuple(near.split("_"))) != {near}:
        return raw
    return raw[:thing.start] + near.split("_") + raw[end:]


def _whichever_there(raw: list[str], state: WorldState, vocab: Vocabulary) -> list[str]:
    """ "check the kitchen counter and bring whichever phone charger is there": of the things
    the name fits, the one on the place said last before it, as the state has them."""
    for k in range(len(raw) - 3):
        if raw[k] not in ("whichever", "whatever"):
            continue
        thing = next((m for m in _find_mentions(raw[k + 1:], raw[k + 1:], vocab) if m.start == 0), None)
        if thing is None or len(thing.names) < 2 or any(vocab.kinds.get(n) != "object" for n in thing.names):
            continue
        end = k + 1 + thing.end
        rest = raw[end:end + 3]
        there = rest[:2] in (["is", "there"], ["s", "there"], ["are", "there"]) or rest[:3] == ["that", "is", "there"]
        place = next((m for m in reversed(_find_mentions(raw[:k], raw[:k], vocab))
                      if len(m.names) == 1 and vocab.kinds.get(m.names[0]) == "furniture"), None)
        if not there or place is None:
            continue
        on = [n for n in thing.names if state.location_of(n) == place.names[0]]
        if len(on) == 1 and vocab.phrases.get(tuple(on[0].split("_"))) == {on[0]}:
            return raw[:k] + ["the"] + on[0].split("_") + raw[end + (3 if rest[:1] == ["that"] else 2):]
    return raw


def _cleared_off(raw: list[str], state: WorldState, vocab: Vocabulary) -> list[str]:
    """ "clear off the dining table, the mug goes in the sink": a name several things share,
    said after the furniture to clear, is the one on it."""
    k = next((k for k, t in enumerate(raw) if t in ("clear", "empty") and raw[k + 1:k + 2] != ["up"]), None)
    if k is None:
        return raw
    ments = _find_mentions(raw, raw, vocab)
    place = next((m for m in ments if k < m.start <= k + 3 and len(m.names) == 1
                  and vocab.kinds.get(m.names[0]) == "furniture"), None)
    if place is None:
        return raw
    out = list(raw)
    for m in reversed([m for m in ments if m.start > place.end and len(m.names) > 1
                       and all(vocab.kinds.get(n) == "object" for n in m.names)]):
        on = [n for n in m.names if state.location_of(n) == place.names[0]]
        if len(on) == 1 and vocab.phrases.get(tuple(on[0].split("_"))) == {on[0]}:
            out[m.start:m.end] = on[0].split("_")
    return out


def _told_apart(raw: list[str], state: WorldState, vocab: Vocabulary) -> list[str]:
    from cloud_brain.planner.repairs import speaker_by_where, swapped, things_told_apart
    desc = state.desc
    where = {o: w for o, w in state.objects if w in desc.furniture}
    sizes = {o: spec.volume for o, spec in desc.objects.items()}
    apart = _cleared_off(_whichever_there(_whichever_nearer(raw, state, vocab), state, vocab), state, vocab)
    for _ in range(3):  # "the shorter bottle, then ... the taller one": each told apart
        told = things_told_apart(apart, where, sizes, {n: f.at for n, f in desc.furniture.items()}, vocab)
        if told == apart:
            break
        apart = told
    return swapped(speaker_by_where(apart, where, vocab, state.user_room), where, vocab)


def _decided(raw: list[str], state: WorldState, vocab: Vocabulary) -> tuple[list[str], str | None]:
    from cloud_brain.planner.conditions import decided
    return decided(raw, state, vocab)[:2]


def _as_meant(raw: list[str], vocab: Vocabulary) -> list[str]:
    from cloud_brain.planner.repairs import without_repairs  # it reads mentions with this module's parts
    return without_repairs(raw, vocab)


def main(argv: list[str] | None = None) -> int:
    import argparse
    from cloud_brain.domain.description import load_world
    ap = argparse.ArgumentParser(description="plan a command with the rule-based baseline")
    ap.add_argument("command")
    ap.add_argument("--world", default=None, help="world description YAML")
    args = ap.parse_args(argv)
    planner = RulesPlanner(load_world(args.world))
    result = planner.plan(args.command)
    print(result.text)
    print(f"# goals: {result.goals}  latency: {result.latency_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
