"""Synthetic movie reviews whose labels are right by construction.

A review is an optional opener, two to four sentences about aspects of a film (acting,
plot, score, ...), and a closing verdict, each drawn from templates with slots, so
thousands of distinct reviews come out. The difficulty decides what a classifier must
understand:

- easy:   every sentence agrees with the label, in common sentiment words;
- medium: adds negation ("wasn't bad at all", "hardly engaging") and a contrasting clause
          or sentence, while most sentences still agree with the verdict;
- hard:   mixed reviews where only the verdict decides, rare words ("sublime", "turgid"),
          sarcasm ("Bravo to the script for curing my insomnia"); a model that has never
          seen those words in pre-training has to guess.

The label is the verdict's polarity (0 = negative, 1 = positive); `label_noise` then flips
a seeded fraction of labels to show what noisy annotation does.
"""

from __future__ import annotations

import numbers
import random

from core.errors import DataError
from core.texts import SENTIMENT_NAMES, LabeledTexts

DIFFICULTIES = ("easy", "medium", "hard")

ASPECTS = (
    "the acting", "the performances", "the lead performance", "the supporting cast",
    "the plot", "the story", "the storyline", "the script", "the score", "the soundtrack",
    "the music", "the cinematography", "the camera work", "the visuals", "the pacing",
    "the editing", "the dialogue", "the screenplay", "the direction", "the special effects",
    "the production design", "the ending", "the final act", "the characters", "the villain",
    "the humor", "the jokes", "the costumes", "the chemistry between the leads",
)
RARE_ASPECTS = ("the mise-en-scene", "the denouement", "the chiaroscuro lighting",
                "the leitmotifs", "the tracking shots", "the third-act reversal")
PLURAL = {"the performances", "the visuals", "the special effects", "the characters",
          "the jokes", "the costumes", "the leitmotifs", "the tracking shots"}

# index 0 = negative words, index 1 = positive words
COMMON = (
    ("bad", "terrible", "awful", "boring", "weak", "poor", "dull", "disappointing",
     "mediocre", "clumsy", "lifeless", "forgettable", "horrible", "sloppy", "painful"),
    ("good", "great", "excellent", "wonderful", "superb", "fantastic", "enjoyable",
     "impressive", "delightful", "strong", "terrific", "moving", "charming", "brilliant",
     "solid"),
)
RARE = (
    ("insipid", "turgid", "leaden", "plodding", "vapid", "lugubrious", "risible",
     "execrable", "hackneyed", "stultifying", "torpid", "mawkish", "ponderous", "jejune",
     "soporific", "stolid", "enervating", "otiose", "fatuous", "maudlin", "inert",
     "threadbare", "tin-eared", "moribund", "anodyne"),
    ("sublime", "luminous", "transcendent", "revelatory", "exquisite", "masterful",
     "incandescent", "virtuosic", "bewitching", "resplendent", "felicitous", "consummate",
     "beguiling", "numinous", "scintillating", "rapturous", "lambent", "peerless",
     "ravishing", "sumptuous", "limpid", "galvanic", "ebullient", "lustrous", "radiant"),
)
# words that flip meaning when negated: "not bad" leans positive, "not engaging" negative
NEGATABLE = (
    ("great", "good", "impressive", "convincing", "engaging", "memorable", "exciting"),
    ("bad", "boring", "weak", "dull", "clumsy", "forgettable", "terrible"),
)
INTENSIFIERS = ("", "", "", "very ", "really ", "truly ", "remarkably ", "genuinely ",
                "quite ", "utterly ", "thoroughly ", "surprisingly ")

DIRECT = (
    "{Aspect} {was} {intens}{adj}.", "I found {aspect} {intens}{adj}.",
    "As for {aspect}, {intens}{adj}.", "{Aspect} felt {intens}{adj} from start to finish.",
    "What stood out was {aspect}: {intens}{adj}.", "{Aspect} {was} {adj} and {adj2}.",
    "Honestly, {aspect} {was} {intens}{adj}.", "{Aspect} struck me as {intens}{adj}.",
)
NEGATED = (
    "{Aspect} {wasnt} {word} at all.", "{Aspect} {was} not {word} in the slightest.",
    "I would not call {aspect} {word}.", "Nobody could call {aspect} {word}.",
    "{Aspect} {was} hardly {word}.", "{Aspect} {was} never {word}.",
    "{Aspect}? Not {word}, not even close.",
)
MIXED = (  # the clause after the contrast carries the sentence's polarity
    "{Aspect} {was} {other}, but {aspect2} {was2} {intens}{adj}.",
    "While {aspect} {was} {other}, {aspect2} {was2} {intens}{adj}.",
    "{Aspect} {was} {other}; {aspect2}, on the other hand, {was2} {adj}.",
)
SARCASM = (
    ("Oh sure, {aspect} {was} a real triumph, if you enjoy watching paint dry.",
     "Bravo to {aspect} for curing my insomnia.",
     "Who knew {aspect} could make two hours feel like five?",
     "If you love checking your watch, {aspect} will be right up your street.",
     "Truly a masterclass in how not to handle {aspect}."),
    ("I walked in ready to sneer at {aspect} and walked out converted.",
     "I wanted to hate {aspect}; I simply could not.",
     "Who knew {aspect} could make two hours feel like twenty minutes?",
     "{Aspect} left me grinning like a fool.",
     "I expected a disaster, and {aspect} proved me embarrassingly wrong."),
)
VERDICTS = {
    "easy": (
        ("Overall, {a_adj} film. {rating}/10.", "Avoid it.", "{Film} is {intens}{adj}; skip it.",
         "{A_adj} movie, and I hated it.", "Hated it. {rating}/10."),
        ("Overall, {a_adj} film. {rating}/10.", "I recommend it.",
         "{Film} is {intens}{adj}; go see it.", "{A_adj} movie, and I loved it.",
         "Loved it. {rating}/10."),
    ),
    "medium": (
        ("All things considered, I can't recommend it.", "In the end, it wasn't worth the ticket.",
         "Not a film I'd watch again.", "I wouldn't call it {word}, whatever the trailer says.",
         "Overall, {film} is {adj} despite a few bright spots."),
        ("All things considered, I would recommend it.", "In the end, it was worth the ticket.",
         "Not a perfect film, but not a bad one at all.", "I'd happily watch it again.",
         "Overall, {film} is {adj} despite its flaws."),
    ),
    "hard": (  # idioms without sentiment words; most hard verdicts use HARD_FRAMES instead
        ("In the end I left the cinema wishing I had stayed home.",
         "I will not be sitting through it again.", "I checked my watch more than the screen."),
        ("Flaws and all, I left the cinema quietly elated.",
         "I will be sitting through it again, gladly.", "I forgot to check my watch even once."),
    ),
}
# Hard verdicts share their frames across both labels: only the (rare) word in the slot
# tells them apart, so a model must know what "turgid" or "anything but insipid" means.
HARD_FRAMES = (
    "Yet for all that, the whole is {rare}.", "Still, the film as a whole is {rare}.",
    "None of that changes my verdict: {film} is {rare}.",
    "Taken as a whole, {film} is {intens}{rare}.",
    "In the end, what lingers is how {rare} it all is.",
    "Weighing it all up, I'd call it {a_rare} piece of work.",
    "{Film} is anything but {rare_not}.", "Whatever else it is, {film} is not {rare_not}.",
)
OPENERS = (
    "I watched {film} last {day}.", "{Film} is the new {genre} from {director}.",
    "Saw {film} at a {venue} screening.", "My {relative} dragged me to see {film}.",
    "I finally caught up with {film}, {director}'s latest {genre}.",
    "Having read about {film} for months, I went in curious.",
    "{Film}, a {genre} running just over two hours, opened this week.",
)
FILM_WORDS = (
    ("Silent", "Crimson", "Last", "Hollow", "Distant", "Midnight", "Frozen", "Velvet", "Iron",
     "Hidden", "Quiet", "Wild", "Paper", "Glass", "Northern", "Seventh", "Salt", "Amber"),
    ("Harbor", "Orchard", "River", "Kingdom", "Signal", "Garden", "Horizon", "Station",
     "Letter", "Summer", "Mirror", "Frontier", "Lantern", "Tide", "Empire", "Carnival"),
)
GENRES = ("thriller", "drama", "comedy", "western", "science fiction epic", "romance",
          "horror film", "animated feature", "period piece", "heist movie", "musical",
          "war film", "mystery", "coming-of-age story")
DIRECTORS = (("Ana", "Tomas", "Mei", "Ravi", "Claire", "Jonas", "Ines", "Kofi", "Lena", "Omar"),
             ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Alvarez", "Novak", "Brennan",
              "Castillo", "Haddad", "Kowalski"))
DAYS = ("night", "weekend", "Friday", "Sunday", "week")
VENUES = ("late", "festival", "matinee", "press", "packed", "half-empty")
RELATIVES = ("sister", "brother", "partner", "roommate", "dad", "best friend", "aunt")


def generate_reviews(n: int, *, positive_ratio: float = 0.5, label_noise: float = 0.0,
                     difficulty: str = "medium", seed: int = 0) -> LabeledTexts:
    """`n` synthetic movie reviews labelled negative/positive; the same seed gives the same set."""
    _check_arguments(n, positive_ratio, label_noise, difficulty)
    n, rng = int(n), random.Random(seed)
    # at least two per class so that the set can always be split with stratification
    n_positive = min(max(round(n * positive_ratio), 2), n - 2)
    labels = [1] * n_positive + [0] * (n - n_positive)
    rng.shuffle(labels)
    texts = tuple(_review(rng, label, difficulty) for label in labels)
    for i in rng.sample(range(n), round(label_noise * n)):
        labels[i] = 1 - labels[i]
    return LabeledTexts(texts, tuple(labels), SENTIMENT_NAMES)


def _check_arguments(n: int, positive_ratio: float, label_noise: float, difficulty: str) -> None:
    """Reject values that cannot make a usable two-class set."""
    if difficulty not in DIFFICULTIES:
        raise DataError(f"Unknown difficulty '{difficulty}'; choose one of: "
                        f"{', '.join(DIFFICULTIES)}.")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 4:
        raise DataError(f"The number of synthetic reviews must be an integer of at least 4; "
                        f"got {n!r}.")
    if not 0 < positive_ratio < 1:
        raise DataError(f"positive_ratio must be between 0 and 1 (exclusive); "
                        f"got {positive_ratio}.")
    if not 0 <= label_noise < 0.5:
        raise DataError(f"label_noise must be at least 0 and below 0.5 (at 0.5 labels are "
                        f"pure chance); got {label_noise}.")


def _review(rng: random.Random, label: int, difficulty: str) -> str:
    """One review whose verdict has polarity `label`."""
    film = f"{_pick(rng, FILM_WORDS[0])} {_pick(rng, FILM_WORDS[1])}"
    if rng.random() < 0.5:
        film = "The " + film
    n_aspects = rng.randint(2, 4)
    if difficulty == "hard":  # at least one aspect, possibly most, disagrees with the verdict
        n_against = rng.randint(1, n_aspects - 1)
    elif difficulty == "medium" and n_aspects >= 3 and rng.random() < 0.4:
        n_against = 1
    else:
        n_against = 0
    polarities = [1 - label] * n_against + [label] * (n_aspects - n_against)
    rng.shuffle(polarities)
    sentences = [_aspect_sentence(rng, polarity, difficulty) for polarity in polarities]
    if rng.random() < 0.75:
        sentences.insert(0, _opener(rng, film))
    sentences.append(_verdict(rng, label, difficulty, film))
    return " ".join(sentences)


def _aspect_sentence(rng: random.Random, polarity: int, difficulty: str) -> str:
    """A sentence judging one aspect of the film with the given polarity."""
    styles = {"easy": ("direct",),
              "medium": ("direct", "direct", "negated", "negated", "mixed"),
              "hard": ("rare", "rare", "direct", "negated", "mixed", "sarcasm")}[difficulty]
    style = _pick(rng, styles)
    aspect = _aspect(rng, difficulty)
    words = RARE if style == "rare" else COMMON
    slots = {"aspect": aspect, "was": _was(aspect), "intens": _pick(rng, INTENSIFIERS),
             "adj": _pick(rng, words[polarity]), "adj2": _pick(rng, words[polarity]),
             "wasnt": _was(aspect) + "n't", "word": _pick(rng, NEGATABLE[polarity])}
    if style == "mixed":
        aspect2 = _aspect(rng, difficulty)
        slots.update(aspect2=aspect2, was2=_was(aspect2), other=_pick(rng, COMMON[1 - polarity]))
        return _fill(_pick(rng, MIXED), slots)
    templates = {"negated": NEGATED, "sarcasm": SARCASM[polarity]}.get(style, DIRECT)
    return _fill(_pick(rng, templates), slots)


def _verdict(rng: random.Random, label: int, difficulty: str, film: str) -> str:
    """The closing sentence that decides the review's label."""
    adj = _pick(rng, COMMON[label])
    rare = _pick(rng, RARE[label])
    slots = {"film": film, "adj": adj, "rare": rare, "intens": _pick(rng, INTENSIFIERS),
             "a_adj": f"{_article(adj)} {adj}", "a_rare": f"{_article(rare)} {rare}",
             "rare_not": _pick(rng, RARE[1 - label]), "word": _pick(rng, NEGATABLE[label]),
             "rating": rng.randint(7, 10) if label else rng.randint(1, 4)}
    templates = VERDICTS[difficulty][label]
    if difficulty == "hard" and rng.random() < 0.8:
        templates = HARD_FRAMES
    return _fill(_pick(rng, templates), slots)


def _opener(rng: random.Random, film: str) -> str:
    """A neutral first sentence that names the film, so reviews differ beyond their opinions."""
    director = f"{_pick(rng, DIRECTORS[0])} {_pick(rng, DIRECTORS[1])}"
    slots = {"film": film, "director": director, "genre": _pick(rng, GENRES),
             "day": _pick(rng, DAYS), "venue": _pick(rng, VENUES),
             "relative": _pick(rng, RELATIVES)}
    return _fill(_pick(rng, OPENERS), slots)


def _aspect(rng: random.Random, difficulty: str) -> str:
    """An aspect of the film; hard reviews also use critics' jargon."""
    if difficulty == "hard" and rng.random() < 0.25:
        return _pick(rng, RARE_ASPECTS)
    return _pick(rng, ASPECTS)


def _fill(template: str, slots: dict) -> str:
    """Fill `template`; a capitalised slot name ({Aspect}) capitalises its value."""
    capitalised = {key.capitalize(): _capitalise(str(value)) for key, value in slots.items()}
    return template.format(**slots, **capitalised)


def _capitalise(text: str) -> str:
    """First letter upper-case, the rest untouched (str.capitalize would lower 'The Tide')."""
    return text[:1].upper() + text[1:]


def _was(aspect: str) -> str:
    """'was' or 'were' to agree with the aspect."""
    return "were" if aspect in PLURAL else "was"


def _article(word: str) -> str:
    """'a' or 'an' before `word`."""
    return "an" if word[0] in "aeiou" else "a"


def _pick(rng: random.Random, options):
    """One option, chosen by the review's random generator."""
    return options[rng.randrange(len(options))]
