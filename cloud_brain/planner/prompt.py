"""The MoE planner's prompt and plan format, and its tokenizer.

Why this format: the model must read the *state* (where every object is, where the robot and
the user are, what the robot holds) and copy entity names out of whatever world it gets, so the
prompt lists every entity of the world under a pointer token `@k` whose number is shuffled per
example (`shuffle`), and the plan refers to entities only through those pointers. A pointer
means nothing by itself: to write `pick @7` the model has to find in the prompt which entry the
command talks about, which is why a plan generalises to renamed rooms and objects.

    .venv/bin/python -m cloud_brain.planner.prompt "bring me the mug"

Prompt (one line here, tokens separated by spaces; names read with spaces for underscores):

    <bos> <rooms> @3 kitchen | @0 living room ~ lounge ~ sitting room | ...
          <furn> @9 kitchen counter ~ counter ~ worktop in @3 | @5 charging dock ~ dock nosurf in @1 | ...
          <objs> @12 red cup ~ cup ~ mug on @9 home @9 | @2 remote ... on <held> home @4 | ...
          <robot> in @3 at @9 holding @2 docked <user> in @0
          <cmd> bring me the mug and go charge <ment> @12 <plan>

`<ment>` lists the entities the command names (`mentions`: schema linking, longest phrase
first, typos repaired), so the model copies a pointer instead of first learning to match words
across the prompt; it still decides what each mention is for and finds described-only entities
("something to drink") in the world part itself.

Plan: a goal program (cloud_brain/planner/program.py), one item per intent; the decoder expands
each item into skill steps with the symbolic solver the moment its last token is decoded:

    <deliver> @12 <dock> <eos>     | <put> @12 <home> <eos> | <refuse> <r:unknown> <eos>

Tokenizer: a closed word vocabulary (the plan/prompt symbols, the words of the world
descriptions and the corpus grammar; see `Tokenizer.build`) plus a spelling fallback (`#a`…`#z`,
`#0`…`#9`, then `</w>`) for any other word, so encode → decode is lossless on normalised text and
every entity word of a world tokenizes to a single token when it is in the vocabulary. Words
outside the vocabulary in a *command* are first repaired to a close vocabulary word (typos).
"""

from __future__ import annotations

import difflib
import functools
import json
import random
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from cloud_brain.domain.description import WorldDescription
from cloud_brain.domain.plan import Step
from cloud_brain.domain.state import ROBOT, USER, WorldState
from cloud_brain.planner.sounds import pronunciations

MAX_SLOTS = 64  # pointer tokens @0 … @63: the most entities (rooms + furniture + objects) a prompt may hold
MAX_ALIASES = 4
# the longest world part (tokens) of the worlds the model trained on: the home's 219, the corpus's
# random worlds up to ~210. A bigger world is shown with fewer aliases (`build_prompt`).
WORLD_BUDGET = 224
# goal-program heads (see cloud_brain/planner/program.py)
GOAL_TOKENS = {"deliver": "<deliver>", "put": "<put>", "go": "<go>", "dock": "<dock>", "tidy": "<tidy>",
               "refuse": "<refuse>"}
TOKEN_GOALS = {v: k for k, v in GOAL_TOKENS.items()}
MAX_MENTIONS = 8
# refusal reasons the model chooses from; the planner words them for the person
REASONS = {
    "<r:unknown>": "I don't know that object or place in this home.",
    "<r:unsafe>": "That could hurt someone or damage something, so I won't do it.",
    "<r:impossible>": "I can't do that with the skills I have.",
    "<r:injection>": "I can't ignore my safety rules.",
    "<r:unclear>": "I didn't understand the command.",
}
SPECIALS = ["<pad>", "<bos>", "<eos>", "<rooms>", "<furn>", "<objs>", "<robot>", "<user>", "<cmd>",
            "<plan>", "<held>", "<to_user>", "<given>", "|", "~", "in", "on", "home", "at", "holding",
            "docked", "nosurf", "</w>", "<ment>", "<home>", *GOAL_TOKENS.values(), *REASONS]
CHARS = [f"#{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
SLOTS = [f"@{i}" for i in range(MAX_SLOTS)]
_WORD_RE = re.compile(r"[a-z]+|[0-9]+|[^\sa-z0-9]")


def normalise(text: str) -> str:
    """Lower case, underscores as spaces, single spaces between words and punctuation."""
    return " ".join(_WORD_RE.findall(text.lower().replace("_", " ")))


def as_heard(text: str) -> str:
    """`text` as speech recognition gives it: lower case words, no punctuation but apostrophes.
    The voice evaluation scores transcripts in this form, and the corpus says some commands so
    (a spoken command reaches the planner with no sentence or list boundaries). Letters with
    accents are heard as the letters ("Jürgen" -> "jurgen"), as a recogniser's dictionary spells
    them, not dropped."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z' ]+", " ", folded).split())


def words_of(name: str) -> list[str]:
    return _WORD_RE.findall(name.lower().replace("_", " "))


@functools.lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """The words of the English pronouncing dictionary the offline ASR ships (CMUdict, 134k
    words, in the pinned pocketsphinx wheel; read once, by `sounds.pronunciations`); empty where
    it is not installed, and then every close word is taken for a typo, as before."""
    return frozenset(w for w in pronunciations() if w.isalpha())


@dataclass
class Tokenizer:
    """Word-level vocabulary with a lossless spelling fallback; see the module docstring."""

    vocab: list[str]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.vocab)}
        self._words = [t for t in self.vocab if re.fullmatch(r"[a-z]+", t)]

    @classmethod
    def build(cls, words, size: int = 1024) -> "Tokenizer":
        """Fixed symbols first, then `words` (an iterable, most frequent first) up to `size`."""
        vocab = [*SPECIALS, *SLOTS, *CHARS]
        seen = set(vocab)
        for w in words:
            if w not in seen and len(vocab) < size:
                vocab.append(w)
                seen.add(w)
        return cls(vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def id(self, token: str) -> int:
        return self.index[token]

    # ---- text ------------------------------------------------------------------------------
    def words(self, text: str, repair: bool = False) -> list[str]:
        """Normalised words; with `repair`, a word outside the vocabulary that is close to a
        vocabulary word (a typo) becomes that word."""
        out = []
        for w in normalise(text).split():
            if w not in self.index and repair and w.isalpha() and len(w) >= 4:
                close = difflib.get_close_matches(w, self._words, n=1, cutoff=0.8)
                # a real word is no typo ("bother" is not "brother", "mate" not "master"),
                # unless its letters are the close word's swapped ("bottel")
                if close and (w not in english_words() or sorted(w) == sorted(close[0])):
                    w = close[0]
            out.append(w)
        return out

    def encode_words(self, text: str, repair: bool = False) -> list[int]:
        out = []
        for w in self.words(text, repair):
            if w in self.index:
                out.append(self.index[w])
            else:
                out.extend(self.index[f"#{c}"] if f"#{c}" in self.index else self.index["</w>"]
                           for c in w if c.isalnum())
                out.append(self.index["</w>"])
        return out

    def decode(self, ids: list[int]) -> str:
        """Token ids -> text (spelled words joined back); the inverse of encode on normalised text."""
        out, spell = [], []
        for i in ids:
            t = self.vocab[i]
            if t.startswith("#") and len(t) == 2:
                spell.append(t[1])
            elif t == "</w>":
                out.append("".join(spell))
                spell = []
            else:
                out.append(t)
        if spell:
            out.append("".join(spell))
        return " ".join(out)

    # ---- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"type": "brainstem-word-pointer", "vocab": self.vocab}, indent=0))

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        return cls(json.loads(Path(path).read_text())["vocab"])


# ---- prompt ---------------------------------------------------------------------------------
@dataclass
class Prompt:
    ids: list[int]
    slot_of: dict[str, int]  # entity name -> pointer number
    entity_of: dict[int, str]  # pointer number -> entity name
    mentioned: list[str] = field(default_factory=list)  # entities the command names (`mentions`)
    words: list[str] = field(default_factory=list)  # the command's words, typos repaired (`Tokenizer.words`)


def _entity_words(name: str, aliases: tuple[str, ...], keep: frozenset[str] | None = None) -> list[str]:
    """The entity's name and its first aliases, each after "~"; with `keep`, only the aliases
    that share a word with it."""
    out: list[str] = list(words_of(name))
    seen = {" ".join(out)}
    for a in aliases[:MAX_ALIASES]:
        w = words_of(a)
        if keep is not None and not keep.intersection(w):
            continue
        if " ".join(w) not in seen and w:
            seen.add(" ".join(w))
            out += ["~", *w]
    return out


def assign_slots(desc: WorldDescription, rng: random.Random | None = None) -> dict[str, int]:
    """Entity -> pointer number: shuffled with `rng` (training), in description order without."""
    names = [*desc.rooms, *desc.furniture, *desc.objects]
    if len(names) > MAX_SLOTS:
        raise ValueError(f"world has {len(names)} entities; the planner prompt holds at most {MAX_SLOTS}")
    nums = list(range(MAX_SLOTS))
    if rng is not None:
        rng.shuffle(nums)
    return {n: nums[i] for i, n in enumerate(names)}


def prompt_tokens(state: WorldState, slot_of: dict[str, int], keep: frozenset[str] | None = None) -> list[str]:
    """The world-state part of the prompt as symbols and words (before `<cmd>`); with `keep`,
    only the aliases that share a word with it (`_entity_words`)."""
    d = state.desc
    p = lambda n: f"@{slot_of[n]}"  # noqa: E731
    toks = ["<bos>", "<rooms>"]
    for i, r in enumerate(d.rooms.values()):
        toks += (["|"] if i else []) + [p(r.name), *_entity_words(r.name, r.aliases, keep)]
    toks.append("<furn>")
    for i, f in enumerate(d.furniture.values()):
        toks += (["|"] if i else []) + [p(f.name), *_entity_words(f.name, f.aliases, keep)]
        toks += ([] if f.surface else ["nosurf"]) + ["in", p(f.room)]
    toks.append("<objs>")
    where = state.object_map
    for i, o in enumerate(d.objects.values()):
        at = where[o.name]
        loc = "<held>" if at == ROBOT else "<given>" if at == USER else p(at)
        words = _entity_words(o.name, o.aliases, keep)
        if o.color and o.color not in words:
            words += ["~", *words_of(o.color)]
        toks += (["|"] if i else []) + [p(o.name), *words, "on", loc, "home", p(o.home)]
    toks += ["<robot>", "in", p(state.robot_room)]
    if state.robot_at:
        toks += ["at", "<to_user>" if state.robot_at == USER else p(state.robot_at)]
    if state.holding:
        toks += ["holding", p(state.holding)]
    if state.docked:
        toks.append("docked")
    toks += ["<user>", "in", p(state.user_room), "<cmd>"]
    return toks


# words people use for the same household thing; a world's own names and aliases win (a word
# that names one entity there is never taken for another through this table)
SYNONYMS = tuple(tuple(tuple(w.split()) for w in group.split("|")) for group in (
    "sofa|couch|settee", "tv|telly|television", "glasses|specs|spectacles",
    "bathroom|washroom|restroom|toilet|loo|lavatory|wc", "chest of drawers|dresser|drawers", "mudroom|mud room|boot room",
    "counter|worktop|countertop", "cupboard|cabinet", "wardrobe|closet", "sideboard|dresser|buffet|credenza",
    "nightstand|bedside table|night table|bedside cabinet", "hall|hallway|corridor|passage",
    "lounge|living room|sitting room|front room|family room", "remote|clicker|zapper|remote control",
    "phone|mobile|cellphone|mobile phone|cell phone", "jumper|sweater|pullover", "trainers|sneakers",
    "bin|trash can|rubbish bin|garbage can|waste bin", "sweets|candy", "biscuits|cookies",
    "biscuit|cookie", "torch|flashlight", "washing machine|washer", "duvet|comforter", "pram|stroller",
    "nappy|diaper", "dummy|pacifier", "teddy|teddy bear", "study|office", "porch|veranda",
    "bookshelf|bookcase|shelves", "mug|cup", "garden|yard",
    "storybook|picture book|story book", "crayons|colouring pencils|coloring pencils", "bunny|rabbit",
    "sun cream|sun lotion|sunscreen|suncream", "sunglasses|sunnies|shades", "flip flops|thongs",
    # said by people whose first language is another: the household word of their own language
    # (German, Polish, Japanese, Spanish, Italian, French, Hindi) for a thing the home names in
    # English; none shorter than five letters but "flur", so a typo is not taken for one
    "phone|telefon|keitai|sumaho|celular|movil|cellulare|telefonino", "keys|schlussel|klucze|chiavi|chabi",
    "glasses|brille|okulary|megane|lunettes|occhiali|gafas|lentes|chashma", "mug|kubek|becher|tasse|kappu|tazza",
    "coffee table|couchtisch|chabudai|stolik", "desk|bureau|schreibtisch|biurko|tsukue|escritorio|scrivania",
    "bed|lozko|beddo|letto", "kitchen|kuche|kuchnia|daidokoro|cocina|cucina", "shelf|regal|polka|estante|scaffale",
    "bathroom|lazienka|ofuro|bagno|badezimmer", "bedroom|schlafzimmer|sypialnia|dormitorio|chambre",
    "living room|wohnzimmer|salon|salotto", "hall|flur|diele|genkan|przedpokoj|korytarz|entrada|ingresso",
    "remote|fernbedienung|pilot|rimokon|mando|telecomando|telecommande",
    "headphones|kopfhorer|sluchawki|heddohon|auriculares|cuffie|casque", "charger|ladegerat|ladowarka|cargador|chargeur",
    "laptop|pasokon|note pasokon|noto pasokon|notopasokon|portatil", "bag|tasche|torba|kaban|bolsa|borsa", "bottle|flasche|butelka|botella|bottiglia|bouteille",
    "wallet|geldborse|portfel|saifu|cartera|portafoglio|portefeuille", "sofa|kanapa|divano|canape",
    "book|ksiazka|libro|livre", "dictionary|worterbuch|slownik|jisho|diccionario|dizionario",
))
_EXEMPT_HEADS = frozenset("room area space unit station top".split())  # no head noun alone: "guest room"


def extra_names(desc: WorldDescription) -> dict[str, list[tuple[str, ...]]]:
    """Entity -> names its description does not list but people use: a household synonym of a name
    or alias ("settee" for the sofa, "dresser" for the chest of drawers), an alias's singular
    ("biscuit" for "biscuits"), a furniture name's head noun ("bench" for the potting bench). Only
    those no other entity is named by, so the world's own words always win."""
    own: dict[tuple[str, ...], set[str]] = {}  # what the world itself names each entity
    claimed: dict[tuple[str, ...], set[str]] = {}  # ... and a thing's head noun ("cup" of "sippy cup")
    entities = [*desc.rooms.values(), *desc.furniture.values(), *desc.objects.values()]
    for x in entities:
        for w in [words_of(x.name), *(words_of(a) for a in x.aliases)]:
            own.setdefault(tuple(w), set()).add(x.name)
            claimed.setdefault(tuple(w), set()).add(x.name)
            if x.name in desc.objects and w:
                claimed.setdefault(tuple(w[-1:]), set()).add(x.name)
    cand: dict[tuple[str, ...], dict[str, None]] = {}  # ordered: prompts must not depend on hashing
    for x in entities:
        names = [tuple(words_of(x.name)), *(tuple(words_of(a)) for a in x.aliases)]
        for w in names:
            if not w:
                continue
            for group in SYNONYMS:
                for member in group:
                    n = len(member)
                    for k in range(len(w) - n + 1):
                        if w[k:k + n] == member:
                            for other in group:
                                if not (set(member) & set(other)):  # not "remote" -> "remote control"
                                    cand.setdefault(w[:k] + other + w[k + n:], {})[x.name] = None
            if "'" in w[1:-1] and w[w.index("'") + 1] == "s":  # "tom's mug" said "tom mug" or "toms mug"
                k = w.index("'")
                cand.setdefault(w[:k] + w[k + 2:], {})[x.name] = None
                cand.setdefault(w[:k - 1] + (w[k - 1] + "s",) + w[k + 2:], {})[x.name] = None
            last = w[-1]
            if last.endswith("s") and not last.endswith(("ss", "sses", "us", "ves")) and len(last) > 3:
                cand.setdefault(w[:-1] + (last[:-3] + "y" if last.endswith("ies") else last[:-1],), {})[x.name] = None
        if x.name in desc.furniture and len(names[0]) > 1 and names[0][-1] not in _EXEMPT_HEADS:
            cand.setdefault(names[0][-1:], {})[x.name] = None
    out: dict[str, list[tuple[str, ...]]] = {}
    for w, xs in cand.items():
        core = w[1:] if len(w) > 1 and w[0] in ("the", "a", "an", "my", "our", "your") else w  # "the dresser"
        for x in xs:
            if not (claimed.get(w, set()) | claimed.get(core, set())) - {x} and x not in own.get(w, set()):
                out.setdefault(x, []).append(w)  # nobody else's, not yet its own
    return out


def _phrases(desc: WorldDescription) -> dict[tuple[str, ...], list[str]]:
    """Every way the world description names an entity (name, aliases, colour + noun, plurals)
    -> the entities it names."""
    out: dict[tuple[str, ...], list[str]] = {}

    def add(words: list[str], name: str) -> None:
        for w in (tuple(words), *((*words[:-1], p) for p in plurals(words[-1] if words else ""))):
            if w and name not in out.setdefault(w, []):
                out[w].append(name)

    more = extra_names(desc)
    for x in [*desc.rooms.values(), *desc.furniture.values(), *desc.objects.values()]:
        names = [words_of(x.name), *(words_of(a) for a in x.aliases), *(list(w) for w in more.get(x.name, ()))]
        colour = words_of(getattr(x, "color", "") or "")
        for w in names:
            if w:
                add(w, x.name)
                if colour and w[0] != colour[0]:
                    add([*colour, w[-1]], x.name)
                    if len(w) > 1:
                        add([*colour, *w], x.name)  # "the pink lunch box"
    return out


def plurals(word: str) -> list[str]:
    """A noun's plural spellings: "mugs", "glasses", "shelves", "cherries"."""
    if not word:
        return []
    out = [word + "s"]
    if word.endswith(("s", "x", "ch", "sh")):
        out.append(word + "es")
    elif word.endswith("f"):
        out.append(word[:-1] + "ves")
    elif word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        out.append(word[:-1] + "ies")
    return out


_PHRASES: dict[int, tuple[WorldDescription, dict]] = {}


def _per_world(store: dict, desc: WorldDescription, build):
    """build(desc), computed once per world description (keyed by identity)."""
    hit = store.get(id(desc))
    if hit is None or hit[0] is not desc:
        hit = store[id(desc)] = (desc, build(desc))
    return hit[1]


def mentions(desc: WorldDescription, words: list[str]) -> list[str]:
    """Schema linking: the entities the command names, in the order it names them (longest
    phrase first at each word, so "kitchen table" is the table, not the kitchen). The model
    still decides what each mention is for, and finds what is only described ("something to
    drink") in the world part of the prompt."""
    out: list[str] = []
    linked = _linked(desc, words)
    for j, (i, hit) in enumerate(linked):
        if j + 1 < len(linked) and _qualifies(desc, words, linked, j):
            continue  # "the playroom table": the room only says which table
        hit = _in_the_room_said(desc, words, linked, j)
        out += [e for e in hit if e not in out]
    return out[:MAX_MENTIONS]


def _qualifies(desc: WorldDescription, words: list[str], linked, j: int) -> bool:
    """Whether linked[j] is a room said just before a furniture word it picks one of."""
    (i, hit), (nxt, furn) = linked[j], linked[j + 1]
    return len(hit) == 1 and hit[0] in desc.rooms and nxt <= i + 2 and len(furn) > 1 \
        and 0 < len(_in_the_room_said(desc, words, linked, j + 1)) < len(furn)


_ROOM_LINK = frozenset("in of inside the".split())


def _in_the_room_said(desc: WorldDescription, words: list[str], linked, j: int) -> list[str]:
    """The entities of linked[j]; of several furniture, those in the room said just before it
    ("the playroom table") or just after ("the table in the conservatory"), and none when that
    room has none ("the hall table" where the hall has no table: a thing this home lacks)."""
    i, hit = linked[j]
    if len(hit) < 2 or not all(e in desc.furniture for e in hit):
        return hit
    before = linked[j - 1] if j > 0 and linked[j - 1][0] >= i - 2 else None
    after = linked[j + 1] if j + 1 < len(linked) and set(words[i + 1:linked[j + 1][0]]) <= _ROOM_LINK \
        and "in" in words[i + 1:linked[j + 1][0]] else None
    for near, strict in ((before, True), (after, False)):
        if near is not None and len(near[1]) == 1 and near[1][0] in desc.rooms:
            inside = [e for e in hit if desc.furniture[e].room == near[1][0]]
            if inside or strict:
                return inside
    return hit


_MODALS = frozenset("can will may might must".split())
_SUBJECTS = frozenset("you u ya i we he she they it not t".split())


def _a_modal_verb(words: list[str], i: int) -> bool:
    """Whether words[i] is a modal verb here ("can you", "i can", "can't"), not a thing."""
    return words[i] in _MODALS and (i + 1 < len(words) and words[i + 1] in _SUBJECTS
                                    or i > 0 and words[i - 1] in _SUBJECTS)


def _linked(desc: WorldDescription, words: list[str]) -> list[tuple[int, list[str]]]:
    """(word index, the entities the phrase there names), longest phrase first at each word."""
    index = _per_world(_PHRASES, desc, _phrases)
    longest = max((len(p) for p in index), default=1)
    out: list[tuple[int, list[str]]] = []
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            hit = index.get(tuple(words[i:i + n]))
            if hit and n == 1 and _a_modal_verb(words, i):
                hit = None  # "can you get me ...", where a watering can is called "can"
            if hit:
                out.append((i, hit))
                i += n
                break
        else:
            i += 1
    return out


_DEST_PREPS = frozenset("on onto in into to at".split())
_DETS = frozenset("the a an my your our his her their this that".split())
# before the preposition, words that make the place where something *is* ("the cup is on the
# table", "the remote that's on the shelf", "lying on the bed"), not where it should go
_STATIVE = frozenset("""is are was were be been s it's its that's thats which sitting lying left
standing kept found""".split())


def destinations_said(desc: WorldDescription, words: list[str]) -> set[str]:
    """Places the command names as where something should go: after "on / in / to ..." that does
    not describe where something is ("put the plate on the table", not "the plate is on the
    table" or "take it from the table")."""
    out: set[str] = set()
    for i, hit in _linked(desc, words):
        j = i - 1
        while j >= 0 and words[j] in _DETS:
            j -= 1
        if j >= 0 and words[j] in _DEST_PREPS and not (j > 0 and words[j - 1] in _STATIVE):
            out.update(e for e in hit if e in desc.furniture or e in desc.rooms)
    return out


# Words that say "where it belongs" without naming the place (the program's <home>), or that
# make a named place the source rather than the destination ("take the ball off the bed"):
# generous on purpose, since a false hit only leaves <home> offered, as it always was.
HOME_CUES = frozenset("""away back belongs belong belonged home homes return returns returned usual
proper original goes go tidy tidying clean cleaning clear sort declutter off from where""".split())
_HOME_NOUNS = frozenset("place places spot spots".split())
_HOME_OWNERS = frozenset("its their his her my your right correct own".split())


def names_home(words: list[str]) -> bool:
    """Does the command say or imply "where it belongs" ("put the toy away", "back on its shelf",
    "in its place", "clear the sofa")? When it does not and it names a destination ("take the
    bottle to the sofa"), the grammar leaves <home> out of that destination: the model had put
    the bottle back on its counter."""
    return any(w in HOME_CUES or w in _HOME_NOUNS and i > 0 and words[i - 1] in _HOME_OWNERS
               for i, w in enumerate(words))


# words by which a command can send the robot to the person ("join me", "follow us", "get over
# here", "i need you"); "come" does unless a place follows it ("come back" is to the person,
# "come back to the kitchen" is not). Without one, going to the person is never an item
USER_CUES = frozenset("me us we i i'm im here join follow".split())
COME_WORDS = frozenset("come comes coming".split())
_COME_FILLERS = frozenset("back over right straight".split())
_PLACE_PREPS = frozenset("to into in inside towards toward through onto up down".split())


def names_user(words: list[str]) -> bool:
    """Could the command send the robot to the person? When it cannot ("fetch the plate, then
    tidy up the bedroom, then dock"; "go to the hallway, then come back to the kitchen"), the
    grammar leaves "go to the person" out: the model had added "come to me" after the dock and
    read "come back" as to the person. A delivery still ends with the person."""
    if any(w in USER_CUES for w in words):
        return True
    for i, w in enumerate(words):
        if w in COME_WORDS:
            rest = [x for x in words[i + 1:i + 4] if x not in _COME_FILLERS]
            if not rest or rest[0] not in _PLACE_PREPS:
                return True
    return False


# words by which a command asks for a thing to be handed over, or wanted by the speaker
_HAND_OVER = frozenset("""bring fetch get give hand pass retrieve grab me us here back need want
like love fancy thirsty hungry starving peckish parched bored""".split())
_PUT_VERBS = frozenset("put place leave set stick pop move take carry drop stand lay return".split())


def hands_over(desc: WorldDescription, words: list[str], destinations: set[str]) -> bool:
    """Could the command ask for a thing to be handed to the person? Not when it puts something
    on a furniture it names with a putting verb and says nothing of handing over or of wanting
    ("put my slippers on the bench in the porch", "leave it on the worktop for me"): the model,
    on homes bigger than it trained on, had handed the slippers over. `destinations`: those
    `destinations_said` finds in `words`."""
    said = [w for i, w in enumerate(words) if not (w in ("me", "us") and i > 0 and words[i - 1] == "for")]
    asks = any(w == "have" and {"i", "we"} & set(words[max(0, i - 2):i]) for i, w in enumerate(words))
    if asks or set(said) & _HAND_OVER or not set(words) & _PUT_VERBS:  # "can i have ..."
        return True
    return not any(e in desc.furniture for e in destinations)


_COMPOUNDS: dict[int, tuple[WorldDescription, dict]] = {}


def _compounds(desc: WorldDescription) -> dict[str, list[str]]:
    """A name of several words written as one -> its words ("livingroom" -> living, room)."""
    joined: dict[str, list[str]] = {}
    for x in [*desc.rooms.values(), *desc.furniture.values(), *desc.objects.values()]:
        for w in (words_of(x.name), *(words_of(a) for a in x.aliases)):
            if len(w) > 1:
                joined.setdefault("".join(w), w)
    return joined


def command_words(tok: Tokenizer, desc: WorldDescription, command: str) -> list[str]:
    """The command's words as the model reads them, in training and serving alike: normalised; a
    name of this world written as one word split into its words ("livingroom", "kitchencounter"
    -> "living room", "kitchen counter": the model knows those words, and linking finds the
    name), unless the word is one the model knows ("bedroom"); then typos repaired."""
    joined = _per_world(_COMPOUNDS, desc, _compounds)
    words = [p for w in normalise(command).split()
             for p in (joined.get(w, [w]) if w not in tok.index else [w])]
    return tok.words(" ".join(words), repair=True)


def command_ids(tok: Tokenizer, state: WorldState, slot_of: dict[str, int], words: list[str],
                max_command_tokens: int = 48) -> tuple[list[int], list[str]]:
    """The command part of a prompt (after `<cmd>`) from its repaired words: the words, `<ment>`
    and the pointers of the entities it mentions, then `<plan>`; and those entities (for the
    grammar mask)."""
    if isinstance(words, str):
        raise TypeError("command_ids takes the command's words (command_words), not its text")
    named = mentions(state.desc, words)
    ids = tok.encode_words(" ".join(words))[:max_command_tokens]
    ids.append(tok.index["<ment>"])
    ids += [tok.index[f"@{slot_of[e]}"] for e in named]
    return ids + [tok.index["<plan>"]], named


def build_prompt(tok: Tokenizer, state: WorldState, command: str,
                 rng: random.Random | None = None, max_command_tokens: int = 48) -> Prompt:
    slot_of = assign_slots(state.desc, rng)
    ids = world_ids(tok, state, slot_of)
    words = command_words(tok, state.desc, command)
    if len(ids) > WORLD_BUDGET:
        ids = _within_budget(tok, state, slot_of, words)
    cmd, named = command_ids(tok, state, slot_of, words, max_command_tokens)
    ids += cmd
    return Prompt(ids, slot_of, {v: k for k, v in slot_of.items()}, named, words)


def _within_budget(tok: Tokenizer, state: WorldState, slot_of: dict[str, int], words: list[str]) -> list[int]:
    """The world part of a world bigger than any the model trained on (many rooms and things, long
    aliases: 450-650 tokens against at most 219), cut to WORLD_BUDGET tokens or as near as it
    goes: first to the aliases that share a word with the command or with a need's nouns ("water"
    for "i'm thirsty"), then to those sharing one with the command. Past the budget the model
    reads positions it never trained on, and past its context it cannot read the world at all.
    The command's mentions are linked over every alias (`mentions`) whatever the prompt shows."""
    from cloud_brain.planner.corpus import CATEGORIES  # the needs the model learned
    said = frozenset(words)
    for keep in (said | {n for c in CATEGORIES for n in c[3]}, said):
        ids = world_ids(tok, state, slot_of, keep)
        if len(ids) <= WORLD_BUDGET:
            return ids
    return world_ids(tok, state, slot_of, frozenset())  # names alone, the shortest it gets


def world_ids(tok: Tokenizer, state: WorldState, slot_of: dict[str, int],
              keep: frozenset[str] | None = None) -> list[int]:
    """The world-state part of the prompt as token ids (ends with `<cmd>`); `keep`: see
    `prompt_tokens`."""
    ids: list[int] = []
    for t in prompt_tokens(state, slot_of, keep):
        if t in tok.index:
            ids.append(tok.index[t])
        else:  # a world word outside the vocabulary: spell it
            ids += tok.encode_words(t)
    return ids


def program_tokens(program: list[tuple], slot_of: dict[str, int]) -> list[str]:
    """A goal program (cloud_brain/planner/program.py) -> plan symbols, ending in <eos>.
    A refusal is ("refuse", reason_token)."""
    out = []
    for item in program:
        out.append(GOAL_TOKENS[item[0]])
        for a in item[1:]:
            if item[0] == "refuse" or a == "<home>":
                out.append(a)
            else:
                out.append("<to_user>" if a == USER else f"@{slot_of[a]}")
    return out + ["<eos>"]


def main(argv: list[str] | None = None) -> int:
    import sys
    from cloud_brain.planner.corpus import default_tokenizer
    tok = default_tokenizer()
    state = WorldState.initial()
    pr = build_prompt(tok, state, " ".join(argv if argv is not None else sys.argv[1:]))
    print(tok.decode(pr.ids))
    print(f"{len(pr.ids)} tokens, vocabulary {len(tok)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
