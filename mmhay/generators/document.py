"""The document generator (MM-NIAH's shape): images and passages of text in turn, with needles in
the text (sentences) or pasted into the images (small pictures).

A document is a passage, an image, a passage, ..., an image, a passage: ``images`` images and
one more passage than images, the passages drawn from ``haystack.text`` (the bundled book when
left out). A depth is a fraction of the document as one string, MM-NIAH's ``context``: the
texts in order, each image written as ``<image>`` (``mmhay.gallery.document_text``). A needle
sentence goes between two sentences of a passage (or at a passage's start or end), where its
depth comes nearest the depth asked; a pasted picture's depth is its image's. Facets: ``depth``
is the 0.2-wide bin of the needles' mean depth (MM-NIAH's ``int(depth / 0.2)``, a depth of 1 in
the last bin), ``length`` the number of images. With ``question.option_media: image``,
retrieval_image's options are pictures (the gallery's ``options``), shown after the question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from math import floor
from typing import Any

import numpy as np

from mmhay.config import SuiteConfig
from mmhay.errors import ConfigError
from mmhay.gallery import IMAGE_PLACEHOLDER, Gallery, Mosaic, Paste, document_text
from mmhay.generators import GENERATORS, TASKS, combinations
from mmhay.generators.filler import corpus_sentences, describe_text, draw_passage
from mmhay.generators.haystacks import describe_sources, draw_tiles, picture_pool
from mmhay.generators.needles import Needle, builtin_needles, needle_pool
from mmhay.generators.seeds import Stream, balanced_position, sample_rng
from mmhay.generators.tasks.document import DocumentScene, PastePlaced, TextPlaced
from mmhay.schema import Sample
from mmhay.timeline import FileRef

__all__ = ["DocumentGenerator", "document_generator", "depth_bin", "DEPTH_BIN"]

DEPTH_BIN = 0.2  # MM-NIAH's y_interval (calculate_scores.py)
ROOM = 4  # the most copies of a picture one image takes (counting_image)


def depth_bin(depth: float) -> float:
    """The lower edge of the 0.2-wide bin ``depth`` falls in, as calculate_scores.py bins it (1.0 counts as 0.99)."""
    return round(int(min(depth, 0.99) / DEPTH_BIN) * DEPTH_BIN, 1)


@GENERATORS.register("document", modality="image")
def document_generator(suite: SuiteConfig, *, strict: bool = False) -> "DocumentGenerator":
    """Images and passages of text in turn (MM-NIAH), with needle sentences in the text or small pictures pasted into the images."""
    if suite.needle.kind != "image":
        raise ConfigError(suite.origin, "needle.kind", "documents take picture needles to paste (their text needles are built in); use kind image", suite.needle.kind)
    sentences = corpus_sentences(suite, default="builtin")
    generator = DocumentGenerator(
        suite,
        suite.key(),
        picture_pool(suite, strict=strict),
        needle_pool(suite, "image", strict=strict),
        builtin_needles("text", suite.needle.text),
        tuple(s for s in sentences if not _mentions_a_needle(s)),
    )
    generator.check()
    return generator


def _mentions_a_needle(sentence: str) -> bool:
    """Filler that could pass for a needle (a secret, a passkey, a penguin's count) is left out."""
    lowered = sentence.lower()
    return IMAGE_PLACEHOLDER in lowered or any(word in lowered for word in ("secret", "passkey", "penguin", "counted"))


@dataclass(frozen=True)
class DocumentGenerator:
    """Samples of one document suite; ``sample(i)`` depends only on the config, the seed and ``i``."""

    suite: SuiteConfig
    config_key: str
    pictures: tuple[FileRef, ...]
    needles: tuple[Needle, ...]
    text_needles: tuple[Needle, ...]
    filler: tuple[str, ...]

    modality = "image"

    def __len__(self) -> int:
        return self.suite.samples

    @cached_property
    def cells(self) -> list[dict[str, Any]]:
        """Every combination of task, image count, depth and needle count."""
        grid = self.suite.grid
        return combinations({"task": grid.task or [self.suite.task], "images": grid.images or [4], "depth": grid.depth, "needles": grid.needles})

    @cached_property
    def slots(self) -> int:
        """Places for pasted pictures along each side of an image: as many as fit with a quarter of
        a picture's side to spare in each (so a picture's place in its own is random too)."""
        return max(1, floor(1 / (1.25 * self.suite.needle.scale) + 1e-9))

    def check(self) -> None:
        suite = self.suite
        if len(self.filler) < 20:
            raise ConfigError(suite.origin, "haystack.text", f"holds {len(self.filler)} sentences that mention no needle; filler needs at least 20", suite.haystack.text)
        for cell in self.cells:
            task = TASKS.get(cell["task"], source=suite.origin, key="task")
            if "document" not in task.meta["media"]:
                raise ConfigError(suite.origin, "task", "is not asked about documents; use retrieval_text, counting_text, retrieval_image or counting_image", task.name)
            needles = cell.get("needles")
            if task.name == "counting_image":
                if self.slots**2 < ROOM:
                    raise ConfigError(suite.origin, "needle.scale", f"counting_image pastes up to {ROOM} pictures into one image: the scale must be 0.4 or less", suite.needle.scale)
                if needles is not None and needles > ROOM * cell["images"]:
                    raise ConfigError(suite.origin, "grid.needles", f"{cell['images']} image{'s take' if cell['images'] > 1 else ' takes'} at most {ROOM * cell['images']} pasted pictures", needles)
            if task.name == "counting_text" and needles is not None and needles > 3 * (cell["images"] + 1):
                raise ConfigError(suite.origin, "grid.needles", f"a document of {cell['images']} images has room for {3 * (cell['images'] + 1)} needle sentences", needles)
            pool = self.text_needles if task.name == "retrieval_text" else self.needles
            if task.name.startswith("retrieval") and suite.question.form == "choice" and len(pool) < suite.question.options:
                raise ConfigError(suite.origin, "question.options", f"{len(pool)} needles cannot make {suite.question.options} options", suite.question.options)

    def sample(self, index: int) -> Sample:
        if index < 0:
            raise IndexError(f"sample indices start at 0, not {index}")
        suite = self.suite
        cell = self.cells[index % len(self.cells)]
        task = TASKS.get(cell["task"], source=suite.origin, key="task")
        rng = sample_rng(self.config_key, suite.seed, index, Stream.SAMPLE)
        count = cell["images"]
        tiles = draw_tiles(self.pictures, count, rng)
        passages: list[list[tuple[str, int | None]]] = [[(s, None) for s in draw_passage(self.filler, rng)] for _ in range(count + 1)]
        image_depths = _image_depths(passages)
        plan = task.meta["plan"](self.text_needles, self.needles, rng, cell, image_depths)
        _insert_sentences(passages, [(sentence, depth) for _, sentence, depth in plan.sentences])
        boxes = self._boxes(plan.pasted, count, rng)
        mosaics = [Mosaic((tile,), 1, 1, suite.image.cell) for tile in tiles]
        for (needle, image), box in zip(plan.pasted, boxes):
            mosaics[image] = replace(mosaics[image], pasted=(*mosaics[image].pasted, Paste(needle.ref, box)))
        items: list[Any] = []
        for k, passage in enumerate(passages):
            items.append(" ".join(s for s, _ in passage))
            if k < count:
                items.append(mosaics[k])
        context = document_text(items)
        text_placed = _placed_sentences(passages, plan, len(context))
        starts = _image_starts(items)
        pasted = tuple(PastePlaced(needle, image, box, starts[image] / len(context)) for (needle, image), box in zip(plan.pasted, boxes))
        scene = DocumentScene(
            plan=plan,
            text=text_placed,
            pasted=pasted,
            images=count,
            form=suite.question.form,
            options=suite.question.options,
            text_pool=self.text_needles,
            image_pool=self.needles,
            rng=sample_rng(self.config_key, suite.seed, index, Stream.QUESTION),
            position=lambda k: balanced_position(self.config_key, suite.seed, index, k),
            option_media=suite.question.option_media,
        )
        question = task.obj(scene)
        depths = [p.depth for p in text_placed] + [p.depth for p in pasted]
        truth: dict[str, Any] = {
            "images": count,
            "context_length": len(context),
            "placed_depth": [round(d, 6) for d in depths],
            "depth": round(sum(depths) / len(depths), 6),
            "needles": [
                {"label": p.needle.label, "description": p.needle.description, "image": p.image + 1, "box": list(p.box), "depth": round(p.depth, 6), "source": p.needle.ref.to_json()}
                for p in pasted
            ],
            "text_needles": [{"label": p.needle.label, "text": p.sentence, "depth": round(p.depth, 6), **_where(items, p)} for p in text_placed],
        }
        if question.asked is not None:
            truth["asked"] = {"label": question.asked.label, "description": question.asked.description, "present": True}
        facets = {**cell, "depth": depth_bin(truth["depth"]), "length": count}
        return Sample(
            id=f"{suite.name}-{index:06d}",
            suite=suite.name,
            task=task.name,
            modality=self.modality,
            question=question.text,
            options=question.options,
            answer=question.answer,
            answer_type=question.answer_type,
            media=Gallery(tuple(items), self._option_pictures(question.detail.get("option_labels", ()))),
            truth=truth,
            facets=facets,
            seed=suite.seed,
            index=index,
        )

    def _option_pictures(self, labels) -> tuple[Mosaic, ...]:
        """The pictures that are the options (``question.option_media: image``), in option order:
        each needle's picture alone, its longer side the image's shorter side."""
        by_label = {needle.label: needle for needle in self.needles}
        side = min(self.suite.image.cell)
        pictures = []
        for label in labels:
            needle = by_label[label]
            size = (side, max(1, round(side / needle.aspect))) if needle.aspect >= 1 else (max(1, round(side * needle.aspect)), side)
            pictures.append(Mosaic((needle.ref,), 1, 1, size))
        return tuple(pictures)

    def _boxes(self, pasted, count: int, rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
        """A box for each pasted picture: its longer side ``needle.scale`` of the image's shorter
        side (the other side by the picture's own aspect), in a free one of ``slots`` x ``slots``
        places (so copies never overlap) at random inside that place; a lone picture
        (retrieval_image) goes at ``needle.position`` (its centre) where that is not ``random``."""
        width, height = self.suite.image.cell
        n = self.slots
        place_w, place_h = width // n, height // n
        side = max(4, min(round(self.suite.needle.scale * min(width, height)), place_w, place_h))
        sizes = [(side, max(1, round(side / needle.aspect))) if needle.aspect >= 1 else (max(1, round(side * needle.aspect)), side) for needle, _ in pasted]
        position = self.suite.needle.position
        if position != "random" and len(pasted) == 1:
            w, h = sizes[0]
            x = min(max(round(position[0] * width - w / 2), 0), width - w)
            y = min(max(round(position[1] * height - h / 2), 0), height - h)
            return [(x, y, w, h)]
        taken: dict[int, set[int]] = {i: set() for i in range(count)}
        boxes = []
        for (_, image), (w, h) in zip(pasted, sizes):
            free = [k for k in range(n * n) if k not in taken[image]]
            place = free[int(rng.integers(len(free)))]
            taken[image].add(place)
            row, col = divmod(place, n)
            x = col * place_w + int(rng.integers(place_w - w + 1))
            y = row * place_h + int(rng.integers(place_h - h + 1))
            boxes.append((x, y, w, h))
        return boxes

    def sources(self) -> Mapping:
        return {**describe_sources(self.suite, self.pictures, self.needles), "text": describe_text(self.suite, default="builtin")}


def _passage_text(passage) -> str:
    return " ".join(s for s, _ in passage)


def _slot_offsets(passages) -> list[tuple[int, int, int]]:
    """Every place a sentence can go, as (passage, index among its sentences, character offset in
    the document), the document as ``document_text`` writes it."""
    slots, start = [], 0
    for p, passage in enumerate(passages):
        offset = 0
        for j in range(len(passage) + 1):
            slots.append((p, j, start + offset))
            if j < len(passage):
                offset += len(passage[j][0]) + 1
        start += len(_passage_text(passage)) + len(IMAGE_PLACEHOLDER)
    return slots


def _image_depths(passages) -> list[float]:
    """The depth of each image's placeholder in the document before any needle goes in."""
    total = sum(len(_passage_text(p)) for p in passages) + len(IMAGE_PLACEHOLDER) * (len(passages) - 1)
    depths, start = [], 0
    for passage in passages[:-1]:
        start += len(_passage_text(passage))
        depths.append(start / total)
        start += len(IMAGE_PLACEHOLDER)
    return depths


def _insert_sentences(passages, wanted) -> None:
    """Put each (sentence, depth) at the free place nearest its depth, in the order given; each
    placed sentence is tagged with its plan entry."""
    total = sum(len(_passage_text(p)) for p in passages) + len(IMAGE_PLACEHOLDER) * (len(passages) - 1)
    slots = _slot_offsets(passages)
    chosen: list[tuple[int, int, int]] = []
    for entry, (_, depth) in enumerate(wanted):
        free = [s for s in slots if (s[0], s[1]) not in {(c[0], c[1]) for c in chosen}]
        best = min(free, key=lambda s: (abs(s[2] / total - depth), s[2]))
        chosen.append((best[0], best[1], entry))
    # later places first, so the indices of earlier ones still hold
    for p, j, entry in sorted(chosen, key=lambda c: (c[0], c[1]), reverse=True):
        passages[p].insert(j, (wanted[entry][0], entry))


def _placed_sentences(passages, plan, length: int) -> tuple[TextPlaced, ...]:
    """The placed sentences in document order, each with its depth in the finished document."""
    placed, start = [], 0
    for passage in passages:
        offset = 0
        for sentence, entry in passage:
            if entry is not None:
                needle = plan.sentences[entry][0]
                placed.append(TextPlaced(needle, sentence, (start + offset) / length, entry, start + offset))
            offset += len(sentence) + 1
        start += len(_passage_text(passage)) + len(IMAGE_PLACEHOLDER)
    return tuple(placed)


def _image_starts(items) -> list[int]:
    starts, offset = [], 0
    for item in items:
        if isinstance(item, str):
            offset += len(item)
        else:
            starts.append(offset)
            offset += len(IMAGE_PLACEHOLDER)
    return starts


def _where(items, placed: TextPlaced) -> dict:
    """Which text item holds a placed sentence and where in it."""
    position, offset = placed.at, 0
    for k, item in enumerate(items):
        size = len(item) if isinstance(item, str) else len(IMAGE_PLACEHOLDER)
        if isinstance(item, str) and offset <= position < offset + size:
            return {"item": k, "offset": position - offset}
        offset += size
    raise AssertionError("a placed sentence lies outside the document's text")
