"""MM-NIAH's tasks over image documents: needles in the text or pasted into the images.

``retrieval_text``: a secret-word (or passkey) sentence among the filler; what is it.
``counting_text``: several "The little penguin counted N needles." sentences; the counts, in order.
``retrieval_image``: a small picture pasted into one image; which picture is it (its options the
pictures' descriptions, or with ``question.option_media: image`` the pictures themselves).
``counting_image``: one picture pasted into some of the images, 0 or more times each; the count
in each image, in image order.

A plan says what to put where (sentences with the depth each should sit at, pictures with the
image each goes into); the document generator (mmhay/generators/document.py) puts them there and
the task then asks about what was placed, in ``DocumentScene``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mmhay.gallery import IMAGE_PLACEHOLDER
from mmhay.generators.needles import Needle
from mmhay.generators.tasks import Question, choice_question, pick, register_task
from mmhay.schema import AnswerType

__all__ = ["DocumentPlan", "DocumentScene", "TextPlaced", "PastePlaced", "PENGUIN", "DEPTH_SPREAD"]

PENGUIN = "The little penguin counted {n} needles."  # MM-NIAH's counting-text needle
DEPTH_SPREAD = 0.2  # several needles sit within this of the cell's depth (their mean is near it)
MAX_DEFAULT_NEEDLES = 5


@dataclass(frozen=True)
class DocumentPlan:
    """What a task wants placed: ``sentences`` (needle, sentence, the depth it should sit at) and
    ``pasted`` (needle, the image it goes into, counted from 0)."""

    sentences: tuple[tuple[Needle, str, float], ...] = ()
    pasted: tuple[tuple[Needle, int], ...] = ()
    asked: Needle | None = None
    values: tuple[int, ...] = ()  # the counts the sentences say, in plan order (counting_text)


@dataclass(frozen=True)
class TextPlaced:
    """A sentence as placed: its depth in the document, which plan entry it is, and the
    character it starts at in the document's text (``mmhay.gallery.document_text``)."""

    needle: Needle
    sentence: str
    depth: float
    entry: int
    at: int


@dataclass(frozen=True)
class PastePlaced:
    """A picture as pasted: the image (from 0), its box (x, y, w, h) and its depth."""

    needle: Needle
    image: int
    box: tuple[int, int, int, int]
    depth: float


@dataclass(frozen=True)
class DocumentScene:
    """What was placed in a document, and how to ask about it."""

    plan: DocumentPlan
    text: tuple[TextPlaced, ...]  # in document order
    pasted: tuple[PastePlaced, ...]
    images: int
    form: str
    options: int
    text_pool: tuple[Needle, ...]
    image_pool: tuple[Needle, ...]
    rng: np.random.Generator
    position: Callable[[int], int]
    option_media: str = "text"  # "image": retrieval_image's options are the pictures themselves


def _target(facets: Mapping, rng: np.random.Generator) -> float:
    """The cell's depth, or one drawn at random when the grid has none."""
    return float(facets["depth"]) if facets.get("depth") is not None else float(rng.uniform(0, 1))


def _nearest(depths: Sequence[float], target: float) -> int:
    return min(range(len(depths)), key=lambda k: (abs(depths[k] - target), k))


def plan_secret(text_pool, image_pool, rng: np.random.Generator, facets: Mapping, image_depths: Sequence[float]) -> DocumentPlan:
    """One secret sentence at the cell's depth."""
    needle = pick(text_pool, 1, rng)[0]
    return DocumentPlan(sentences=((needle, needle.text, _target(facets, rng)),), asked=needle)


def plan_penguin(text_pool, image_pool, rng: np.random.Generator, facets: Mapping, image_depths: Sequence[float]) -> DocumentPlan:
    """``needles`` penguin sentences (2 to 5 when the grid does not say) with counts 1 to 9,
    within ``DEPTH_SPREAD`` of the cell's depth."""
    k = facets.get("needles") or int(rng.integers(2, MAX_DEFAULT_NEEDLES + 1))
    centre = _target(facets, rng)
    low, high = max(0.0, centre - DEPTH_SPREAD), min(1.0, centre + DEPTH_SPREAD)
    values = tuple(int(v) for v in rng.integers(1, 10, size=k))
    depths = sorted(float(d) for d in rng.uniform(low, high, size=k))
    penguin = Needle("penguin", "the little penguin's count", "text")
    return DocumentPlan(sentences=tuple((penguin, PENGUIN.format(n=v), d) for v, d in zip(values, depths)), values=values)


def plan_paste(text_pool, image_pool, rng: np.random.Generator, facets: Mapping, image_depths: Sequence[float]) -> DocumentPlan:
    """One picture pasted into the image nearest the cell's depth."""
    needle = pick(image_pool, 1, rng)[0]
    return DocumentPlan(pasted=((needle, _nearest(image_depths, _target(facets, rng))),), asked=needle)


def plan_paste_counts(text_pool, image_pool, rng: np.random.Generator, facets: Mapping, image_depths: Sequence[float], room: int = 4) -> DocumentPlan:
    """One picture pasted ``needles`` times (1 to 5 when the grid does not say): the first copy
    into the image nearest the cell's depth, the others into images at random, at most ``room``
    copies in one image."""
    needle = pick(image_pool, 1, rng)[0]
    k = facets.get("needles") or int(rng.integers(1, MAX_DEFAULT_NEEDLES + 1))
    images = [_nearest(image_depths, _target(facets, rng))]
    for _ in range(k - 1):
        free = [i for i in range(len(image_depths)) if images.count(i) < room]
        images.append(free[int(rng.integers(len(free)))])
    return DocumentPlan(pasted=tuple((needle, i) for i in sorted(images)), asked=needle)


def _secret_kind(needle: Needle) -> str:
    return "passkey" if needle.attributes.get("template") == "passkey" else "secret word"


@register_task("retrieval_text", plan=plan_secret, media=("document",))
def retrieval_text(scene: DocumentScene) -> Question:
    """What is the secret word (or passkey) a sentence of the document's text says; MM-NIAH's retrieval-text."""
    needle = scene.plan.asked
    assert needle is not None
    text = f"A sentence in the text of this document tells a {_secret_kind(needle)}. What is the {_secret_kind(needle)}?"
    if scene.form == "open":
        return Question(text, (), needle.label, AnswerType.TEXT, needle)
    wrong = [n.label for n in pick(scene.text_pool, scene.options - 1, scene.rng, exclude={needle.label})]
    text, options, answer = choice_question(text, needle.label, wrong, scene.position(scene.options))
    return Question(text, options, answer, AnswerType.CHOICE, needle)


@register_task("counting_text", plan=plan_penguin, needles=None, media=("document",))
def counting_text(scene: DocumentScene) -> Question:
    """The numbers the little penguin counted, in the order the document tells them; MM-NIAH's counting-text."""
    text = "Sentences in the text of this document tell how many needles the little penguin counted. List the counts in the order they appear."
    counts = [scene.plan.values[placed.entry] for placed in scene.text]
    return Question(text, (), ",".join(str(c) for c in counts), AnswerType.COUNTS, None)


@register_task("retrieval_image", plan=plan_paste, media=("document",))
def retrieval_image(scene: DocumentScene) -> Question:
    """Which picture is pasted small into one of the document's images; MM-NIAH's retrieval-image."""
    needle = scene.plan.asked
    assert needle is not None
    text = "A small picture is pasted into one of the images of this document. What does it show?"
    if scene.form == "open":
        return Question(text, (), needle.label, AnswerType.TEXT, needle)
    wrong = pick(scene.image_pool, scene.options - 1, scene.rng, exclude={needle.label})
    if scene.option_media == "image":  # MM-NIAH's choices_image_path: each option "<image>", its picture shown there
        text = "A small picture is pasted into one of the images of this document. Which of these pictures is it?"
        text, labels, answer = choice_question(text, needle.label, [n.label for n in wrong], scene.position(scene.options))
        return Question(text, (IMAGE_PLACEHOLDER,) * len(labels), answer, AnswerType.CHOICE, needle, detail={"option_labels": list(labels)})
    text, options, answer = choice_question(text, needle.description, [n.description for n in wrong], scene.position(scene.options))
    return Question(text, options, answer, AnswerType.CHOICE, needle)


@register_task("counting_image", plan=plan_paste_counts, needles=None, media=("document",))
def counting_image(scene: DocumentScene) -> Question:
    """How many times one picture is pasted into each image, in image order; MM-NIAH's counting-image."""
    needle = scene.plan.asked
    assert needle is not None
    counts = [sum(p.image == i for p in scene.pasted) for i in range(scene.images)]
    text = (
        f"Small pictures of {needle.description} are pasted into some of the {scene.images} images of this document. "
        "How many are in each image? Give one count per image, in the order of the images."
    )
    return Question(text, (), ",".join(str(c) for c in counts), AnswerType.COUNTS, needle)
