"""Words a speech recogniser heard for the ones meant, put back by how they sound.

Why: the robot hears its commands, and a recogniser writes a word that sounds like the one said
when the home's own names are rare words: "the read mug", "my specks", "the eye pad", "the coffee
cable", "the guessed room". The pronouncing dictionary the offline ASR ships (CMUdict, in the
pinned pocketsphinx wheel) says which of the home's words sound the same or nearly so. A word is
only replaced where it stands for a name: in a noun's place (after "the", "my", a colour) or where
the replacement completes one of the home's names with the word beside it ("coffee cable" ->
"coffee table"; a word only nearly alike only then: "a beer" stays a beer beside a bear), and never
a word the home itself uses.

    python -c "from cloud_brain.planner.sounds import phones; print(phones('read'))"
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

# a noun follows these: a word heard here is a name, if one sounds like it
NOUN_BEFORE = frozenset("the a an this that these those my your our his her their some any".split())


@functools.lru_cache(maxsize=1)
def pronunciations() -> dict[str, tuple[tuple[str, ...], ...]]:
    """word -> its pronunciations (phones without stress marks); empty where the dictionary is
    not installed, and then nothing is replaced."""
    try:
        from pocketsphinx import get_model_path
    except ImportError:
        return {}
    path = Path(get_model_path()) / "en-us" / "cmudict-en-us.dict"
    if not path.exists():
        return {}
    out: dict[str, list[tuple[str, ...]]] = {}
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            word = re.sub(r"\(\d+\)$", "", parts[0])
            out.setdefault(word, []).append(tuple(re.sub(r"\d", "", p) for p in parts[1:]))
    return {w: tuple(p) for w, p in out.items()}


def phones(word: str) -> tuple[tuple[str, ...], ...]:
    return pronunciations().get(word, ())


def _one_apart(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Same length, one phone different, at least three phones ("cable"/"table", "disk"/"desk");
    two different in words of six phones or more ("guarding"/"garden")."""
    return len(a) == len(b) >= 3 and sum(x != y for x, y in zip(a, b)) <= (2 if len(a) >= 6 else 1)


def _distance(a, b) -> int:
    """Edit distance between two sequences (letters or phones)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


_PAIRS: dict[int, tuple[object, dict[str, set[str]], frozenset]] = {}


def _pairs(phrases) -> tuple[dict[str, set[str]], frozenset]:
    """(first word -> the second words of the home's two-word names, every two-word start of a
    name), built once per vocabulary."""
    got = _PAIRS.get(id(phrases))
    if got is None or got[0] is not phrases:
        seconds: dict[str, set[str]] = {}
        for p in phrases:
            if len(p) == 2:
                seconds.setdefault(p[0], set()).add(p[1])
        if len(_PAIRS) > 64:
            _PAIRS.clear()
        got = _PAIRS[id(phrases)] = (phrases, seconds, frozenset(p[:2] for p in phrases if len(p) >= 2))
    return got[1], got[2]


def _spelt_beside(prev: str, t: str, phrases) -> str | None:
    """The one word a letter away from `t` that makes a two-word name with `prev`, where `t`
    makes none: "the coffee tablet" -> "table", "the kitchen sing" -> "sink" (dictated)."""
    if len(t) < 4 or not prev.isalpha() or prev in NOUN_BEFORE:
        return None
    seconds, starts = _pairs(phrases)
    if (prev, t) in starts or prev not in seconds:
        return None
    near = {w for w in seconds[prev] if w != t and abs(len(w) - len(t)) <= 1 and _distance(w, t) == 1}
    named = {n for w in near for n in phrases[(prev, w)]}  # ("coffee table", "coffee tables": one)
    return min(near, key=len) if len(named) == 1 else None


def _two_for_one(t: str, nxt: str, by_sound, words: frozenset[str], phrases) -> str | None:
    """The one word of the home's names two words said after "the" nearly sound like, or spell:
    "the conservative tree" (conservatory), "the so far" (sofa)."""
    if t in words or nxt in words or not (t.isalpha() and nxt.isalpha()):
        return None
    said = [a + b for a in phones(t) for b in phones(nxt)]
    near = {w for p, ws in by_sound.items() if len(p) >= 8 for a in said
            if abs(len(a) - len(p)) <= 3 and a[:4] == p[:4] and _distance(a, p) <= 3 for w in ws}
    near |= {w for w in words if len(w) >= 4 and w[0] == t[0] and abs(len(w) - len(t + nxt)) <= 1
             and _distance(t + nxt, w) == 1}
    named = {n for w in near for n in phrases.get((w,), {w})}  # ("sofa", "sofas": one)
    return min(near, key=len) if len(named) == 1 else None


@functools.lru_cache(maxsize=32)
def _by_sound(targets: frozenset[str]) -> dict[tuple[str, ...], frozenset[str]]:
    """pronunciation -> the words of `targets` said that way."""
    out: dict[tuple[str, ...], set[str]] = {}
    for w in targets:
        for p in phones(w):
            out.setdefault(p, set()).add(w)
    return {p: frozenset(ws) for p, ws in out.items()}


def _in_a_name(pair: tuple[str, str], phrases) -> bool:
    """Whether the two words stand side by side in one of the home's names."""
    return any(pair == p[i:i + 2] for p in phrases for i in range(len(p) - 1))


def heard_as_meant(toks: list[str], phrases, words: frozenset[str], colours: frozenset[str],
                   grammar: frozenset[str] = frozenset()) -> list[str]:
    """`toks` with each misheard name put back. `phrases`: the home's names as word tuples;
    `words`: every word in them; `colours`: colour words (which name a thing by its colour);
    `grammar`: words a command uses for themselves ("read", "way"), replaced only where the
    replacement completes a name with the word beside it ("the read mug" -> "the red mug")."""
    if not pronunciations():
        return toks
    by_sound = _by_sound(frozenset(w for w in words | colours if w.isalpha()))
    out = list(toks)
    k = 0
    while k < len(out):
        t = out[k]
        nxt = out[k + 1] if k + 1 < len(out) else ""
        # one word written as two ("the cord less phone", "the tab let", "the side board"): where
        # the two spelled together are a word of the home's names and are not both its words (or
        # begin a name with the word after: "my bed side table"); and "-ing" heard as "in" ("the
        # water in can")
        after = out[k + 2] if k + 2 < len(out) else ""
        if t.isalpha() and nxt.isalpha() and t + nxt in words and len(t + nxt) >= 5 and t + nxt not in grammar \
                and (not (t in words and nxt in words) or _in_a_name((t + nxt, after), phrases)
                     and not _in_a_name((t, nxt), phrases)):
            out[k:k + 2] = [t + nxt]
            continue
        if t.isalpha() and nxt == "in" and t + "ing" in words and t not in words:  # "the water in can"
            out[k:k + 2] = [t + "ing"]
            continue
        prev = out[k - 1] if k > 0 else ""
        spelt = _spelt_beside(prev, t, phrases) if t.isalpha() else None
        if spelt:
            out[k] = spelt
            k += 1
            continue
        joined = _two_for_one(t, nxt, by_sound, words, phrases) if prev in NOUN_BEFORE else None
        if joined:
            out[k:k + 2] = [joined]
            k += 1
            continue
        if not t.isalpha() or t in words or t in colours:
            k += 1
            continue
        nxt = out[k + 1] if k + 1 < len(out) else ""
        # two words heard for one ("eye pad" -> "ipad")
        if nxt.isalpha():
            one = {w for a in phones(t) for b in phones(nxt) for w in by_sound.get(a + b, ())}
            if len(one) == 1:
                out[k:k + 2] = [one.pop()]
                k += 1
                continue
        said = phones(t)
        same = {w for p in said for w in by_sound.get(p, ())}
        if t not in grammar and t.endswith("s") and t[:-1] in grammar:
            grammar = grammar | {t}  # "before her da sees the state of it": no "da's keys"
        if t in grammar and not same:  # "bring", "me": a word said for itself, like no name
            k += 1
            continue
        # the words that would complete a name with the word before or after this one
        beside = {p[1] for p in phrases if len(p) == 2 and p[0] == prev} | \
                 {p[0] for p in phrases if len(p) == 2 and p[1] == nxt}
        near = {w for w in beside if any(_one_apart(a, b) for a in said for b in phones(w))}
        if t in grammar:
            pick = same & beside
        else:
            pick = same & beside or (same if prev in NOUN_BEFORE | colours else set()) or near
        if len(pick) == 1:
            out[k] = pick.pop()
        k += 1
    return out
