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

from cloud_brain.planner.rules import FILLER as FILLER_WORDS
from cloud_brain.planner.rules import (_FETCHING, _SCOTS, COLOURS, COMMON_WORDS, DEED_WORDS, DETERMINERS, DOCK_WORDS, IMPERATIVES,
                                       KNOWN_ENGLISH, PEOPLE, Mention, Refusal, Vocabulary, _find_mentions,
                                       _phrase_start, _repaired)
from cloud_brain.planner.prompt import english_words, plurals
from cloud_brain.planner.sounds import heard_as_meant

_GRAMMAR = KNOWN_ENGLISH | COMMON_WORDS | PEOPLE  # words said for themselves: "tom's mum" is no mug
FILLERS = frozenset("""um umm uh uhh uhm er erm hmm mm ah eh oh oi yeah yep yup lol mate pal dude bro robo bot
och aye wee yaar arre arey accha achha haan ji beta jaldi wahi wala wali plumb eish ag hawu yho howzit
lah leh lor meh hor sia sumimasen onegai onegaishimasu kudasai arigato arigatou dozo prosze dziekuje bitteschon
po opo kuya naman lang sige nga""".split())
# and who is addressed; Scots, Hindi, Japanese, Polish and Tagalog asides
# text speak, as the words it stands for
SPOKEN = {"u": ["you"], "ur": ["your"], "pls": ["please"], "plz": ["please"], "thx": ["thanks"],
          "gimme": ["give", "me"], "lemme": ["let", "me"], "wanna": ["want", "to"], "gotta": ["have", "to"], "gonna": ["going", "to"],
          "cuz": ["because"], "coz": ["because"], "im": ["i", "am"], "ya": ["you"], "em": ["them"],
          "theres": ["there", "is"], "cmere": ["come", "here"], "comere": ["come", "here"], "wheres": ["where", "is"], "whats": ["what", "is"], "youre": ["you", "are"],
          "ive": ["i", "have"], "cant": ["can", "not"], "thats": ["that", "is"], "ta": ["thanks"],
          "theyre": ["they", "are"], "hes": ["he", "is"], "shes": ["she", "is"], "dont": ["do", "not"],
          "didnt": ["did", "not"], "wont": ["will", "not"], "isnt": ["is", "not"], "arent": ["are", "not"],
          "gracias": ["thanks"], "merci": ["thanks"], "danke": ["thanks"], "bitte": ["please"],
          # Spanish said among English ("traeme las llaves, por favor"; accents are folded first)
          "traeme": ["bring", "me"], "traigame": ["bring", "me"], "trae": ["bring"], "dame": ["give", "me"],
          "pasame": ["pass", "me"], "pon": ["put"], "ponlo": ["put", "it"], "ponla": ["put", "it"],
          "mis": ["my"], "mi": ["my"], "el": ["the"], "los": ["the"], "las": ["the"], "llaves": ["keys"],
          "llave": ["key"], "oye": ["hey"], "donde": ["where"], "estan": ["are"],
          # Tagalog said among English ("pakikuha po the gate remote")
          "pakikuha": ["please", "get"], "pakiabot": ["please", "pass"], "pakidala": ["please", "bring"],
          "pakilagay": ["please", "put"], "pakibalik": ["please", "put", "back"], "salamat": ["thanks"],
          # Scots ("gie's the brolly", "fae the box room", "it isnae there") and Hindi ("chabi kahan hai")
          "gie": ["give", "me"], "fae": ["from"], "doon": ["down"], "oot": ["out"], "naw": ["no"], "tae": ["to"],
          "whit": ["what"], "whaur": ["where"], "afore": ["before"], "isnae": ["is", "not"], "cannae": ["can", "not"],
          "dinnae": ["do", "not"], "didnae": ["did", "not"], "wouldnae": ["would", "not"], "couldnae": ["could", "not"],
          "willnae": ["will", "not"], "wasnae": ["was", "not"], "kahan": ["where"], "hai": ["is"],
          "w": ["with"], "ma": ["my"], "dun": ["do", "not"], "thingummy": ["thing"], "thingummyjig": ["thing"], "thingamajig": ["thing"],
          "thingamabob": ["thing"], "doodah": ["thing"], "doohickey": ["thing"], "whatsit": ["thing"], "whatsits": ["things"],
          "whatchamacallit": ["thing"], "thingy": ["thing"], "gizmo": ["thing"], "mah": ["my"], "yer": ["your"], "ye": ["you"], "aff": ["off"], "deid": ["dead"], "yin": ["one"],
          "yins": ["ones"], "nothin": ["nothing"], "goin": ["going"],
          "golden": ["gold"],  # the colour a world may write "gold"
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
    (r"\bcome (on )?(over|through|round|around|along|on in)( here)?(?= ,|$| i am\b)", "come here"),
    (r"( ,)? (man|boet|bru|china)$", ""),  # "... just bring it to me, man"  # "i'm in the den, come through"
    (r"\b(no wait|wait no|no sorry|sorry no|no|wait|sorry)( ,)? not (there|that one|that)\b", r"\1"),  # "... no wait, not there, on the table"
    (r"( ,)? (and )?(stay|wait|remain) (there|put)\b", ""),  # "go in the mud room and stay there"
    # who is addressed, and endearments: "be a love and hand me ...", "..., there's a good lad",
    # "could you bring me the paper, love?"
    (r"\bbe an? (love|dear|darling|sweetheart|angel|star|gem|treasure|good (lad|boy|girl|robot)) and\b", ""),
    (r"(, )?\b(there|that) (is|s) an? (love|dear|darling|sweetheart|angel|star|good (lad|boy|girl|robot))\b", ""),
    (r"(^|, )(my )?(love|dear|darling|sweetheart|sweetie|honey|hun|pet|petal|duck|ducks|lovey|chum|child|boy|girl|son|mntanami)(?= ,|$)",
     r"\1"),  # ("hawu, my child, where are my specs?")
    (r"\b(it )?(looks|look|is) like a bomb (has |s |is )?(hit|gone off in) (it|this place|this room|here)\b",
     "it is a mess"),
    (r"\b(is|are|looks|look) (looking |looking just |just |like )?like an? (\w+)( only)?(?= ,|$)", "is a mess"),  # "like a godown"
    (r"\b(set|put|make) (the|my|our|this|that|your) (\w+( room| area)?) (right|straight|proper|properly|in order|shipshape)\b",
     r"tidy \2 \3"),  # "set the hall right"
    (r"\b(arrange|organise|organize) (it|them|this|that|everything) (properly|nicely|neatly)\b", r"tidy \2"),
    (r"\barrange (it|them|this|that|everything)\b", r"tidy \1"),  # Nigerian English: "abeg arrange it"
    (r"\b(arrange|organise|organize|sort|straighten) (the|my|our|this|that|your|his|her|their) (\w+ )?(room|parlour|lounge|"
     r"kitchen|bedroom|hall|study|office|den|flat|house|place|sitting room|living room)\b", r"tidy \2 \3\4"),
    (r"\b(have|has) (scattered|wrecked|trashed|messed up) (their|his|her|my|the|our) (\w+)\b", r"\3 \4 is a mess"),
    (r"\bat sixes and sevens\b", "a mess"), (r"\b(all )?(topsy turvy|higgledy piggledy)\b", "a mess"),
    (r"(^|, |\b(?:go and|go|and|then|just|you|kindly|abeg|oya|please|pls|can you|could you) )(abeg |oya |please |pls )?(on|off) "
     r"the (light|lights|tv|telly|fan|ac|aircon|gen|generator|radio|heater|lamp|socket)(?= ,|$| (in|for|please|now|again|too|and|so|no|wait|o|oh|abeg|sha|jare|biko)\b)",
     r"\1switch \3 the \4"),  # Nigerian and Singapore English: "on the light", "go and off the fan"
    (r"\bopen (the|my|that) (light|lights|lamp|fan|aircon|tv|telly|television|radio)\b", r"switch on \1 \2"),  # "open the light"
    (r"\bchuck (me|us)\b(?![^,]*\bat\b)", r"pass \1"),  # "chuck us the remote": not a throw at anyone
    (r"^(kia ora|g day|gday|hiya|howdy)( (mate|bro|love|all|guys|whanau))?( ,)?", ""),
    (r"\b(would|could|will|can) you (love|darl|darlin|darling|mate|hun|babe|pet|dear|sweetheart|bro|cuz)(?= ,|$)", r"\1 you"),
    (r"\bin to (the|my|his|her|their|our|your)\b", r"into \1"),  # "take his keys in to his bedside table"
    (r"(^|, )(i )?reckon (that )?(?=(it|they|he|she|the|my|his|her)\b)", r"\1i think "),  # "reckon they're in the spare room"
    (r"\b(bring|give|pass|hand|fetch) (it|them) me\b", r"\1 \2 to me"),  # "bring it me please"
    (r"\btake (it|them|this|that) (and )?give (me|us)\b", r"bring \1 to me"),  # Singapore English: "take it give me"
    # "bring me 3 things: my ezlink, my water bottle and the ang pow": the things are the list
    (r"\b(a few|a couple of|a couple|couple of|some|several|two|three|four|five|[2-5]) (more )?(things|items|bits)( for me| or not| please| can)*( and i need (them|it)( now| asap| quick| quickly)?)? , "
     r"(?=(the|my|his|her|our|your|their|a|an|some)\b)", ""),
    # "put it in the, no sorry, on the bench": a place begun and taken back before it was named
    (r"\b(in|on|into|onto|to|at|under|by|beside)( the| my| his| her| our| your)? (, )?(no sorry|sorry|no wait|wait|no|"
     r"i mean|sorry i mean) (, )?(?=(in|on|into|onto|to|at|under|by|beside)\b)", ""),
    (r"\bthe (" + "|".join(sorted(COLOURS)) + r") of the\b", r"the \1 one in the"),  # "the red of the kitchen"
    (r"\b(also |and )the (mine|yours|his|hers|ours)\b", r"\1\2"),  # "and also the mine": Spanish "el mío"
    (r"\b(everything|all|things|each thing|every thing)( back)? (to|in|into|on) (his|her) (own )?(place|places|spot)\b",
     r"\1\2 \3 its place"),  # "everything to his place": German "an seinen Platz", Spanish "a su sitio"
    (r"\b(a|another) (cold|cool) one\b", r"\1 beer"),  # "grab me a cold one out the fridge"
    (r"\b(my|the|your|his|her|our|their|this|that) cuppa\b", r"\1 cup"),  # "bring us my cuppa" (not "a cuppa": tea made)
    # sarcasm that still asks: "it's not going to walk itself to the kitchen sink, is it"
    (r"\b(it|they) (is|are) not going to (walk|move|put|carry|take|get|tidy) (itself|themselves) (back )?(to|into|onto|on|in)\b"
     r"(.*?)( , | )(is it|are they|is there)?(?= ,|$)", r"put \1 \5\6\7"),
    (r"(^|, )(not to be|i do not want to be|i don t want to be|not being|i am not being) (\w+ )?(\w+ )?but\b( ,)?", r"\1"),
    (r"(^|, )no offence,? but\b( ,)?", r"\1"),  # "not to be dramatic but i need my hoodie"
    # "can they go back on the bathroom shelf", "could it go back on the kitchen counter": a put
    (r"\b(can|could|would|will) (it|they|that|those|these|this) go (back )?(on|onto|in|into|to)\b", r"put \2 \3\4"),
    (r"\bmake there (some )?order\b", "tidy up there"),  # Spanish/German "make order": tidy
    (r"\bmake (some )?order\b", "tidy up"),
    (r"\bmy (throat|mouth) is( so| really| very| bone| totally)? dry( as a bone)?\b", "i am thirsty"),
    (r"\bi (really )?mean it\b( ,)?", ""),
    (r"\b(por favor|s il vous plait|per favore)\b", "please"),
    (r"\bto drink (from|out of)\b", "to drinkfrom"),  # a cup to drink from, not a drink
    (r"\bben the\b", "in the"), (r"\bthe now\b", "now"),  # Scots: "ben the bedroom", "the now"
    (r"\b(in|on|to|into|onto|at) (the|its|their|his|her|my|your) (usual|normal|regular) (place|spot|home|position)\b",
     "away"),  # "put the keys in the usual place"
    (r"\b(get|take) (yourself |yersel )?(off |away )?to (your|yer) bed\b", "go charge"),  # said to the robot
    (r"\b(off you (go|pop|trot)|off|now go|go on|you go|go|time to go|time for) to bed\b(?= ,| now| robot| then|$)",
     "go charge"),  # "that's enough for today, off you go to bed, robot"
    (r"\bget (the|my|our|this) (\w+( \w+)?) (sorted|sorted out|straightened out|squared away)\b", r"tidy the \2"),
    (r"\bgo (and )?(have|take) a (wee |quick )?(look|peek|check) at\b", "go to"),  # "go have a look at the braai"
    # patois and London: "carry it come" (bring it), "carry the mug go back a the kitchen" (take it),
    # "a miss pearl dis" (this is miss pearl), "bring man my bottle" (me), "allow the mug" (never mind it)
    (r"\bcarry ((?:\w+ ){0,5}?\w+) come (?:gimme|give me)\b", r"bring \1 to me"),
    (r"\bcarry ((?:\w+ ){0,5}?\w+) come\b", r"bring \1"),
    (r"\bcarry ((?:\w+ ){0,6}?\w+) go\b", r"take \1"),
    (r"\b(come|go|back|it|them) a (the|my|her|his|shop)\b", r"\1 to \2"),
    (r"\b(cup|top|box|bag|glass) a (the|tea|water|juice|my)\b", r"\1 of \2"),
    (r"^a (?:miss |mister |aunty |auntie |uncle )?(\w+) (dis|this)\b", r"it is \1"),
    (r"\b(bring|give|pass|get|fetch|for|gimme) man\b", r"\1 me"),
    (r"\ballow (the|that|it)\b", r"not \1"),
    (r"\b(have|take) a (wee |quick )?(look|peek|check|rummage) (on|in|at|under|round|around)\b", r"it is \4"),
    (r"\bwhichever (\w+( \w+)?) is (closer|closest|nearer|nearest|nearby)\b", r"a \1"),  # "whichever mug is closer"
    # "keep the remote on the teapoy": keep = put (Indian English), where a place is said
    (r"\bkeep (the|my|his|her|it|them|this|that|these|those|our|your)\b(?=[^,]*\b(on|in|onto|into|inside|at)\b)", r"put \1"),
    # Singapore and Indian English: "go and keep the mahjong set, put on the tv console" (keep: take
    # it to be put away), "go and keep it lah" (put it away), "keep back on top of the fridge"
    (r"\bkeep (the|my|his|her|it|them|this|that|these|those|our|your)\b(?=[^,]* , (put|place|leave|set)\b)", r"take \1"),
    (r"(^|, |\band |\bgo )keep (the \w+( \w+)?|my \w+( \w+)?|it|them)( back)?(?= ,|$)", r"\1put \2 away"),
    (r"\bkeep back\b", "put it back"),
    # "the bottom shelf of the bookcase": a part of a furniture is the furniture
    (r"\b(the )?(top|bottom|middle|lower|upper|lowest|highest|first|second|third|left|right|front|back) "
     r"(shelf|shelves|part|end|side|corner|half|bit) of (the |my |his |her |our )?(?=\w)", "the "),
    (r"\bset (the |my |his |her )?(\w+( \w+)?) (location|spot|place|position|home)( ,| to| as| at| =)? ", r"put \1\2 on "),
    (r"\b(for|about|is|was|just|literally|and) like (?=(a|an|the|two|three|five|ten|twenty|so|totally|really|\d+)\b)",
     r"\1 "),  # "she's been whining for like an hour": "like" said as a filler
    (r"\b(i|we) (can not|could not|cannot) find\b", "find me"),
    (r"\bthe one (in|with) the (" + "|".join(sorted(COLOURS)) + r") (case|cover|lid|top|handle|strap|sleeve|cap)\b",
     r"the \2 one"),  # "it's the one in the pink case"
    (r"\bthe one (on|to|at) the (left|right|far left|far right)( side| hand side| end)?( , the (\w+) one)\b", r"the \5 one"),  # "i can't find the remote anywhere": find it
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
     "go to your"),  # "go sit on your charger": checked to be the dock below    # what a speech recogniser writes for words that sound alike: "their on the desk", "its on the
    # side", "take it too the study", "come hear", "put the binocular's on the table"
    (r"\b(their|there) (?=(on|in|at|under|over|next|near|beside|probably|somewhere|still|upstairs|downstairs)\b)",
     "they are "),
    (r"\bits (?=(on|in|at|under|over|next|near|beside|probably|somewhere|still|not)\b)", "it is "),
    (r"\btoo (?=(the|my|his|her|your|our|their)\b)", "to "),
    # said as a learner of English says it: "take me my keys" (bring), "can i become my phone"
    # (German "bekommen"), "make tidy the room", "make ordnung in kenji's room", "the mug cup",
    # "i think it lies on the sofa", "i have a request"
    (r"\btake (me|us) (?=(the|my|a|an|his|her|your|our|their|some|this|that|these|those|both)\b)", r"bring \1 "),
    (r"\b(can|could|may) (i|we) become\b", r"\1 \2 have"),
    (r"\bmake (tidy|ordnung|order|porzadek|neat)( in| of)?\b", "tidy"),
    (r"\bmake (the|my|his|her|our|this|that) (\w+( \w+)?) (tidy|neat|in order)\b", r"tidy \1 \2"),
    (r"\bmug cups?\b", "mug"),
    (r"\b(in |over |out )?here( ,)? (?=(on|onto) (the|my|me|his|her|your|our|this|that) )", ""),  # "put it here, on the table"
    (r"\b(you have|you ve|you) (done|worked|been) (more than )?(enough|plenty|great|well|brilliant|amazing|so well|a good job|a great job)"
     r"( today| for today| for now)?\b", ""),  # "right, you've done enough, go and charge"
    # "in case I drop something again": why, not a hearing-aid case; "give them a clean": the
    # speaker's own deed; "..., where I'll see them": why there; "wait by his chair": go there
    (r"\b(just )?in case (?=(i|you|we|he|she|they|it|there|someone|somebody|anyone|the|my|his|her)\b)", "because "),
    (r"\b(just )?in case\b(?= ,|$)", ""),
    (r"\bin any case\b", ""),
    (r"\b(give|gave) (it|them|him|her) a (good |quick |proper )?(clean|wash|wipe|polish|dust|scrub|rinse|go|try|read)\b", r"\4 \2"),
    (r"( ,)? where (i|you|we|he|she|they) (will|can|ll|would|could|might) (see|find|notice|spot|remember|reach|get to) (it|them)\b", ""),
    (r"( ,)? where (i|you|we|he|she|they) (always |usually |normally |generally )?(keep|keeps|put|puts|leave|leaves|store|stores)"
     r" (it|them|the \w+|my \w+|our \w+|his \w+|her \w+|their \w+)\b", ""),  # "on the tv unit, where we always keep the keys"
    (r"\b(go and |go |come and )?(wait|park yourself|park|station yourself|plant yourself) (by|next to|beside|near) ", "go to "),
    (r"^(ok |okay |right |so )?(do|just do) (the|my|our) usual\b( ,)?", ""),  # "do the usual: keys on the bench, ..."
    (r"\b(actually |no |oh )*make (it|that) (?=(the|my|a|an|his|her)\b)", "no wait "),  # "actually make it the drill"
    (r"\b(and |then |also )?(please )?(do |doing )?(the )?same (thing )?(for|with) (?=(the|my|his|her|your|our|their|that|this|\w+s)\b)",
     "also "),  # "bring me the slate coaster, actually, do the same for the cork one too"
    (r"\b(the|my|your|his|her|our|their|a) handy\b", r"\1 phone"),  # German: a mobile phone
    (r"\b(it|that) (lies|lay|lays|stands|sits|is lying|is standing|is sitting|lie) (?=(on|in|at|by|under|near|next)\b)", r"\1 is "),
    (r"\b(they|those|these) (lie|lay|stand|sit|are lying|are standing|are sitting) (?=(on|in|at|by|under|near|next)\b)", r"\1 are "),
    (r"\b(i have|i ve got|i got) (a|one) (small |little |quick |big )?(request|favour|favor|job for you|task for you)\b( ,)?", ""),
    # "it'll be somewhere on the dining table": where it is, said of later
    (r"\bit (will|must|might|may|could|would) be (?=(somewhere |probably |still |right )?(on|in|at|by|under|near|next)\b)",
     "it is "),
    (r"\bthey (will|must|might|may|could|would) be (?=(somewhere |probably |still |right )?(on|in|at|by|under|near|next)\b)",
     "they are "),
    (r"\b(no |oh )?(forget|scrap|skip|ditch) (about )?(the|my|his|her|those|these) (?=\w)", r"not \4 "),  # "no forget the wipes, just the sippy"
    (r"\b(come|get|over|right) hear\b", r"\1 here"),
    (r"\b(fixing|fixin|fixn) to\b", "going to"),  # Southern US: "he's fixin' to run to the store"
    (r"\bcarry (me|us) (?=(a|an|the|my|one|some|that|this|those|these|his|her|your)\b)", r"bring \1 "),  # "carry me a coke"
    (r"\bget (your|yer) (britches|butt|bum|backside|behind|self|tail|arse|ass|carcass) (in|over|out|down|up) (here|there)\b",
     "come here"),
    (r"\bc mere\b", "come here"), (r"\ban (?=(the|my|his|her|your|our|their|gie|give|put|bring|fetch|take|then)\b)", "and "),
    (r"\b(bits and bobs|bits and pieces|odds and ends|odds and sods)\b", "things"), (r"\baw the\b", "all the"),
    (r"( ,)? like$", ""),  # "... for me, like"
    (r"\bgive (me )?(the|my|our|this|that|your) (\w+( room| area)?) an? (good |quick |proper |bit of a )?(tidy|clean|sort out|sort)\b",
     r"tidy \2 \3"),  # "gie the kitchen a wee tidy"
    (r"\b(go |away |off )to your bed\b", "go charge"), (r"\bthat is you (done )?for the (night|day)\b", ""),
    (r"\bcome here till i tell (you|ye)\b( ,)?", ""),  # Irish: "c'mere till I tell you"
    (r"\b(the |my )?(\w+) where is(?= ,|$)", r"where is \1\2"),  # Hindi order: "remote kahan hai"
    (r"\b(put|place|set|move|take|leave|stick|pop|carry) (the|my|his|her|your|our|their) (\w+) is "
     r"(?=(on|onto|in|into|to|back|at|by)\b)", r"\1 \2 \3 "),
))


def _with_g(t: str) -> str:
    """A word said with its final g dropped, written out: "comin" -> "coming", "sittin"."""
    words = english_words()
    return t + "g" if len(t) > 4 and t.endswith("in") and t not in words and t + "g" in words else t


def _in_names(toks: list[str], vocab: Vocabulary) -> set[int]:
    """The positions of words said as part of a name of the home of two or more words."""
    inside: set[int] = set()
    for i in range(len(toks) - 1):
        n = 2
        while i + n <= len(toks) and tuple(toks[i:i + n]) in vocab.name_starts:
            n += 1
        if n > 2:
            inside.update(range(i, i + n - 1))
    return inside


def _same_thing_again(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "... and isla's bottle from the counter - tea first, then the bottle": a name said again
    that fits several things, one of which was named just before, is that one (not when it is
    told apart again: "the other bottle", "the bottle on the shelf")."""
    ments = _mentions(toks, vocab)
    for i, m in enumerate(ments):
        if len(m.names) < 2 or not all(vocab.kinds.get(n) == "object" for n in m.names):
            continue
        before = {n for b in ments[:i] if len(b.names) == 1 for n in b.names} & set(m.names)
        after = toks[m.end:m.end + 1]
        if len(before) == 1 and not {"other", "another", "second", "both", "all", "each", "every"} & set(toks[max(0, m.start - 2):m.start]) \
                and after not in (["on"], ["in"], ["from"], ["that"], ["which"], ["next"], ["by"], ["with"], ["off"], ["near"], ["beside"]) \
                and not toks[m.start - 1:m.start] in (["a"], ["an"], ["any"]):
            name = before.pop()
            if vocab.phrases.get(tuple(name.split("_"))) == {name}:
                return toks[:m.start] + name.split("_") + toks[m.end:]
    return toks


def _owned_of(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "the cup of jürgen", "the night table of lucía", "the tablets of the grandpa": whose a
    thing is, said after it (as Spanish, German and Polish say it), said as the home names it
    ("the jurgen cup")."""
    out, k = list(toks), 1
    while k < len(out) - 1:
        j = k + 1 + (out[k + 1] == "the")
        owner = vocab.owner_said(out[j]) if out[k] == "of" and j < len(out) else None
        for n in (3, 2, 1) if owner else ():
            head = tuple(out[k - n:k])
            form = next((f for f in (owner, owner + "s") if (f, *head) in vocab.phrases), None)
            if k >= n and all(w.isalpha() for w in head) and form and len(vocab.phrases.get(head, ())) != 1:
                # (only where the owner tells things apart: "the photo of harold" is the one photo)
                out[k - n:j + 1] = [form, *head]
                k -= 1
                break
        k += 1
    return out


_ROBOT = frozenset("robot robo bot".split())
_CALLS = frozenset("no oi hey ok okay right now".split())


def _to_the_robot(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "no max, put that down - robot, bring me the wipes", "dev can you - actually robot, you do
    it": what is said after the robot is called, when what came before was said to someone the
    home names (a call to them, then words to them) and not to the robot."""
    for k in range(len(toks) - 1, 0, -1):
        if toks[k] not in _ROBOT or toks[k - 1] not in (",", "actually", "so", "and"):
            continue
        starts = [0] + [i + 1 for i in range(k) if toks[i] == ","]
        for i in starts:
            i += toks[i] in _CALLS if i < k else 0
            if i + 1 < k and (vocab.person_at(toks, i) or toks[i] in PEOPLE and (toks[i],) not in vocab.phrases) \
                    and toks[i + 1] in {",", "can", "could", "will", "would", "please", "leave", "put", "stop", "get", "back", "come", "go"}:
                rest = toks[k + 1:]
                while rest[:1] == [","]:
                    rest = rest[1:]
                ments = _mentions(rest, vocab)
                first = ments[0].start if ments else len(rest)
                if set(rest[:first]) & {"it", "them", "that", "those", "these", "her", "his", "him", "their"}:
                    return toks  # ("robot, it'll be in the kitchen, bring it here": what "it" is was said before)
                return rest or toks
        break
    return toks


def without_repairs(raw: list[str], vocab: Vocabulary) -> list[str]:
    """`raw` (the rule parser's tokens) as meant: idioms said plainly, fillers dropped, chit-chat
    before "anyway" dropped, self-corrections applied, things and deeds said with "not" left
    out."""
    raw = _to_the_robot(_pidgin(_patois(raw), vocab), vocab)
    named = _in_names(raw, vocab)  # "ah ma's specs": the home's own words, no filler or "my"
    toks = [w for k, t in enumerate(raw) if k in named or t not in FILLERS or t == "wee" and raw[k + 1:k + 2] in (["one"], ["ones"])
            for w in ([t] if k in named else SPOKEN.get(t, [_with_g(t)]))] or raw  # ("the wee one": the small one)
    if _SCOTS & set(raw):  # "the wee flask aff the hall table, no the big yin": not the big one
        toks = [("not" if t == "no" and toks[k + 1:k + 2] in (["the"], ["my"], ["his"], ["her"], ["that"], ["your"])
                 else t) for k, t in enumerate(toks)]
    toks = _restarted(toks)
    toks = heard_as_meant(toks, vocab.phrases, vocab.words, COLOURS, _GRAMMAR)  # "the read mug"
    toks = _owned_of(toks, vocab)
    toks = _said_plainly(toks, vocab)
    toks = _drop_preamble(toks, vocab)
    toks = _whose_it_is(_to_the_person(_hers_said_of_a_place(toks, vocab), vocab), vocab)
    toks = _by_what_is_near(toks, vocab)
    toks = _thing_for(_by_order(_left_by(toks, vocab), vocab), vocab)
    toks = _do_a_room(toks, vocab)
    toks = _put_said_tersely(toks, vocab)
    for _ in range(4):  # "the cup no the plate sorry i mean the bottle"
        fixed = _correct(toks, vocab)
        if fixed == toks:
            break
        toks = fixed
    toks = _told_after(toks, vocab)
    toks = _drop_contrasts(toks, vocab)
    toks = _drop_negated_deeds(toks, vocab)
    toks = _drop_where_the_person_is(toks, vocab)
    toks = _same_thing_again(_name_the_owner(toks, vocab), vocab)
    while toks != raw and len(toks) > 1 and toks[-1] == ",":  # "... head to the bedroom and wait there."
        toks = toks[:-1]  # said plainly ends there, not on the full stop's comma
    return toks


_POSSESSIVES = frozenset("his her their".split())
_HANGING = frozenset("the a an my your our their".split())  # ("his", "her" end a phrase: "give it to her, ...")
_SAID_TWICE = _HANGING | frozenset("his her for to on onto in into of with at from".split())


# Jamaican patois, read only where it is spoken (two of its words at least): "whey mi bible deh?",
# "carry di dominoes dem come gimme nuh", "pass mi di likkle remote fi di firestick"
_PATOIS = {"di": "the", "dis": "this", "dat": "that", "pon": "on", "inna": "in", "wid": "with", "an": "and",
           "den": "then", "tek": "take", "lef": "left", "seh": "says", "likkle": "little", "whey": "where",
           "yah": "here", "ova": "over", "mek": "make", "waan": "want", "tink": "think", "yuh": "you",
           "ting": "thing", "tings": "things", "cyaan": "can not", "nah": "not", "neva": "never"}
_PATOIS_MARKS = frozenset("di pon inna deh dem nuh cyaan likkle whey seh wid fi yuh tek lef dis waan mek yah mi".split())
_NUH_NOT = frozenset("have want waan deh go come like need know did mek fi a tek touch do eat drink".split())
_I_DO = frozenset("tink think lef left want waan soon cyaan a did nah deh neva have need like love know".split())
_FOR_ME = frozenset("gimme give pass fi for wid with tell help bring fetch carry get show".split())


def _patois(toks: list[str]) -> list[str]:
    """Jamaican patois as English ("mi" is my, me or i by what follows; "dem" after a thing
    makes it plural, else is them; "deh" is is or there; "nuh" at the end asks kindly, else is
    not; "fi" is to before a deed, else for); London's "man" for me after a deed, "allow the X"
    (never mind the X), "ting" for thing. Nothing changes where patois is not spoken."""
    if len(_PATOIS_MARKS & set(toks)) < 2:
        return toks
    out: list[str] = []
    for k, t in enumerate(toks):
        prev = out[-1] if out else ""
        nxt = toks[k + 1] if k + 1 < len(toks) else ""
        if t == "mi":
            ends = not nxt or nxt in (",", "and", "an", "please", "nuh", "now")
            out.append("me" if prev in _FOR_ME | {"mek", "make", "let"} and (ends or nxt in ("a", "the", "di", "one"))
                       else "i" if nxt in _I_DO or nxt in IMPERATIVES else "me" if ends else "my")
        elif t == "dem":
            if not (prev in ("", ",", "and") or prev in DEED_WORDS | _FOR_ME | {"put", "take", "tek", "move", "lef", "left"}):
                continue  # "mi tablets dem", "di one dem": plural said after
            out.append("them")
        elif t == "deh":
            out.append("is" if prev in ("it", "she", "he", "they", "i", "you", "them") else "there")
        elif t == "nuh":
            if nxt not in _NUH_NOT | DEED_WORDS:
                continue  # ("gimme dem nuh", "pass mi di remote nuh, di white one": a kind ask)
            out.append("not")
        elif t == "fi":
            out.append("to" if nxt in DEED_WORDS | {"carry", "tek", "go", "come", "put", "mek"} else "for")
        else:
            out += _PATOIS.get(t, t).split()
    return out


# Nigerian Pidgin, read only where it is spoken: "abeg bring the remote wey dey on top the sofa",
# "carry the baygon go bq put am for blessing table", "na me chidi"
_PIDGIN = {"abeg": "please", "biko": "please", "wetin": "what", "una": "you", "wan": "want", "don": "have"}
_PIDGIN_MARKS = frozenset("abeg biko oya dey wey wetin una sef am na wan don".split())
_PIDGIN_SURE = frozenset("abeg biko oya dey wey wetin una sef wan".split())  # no English word: one is enough
_PIDGIN_DROP = frozenset("oya sef o jare".split())
_PUTS = frozenset("put keep drop leave place".split())


def _pidgin(toks: list[str], vocab: Vocabulary) -> list[str]:
    """Nigerian Pidgin as English ("wey dey" that is, "dey" is, "am" it after a deed, "for" on
    after "dey" or a put, "come"/"go" before a place to it, "na me X" it is X). Nothing
    changes where Pidgin is not spoken."""
    am_it = any(t == "am" and k and toks[k - 1] in DEED_WORDS | _PUTS for k, t in enumerate(toks))  # "put am": it
    if len(_PIDGIN_MARKS & set(toks)) < 2 and not _PIDGIN_SURE & set(toks) and not am_it:
        return toks
    urge = next((k for k in range(len(toks)) if toks[k:k + 5] == ["wetin", "you", "dey", "wait", "for"]), None)
    if urge is not None:  # "wetin you dey wait for, bring the baygon": what are you waiting for, urging
        toks = toks[:urge] + [","] + toks[urge + 5:]
    def place_at(j: int) -> bool:  # a room or furniture of the home is named at toks[j]
        p = _phrase_at(toks, j, vocab)
        return bool(p) and all(vocab.kinds.get(n) in ("room", "furniture") for n in vocab.phrases[p])

    out: list[str] = []
    for k, t in enumerate(toks):
        prev = out[-1] if out else ""
        nxt = toks[k + 1] if k + 1 < len(toks) else ""
        if t in _PIDGIN_DROP and (t != "o" or nxt in ("", ",", "abeg", "biko", "please")):
            continue
        if t == "e" and nxt in ("dey", "don", "is", "no"):
            out.append("it")  # "e dey for the dining table"
            continue
        if t == "him" and nxt.isalpha() and nxt not in DETERMINERS | DEED_WORDS | {"and", "to", "for", "on", "in"}:
            out.append("his")  # "him reading table"
            continue
        if t == "dey" and "where" in out[-5:] and (not nxt or nxt == "," or nxt in DEED_WORDS):
            out.insert(len(out) - out[::-1].index("where"), "is")  # "where my headphones dey bring am": where is
            continue
        if t == "dey" and (nxt in DETERMINERS | {"my", "his", "her", "our", "here", "there"} or place_at(k + 1)):
            out += {"i": ["am", "in"], "we": ["are", "in"], "you": ["are", "in"], "they": ["are", "in"]}.get(prev, ["is", "in"])
            continue  # "i dey the room", "i dey bq"
        if t == "go" and prev in ("i", "you", "he", "she", "we", "they", "it") and nxt.isalpha() \
                and nxt not in DETERMINERS | {"to", "and", "back", "home", "out", "in"}:
            out.append("will")  # "she go need am": she will need it
            continue
        if t == "come" and prev.isalpha() and prev not in DEED_WORDS | {"please", "and", "i", "you", "he", "she", "we", "they", "it"} \
                and nxt not in DETERMINERS | {"my", "his", "her", "our", "to", "and", "here", "back"} and not place_at(k + 1):
            out += ["here", ","]  # "bring the baygon come, mosquito dey bite me"
            continue
            out += {"i": ["am", "in"], "we": ["are", "in"], "you": ["are", "in"], "they": ["are", "in"]}.get(prev, ["is", "in"])
            continue  # "i dey the room", "i dey bq"
        if t == "where" and nxt in DETERMINERS - {"this", "that"} | vocab.owners:
            out += ["where", "is"]  # "where my car keys? bring them": where are they
            continue
        if t == "na" and nxt == "me":
            out += ["it", "is"]  # "na me chidi": it is chidi
            continue
        if t == "na" or t == "me" and k and toks[k - 1] == "na":
            continue
        if t == "wey":
            out.append("that")
        elif t == "dey":
            out.append("is")
        elif t == "am" and (prev in DEED_WORDS | _PUTS | {"carry", "give", "see", "find", "take"}):
            out.append("it")
        elif t == "for" and prev in _PUTS | {"is", "it", "them", "back"} and nxt not in ("me", "us", "her", "them"):
            out.append("on")
        elif t in ("come", "go") and prev not in ("", ",", "please", "and") and nxt in DETERMINERS | {"my", "his", "her", "our"} \
                or t in ("come", "go") and place_at(k + 1):
            out.append("to")
        elif t == "give" and nxt == "me" and prev in ("it", "them", "am"):
            out.append("to")  # "bring am give me"
        else:
            out += _PIDGIN.get(t, t).split()
    return out


_ORDINALS = {"first": 0, "second": 1, "third": 2, "former": 0, "latter": -1, "last": -1}


def _by_order(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "grab dad's glasses and mason's bowl, give me the first one and put the second one in the
    sink": "the first (one)" is the first thing listed before it, "the latter" the last."""
    if not _ORDINALS.keys() & set(toks):
        return toks
    ments = [m for m in _mentions(toks, vocab) if all(vocab.kinds.get(n) == "object" for n in m.names)]
    out = list(toks)
    for k in range(len(toks) - 2, -1, -1):
        if toks[k] != "the" or toks[k + 1] not in _ORDINALS or toks[k + 2:k + 3] and toks[k + 2] not in \
                ("one", "ones", "thing", "item", ",", "and", "in", "on", "to", "into", "onto", "please", "then", "back", "away"):
            continue  # (not "the first book on the shelf")
        listed = [m for m in ments if m.end <= k]
        if len(listed) < 2 or any(m.start <= k < m.end for m in ments):
            continue
        first = min(k2 for k2 in range(k + 1) if toks[k2] == "the" and toks[k2 + 1:k2 + 2] and toks[k2 + 1] in _ORDINALS)
        listed = [m for m in ments if m.end <= first]
        i = _ORDINALS[toks[k + 1]]
        if len(listed) < 2 or i >= len(listed):
            continue
        m = listed[i]
        end = k + 2 + (toks[k + 2:k + 3] in (["one"], ["ones"], ["thing"], ["item"]))
        if toks[end:end + 1] in (["i"], ["you"]) and toks[end + 1:end + 2] in (["asked"], ["said"], ["mentioned"], ["wanted"]):
            end += 2 + (toks[end + 2:end + 3] == ["for"])  # "the first thing i asked for"
        out[k:end] = toks[m.start:m.end]
    return out


_LEFT_IT = frozenset("left put dropped forgot stuck threw leaves puts".split())
_WHO_LEFT = frozenset("he she they someone somebody i you we".split())


def _left_by(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "whatever mug mason left in the dining room", "the cup someone put on the stairs": the
    thing said by where it was left ("the mug in the dining room"); who left it said no more."""
    if not _LEFT_IT & set(toks):
        return toks
    out = list(toks)
    for m in reversed(_mentions(toks, vocab)):
        j = m.end
        if not all(vocab.kinds.get(n) == "object" for n in m.names) or j + 2 >= len(out):
            continue
        if (out[j] in _WHO_LEFT or vocab.owner_said(out[j])) and out[j + 1] in _LEFT_IT and out[j + 2] in _PREPS | {"by", "under"}:
            del out[j:j + 2]
            if m.start and out[m.start - 1] in ("whatever", "whichever"):
                out[m.start - 1] = "the"
    return out


def _told_after(toks: list[str], vocab: Vocabulary) -> list[str]:
    """A name several things share, told apart by a word or two said after a pause: "the mug.
    blue.", "the brush. hair.", "on my chair. the big one": the one thing whose names hold the
    words, and the words said no more."""
    if "," not in toks:
        return toks  # (the words come after a pause)
    for m in _mentions(toks, vocab):
        if len(m.names) < 2 or m.start and toks[m.start - 1] in ("both", "all", "each", "every"):
            continue  # ("both laptops, kai's first, then mine": each)
        j, left = m.end, set(m.names)
        while j < len(toks) and toks[j] == "," and len(left) > 1:
            end = next((e for e in range(j + 1, len(toks)) if toks[e] == ","), len(toks))
            said = [w for w in toks[j + 1:end] if w not in DETERMINERS | {"one", "ones", "please"}]
            if not said or end - j - 1 > 3 or set(said) & (DEED_WORDS | {"it", "them", "not", "no", "and"} | vocab.owners):
                break  # (not a name alone: "..., they're on my bed. priya" is signed)
            fits = [{n for n in left if any(w in p for p, ns in vocab.phrases.items() if n in ns)} for w in said]
            fits = [f for f in fits if f]
            if not fits:
                break
            left = set.intersection(*fits)
            j = end
        name = tuple(next(iter(left)).split("_")) if len(left) == 1 and j > m.end else ()
        if name and vocab.phrases.get(name) == left:
            return toks[:m.start] + list(name) + toks[j:]
    return toks


def _restarted(toks: list[str]) -> list[str]:
    """A phrase broken off and begun again, as said while finding a word: "get me the, the
    reading glasses", "the thing for the, for the eyes", "put it on the, the drawers", "my,
    the ring ring thing", "make, the, make tea": the word left hanging before the pause is
    dropped, a word said alone and then again with the rest is said once, and so is a word
    said twice in a row."""
    out: list[str] = []
    for k, t in enumerate(toks):
        if t == "," and out and out[-1] in _HANGING and k + 1 < len(toks) and toks[k + 1] != "," \
                and not (len(out) > 1 and out[-2] == "," and out[-1] not in ("the", "a", "an")):
            out.pop()  # ("bring me the, the remote"; not "my" alone between pauses: "..., my, ...")
            continue
        if out and t == out[-1] and t in _SAID_TWICE:
            continue  # ("for for the eyes")
        if t.isalpha() and out[-2:] == [t, ","] and (len(out) == 2 or out[-3] == ","):
            del out[-2:]  # ("make, make tea")
        out.append(t)
    return out


def _owner_forms(name: str, vocab: Vocabulary) -> list[str]:
    """How the world's names say that `name` owns a thing ("sam" and "sams" for "sam's bed")."""
    if name not in vocab.owners:
        return []
    return [p for p in (name, name + "s") if any(len(k) > 1 and k[0] == p for k in vocab.phrases)]


def _named_owner(name: str, vocab: Vocabulary) -> bool:
    """Whether `name` is a person the world's names say things are whose of, and no thing's
    name itself (not "bluey", the dog's bed being "bluey bed" and the dog "bluey")."""
    return bool(_owner_forms(name, vocab)) and (name,) not in vocab.phrases


def _speaker_introduced(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "it's sam - bring me my headphones", "ellie here, ...", "this is leo: put my ...": the
    speaker says who is talking; "my" is theirs where the world names things by whose they are
    ("sams room", "ellie's desk"), and the introduction is no part of the request. Heard without
    the apostrophe ("its george could you ...") or said last ("..., its helen") it is the same."""
    said = _introduction(toks, vocab)
    if said is None:
        return toks
    name, rest = said
    forms = _owner_forms(name, vocab)
    out = list(rest)
    for k, t in enumerate(out):
        if t == "my" and k + 1 < len(out):
            form = next((f for f in forms if any((f, *out[k + 1:k + 1 + m]) in vocab.phrases for m in (1, 2))), None)
            if form:
                out[k] = form
    return out


def speaker_named(toks: list[str], vocab: Vocabulary) -> str | None:
    """The owner the speaker says they are, as `_speaker_introduced` reads an introduction, or
    one said mid-command ("the laptop that isn't mine. i'm mei"), or None."""
    said = _introduction(toks, vocab)
    if said is not None:
        return vocab.owner_said(said[0]) or said[0]
    return next((vocab.owner_said(toks[k + 2]) for k in range(len(toks) - 2)
                 if toks[k:k + 2] in (["i", "am"], ["it", "is"]) and vocab.owner_said(toks[k + 2])), None)


def _introduction(toks: list[str], vocab: Vocabulary) -> tuple[str, list[str]] | None:
    """(the speaker's name as said, the words without the introduction), or None."""
    toks = list(toks)
    while toks[-1:] == [","]:
        toks = toks[:-1]
    for k in range(len(toks) - 1):  # "lads my laptop's on 2 percent. jonno btw. can you bring me my laptop"
        if toks[k + 1] == "btw" and (k == 0 or toks[k - 1] == ",") and _named_owner(toks[k], vocab):
            toks = ["it", "is", toks[k], ","] + toks[:k] + toks[k + 2:]
            break
    if len(toks) > 3 and toks[-2] == "," and "my" in toks and _named_owner(toks[-1], vocab):
        toks = toks[:-2] + ["its", toks[-1]]  # "..., they're on my bed. priya": signed, as a voice note is
    if len(toks) > 3 and toks[-1] in vocab.owners and (toks[-2] == "its" or toks[-3:-1] in (["it", "is"], ["this", "is"])):
        said = 1 + (toks[-2] != "its")
        toks = ["it", "is", toks[-1], ","] + toks[:-1 - said]  # "... its helen": said first
    if toks[:1] == ["its"]:
        toks = ["it", "is"] + toks[1:]
    for end, at in ((3, 2), (2, 0)):  # "it is sam", "this is sam", "i am sam"; "sam here", "sam speaking"
        if len(toks) <= end:
            continue
        head = toks[:end]
        if end == 3 and head[:2] not in (["it", "is"], ["this", "is"], ["i", "am"]):
            continue
        if end == 2 and head[1] not in ("here", "speaking"):
            continue
        if not head[at].isalpha() or not _named_owner(head[at], vocab):
            continue
        return head[at], toks[end + 1:] if toks[end] in (",", "-", ":") else toks[end:]
    return None


_NEAR = [tuple(w.split()) for w in ("next to", "close to", "closest to", "nearest to", "right next to", "nearest",
                                     "closest", "beside", "by", "near", "alongside", "right by")]


def _by_what_is_near(toks: list[str], vocab: Vocabulary) -> list[str]:
    """Furniture told apart by what it stands beside, from where the world puts it: "the table
    next to his chair" (of three tables, the one nearest the recliner); "the little table by his
    chair" is the little table; "put the remote next to his chair", a chair nothing stands on,
    puts it on the surface nearest the chair."""
    ments = _mentions(toks, vocab)
    kind = lambda m: {vocab.kinds.get(n) for n in m.names}  # noqa: E731
    for i in range(len(ments) - 1, -1, -1):
        b = ments[i]
        if kind(b) != {"furniture"} or len(b.names) != 1:
            continue
        k = b.start
        while k > 0 and toks[k - 1] in DETERMINERS | {"his", "her", "their", "my", "your", "our"}:
            k -= 1
        rel = next((r for r in _NEAR if tuple(toks[k - len(r):k]) == r), None)
        if rel is None:
            continue
        r0 = k - len(rel)
        a = next((m for m in ments if m.end == r0), None)
        bx, by, b_surface = vocab.spots[b.names[0]]
        dist = lambda n: (vocab.rooms_of.get(n) != vocab.rooms_of[b.names[0]],  # noqa: E731
                          (vocab.spots[n][0] - bx) ** 2 + (vocab.spots[n][1] - by) ** 2)
        if a is not None and kind(a) == {"furniture"}:  # "the table next to his chair"
            near = min((n for n in a.names if n != b.names[0]), key=dist, default=None)
            name = tuple(near.split("_")) if near else ()
            if len(a.names) > 1 and vocab.phrases.get(name) == {near}:
                d = a.start - (a.start > 0 and toks[a.start - 1] in DETERMINERS)  # ("the side" may name another)
                return toks[:d] + list(name) + toks[b.end:]
            if len(a.names) == 1:
                return toks[:a.end] + toks[b.end:]
        elif not b_surface and (a is None and rel != ("by",) or a is not None and kind(a) == {"object"}):
            # ("go and wait by his chair" is a trip there)
            near = min((n for n, (_, _, surface) in vocab.spots.items() if surface), key=dist, default=None)
            name = tuple(near.split("_")) if near else ()
            if vocab.phrases.get(name) == {near} and not dist(near)[0]:
                return toks[:r0] + ["on", *name] + toks[b.end:]
    return toks


_BESIDE = sorted(_NEAR + [tuple(w.split()) for w in ("behind", "in front of", "to the left of", "to the right of",
                                                       "left of", "right of")], key=len, reverse=True)
_PUTTING = frozenset("put place set leave move stick pop".split())
_INTO = frozenset("on onto in into to".split())
_SIZES = {"bigger": max, "biggest": max, "larger": max, "largest": max, "taller": max, "tallest": max,
          "smaller": min, "smallest": min, "littler": min, "tinier": min, "shorter": min, "shortest": min}


def things_told_apart(toks: list[str], where: dict[str, str], sizes: dict[str, float],
                      spots: dict[str, tuple[float, float]], vocab: Vocabulary) -> list[str]:
    """Things that share a name told apart by where they stand or their size, as the world
    state has them (`where`: object -> its furniture; `sizes`: object -> volume; `spots`: a
    furniture's place): "the cup behind the kettle" (the cup on the kettle's counter), "the
    book nearest the window" (on the windowsill), "the bigger of the two books"."""
    ments = _mentions(toks, vocab)
    objects = lambda m: all(vocab.kinds.get(n) == "object" for n in m.names)  # noqa: E731
    named = lambda o: vocab.phrases.get(tuple(o.split("_"))) == {o}  # noqa: E731
    for k, t in enumerate(toks):  # "bring me whatever's on the plan chest", "... standing next to the scalpel"
        if t != "whatever":
            continue
        j = _skip(toks, k + 1, {"is", "that", "standing", "sitting", "lying", "stood", "sat", "else"})
        rel = next((r for r in [("on",), ("onto",)] + _NEAR if tuple(toks[j:j + len(r)]) == r), None)
        b = next((m for m in ments if rel and 0 <= m.start - (j + len(rel)) <= 2 and len(m.names) == 1), None)
        if b is None:
            continue
        at = where.get(b.names[0], b.names[0])  # the thing's furniture, or the furniture said
        there = sorted(o for o, w in where.items() if w == at and o != b.names[0] and vocab.kinds.get(o) == "object")
        if 1 <= len(there) <= 3 and all(named(o) for o in there) and (len(there) == 1 or rel in (("on",), ("onto",))):
            # ("whatever's on the hall table": each thing there)
            return toks[:k] + [w for i, o in enumerate(there) for w in ([] if not i else ["and"]) + o.split("_")] + toks[b.end:]
    for k in range(1, len(toks) - 3):  # "keys pls. the ones that aren't jonno's": the keys that aren't
        if toks[k] in ("one", "ones") and toks[k + 1:k + 4] in (["that", "is", "not"], ["that", "are", "not"]):
            a = next((m for m in reversed(ments) if m.end <= k and len(m.names) > 1 and objects(m)), None)
            if a is not None:
                return things_told_apart(toks[:k] + toks[a.start:a.end] + toks[k + 1:], where, sizes, spots, vocab)
    speaker = None if "mine" not in toks else speaker_named(toks, vocab)
    for a in ments:  # "the notebook that isn't on my desk", "the bottle that isn't theo's", "whichever
        # charger isn't priya's", "the mug that's not on the coffee table and not on priya's desk",
        # "the laptop that isn't mine. i'm mei"
        said = toks[a.end:a.end + 3] in (["that", "is", "not"], ["which", "is", "not"], ["that", "are", "not"])
        whichever = a.start > 0 and toks[a.start - 1] == "whichever" and toks[a.end:a.end + 2] in (["is", "not"], ["are", "not"])
        if len(a.names) < 2 or not objects(a) or not (said or whichever):
            continue
        left, j = list(a.names), a.end + (3 if said else 2)
        while True:
            if toks[j:j + 1] in (["on"], ["in"]):
                b = next((m for m in ments if 0 < m.start - j <= 2 and len(m.names) == 1), None)
                left = [n for n in left if b is not None and b.names[0] not in (where.get(n), vocab.rooms_of.get(where.get(n, "")))]
                end = b.end if b is not None else j
            else:
                owner = speaker if toks[j:j + 1] == ["mine"] else vocab.owner_said(toks[j]) if j < len(toks) else None
                forms = {owner, owner + "s"} if owner else set()
                left = [n for n in left if owner and not any(p[0] in forms and n in ns for p, ns in vocab.phrases.items())]
                end = j + 1
            if toks[end:end + 2] != ["and", "not"] or len(left) < 2:
                break
            j = end + 2
        if len(left) == 1 and named(left[0]):
            return toks[:a.start - whichever] + ["the"] * whichever + left[0].split("_") + toks[end:]
    for b in ments[::-1]:  # "put my sunglasses down next to the keys": on what the keys are on
        k = b.start - (b.start > 0 and toks[b.start - 1] in DETERMINERS)
        rel = next((r for r in _NEAR + [("with",)] if tuple(toks[k - len(r):k]) == r), None)
        ons = {where.get(n) for n in b.names}  # ("with the lunchboxes": both on the counter)
        if rel is None or len(ons) != 1 or not objects(b) or not ons <= set(spots):
            continue
        clause = toks[_clause_start(toks, k - len(rel)):k - len(rel)]
        on = ons.pop()
        if _PUTTING & set(clause) and not _INTO & set(clause[-3:]) and vocab.phrases.get(tuple(on.split("_"))) == {on}:
            return toks[:k - len(rel)] + ["on", *on.split("_")] + toks[b.end:]
    for i, a in enumerate(ments):
        if len(a.names) < 2 or not objects(a):
            continue
        pick: str | None = None
        end = a.end
        k = a.start - (a.start > 0 and toks[a.start - 1] in DETERMINERS)
        size = next((_SIZES[t] for t in toks[max(0, k - 5):a.start] if t in _SIZES), None)
        if size is None and a.end < len(toks) and toks[a.end] in _SIZES:  # "the book, the bigger one"
            size = _SIZES[toks[a.end]]
        if size is not None:
            pick = size(a.names, key=lambda n: sizes.get(n, 0.0))
        j = a.end
        relative = toks[j:j + 2] in (["that", "is"], ["which", "is"])
        j += 2 if relative else 0
        rel = next((r for r in _BESIDE if tuple(toks[j:j + len(r)]) == r), None)
        clause = toks[_clause_start(toks, a.start):a.start]
        rest = toks[j:_clause_end(toks, j)]
        if rel and not relative and _PUTTING & set(clause) and not _INTO & set(rest[len(rel):]):
            rel = None  # "put the mug by the kettle": where it goes, not which mug
        b = next((m for m in ments[i + 1:] if rel and 0 <= m.start - (j + len(rel)) <= 1 and len(m.names) == 1), None)
        w = j + len(rel) + (toks[j + len(rel):j + len(rel) + 1] == ["the"]) if rel else len(toks)
        if b is None and w < len(toks):  # "nearest the window": the one furniture a word of whose names it is
            part = {n for p, ns in vocab.phrases.items() if len(p) > 1 and toks[w] in p
                    for n in ns if n in spots}
            b = Mention(w, w + 1, tuple(part), toks[w]) if len(part) == 1 and toks[w].isalpha() else None
        if b is not None and pick is None:
            anchor = b.names[0]
            at = where.get(anchor, anchor if anchor in spots else None)
            if at in spots:
                ax, ay = spots[at]
                dist = lambda n: (where.get(n) != at, (spots[where[n]][0] - ax) ** 2 + (spots[where[n]][1] - ay) ** 2  # noqa: E731
                                  if where.get(n) in spots else 1e9)
                pick = min((n for n in a.names if n != anchor), key=dist)
                end = b.end
        if pick is not None and vocab.phrases.get(tuple(pick.split("_"))) == {pick}:
            return toks[:a.start] + pick.split("_") + toks[end:]
    return toks


def _put_said_tersely(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "green mug -> counter", "charger to office, ty", "1) glasses on my nightstand": a thing
    and where it goes, with no verb, is a put ("put the green mug on the counter")."""
    out, k, putting = [], 0, True  # (after a put, "..., glasses on my nightstand" is one too)
    fetched = False  # after "fetch ...", "..., and my specs to the front door" is fetched there
    whose = DETERMINERS | {"my", "your", "his", "her", "our", "their"}
    while k < len(toks):
        end = _clause_end(toks, k)
        clause = toks[k:end]
        ments = _mentions(clause, vocab)
        nxt_end = _clause_end(toks, end + 1) if end < len(toks) else end
        whole = k == 0 and end < len(toks) and nxt_end >= len(toks) - 1 and len(ments) == 1  # two clauses, one thing
        after = _mentions(toks[end + 1:nxt_end], vocab) if whole else []
        if whole and len(after) == 1 and _kind(ments[0], vocab) == "object" \
                and _kind(after[0], vocab) in ("furniture", "room") and set(clause[:ments[0].start]) <= whose \
                and ments[0].end == len(clause) and set(toks[end + 1:nxt_end][:after[0].start]) <= whose | {"to", "on", "in", "into", "onto"} \
                and after[0].end == nxt_end - end - 1:
            clause = clause + toks[end + 1:nxt_end]  # "Blue mug. Sink.": the whole command, said tersely
            end = nxt_end
            ments = _mentions(clause, vocab)
            if clause[ments[0].end] not in _PREPS:
                clause = clause[:ments[0].end] + ["to"] + clause[ments[0].end:]
                ments = _mentions(clause, vocab)
        prep = clause[ments[0].end:ments[1].start][:1] if len(ments) == 2 else []
        if len(ments) == 2 and not any(t in DEED_WORDS or t in ("is", "are", "was", "i", "you", "one", "ones") for t in clause) \
                and _kind(ments[0], vocab) == "object" and _kind(ments[1], vocab) in ("furniture", "room") \
                and set(clause[:ments[0].start]) <= DETERMINERS | {"my", "your", "his", "her", "our", "their", "both"} \
                and (prep in (["to"], ["onto"], ["into"]) and not fetched or putting and prep in (["on"], ["in"])) \
                and not {"it", "them", "that", "one", "ones", "those", "these"} & set(toks[end:]) \
                and toks[end + 1:end + 3] not in (["to", "me"], ["for", "me"], ["over", "here"]) and toks[end + 1:end + 2] != ["here"]:
            # (not "the green mug on the counter, bring it", "get me the bowl, the silver one on the
            # counter", "the bottle on the counter, to me please": where it is)
            at = ments[0].end
            clause = ["put"] + clause[:at] + ["on" if _kind(ments[1], vocab) == "furniture" else "in"] + clause[at + 1:]
        if clause:
            putting = bool(set(clause) & {"put", "place", "set", "stick", "pop", "move", "leave"})
        if set(clause) & DEED_WORDS:
            fetched = bool(set(clause) & _FETCHING) and not putting
        out += clause + toks[end:end + 1]
        k = end + 1
    return out


def _do_a_room(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "do the living room before the kitchen": doing a room is tidying it."""
    out = list(toks)
    for k, t in enumerate(toks[:-1]):
        if t == "do" and (k == 0 or toks[k - 1] in (",", "and", "then", "please", "can", "could", "you")):
            w = k + 1 + (toks[k + 1] in DETERMINERS)
            p = _phrase_at(toks, w, vocab)
            if p and all(vocab.kinds.get(n) == "room" for n in vocab.phrases[p]):
                out[k] = "tidy"
    return out


def _thing_for(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "the thing for the plants": the one thing whose name says what it is for (the plant
    mister)."""
    for k in range(1, len(toks)):  # "the telly whatsit" (the tv thing): the tv remote
        if toks[k] in ("thing", "things") and toks[k - 1] not in DETERMINERS and toks[k - 1].isalpha():
            named = {p[1]: ns for p, ns in vocab.phrases.items() if len(p) == 2 and p[0] == toks[k - 1]
                     and all(vocab.kinds.get(n) == "object" for n in ns)}
            if named and len(set().union(*named.values())) == 1:
                return toks[:k] + [sorted(named)[0]] + toks[k + 1:]
    for k in range(len(toks) - 3):
        if toks[k] in ("thing", "stuff", "thingy", "one", "gadget") and (toks[k + 1] == "for" or toks[k + 1:k + 3] == [",", "for"]):
            # ("bring me the thingummy. for the telly.": said in two breaths)
            f = k + 1 + (toks[k + 1] == ",")
            w = f + 1 + (toks[f + 1] in DETERMINERS)
            if w + 1 < len(toks) and toks[w].endswith("ing") and (toks[w],) not in vocab.phrases:
                w += 1 + (toks[w + 1] in DETERMINERS)  # "the thing for opening the gate": the gate's
            if w >= len(toks) or any(vocab.kinds.get(n) == "object" for n in vocab.phrases.get((toks[w],), ())):
                continue
            forms = {toks[w], toks[w].rstrip("s")}
            hits = {n for p, ns in vocab.phrases.items() if len(p) > 1 and forms & set(p[:-1])
                    for n in ns if vocab.kinds.get(n) == "object"}
            if len(hits) == 1:
                name = next(iter(hits))
                if vocab.phrases.get(tuple(name.split("_"))) == {name}:
                    return toks[:k] + name.split("_") + toks[w + 1:]
    for k in range(len(toks) - 3):  # "the thing i charge my phone with": the charger; "what i read
        # with": the reading glasses; "the thing i water the pot plants with": the watering can
        if toks[k] in ("thing", "thingy", "one", "gadget", "what") and toks[k + 1:k + 2] in (["i"], ["we"], ["you"], ["that"]):
            v = k + 2 + (toks[k + 2] in ("i", "we", "you")) + (toks[k + 2:k + 4] == ["use", "to"]) * 2
            end = next((j for j in range(v + 1, min(v + 6, len(toks))) if toks[j] == "with"), None)
            if end is None or v >= len(toks):
                continue
            noun = next(([n] for n in (toks[v] + "er", toks[v] + "r") if (n,) in vocab.phrases), None)
            doing = {p: ns for p, ns in vocab.phrases.items() if len(p) == 2 and p[0] in (toks[v] + "ing", toks[v][:-1] + "ing")
                     and all(vocab.kinds.get(n) == "object" for n in ns)}
            if noun is None and doing and len(set().union(*doing.values())) == 1:
                noun = list(min(doing))
            if noun is not None:
                return toks[:k - (toks[k] == "what" and k > 0 and toks[k - 1] in DETERMINERS)] + noun + toks[end + 1:]
    return toks


_HANDING = frozenset("take bring give hand pass carry".split())
_TITLES = frozenset("mr mrs ms miss dr mister".split())


def _to_the_person(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "take him his glasses", "bring mr okafor the beaker", "take it to her": a carer speaks of
    the person cared for, and the robot hands things only to the person it serves, the user."""
    out = list(toks)
    for k in range(len(out) - 2, 0, -1):
        t = out[k]
        if out[k - 1] in _HANDING and t in ("him", "her") and out[k + 1] in DETERMINERS | {"his", "her", "their"}:
            out[k] = "me"
        elif out[k - 1] in _HANDING and (t in vocab.owners or t in _TITLES and out[k + 1] in vocab.owners):
            n = 2 if t in _TITLES else 1
            if out[k + n:k + n + 1] and out[k + n] in DETERMINERS | {"his", "her", "their"} \
                    and (out[k + n - 1], out[k + n]) not in vocab.phrases:
                owner = out[k + n - 1]
                theirs = out[k + n] in ("his", "her", "their") and len(_phrase_at([owner, *out[k + n + 1:]], 0, vocab)) > 1
                out[k:k + n + (1 if theirs else 0)] = ["me", owner] if theirs else ["me"]  # "bring rosa her phone"
        elif t == "to" and out[k + 1] in ("him", "her") and (k + 2 == len(out) or out[k + 2] in (",", "please")) \
                and _HANDING & set(out[:k]):
            out[k + 1] = "me"
    return out


# where a thing is said to be: "from the sofa", "off the shelf"; after a statement about it, "on"
# and "in" too ("i think it is on the small table", "i leave it on the living room table")
_FROM = frozenset("from off".split())
_SAID_AT = [tuple(w.split()) for w in (
    "it is", "it is still", "it is probably", "it should be", "it will be", "it lies", "it lay", "it is lying",
    "they are", "they should be", "they will be", "they lie", "i left it", "i leave it", "i put it", "i think it is",
    "i left them", "i leave them", "i put them")]


def speaker_by_where(toks: list[str], where: dict[str, str], vocab: Vocabulary, user_room: str | None = None) -> list[str]:
    """ "move my passport from the hall to my desk", "take my headphones from the sofa to my room",
    "bring me my laptop, i leave it on the living room table": where the world shares a name
    between people ("kenji's passport", "kasia's passport"), the one at the place said is the
    speaker's, so the speaker is its owner and every "my" in the command is theirs. Where no place
    says, a person speaking from their own room ("bec's room": "bring me my drink bottle, I'm in
    bed") is taken to be its owner. Said as an introduction ("it is kenji , ...") for
    `_speaker_introduced` to apply."""
    people = vocab.persons
    if len(people) < 2 or not {"my", "me"} & set(toks) or _speaker_introduced(toks, vocab) != toks:
        return toks
    ments = _mentions(toks, vocab)
    owner_of = {e: i for i, (_, ents) in enumerate(people) for e in ents}
    for j, m in enumerate(ments):
        if m.start == 0 or not _said_mine(toks, m.start) or len(m.names) < 2 or not all(n in owner_of for n in m.names):
            continue
        for place in ments[j + 1:j + 3]:
            if not all(vocab.kinds.get(n) in ("furniture", "room") for n in place.names) or len(place.names) != 1:
                continue
            k = place.start - (toks[place.start - 1] in DETERMINERS)
            prep = toks[k - 1] if k > 0 else ""
            stated = prep in ("on", "in", "at") and any(tuple(toks[k - 1 - len(s):k - 1]) == s for s in _SAID_AT)
            if prep not in _FROM and not stated:
                continue
            at = place.names[0]
            there = [n for n in m.names if where.get(n) == at or vocab.rooms_of.get(where.get(n, "")) == at]
            if len(there) == 1:
                who = people[owner_of[there[0]]][0]
                # (of a couple's words, the one the thing's name says: "mamas_phone" is mama's)
                word = next((w for w in sorted(who, key=lambda w: not there[0].startswith((w + "_", w + "s_")))
                             if _named_owner(w, vocab)), None)
                return ["it", "is", word, ","] + toks if word else toks
            break
    room_of = [i for i, (_, ents) in enumerate(people) if user_room in ents]
    # (a room two people share tells neither's things apart: "my phone" in the couple's bedroom)
    if len(room_of) == 1 and any(m.start > 0 and _said_mine(toks, m.start) and len(m.names) > 1
                                 and all(n in owner_of for n in m.names)
                                 and sum(n in people[room_of[0]][1] for n in m.names) == 1 for m in ments):
        who = people[room_of[0]][0]
        word = next((w for w in sorted(who) if _named_owner(w, vocab)), None)
        return ["it", "is", word, ","] + toks if word else toks
    return toks


_SWAPS = frozenset("swap switch exchange trade".split())


def swapped(toks: list[str], where: dict[str, str], vocab: Vocabulary) -> list[str]:
    """ "swap the book and the remote", "switch the mugs round", "put the cup where the plate is and
    the plate where the cup is": each put where the other stands (`where`: object -> furniture),
    said as two puts ("put the book on the shelf , put the remote on the sofa")."""
    ments = [m for m in _mentions(toks, vocab) if len(m.names) == 1 and vocab.kinds.get(m.names[0]) == "object"]
    for k, t in enumerate(toks):
        if t not in _SWAPS and not (t == "put" and "where" in toks[k:]):
            continue
        two = [m for m in ments if m.start > k][:2]
        if len(two) < 2 or two[1].start - two[0].end > 3 or not set(toks[two[0].end:two[1].start]) <= {"and", "with", "the", "my", ","}:
            if t != "put" or len(two) < 2:
                continue
        a, b = two[0].names[0], two[1].names[0]
        fa, fb = where.get(a), where.get(b)
        if fa is None or fb is None or fa == fb or a == b:
            continue
        if t == "put":  # "put the cup where the plate is and the plate where the cup is"
            said = toks[k:]
            if not (said.count("where") == 2 and len([m for m in ments if m.start > k]) >= 4):
                continue
            end = max(m.end for m in ments if m.start > k)
            end += toks[end:end + 1] in (["is"], ["are"])
        else:
            end = two[1].end
            while end < len(toks) and toks[end] in ("round", "around", "over", "places", "back", "about"):
                end += 1
        start = k - (k > 0 and toks[k - 1] in ("and", "then"))
        said_a, said_b = a.split("_"), b.split("_")
        return toks[:start] + ["put", "the", *said_a, "on", "the", *fb.split("_"), ",", "put", "the", *said_b, "on", "the",
                               *fa.split("_")] + toks[end:]
    return toks


def _said_mine(toks: list[str], k: int) -> bool:
    """Whether the name at toks[k] is said as the speaker's: "my X", or "on me bed" (said "me")."""
    return toks[k - 1] == "my" or toks[k - 1] == "me" and k > 1 and toks[k - 2] in _PREPS | _FROM


def _phrase_at(toks: list[str], k: int, vocab: Vocabulary) -> tuple[str, ...]:
    """The longest name of this home's things that starts at toks[k], or ()."""
    for n in range(min(vocab.max_len, len(toks) - k), 0, -1):
        if tuple(toks[k:k + n]) in vocab.phrases:
            return tuple(toks[k:k + n])
    return ()


def _whose_it_is(toks: list[str], vocab: Vocabulary) -> list[str]:
    """A name several things share, said with whose it is, names the one that person owns:
    "lena's cans" (her headphones; the world says "lena's headphones"); "my phone" beside "my
    reading glasses", which only Maria owns, is Maria's phone; "my phone? i think sofia took it"
    is not Sofia's; "my mug, no wait, lena's one". Only where the world says who owns what; a
    speaker who says who they are ("it's sam") is `_speaker_introduced`'s."""
    people = vocab.persons
    if len(people) < 2 or _speaker_introduced(toks, vocab) != toks:
        return toks
    person_of = {w: i for i, (words, _) in enumerate(people) for w in words}
    toks = _whose_said_after(toks, people, person_of, vocab)
    # (start, end, the things the phrase names, whose: a person, "my", or None)
    said: list[tuple[int, int, set[str], int | str | None]] = []
    k = 0
    while k < len(toks):
        t = toks[k]
        whose = "my" if t == "my" else person_of.get(t)
        phrase = _phrase_at(toks, k + 1, vocab) if whose is not None else ()
        if whose is not None and toks[k + 1:k + 2] in (["one"], ["ones"]) and said:
            phrase = ("one",)  # "lena's one": of the thing said last
            said.append((k, k + 2, said[-1][2], whose))
        elif phrase and (t, *phrase) not in vocab.phrases:
            said.append((k, k + 1 + len(phrase), vocab.phrases[phrase], whose))
        elif whose is None and (p := _phrase_at(toks, k, vocab)):
            said.append((k, k + len(p), vocab.phrases[p], None))
        k += len(phrase) + 1 if phrase else 1
    named = {person_of[t] for t in toks if t in person_of}
    sole = lambda e: [i for i, (_, ents) in enumerate(people) if e in ents]  # noqa: E731
    mine = {sole(next(iter(ents)))[0] for _, _, ents, whose in said
            if whose == "my" and len(ents) == 1 and len(sole(next(iter(ents)))) == 1}
    speaker = next(iter(mine)) if len(mine) == 1 and not (mine & named) else None
    out = list(toks)
    for start, end, ents, whose in reversed(said):
        if len(ents) < 2 or whose is None or whose == "my" and out[end:end + 1] in (["is"], ["are"]):
            continue  # ("my phone is on 2 percent": said of it, where the clause starts)
        if whose == "my" and speaker is None:  # whose it is not: the one other owner of such a thing
            owners = {i for e in ents for i in sole(e)} - named
            ownerless = any(not sole(e) for e in ents)  # ("my mug" by "dad's mug" and a white mug of no one's)
            whose = next(iter(owners)) if (named or ownerless) and len(owners) == 1 else None
        elif whose == "my":
            whose = speaker
        theirs = [e for e in ents if whose is not None and e in people[whose][1]]
        if len(theirs) == 1:
            name = tuple(theirs[0].split("_"))
            if vocab.phrases.get(name) == {theirs[0]}:
                out[start:end] = list(name)
    return out


def _whose_said_after(toks: list[str], people, person_of: dict[str, int], vocab: Vocabulary) -> list[str]:
    """ "grab my phone off my bed, siobhan's like, not the da's brick": whose the thing is, said
    on its own after it, names the one of hers; the thing said as hers, the aside dropped."""
    for k in range(2, len(toks)):
        who = person_of.get(toks[k])
        after = toks[k + 1:k + 2]
        if who is None or toks[k - 1] != "," or after not in ([], [","], ["like"], ["yeah"], ["though"], ["please"], ["pls"]):
            continue
        thing = next((m for m in reversed(_mentions(toks[:k - 1], vocab))
                      if all(vocab.kinds.get(n) == "object" for n in m.names)), None)
        if thing is None or len(thing.names) < 2 or k - 1 - thing.end > 6:
            continue
        theirs = [n for n in thing.names if n in people[who][1]]
        name = tuple(theirs[0].split("_")) if len(theirs) == 1 else ()
        if not name or vocab.phrases.get(name) != {theirs[0]}:
            continue
        start = thing.start - (thing.start > 0 and toks[thing.start - 1] in ("my", "the", "his", "her", "our", "their"))
        end = k + 1 + (after not in ([], [","]))
        return toks[:start] + list(name) + toks[thing.end:k - 1] + toks[end:]
    return toks


def _hers_said_of_a_place(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "i left zoes headset on my desk, put it back onto hers": "hers" is the desk of the owner
    said before ("zoes desk"), where the world names such a place."""
    out = list(toks)
    for k in range(2, len(out)):
        if out[k] not in ("hers", "his", "theirs") or out[k - 1] not in ("on", "onto", "to", "in", "into") \
                or out[k] == "his" and k + 1 < len(out) and (out[k + 1] in vocab.words or out[k + 1] == "own"):
            continue  # (not "on his desk", "on his own study table")
        owner = next(filter(None, map(vocab.owner_said, reversed(out[:k]))), None)  # ("zoes")
        furniture = lambda p: any(vocab.kinds.get(n) == "furniture" for n in vocab.phrases.get(p, ()))  # noqa: E731
        for h in (out[j] for j in range(k - 1, 0, -1) if furniture((out[j],))):
            for o in (owner, owner + "s") if owner else ():
                if furniture((o, h)):
                    return out[:k] + [o, h] + out[k + 1:]
    return out


def _owner_said_alone(toks: list[str], vocab: Vocabulary) -> list[str]:
    """ "ellie's headphones on the counter, then sam's": an owner said alone, after another's
    thing, owns a thing of the same name ("sam headphones")."""
    out = list(toks)
    k = len(out) - 1
    while k > 0:
        t, nxt = out[k], out[k + 1] if k + 1 < len(out) else ","
        if t in vocab.owners and nxt in (",", "too", "as", "please", "and", "then", "instead") \
                and out[k - 1] in (",", "then", "and", "also", "plus", "bring", "fetch", "get", "grab", "take", "pass"):
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
            # (an owner of two words too: "ah ma's medicine ..., her specs also")
            owners = [said for j in range(k - 1, -1, -1) for said in ((out[j],), tuple(out[j - 1:j + 1]) if j else ())
                      if said and all(w.isalpha() for w in said) and (*said, *rest) in vocab.phrases]
            if len(rest) == n and owners:
                out[k:k + 1] = list(owners[0])
                break
    return out


_ME_FOR_MY = frozenset("on onto in into from off put chuck leave move pop stick where is are and lost found forgot find us".split())


def _all_the(m: re.Match, vocab: Vocabulary) -> str:
    words = [w for w in (m.group(1), m.group(3)) if w]
    if not all(vocab.names_object(w) for w in words):
        return m.group(0)  # "every day", "every time"
    return "all the " + " and ".join(plurals(w)[-1] for w in words)


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
    # "every cup that's in the lounge", "every cup and glass": all of them
    text = re.sub(r"\bevery (\w+)( and (\w+))?\b", lambda m: _all_the(m, vocab), text)
    out = text.split()
    for k in range(2, len(out)):  # "pass me the remote - the telly one": the tv remote
        # (a colour only right after a name, with no pause: "siobhan's mug the red one")
        owner = vocab.owner_said(out[k - 2]) is not None  # ("pawpaw's green one")
        if out[k] in ("one", "ones") and (out[k - 2] == "the" or owner) and out[k - 1].isalpha() \
                and (out[k - 1] not in COLOURS or owner or k > 2 and out[k - 3] not in (",", "and", "or", "not")):
            said = [out[k - 1]] + sorted(_SMALL - {out[k - 1]}) * (out[k - 1] in _SMALL)  # "the wee one": "small flask"
            head, size = next(((h, w) for h in reversed(out[max(0, k - 16):k - 2]) for w in said
                               if (w, h) in vocab.phrases), (None, None))
            if head is None and out[k - 1] not in COLOURS:  # "the reading ones", no thing said: the one such name
                named = {p: ns for p, ns in vocab.phrases.items() if len(p) == 2 and p[0] == out[k - 1]
                         and all(vocab.kinds.get(n) == "object" for n in ns)}
                if len(set().union(*named.values())) == 1:
                    size, head = min(named, key=lambda p: (p[1] not in english_words(), p))
            if head is not None:
                out[k - 1:k + 1] = [size, head]
    for k in range(1, len(out) - 1):  # "put me sunnies away", "on me bed", "lost me sunnies": "me" said for "my"
        nxt = out[k + 1]
        if out[k] == "me" and out[k - 1] in _ME_FOR_MY and nxt.isalpha() and nxt not in FILLER_WORDS | _PREPS \
                and nxt in vocab.words and any(p[0] == nxt for p in vocab.phrases):
            out[k] = "my"
    for k in range(1, len(out) - 1):  # "the scarf red that is in the sofa" -> "the red scarf" (Spanish order)
        if out[k - 1] in DETERMINERS and out[k + 1] in COLOURS and (out[k + 1], out[k]) in vocab.phrases \
                and (out[k],) in vocab.phrases:
            out[k], out[k + 1] = out[k + 1], out[k]
    for k in range(1, len(out) - 2):  # "the ball of yellow colour" -> "the yellow ball"
        if out[k] == "of" and out[k + 1] in COLOURS and out[k + 2] in ("colour", "color", "coloured", "colored"):
            out[k - 1:k + 3] = [out[k + 1], out[k - 1]]
            break
    return out or toks


_SMALL = frozenset(("wee", "small", "little", "tiny"))


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
        said_aside = toks[k] in _PREAMBLE_ENDS and not (toks[k] == "whatever" and (
            toks[k - 1] in ("me", "us", "the", "and", "or") or _phrase_at(toks, k + 1, vocab))) \
            and not (toks[k] == "anyhow" and "," not in (toks[k - 1], toks[k + 1])) \
            or toks[k - 1] == "ignore" and toks[k] in ("it", "that", "them")  # (not "bring me whatever is on the chest")
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
        while n and _marker_at(toks, _skip(toks, i + n, {","})):  # "no wait sorry, the pink one": one marker
            n = _skip(toks, i + n, {","}) - i + _marker_at(toks, _skip(toks, i + n, {","}))
        if not n or _ADDS & set(toks[i + n:]):  # "the ball, actually the book too": both
            continue
        if i and toks[i - 1] != "," and _marker_at(toks, i - 1):
            continue  # inside a longer marker: "sorry, i mean" is one
        p = i - 1
        while p >= 0 and toks[p] == ",":
            p -= 1
        before = [m for m in ments if m.end <= p + 1]
        weak = (toks[i],) in _WEAK and n == 1
        asked = any(t in DEED_WORDS or t in ("switch", "turn") for t in toks[_clause_start(toks, p + 1):p + 1])
        if not before and weak and not asked:  # ("switch on the tv, no, leave it, just bring me the remote")
            continue
        ends_on_thing = any(m.end == p + 1 for m in before)
        j = _skip(toks, i + n, {","})
        if j < len(toks) and toks[j] == "not":  # "no not the remote, the book"
            negated = next((m for m in ments if m.start >= j and m.start - j <= 3), None)
            if negated is None:
                continue
            j = _skip(toks, negated.end, {",", "but"})
        if j < len(toks) and (toks[j] in IMPERATIVES or toks[j] == "leave") and (ends_on_thing or not weak or not before):
            return _replace_clause(toks, p + 1, j, before, vocab)
        j = _skip(toks, j, _PREPS | {"just", "only"})  # ("two glasses, ah no, just the whisky")
        said = next((m for m in ments if j <= m.start <= _skip(toks, j, DETERMINERS)), None)  # (an alias "the drill")
        if said is None:
            continue
        same = [m for m in before if _kind(m, vocab) == _kind(said, vocab)]
        if same and (ends_on_thing or not weak):
            old = same[-1]
            rest = toks[said.end:]
            rest = rest[1:] if rest[:1] and rest[0] in _TRAILING else rest
            return toks[:old.start] + _of_its_kind(said, old, toks, vocab) + toks[old.end:p + 1] + rest
        if not same and _kind(said, vocab) == "object" and not weak:
            # "pass me the phone ... sorry, i mean the remote": a thing this home lacks, said last
            d = max((k for k in range(max(0, p - 3), p + 1) if toks[k] in DETERMINERS), default=None)
            if d is not None:
                return toks[:d + 1] + toks[said.start:said.end] + toks[said.end:]
    return toks


def _of_its_kind(said: Mention, old: Mention, toks: list[str], vocab: Vocabulary) -> list[str]:
    """The words of the correction `said`, or, where they fit several things ("the blue mug, no
    wait, the white one" beside a white charger), the name of the one of the same kind as the
    thing taken back (the white mug)."""
    kind = set().union(*(vocab.nouns.get(o, set()) for o in old.names))
    fits = [o for o in said.names if vocab.nouns.get(o, set()) & kind]
    if len(said.names) > 1 and len(fits) == 1 and vocab.phrases.get(tuple(fits[0].split("_"))) == {fits[0]}:
        return fits[0].split("_")
    return toks[said.start:said.end]


_JOINERS = frozenset(", and then also".split())


def _clause_start(toks: list[str], end: int) -> int:
    """Start of the clause that ends at `end` (after the last comma or joiner before it)."""
    k = end - 1
    while k >= 0 and toks[k] not in _JOINERS:
        k -= 1
    return k + 1


def _clause_end(toks: list[str], start: int) -> int:
    """End of the clause that starts at `start` (the next comma or joiner, or the end)."""
    return next((k for k in range(start, len(toks)) if toks[k] in _JOINERS), len(toks))


def _replace_clause(toks: list[str], said_end: int, new: int, before: list[Mention],
                    vocab: Vocabulary) -> list[str]:
    """ "put the remote on the couch wait no leave the remote and put the book away": the
    clause before the marker is taken back; "leave the X" with nowhere said means leave it be."""
    start = _clause_start(toks, said_end)
    cancelled = [m for m in before if m.start >= start and _kind(m, vocab) == "object"]
    rest = toks[new:]
    that = 3 if rest[1:3] == ["that", "one"] else 2 if rest[1:2] in (["it"], ["that"]) else 0
    if rest[0] == "leave" and that and cancelled:
        # "put the white mug on the bar, oh wait, leave that one, move the blue one instead":
        # the same deed with the other thing
        after = rest[_skip(rest, that, {",", "and", "then"}):]
        said = _mentions(after, vocab)
        if "instead" in after and len(said) == 1 and _kind(said[0], vocab) == "object" \
                and any(t in DEED_WORDS for t in after[:said[0].start]):
            old = cancelled[-1]
            return toks[:old.start] + _of_its_kind(said[0], old, after, vocab) + toks[old.end:said_end]
        rest = after  # "..., no wait, leave it, take the torch up": left as it is
    elif rest[0] == "leave" and that and rest[that:that + 1] in ([","], ["just"], ["and"]):
        rest = rest[_skip(rest, that, {",", "and", "then"}):]  # "on the tv, no, leave it, just bring me the remote"
    if rest[:1] == ["leave"]:
        k = 1
        k = _skip(rest, k, DETERMINERS)
        ms = _mentions(rest, vocab)
        first = next((m for m in ms if 1 <= m.start <= k), None)  # (an alias "the drill")
        if first is not None:
            k = _skip(rest, first.end, frozenset("alone be there where it is".split()))
            if k >= len(rest) or rest[k] in (",", "and", "then", "just"):
                rest = rest[_skip(rest, k, {",", "and", "then"}):]
                said = _mentions(rest, vocab)
                if cancelled and rest and not any(t in DEED_WORDS for t in rest) and len(said) == 1 \
                        and _kind(said[0], vocab) == "object":
                    # "take the drill to the bench - actually no, leave the drill, just the tape
                    # measure": the same deed with the other thing
                    old = cancelled[-1]
                    return toks[:old.start] + rest[said[0].start:said[0].end] + toks[old.end:said_end]
    if not (that and toks[new] == "leave") or not any(_kind(m, vocab) == "object" for m in _mentions(rest, vocab)):
        # ("..., no, leave that, just put it next to the keys": it is still the badge)
        rest = _name_pronoun(rest, cancelled, toks)
    # ("put the remote on the coffee table, actually no, put it on the tv unit": the remote)
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
            left = sorted(set(prev.names) - set(negated.names))
            if len(left) == 1 and len(prev.names) > 1:  # "bring me the tin. not the milo one": the other tin
                return _drop_contrasts(toks[:prev.start] + left[0].split("_") + toks[prev.end:k] + toks[negated.end:], vocab)
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
