"""Conditions a command puts on its deeds, decided from the world state before planning.

"bring me the keys, unless they're already in the tray by the door, in which case just leave
them there"; "grab my laptop, and the charger too if it's on the island"; "bring me the mug on
Noor's desk, and if there's another one on the coffee table put that on the counter"; "take it
to the side table, as long as it's not already on the sofa"; "if the bedroom's a mess tidy it,
otherwise go to the kitchen". Read word by word, both branches were done, or the condition's
place became a destination. The planner knows where every thing is and whether a room is tidy,
so the condition is decided here and only the branch that applies is planned; a deed whose
condition fails, with nothing else asked, is not done and the person hears why. A condition the
state cannot decide ("if it's clean", "if it's no trouble") is taken to hold. One that only says
where to look ("if it's not on my desk try the sofa", "if it isn't there it'll be on the shelf")
is a search hint: the hint and its search are dropped, and the thing is fetched from wherever it
is.

Works on the rule parser's tokens as meant (lower case, contractions expanded, "," for any
punctuation, speech repairs applied), so the rest of the parse reads the command as if the
person had said only the branch that applies. The safety screen has read every word before.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloud_brain.domain.state import WorldState
from cloud_brain.planner.rules import (DEED_WORDS, IMPERATIVES, INDEFINITE, PRONOUNS, Vocabulary, _find_mentions,
                                      _repaired)

_STARTS = frozenset({",", "and", "but", "so", "oh", "also", "then", "or", "plus", "please"})
_PLACE_PREPS = frozenset("on in at onto inside into by beside near".split())
_COPULA = frozenset("is are was".split())
_HEDGES = frozenset("already still just definitely probably actually really somewhere".split())
# the parser's words for a thing not named, as a condition says them: "if they're ..." and "if
# there's another one ..." but not "both", which names two things and no one condition's subject
_PRONOUNS = PRONOUNS - {"both"} | {"they", "one", "ones"}
_INDEFINITE = INDEFINITE - {"one"} | {"other"}
_SEARCH = frozenset("try check look search".split())
_NO_CONDITION = frozenset("even as what see wonder wondering ask asked asking know knows check".split())  # "even if it's only you"
_ASKING = frozenset("please just can could would will you".split())
# "otherwise the book", "or if not, the bottle", "else go charge"
_ELSE = sorted((tuple(m.split()) for m in ("otherwise", "else", "or else", "if not", "and if not", "or if not",
                                            "but if not", "if they are not", "if it is not", "or")),
               key=len, reverse=True)


@dataclass
class _Condition:
    start: int  # toks[start:end]: "if the remote is on the couch"
    end: int
    holds: bool | None  # None: the state cannot decide it
    hint: bool  # "it is not on the desk": where not to look
    known: bool  # decided from the state (not "if it's clean", taken to hold)
    subject: str | None  # the one object (or room) it speaks of, for "bring it", "tidy it"
    place: str | None  # the place it speaks of, for "leave them there"
    said: str | None = None  # why its deed is not done, where `_why` cannot say


def decided(raw: list[str], state: WorldState, vocab: Vocabulary) -> tuple[list[str], str | None, bool]:
    """`raw` with each decidable condition replaced by the branch that applies; a sentence
    saying why when a deed was dropped and nothing replaced it ("The remote is on the shelf,
    not on the couch."), else None; and whether the state decided any (not only conditions
    taken to hold, "if it's no trouble")."""
    toks = _repaired(raw, vocab)
    out, note, known = list(raw), None, False
    toks, out = _said_as_if(toks), _said_as_if(out)
    hinted: set[str] = set()  # things a later hint says where to look for ("if it isn't there, ...")
    i = len(toks) - 1
    while i >= 0:  # from the end, so each edit leaves the indices before it valid
        if toks[i] in ("if", "unless") and not (toks[i] == "if" and toks[i + 1:i + 2] == ["not"]) \
                and not (i > 0 and toks[i - 1] in _NO_CONDITION):
            done = _decide(toks, out, i, state, vocab, hinted)
            if done is not None:
                toks, out, why, start, from_state = done
                note = note or why
                known = known or from_state
                i = min(i, start, len(toks))  # (a condition said after its deed cut the deed too)
        i -= 1
    return out, note, known


def _said_as_if(toks: list[str]) -> list[str]:
    """ "as long as", "so long as", "provided (that)", "providing (that)", "only if" are "if";
    "in that case" and "if so" are "in which case" (the same changes to the tokens and the words
    as said, so the two stay aligned)."""
    out, k = [], 0
    while k < len(toks):
        three, two = toks[k:k + 3], toks[k:k + 2]
        if three in (["as", "long", "as"], ["so", "long", "as"]):
            out.append("if")
            k += 3
        elif two in (["provided", "that"], ["providing", "that"], ["only", "if"]):
            out.append("if")
            k += 2
        elif toks[k] in ("provided", "providing") and k > 0 and toks[k - 1] == ",":
            out.append("if")
            k += 1
        elif three == ["in", "that", "case"]:
            out += ["in", "which", "case"]
            k += 3
        else:
            out.append(toks[k])
            k += 1
    return out


def _decide(toks: list[str], out: list[str], i: int, state: WorldState, vocab: Vocabulary, hinted: set[str]):
    cond = _condition(toks, i, state, vocab)
    if cond is None or cond.holds is None and not cond.hint:
        return None
    if cond.subject in hinted and not cond.hint:  # "if it's on the table bring it; if it isn't there,
        cond.holds = toks[i] == "if"  # it'll be on the shelves": wherever it is, it is wanted
    k = cond.end
    while k < len(toks) and toks[k] in (",", "then"):
        k += 1
    starts = i == 0 or toks[i - 1] in _STARTS
    if toks[k:k + 3] == ["in", "which", "case"]:  # "A, unless C, in which case B"
        a_start, a_end = _clause_before(toks, i), i
        b_start = k + 3
        b_end = _clause_end(toks, b_start)
        cut = (a_start, b_end)
    elif starts and k < len(toks) and (toks[k] in DEED_WORDS | IMPERATIVES | _ASKING or _no_deed(toks[k:_clause_end(toks, k)])
                                       or cond.hint and _after_search(toks, k, _clause_end(toks, k)) is not None):
        a_start, a_end = k, _clause_end(toks, k)  # "if C, A[, otherwise B]"
        b_start = b_end = a_end
        m = a_end + (toks[a_end:a_end + 1] == [","])
        marker = next((e for e in _ELSE if tuple(toks[m:m + len(e)]) == e), None)
        if marker is not None and marker != ("or",) or marker == ("or",) and toks[m - 1:m] != [","]:
            b_start = m + len(marker)
            b_start += toks[b_start:b_start + 1] == [","]
            b_end = _clause_end(toks, b_start)
        cut = (i, b_end)
    else:  # "A if C": the condition ends its clause
        a_start, a_end = _clause_before(toks, i), i
        b_start = b_end = a_end
        cut = (a_start, cond.end)
    if cond.hint and a_start < i and cond.holds is not None and set(toks[a_start:a_end]) & (DEED_WORDS | IMPERATIVES):
        cond.hint = False  # "take it to the table, as long as it's not already on the sofa": a condition
    if cond.hint:  # "if it's not on the desk, try the sofa (and bring it)": drop the search
        if a_end > a_start > i:
            rest = _after_search(toks, a_start, a_end)
            if rest is None:
                return None
            if not rest:  # "..., it'll be on the shelves - try there": the search said after it
                n = a_end + (toks[a_end:a_end + 1] == [","])
                if toks[n:n + 1] and toks[n] in _SEARCH and _clause_end(toks, n) - n <= 3:
                    a_end = _clause_end(toks, n)
            if cond.subject is not None:
                hinted.add(cond.subject)
            return (*_without_hint(toks, out, i, a_end, rest, cond, vocab), i, True)
        return None
    keep = (a_start, a_end) if cond.holds else (b_start, b_end)
    if cond.holds and not cond.known and keep[1] - keep[0] <= 2 and toks[keep[0]:keep[1]] in (["but", "only"], ["only"], ["but"]):
        keep = (keep[1], keep[1])  # "tidy the kitchen, but only if anything's out of place": the tidy stands
    if _no_deed(toks[keep[0]:keep[1]]):
        keep = (keep[1], keep[1])  # "..., leave it", "don't worry": nothing to do
    kept_toks = _resolved(toks[keep[0]:keep[1]], cond, vocab)
    kept_out = _resolved(out[keep[0]:keep[1]], cond, vocab)
    why = None
    if not [t for t in kept_toks if t.isalpha()] and a_end > a_start:
        why = _why(cond, state)
    lead = [","] if cut[0] > 0 and toks[cut[0] - 1] not in _STARTS else []
    toks2 = toks[:cut[0]] + lead + kept_toks + toks[cut[1]:]
    out2 = out[:cut[0]] + lead + kept_out + out[cut[1]:]
    return toks2, out2, why, cut[0], cond.known


_NOTHING = [tuple(w.split()) for w in (
    "leave it", "leave them", "leave it alone", "leave them alone", "leave it be", "leave them be", "leave it where it is",
    "leave them where they are", "do not bother", "don't bother", "do not worry", "never mind", "forget it", "no need",
    "do nothing", "leave it there", "leave them there")]


def _no_deed(words: list[str]) -> bool:
    """ "leave it (where it is)", "don't bother", "never mind": a branch that asks nothing."""
    core = tuple(w for w in words if w not in (",", "just", "then", "please", "simply", "so"))
    return bool(core) and any(core[:len(n)] == n and len(core) - len(n) <= 6 and not set(core[len(n):]) & DEED_WORDS
                              for n in _NOTHING)


def _condition(toks: list[str], i: int, state: WorldState, vocab: Vocabulary) -> _Condition | None:
    """The condition said at toks[i] ("if"/"unless"), when it is about where a thing is."""
    unless = toks[i] == "unless"
    j = i + 1
    exists = toks[j:j + 2] in (["there", "is"], ["there", "are"])
    if exists:  # "if there's another one on the coffee table"
        j += 2
    else:
        cop = next((c for c in range(j + 1, min(j + 7, len(toks))) if toks[c] in _COPULA), None)
        if cop is None or "," in toks[j:cop]:
            return None
        subj_end, j = cop, cop + 1
    negated = toks[j:j + 1] in (["not"], ["no"])
    j += negated
    while j < len(toks) and toks[j] in _HEDGES:
        j += 1
    if exists:
        subj_start = j
        while j < len(toks) and toks[j] not in _PLACE_PREPS | {","}:
            j += 1
        subj_end = j
        if j >= len(toks) or toks[j] == "," or subj_end - subj_start > 5:
            return None
    else:
        subj_start = i + 1
    # where: "on the couch", "in the kitchen", "there" (the place said before), "here"
    if toks[j:j + 1] == ["there"] or toks[j:j + 2] == ["in", "there"]:
        j += 1 + (toks[j] == "in")
        place, place_end = _place_before(toks, i, vocab), j
    elif toks[j:j + 1] == ["here"] or toks[j:j + 2] == ["in", "here"]:
        j += 1 + (toks[j] == "in")
        place, place_end = state.user_room, j
    elif toks[j:j + 1] and toks[j] in _PLACE_PREPS:
        place, place_end = _place_in(toks, j + 1, vocab)
    elif not exists and j < len(toks) and _room_state(toks[i + 1:subj_end], toks[j:j + 2], vocab) is not None:
        # "if the bedroom's a mess, ...; if not, tidy the study": whether every thing there is home
        room, messy_said, n = _room_state(toks[i + 1:subj_end], toks[j:j + 2], vocab)
        messy = any(state.desc.furniture[w].room == room and w != state.desc.objects[o].home
                    for o, w in state.objects if w in state.desc.furniture)
        holds = (messy == messy_said) != negated
        return _Condition(i, j + n, holds != unless, False, True, room, None,
                          f"The {room.replace('_', ' ')} is {'not tidy' if messy else 'tidy already'}, so I did nothing.")
    elif not exists and j < len(toks) and toks[j].isalpha():
        # "if it's clean", "unless it's too heavy": what the state cannot say; the deed is done
        end = j + 1
        while end < len(toks) and end - j < 8 and toks[end] != "," and not (
                toks[end] in DEED_WORDS | IMPERATIVES | _ASKING and toks[end - 1] not in ("of", "in", "the", "a", "out")):
            end += 1  # ("out of place": a place said as a word, no deed)
        things = _things(toks[i + 1:subj_end], toks, i, end, vocab, state) or set()
        return _Condition(i, end, True, False, False, next(iter(things)) if len(things) == 1 else None, None)
    else:
        return None
    hint = negated and not unless and not exists
    if place is None and not hint:
        return None
    while place_end < len(toks) and toks[place_end] in _HEDGES | {"here", "now"}:
        place_end += 1
    words = toks[subj_start:subj_end]
    candidates = _things(words, toks, i, place_end, vocab, state)
    if place is None:  # "if it's not on his desk, try the sofa": a hint needs no place
        sole = next(iter(candidates)) if candidates and len(candidates) == 1 else None
        return _Condition(i, place_end, None, True, True, sole, None)
    if candidates is None:
        return None
    there = [o for o in candidates if _is_at(o, place, state)]
    holds = bool(there) != negated
    if unless:
        holds = not holds
    subject = there[0] if len(there) == 1 else (next(iter(candidates)) if len(candidates) == 1 else None)
    if subject in there and place in state.desc.rooms:  # "leave them there": on what they are on
        place = dict(state.objects)[subject]
    return _Condition(i, place_end, holds, hint, True, subject, place)


_MESSY = frozenset("mess messy untidy tip pigsty disaster cluttered bombsite shambles".split())
_TIDY = frozenset("tidy clean neat sorted fine ok okay straight".split())


def _room_state(subject: list[str], said: list[str], vocab: Vocabulary) -> tuple[str, bool, int] | None:
    """(room, whether "messy" was said, words said) for "the bedroom is a mess" / "... is tidy"."""
    rooms = {n for m in _find_mentions(subject, subject, vocab) for n in m.names if vocab.kinds.get(n) == "room"}
    if len(rooms) != 1 or not said:
        return None
    n = 1 + (said[0] in ("a", "an") and len(said) > 1)
    word = said[n - 1]
    if word not in _MESSY | _TIDY:
        return None
    return next(iter(rooms)), word in _MESSY, n


def _things(words: list[str], toks: list[str], i: int, end: int, vocab: Vocabulary,
            state: WorldState) -> set[str] | None:
    """The objects a condition's subject may be: its own words, or for "it"/"they"/"another one"
    the thing said last before it (or first after it, "if it's on the sofa bring me the remote");
    None when it names none (for "another one", none other of the kind is an empty set)."""
    another = bool({"another", "other"} & set(words))
    core = [w for w in words if w not in _INDEFINITE and w not in ("the", "my", "your", "his", "her", "their", "our")]
    if core and not set(core) <= _PRONOUNS:  # named: "if the charger is on the island"
        objs = {n for m in _find_mentions(words, words, vocab) for n in _objects(m.names, vocab)}
        if objs or not another:
            return objs or None
        # "another mug" where the home has no such thing named: of the kind said before, as below
    before = [m for m in _find_mentions(toks[:i], toks[:i], vocab) if _objects(m.names, vocab)]
    said = before[-1:] or [m for m in _find_mentions(toks[end:], toks[end:], vocab) if _objects(m.names, vocab)][:1]
    if not said:
        return None
    last = _objects(said[0].names, vocab)
    if another:  # "another one": of the same kind, not that one
        kind = {o for n in last for p in vocab.nouns.get(n, ()) if len(p.split()) == 1
                for o in vocab.phrases.get((p,), ()) if vocab.kinds.get(o) == "object"}
        return kind - last if len(last) == 1 else kind
    return last


def _objects(names, vocab: Vocabulary) -> set[str]:
    """Those of `names` that are objects (not furniture or rooms)."""
    return {n for n in names if vocab.kinds.get(n) == "object"}


def _place_in(toks: list[str], j: int, vocab: Vocabulary) -> tuple[str | None, int]:
    """The first furniture or room named from toks[j] within the clause (None when the name
    fits several), and where the name ends."""
    end = j
    while end < len(toks) and toks[end] != "," and end - j < 6:
        end += 1
    for m in _find_mentions(toks[j:end], toks[j:end], vocab):
        places = [n for n in m.names if vocab.kinds.get(n) in ("furniture", "room")]
        if places:
            return (places[0] if len(places) == 1 and len(m.names) == 1 else None), j + m.end
    return None, end


def _place_before(toks: list[str], i: int, vocab: Vocabulary) -> str | None:
    for m in reversed(_find_mentions(toks[:i], toks[:i], vocab)):
        places = [n for n in m.names if vocab.kinds.get(n) in ("furniture", "room")]
        if places:
            return places[0] if len(places) == 1 else None
    return None


def _is_at(obj: str, place: str, state: WorldState) -> bool:
    on = dict(state.objects).get(obj)
    furniture = state.desc.furniture.get(on) if on else None
    return on == place or furniture is not None and furniture.room == place


def _clause_before(toks: list[str], i: int) -> int:
    """Where the clause ending at toks[i] begins: after the comma before it (a comma just before
    the condition does not end it: "bring me the keys, unless ...")."""
    k = i - 1 if i > 0 and toks[i - 1] == "," else i
    while k > 0 and toks[k - 1] != ",":
        k -= 1
    return k


def _clause_end(toks: list[str], k: int) -> int:
    while k < len(toks) and toks[k] != "," and not (toks[k] in ("otherwise", "else") or toks[k:k + 2] == ["if", "not"]):
        k += 1
    return k


def _after_search(toks: list[str], a: int, end: int) -> list[int] | None:
    """A search hint's clause without the search: "try the sofa and bring it to me" -> the
    indices of "bring it to me"; "it will be on the sofa somewhere" -> none; None when the
    clause asks something else."""
    if toks[a] in _SEARCH:
        for k in range(a + 1, end):
            if toks[k] in ("and", "then") and k + 1 < end:
                return list(range(k + 1, end))
        return []
    if toks[a] in ("it", "they") and toks[a + 1:a + 2] and toks[a + 1] in ("will", "is", "are", "might", "should", "may", "must"):
        return []
    said = toks[a:min(end, a + 5)]
    if any(said[k:k + 2] in (["will", "have"], ["must", "have"], ["might", "have"], ["may", "have"], ["would", "have"],
                             ["could", "have"], ["has", "put"], ["has", "left"], ["probably", "put"]) for k in range(len(said))):
        return []  # "..., margaret will have put them on the kitchen side": where it will be
    return None


def _without_hint(toks: list[str], out: list[str], i: int, end: int, rest: list[int], cond: _Condition,
                  vocab: Vocabulary) -> tuple:
    """toks/out without the hint toks[i:end] but its `rest` indices, and the thing it named said
    in the first deed after it ("..., bring it to me" -> "bring kai laptop to me")."""
    keep = [k for k in range(len(toks)) if k < i or k >= end or k in rest]
    toks2, out2 = [toks[k] for k in keep], [out[k] for k in keep]
    if cond.subject is not None:
        k = next((n for n, t in enumerate(keep) if t >= i and toks2[n].isalpha()), None)
        if k is not None:
            e = _clause_end(toks2, k)
            named = _resolved(toks2[k:e], cond, vocab)
            toks2[k:e], out2[k:e] = named, _resolved(out2[k:e], cond, vocab) if len(named) == e - k else named
    return toks2, out2, None


def _resolved(words: list[str], cond: _Condition, vocab: Vocabulary) -> list[str]:
    """The kept branch with the condition's thing and place said, as the condition that named
    them is gone: "put that on the counter" -> "put the blue mug on the counter"; "just leave
    them there" -> "just leave the keys on the key table"."""
    out = list(words)
    if cond.place is not None:
        out = [w for k, w in enumerate(out) for w in
               (["on", "the", *cond.place.split("_")] if w == "there" and k > 0 else [w])]
    if cond.subject is not None:
        name = cond.subject.split("_")
        deed = DEED_WORDS | IMPERATIVES | {"leave"}
        for k, w in enumerate(out):  # "bring it", "bring me that (one)", "leave them"
            if w in _PRONOUNS and k > 0 and (out[k - 1] in deed or out[k - 1] in ("me", "us") and k > 1 and out[k - 2] in deed):
                out[k:k + 1 + (w in ("that", "this") and out[k + 1:k + 2] == ["one"])] = ["the", *name]
                break
        # "if my white mug is on the side table bring me that, otherwise the green one": one of
        # the same kind as the thing the condition spoke of, the "green mug"
        heads = sorted(n for n in vocab.nouns.get(cond.subject, ()) if " " not in n)
        for k in range(1, len(out)):
            if out[k] in ("one", "ones") and out[k - 1].isalpha():
                out[k] = next((h for h in heads if (out[k - 1], h) in vocab.phrases), out[k])
    return out


def _why(cond: _Condition, state: WorldState) -> str | None:
    if cond.subject is None or cond.place is None:
        return cond.said
    thing, place = cond.subject.replace("_", " "), cond.place.replace("_", " ")
    on = dict(state.objects).get(cond.subject)
    if _is_at(cond.subject, cond.place, state):
        return f"The {thing} is already on the {place}, so I left it there."
    where = f"on the {on.replace('_', ' ')}" if on in state.desc.furniture else "not where you said"
    return f"The {thing} is {where}, not on the {place}, so I did nothing."
