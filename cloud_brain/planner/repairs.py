"""Speech repairs: what a person meant when they corrected themselves mid-command.

People talk the way they think: "bring me the cup no wait the plate", "go to the bedroom uh
actually the kitchen", "put the remote on the couch, wait no, leave the remote and put the book
away", "not the book, the ball", "don't bring the cup, bring the plate", "so I was watching this
documentary ... anyway, could you fetch me the apple". Read word by word, each of these asks for
both things, or refuses over the chit-chat. Both planners read the command *after* these
repairs: the rule parser for its parse, the MoE for its prompt (the corpus it learned from has
none of them, so the model is shown what was meant).

Beside the repairs proper, the same pass says plainly what idioms, needs and text speak mean
("I could murder a snack", "my throat is dry", "go sit on your charger", "pls gimme the clicker",
"you're running out of battery") and drops who is addressed ("mate").

Every repair needs evidence on both sides of its marker: a thing, a furniture or a room before
"no wait" and one of the same kind after it (or a new command), so "no rush", "sorry to bother
you" and "actually, could you ..." pass through untouched.

Works on the rule parser's tokens (lower case, contractions expanded, "," for any punctuation).
"""

from __future__ import annotations

import re

from cloud_brain.planner.rules import (COLOURS, COMMON_WORDS, DEED_WORDS, DETERMINERS, DOCK_WORDS, IMPERATIVES,
                                       KNOWN_ENGLISH, PEOPLE, Mention, Refusal, Vocabulary, _find_mentions,
                                       _phrase_start, _repaired)
from cloud_brain.planner.sounds import heard_as_meant

_GRAMMAR = KNOWN_ENGLISH | COMMON_WORDS | PEOPLE  # words said for themselves: "tom's mum" is no mug
FILLERS = frozenset("um umm uh uhh uhm er erm hmm mm ah eh oh oi yeah yep yup lol mate pal dude bro robo bot".split())  # and who is addressed
# text speak, as the words it stands for
SPOKEN = {"u": ["you"], "ur": ["your"], "pls": ["please"], "plz": ["please"], "thx": ["thanks"],
          "gimme": ["give", "me"], "lemme": ["let", "me"], "wanna": ["want", "to"], "gotta": ["have", "to"],
          "cuz": ["because"], "coz": ["because"], "im": ["i", "am"], "ya": ["you"], "em": ["them"],
          "theres": ["there", "is"], "cmere": ["come", "here"], "comere": ["come", "here"], "wheres": ["where", "is"], "whats": ["what", "is"], "youre": ["you", "are"],
          "ive": ["i", "have"], "cant": ["can", "not"], "thats": ["that", "is"], "ta": ["thanks"],
          "theyre": ["they", "are"], "hes": ["he", "is"], "shes": ["she", "is"], "dont": ["do", "not"],
          "didnt": ["did", "not"], "wont": ["will", "not"], "isnt": ["is", "not"], "arent": ["are", "not"],
          "gracias": ["thanks"], "merci": ["thanks"], "danke": ["thanks"], "bitte": ["please"],
          # words of one side of the Atlantic the world descriptions may not list
          "loo": ["toilet"], "lavatory": ["toilet"], "wc": ["toilet"], "telly": ["tv"]}
# markers that take back what came just before; the longest is matched first
_STRONG = [tuple(m.split()) for m in (
    "sorry i mean", "sorry i meant", "no i mean", "no i meant", "i mean", "i meant", "or rather",
    "actually no make it", "no make it", "actually make it", "actually make that", "no make that", "make that", "actually no scrap that", "no scrap that",
    "actually scrap that", "scrap that", "no scratch that", "scratch that", "no wait", "wait no",
    "no no", "no sorry", "sorry no", "no actually", "actually no", "oops",
    "no hang on what am i saying", "hang on what am i saying", "what am i saying", "no hang on", "hang on",
    "no hold on", "hold on", "silly me", "my mistake")]
_WEAK = [("no",), ("wait",), ("sorry",), ("actually",), ("rather",)]  # need a thing or place on both sides
MARKERS = sorted(_STRONG + _WEAK, key=len, reverse=True)
_PREPS = frozenset("to on onto in into at".split())
_TRAILING = frozenset("instead please".split())
_PREAMBLE_ENDS = frozenset("anyway anyways anyhow whatever".split())  # "... my flatmate came in, anyway ..."
_ADDS = frozenset("too also well".split())
_AUX = frozenset("do does did will would can could should is are am was were must".split())
_DROPPED_NEEDS = ("need to", "have to")  # "you don't need to cook it": nothing asked


# idioms said as meant (on the tokens joined by spaces); the colour of "the ball of yellow
# colour" is moved before its noun in `_said_plainly`
IDIOMS = tuple((re.compile(a), b) for a, b in (
    (r"\b(i|we) could (murder|kill|go for|do with|use)\b", r"\1 want"),  # "i could murder a snack"
    (r"\b(i|we) (do |really |kind of |sort of |quite )?fancy\b", r"\1 want"),
    (r"\b(i|we) would (love|adore)\b", r"\1 would like"),  # "i'd love my book"
    (r"\bwhere (they|it|each one|everything|things) (live|lives)\b", r"where \1 belong"),
    (r"\b(run|draw|fill) (me |us |him |her )?a bath\b", "bathe me"),  # not a run to the person
    (r"\bcome (on )?(over|through|round|around|along)( here)?(?= ,|$)", "come here"),  # "i'm in the den, come through"
    (r"\b(no wait|wait no|no sorry|sorry no|no|wait|sorry)( ,)? not (there|that one|that)\b", r"\1"),  # "... no wait, not there, on the table"
    (r"( ,)? (and )?(stay|wait|remain) (there|put)\b", ""),  # "go in the mud room and stay there"
    # who is addressed, and endearments: "be a love and hand me ...", "..., there's a good lad",
    # "could you bring me the paper, love?"
    (r"\bbe an? (love|dear|darling|sweetheart|angel|star|gem|treasure|good (lad|boy|girl|robot)) and\b", ""),
    (r"(, )?\b(there|that) (is|s) an? (love|dear|darling|sweetheart|angel|star|good (lad|boy|girl|robot))\b", ""),
    (r"(^|, )(my )?(love|dear|darling|sweetheart|sweetie|honey|hun|pet|petal|duck|ducks|lovey|chum)(?= ,|$)", r"\1"),
    (r"\b(it )?(looks|look|is) like a bomb (has |s |is )?(hit|gone off in) (it|this place|this room|here)\b",
     "it is a mess"),
    (r"\bmy (throat|mouth) is( so| really| very| bone| totally)? dry( as a bone)?\b", "i am thirsty"),
    (r"\bi (really )?mean it\b( ,)?", ""),
    (r"\b(por favor|s il vous plait|per favore)\b", "please"),
    (r"\b(come on|chop chop|quick quick|on the double|pronto|asap|sharpish)\b( ,)?", ""),
    (r"\bthe (whole )?lot( of them| of it)?\b", "them"),
    (r"\bevery ?(thing|things)\b", "everything"),
    (r"\b(bring|give|pass|hand) to (me|us)\b", r"\1 \2"),  # "bring to me the charger"
    (r"\bit is ((the |my |his |her )?\w+ \w+) (i am|i m) after\b", r"\1"),  # "it's tom's mug i'm after"
    (r"\bcome back (here )?with\b", "bring me"),  # "pop into the larder and come back with the tin"
    (r"\b(tidy|tidying|clean|cleaning|clear|clearing) up after (him|her|them|the kids|everyone|us)\b", r"\1 up"),
    (r"\b(i )?(do not|dont) suppose (you|u) (could|would|can|might)\b", r"\4 you"),  # a polite ask
    (r"\bso (that )?(i|we) (can|could|will|may)\b", r", so \2 \3"),  # a purpose is a clause of its own
    (r"\b(while|since|as) you (are|re) (at it|there|over there|up there|down there|in there|passing|going)\b", ""),  # "..., and the remote while you're over there"
    (r"\b(i )?(need|want|could use|could do with) (a hand|some help|your help)( with (something|this|that|it))?\b", ""),
    (r"\b(go|come) (and )?(sit|stand|park)( yourself)? (in|by|near|at) the\b", r"\1 to the"),  # "go sit in the hall"
    (r"\b(let me (think|see)|if you (would|could|can|do not mind)|when you get a (chance|minute|sec))\b( ,)?", ""),
    (r"\bfor (some|no( good)?) reason\b", ""),  # a comma after it still ends the clause
    (r"\b(go|get|head) back to (charging|recharging)\b", "go charge"),
    (r"\bmeet me (in|at|by) the\b", "go to the"),
    (r"\bswap (it|them|both|those|these) (back|round|around)\b", r"put \1 back"),
    (r"\b(you are|your battery is|the battery is|battery is|battery|you have) (running |getting |almost |nearly "
     r"|pretty |very |so |really )*(low|out of (battery|power|charge|juice)|dead|flat|empty|drained|no battery)\b",
     "go charge"),
    (r"\b(you can|go and|go|time to) (rest|sleep|have a rest|take a rest|get some rest)\b", "go charge"),
    (r"\b(just )?look at (the state of )?(this|that) (room|place)\b", r"this \4 is a mess"),
    (r"\bi am not (thirsty|hungry|bored|peckish|starving)( at all)?( ,)?", ""),  # "i'm not thirsty, i'm starving"
    (r"\b(go |come )?(and )?(sit|park|rest|settle) (yourself )?(down )?(on|at|in|onto) (your|the|its)\b",
     "go to your"),  # "go sit on your charger": checked to be the dock below
))


def without_repairs(raw: list[str], vocab: Vocabulary) -> list[str]:
    """`raw` (the rule parser's tokens) as meant: idioms said plainly, fillers dropped, chit-chat
    before "anyway" dropped, self-corrections applied, things and deeds said with "not" left
    out."""
    toks = [w for t in raw if t not in FILLERS for w in SPOKEN.get(t, [t])] or raw
    toks = heard_as_meant(toks, vocab.phrases, vocab.words, COLOURS, _GRAMMAR)  # "the read mug"
    toks = _said_plainly(toks, vocab)
    toks = _drop_preamble(toks, vocab)
    for _ in range(4):  # "the cup no the plate sorry i mean the bottle"
        fixed = _correct(toks, vocab)
        if fixed == toks:
            break
        toks = fixed
    toks = _drop_contrasts(toks, vocab)
    toks = _drop_negated_deeds(toks, vocab)
    toks = _drop_where_the_person_is(toks, vocab)
    toks = _name_the_owner(toks, vocab)
    while toks != raw and len(toks) > 1 and toks[-1] == ",":  # "... head to the bedroom and wait there."
        toks = toks[:-1]  # said plainly ends there, not on the full stop's comma
    return toks


_POSSESSIVES = frozenset("his her their".split())


def _owner_forms(name: str, vocab: Vocabulary) -> list[str]:
    """How the world's names say that `name` owns a thing ("sam" and "sams" for "sam's bed")."""
    if name not in vocab.owners:
        return []
    return [p for p in (name, name + "s") if any(len(k) > 1 and k[0] == p for k in vocab.phrases)]


def _speaker_introduced(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "it's sam - bring me my headphones", "ellie here, ...", "this is leo: put my ...": the
    speaker says who is talking; "my" is theirs where the world names things by whose they are
    ("sams room", "ellie's desk"), and the introduction is no part of the request."""
    for end, at in ((3, 2), (2, 0)):  # "it is sam", "this is sam", "i am sam"; "sam here", "sam speaking"
        if len(toks) <= end:
            continue
        head = toks[:end]
        if end == 3 and head[:2] not in (["it", "is"], ["this", "is"], ["i", "am"]):
            continue
        if end == 2 and head[1] not in ("here", "speaking"):
            continue
        forms = _owner_forms(head[at], vocab) if head[at].isalpha() else []
        if not forms or (head[at],) in vocab.phrases:
            continue
        rest = toks[end + 1:] if toks[end] in (",", "-", ":") else toks[end:]
        out = list(rest)
        for k, t in enumerate(out):
            if t == "my" and k + 1 < len(out):
                form = next((f for f in forms if any((f, *out[k + 1:k + 1 + m]) in vocab.phrases for m in (1, 2))), None)
                if form:
                    out[k] = form
        return out
    return toks


def _owner_said_alone(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "ellie's headphones on the counter, then sam's": an owner said alone, after another's
    thing, owns a thing of the same name ("sam headphones")."""
    out = list(toks)
    k = len(out) - 1
    while k > 0:
        t, nxt = out[k], out[k + 1] if k + 1 < len(out) else ","
        if t in vocab.owners and nxt in (",", "too", "as", "please", "and", "then") \
                and out[k - 1] in (",", "then", "and", "also", "plus"):
            for j in range(k - 2, 0, -1):
                head = out[j]
                if out[j - 1] in vocab.owners and out[j - 1] != t and (t, head) in vocab.phrases:
                    out.insert(k + 1, head)
                    break
        k -= 1
    return out


def _name_the_owner(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "take sams textbook to his room and put it on his desk": "his desk" is the desk of the
    owner said before ("sams desk"), where the world names things by whose they are."""
    out = _speaker_introduced(list(toks), vocab)
    out = _owner_said_alone(out, vocab)
    # "bring me my blue mug, no, tom's mug": corrected to "my tom mug", which is tom's
    out = [t for k, t in enumerate(out)
           if not (t in ("my", "your") and k + 1 < len(out) and out[k + 1] in _owner_forms(out[k + 1], vocab))]
    for k, t in enumerate(out):
        if t not in _POSSESSIVES or k + 1 >= len(out):
            continue
        for n in (2, 1):
            rest = tuple(out[k + 1:k + 1 + n])
            owners = [p for p in out[:k][::-1] if p.isalpha() and (p, *rest) in vocab.phrases]
            if len(rest) == n and owners:
                out[k] = owners[0]
                break
    return out


def _said_plainly(toks: list[str], vocab: Vocabulary) -> list[str]:
    text = " ".join(toks)
    for pattern, plain in IDIOMS:
        for m in list(pattern.finditer(text))[::-1]:
            if plain == "go to your":  # only onto the dock: "sit on the sofa" is no errand
                after = text[m.end():].split()[:3]
                if not any(w in DOCK_WORDS or vocab.dock and vocab.phrases.get((w,)) == {vocab.dock}
                           for w in after):
                    continue
            text = text[:m.start()] + m.expand(plain) + text[m.end():]
    bedroom = next((n for n in ("bedroom", "master_bedroom") if vocab.kinds.get(n) == "room"), None)
    if bedroom and vocab.kinds.get("room") is None:  # "tidy my room": the person's bedroom
        text = re.sub(r"\bmy room\b", "my " + bedroom.replace("_", " "), text)
    out = text.split()
    for k in range(1, len(out) - 2):  # "the ball of yellow colour" -> "the yellow ball"
        if out[k] == "of" and out[k + 1] in COLOURS and out[k + 2] in ("colour", "color", "coloured", "colored"):
            out[k - 1:k + 3] = [out[k + 1], out[k - 1]]
            break
    return out or toks


def _mentions(toks: list[str], vocab: Vocabulary) -> list[Mention]:
    try:
        return _find_mentions(_repaired(toks, vocab), toks, vocab)
    except Refusal:  # a colour this home has no such thing in: the parser will say so
        return []


def _kind(m: Mention, vocab: Vocabulary) -> str:
    return vocab.kinds.get(m.names[0], "?")


def _asks(toks: list[str], vocab: Vocabulary) -> bool:
    return any(t in DEED_WORDS for t in toks) or bool(_mentions(toks, vocab))


def _drop_preamble(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "my sister rang earlier, she's fine btw, anyway could you put the ball on the sofa": the
    request starts after the last "anyway" (or "whatever", "ignore it") that has one after it."""
    for k in range(len(toks) - 1, 0, -1):
        said_aside = toks[k] in _PREAMBLE_ENDS or toks[k - 1] == "ignore" and toks[k] in ("it", "that", "them")
        if said_aside and _asks(toks[k + 1:], vocab):
            rest = toks[k + 1:]
            while rest and rest[0] == ",":
                rest = rest[1:]
            return rest
    return toks


def _marker_at(toks: list[str], i: int) -> int:
    """Length in tokens of the correction marker starting at toks[i], commas inside it included
    ("sorry, i mean"); 0: none."""
    for m in MARKERS:
        j = i
        for w in m:
            if j < len(toks) and toks[j] == "," and j > i:
                j += 1
            if j >= len(toks) or toks[j] != w:
                break
            j += 1
        else:
            return j - i
    return 0


def _skip(toks: list[str], j: int, words) -> int:
    while j < len(toks) and toks[j] in words:
        j += 1
    return j


def _correct(toks: list[str], vocab: Vocabulary) -> list[str]:
    """The first self-correction applied: the thing or place said after the marker replaces the
    last one of its kind said before it; a new command after the marker replaces the clause
    before it; one said just before a closing "i mean" replaces the one of its kind before it
    ("go to the hall, the hallway i mean")."""
    ments = _mentions(toks, vocab)
    for i in range(2, len(toks) - 1):
        if tuple(toks[i:i + 2]) in (("i", "mean"), ("i", "meant")) and (i + 2 == len(toks) or toks[i + 2] == ","):
            said = next((m for m in ments if m.end == i), None)
            same = [m for m in ments if said and m.end <= said.start and _kind(m, vocab) == _kind(said, vocab)]
            if same:
                d = said.start
                while d > same[-1].end and (toks[d - 1] in DETERMINERS or toks[d - 1] == ","):
                    d -= 1
                old = same[-1]
                return toks[:old.start] + toks[said.start:said.end] + toks[old.end:d] + toks[i + 2:]
    for i in range(1, len(toks)):
        n = _marker_at(toks, i)
        if not n or _ADDS & set(toks[i + n:]):  # "the ball, actually the book too": both
            continue
        if i and toks[i - 1] != "," and _marker_at(toks, i - 1):
            continue  # inside a longer marker: "sorry, i mean" is one
        p = i - 1
        while p >= 0 and toks[p] == ",":
            p -= 1
        before = [m for m in ments if m.end <= p + 1]
        weak = (toks[i],) in _WEAK and n == 1
        if not before and weak:
            continue
        ends_on_thing = any(m.end == p + 1 for m in before)
        j = _skip(toks, i + n, {","})
        if j < len(toks) and toks[j] == "not":  # "no not the remote, the book"
            negated = next((m for m in ments if m.start >= j and m.start - j <= 3), None)
            if negated is None:
                continue
            j = _skip(toks, negated.end, {",", "but"})
        if j < len(toks) and (toks[j] in IMPERATIVES or toks[j] == "leave") and (ends_on_thing or not weak):
            return _replace_clause(toks, p + 1, j, before, vocab)
        j = _skip(toks, j, _PREPS)
        j = _skip(toks, j, DETERMINERS)
        said = next((m for m in ments if m.start == j), None)
        if said is None:
            continue
        same = [m for m in before if _kind(m, vocab) == _kind(said, vocab)]
        if same and (ends_on_thing or not weak):
            old = same[-1]
            rest = toks[said.end:]
            rest = rest[1:] if rest[:1] and rest[0] in _TRAILING else rest
            return toks[:old.start] + toks[said.start:said.end] + toks[old.end:p + 1] + rest
        if not same and _kind(said, vocab) == "object" and not weak:
            # "pass me the phone ... sorry, i mean the remote": a thing this home lacks, said last
            d = max((k for k in range(max(0, p - 3), p + 1) if toks[k] in DETERMINERS), default=None)
            if d is not None:
                return toks[:d + 1] + toks[said.start:said.end] + toks[said.end:]
    return toks


def _clause_start(toks: list[str], end: int) -> int:
    """Start of the clause that ends at `end` (after the last comma or joiner before it)."""
    k = end - 1
    while k >= 0 and toks[k] not in (",", "and", "then", "also"):
        k -= 1
    return k + 1


def _replace_clause(toks: list[str], said_end: int, new: int, before: list[Mention],
                    vocab: Vocabulary) -> list[str]:
    """ "put the remote on the couch wait no leave the remote and put the book away": the
    clause before the marker is taken back; "leave the X" with nowhere said means leave it be."""
    start = _clause_start(toks, said_end)
    cancelled = [m for m in before if m.start >= start and _kind(m, vocab) == "object"]
    rest = toks[new:]
    if rest[0] == "leave":
        k = 1
        k = _skip(rest, k, DETERMINERS)
        ms = _mentions(rest, vocab)
        first = next((m for m in ms if m.start == k), None)
        if first is not None:
            k = _skip(rest, first.end, frozenset("alone be there where it is".split()))
            if k >= len(rest) or rest[k] in (",", "and", "then"):
                rest = rest[_skip(rest, k, {",", "and", "then"}):]
    rest = _name_pronoun(rest, cancelled, toks)
    head = toks[:start]
    return head + rest if rest else head


def _name_pronoun(rest: list[str], objects: list[Mention], toks: list[str]) -> list[str]:
    """ "don't hand me the ball, just put it on the shelf": the "it" of the deed that stays is
    the thing of the one left out."""
    if not objects or not rest:
        return rest
    for k, t in enumerate(rest[:4]):
        if t in ("it", "them") and any(w in DEED_WORDS for w in rest[:k]):
            names = []
            for m in objects:
                names += (["and"] if names else []) + ["the"] + toks[m.start:m.end]
            return rest[:k] + names + rest[k + 1:]
    return rest


_EXCEPT = [tuple(w.split()) for w in ("that is not", "which is not", "but not", "other than", "except",
                                       "except for", "apart from", "not")]


def _drop_contrasts(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "not the book, the ball" -> "the ball"; "the mug not the apple" -> "the mug"; "the red
    thing that isn't the mug" -> "the apple" (when one red thing is left)."""
    ments = _mentions(toks, vocab)
    for said in ments:
        if len(said.names) < 2:
            continue
        for words in sorted(_EXCEPT, key=len, reverse=True):
            if tuple(toks[said.end:said.end + len(words)]) != words:
                continue
            j = _skip(toks, said.end + len(words), DETERMINERS)
            other = next((m for m in ments if m.start == j), None)
            left = sorted(set(said.names) - set(other.names)) if other else []
            if len(left) == 1:
                return toks[:said.start] + left[0].split("_") + toks[other.end:]
            break
    for k, t in enumerate(toks):
        if t != "not" or (k and toks[k - 1] in _AUX):
            continue
        ments = _mentions(toks, vocab)
        j = _skip(toks, _skip(toks, k + 1, _PREPS), DETERMINERS)  # "on the shelf, not on the bed"
        negated = next((m for m in ments if m.start == j), None)
        if negated is None:
            continue
        after = _skip(toks, negated.end, {",", "but"})
        nxt = _skip(toks, after, DETERMINERS)
        kept = next((m for m in ments if m.start == nxt), None)
        if kept is not None and _kind(kept, vocab) == _kind(negated, vocab):
            return _drop_contrasts(toks[:k] + toks[after:], vocab)
        p = k - 1
        while p >= 0 and toks[p] == ",":
            p -= 1
        prev = next((m for m in ments if m.end == p + 1), None)
        if prev is not None and _kind(prev, vocab) == _kind(negated, vocab):
            return _drop_contrasts(toks[:k] + toks[negated.end:], vocab)
    return toks


def _drop_negated_deeds(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "don't bring the cup, bring the plate" -> "bring the plate"; "bring me the apple, you
    don't need to cook it" -> "bring me the apple": a deed said with "not" is left out when
    another deed is asked for (alone, "don't go to the kitchen" is the parser's to read)."""
    for k in range(1, len(toks) - 1):
        if toks[k] != "not" or toks[k - 1] not in ("do", "does", "did"):
            continue
        v = k + 1
        need = next((len(n.split()) for n in _DROPPED_NEEDS if toks[v:v + len(n.split())] == n.split()), 0)
        if not need and toks[v] not in IMPERATIVES:
            continue
        end = v + 1
        while end < len(toks) and toks[end] not in (",", "but", "just", "instead", "then", "and") \
                and not (toks[end] in IMPERATIVES and toks[end - 1] not in ("to", "not")):  # said with no comma
            end += 1
        start = k - 1
        if start and toks[start - 1] in ("you", "please"):
            start -= 1
        rest = toks[_skip(toks, end, {",", "but", "just", "instead", "then", "and"}):]
        kept = toks[:start] + rest
        if not any(t in IMPERATIVES for t in kept):
            continue
        objects = [m for m in _mentions(toks, vocab) if start <= m.start < end and _kind(m, vocab) == "object"]
        rest = _name_pronoun(rest, objects, toks) if not need else rest
        head = toks[:start]
        while head and head[-1] in (",", "and", "no"):
            head = head[:-1]
        return _drop_negated_deeds(head + ([","] if head and rest else []) + rest, vocab)
    return toks


def _drop_where_the_person_is(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "bring the ball to me in the kitchen", "come find me in the lounge": the room is where
    the person is (the world state knows), not where the robot should go instead of them."""
    for m in _mentions(toks, vocab):
        j = _phrase_start(toks, m.start) - 1
        if _kind(m, vocab) == "room" and j >= 2 and toks[j] in ("in", "at") and toks[j - 1] == "me" \
                and toks[j - 2] in ("to", "find", "see", "join"):  # not "wait for me in the hall"
            return _drop_where_the_person_is(toks[:j] + toks[m.end:], vocab)
    return toks
