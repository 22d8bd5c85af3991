"""The multi-image generator (MM-NIAH / LoCoVQA shape): needle pictures among many images, with text between them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any

from mmhay.config import SuiteConfig
from mmhay.errors import ConfigError
from mmhay.gallery import Gallery, Mosaic
from mmhay.generators import GENERATORS, TASKS, combinations
from mmhay.generators.distractors import pick_distractors
from mmhay.generators.filler import corpus_sentences, describe_text, draw_passage
from mmhay.generators.haystacks import describe_sources, draw_tiles, picture_pool
from mmhay.generators.insertion import Placed
from mmhay.generators.needles import Needle, needle_pool
from mmhay.generators.seeds import Stream, balanced_position, sample_rng
from mmhay.generators.tasks import Scene
from mmhay.schema import Sample
from mmhay.timeline import FileRef

__all__ = ["MultiImageGenerator", "multi_image_generator", "FILLER"]

# Text set between images when a suite asks for it and names no ``haystack.text``: it says
# nothing about any picture.
FILLER = (
    "Here is the next picture in the collection.",
    "The following image was added later.",
    "Another photograph from the same archive.",
    "This one comes from a different folder.",
    "The collection continues below.",
    "An image selected at random follows.",
)


@GENERATORS.register("multi_image", modality="image")
def multi_image_generator(suite: SuiteConfig, *, strict: bool = False) -> "MultiImageGenerator":
    """Needle pictures among a sequence of photographs (and of other pictures as distractors), optionally with text between."""
    if suite.needle.kind != "image":
        raise ConfigError(suite.origin, "needle.kind", "image sequences hold picture needles; use kind image", suite.needle.kind)
    generator = MultiImageGenerator(suite, suite.key(), picture_pool(suite, strict=strict), needle_pool(suite, "image", strict=strict))
    generator.check()
    return generator


@dataclass(frozen=True)
class MultiImageGenerator:
    """Samples of one multi-image suite; ``sample(i)`` depends only on the config, the seed and ``i``."""

    suite: SuiteConfig
    config_key: str
    pictures: tuple[FileRef, ...]
    needles: tuple[Needle, ...]

    modality = "image"

    def __len__(self) -> int:
        return self.suite.samples

    @cached_property
    def cells(self) -> list[dict[str, Any]]:
        """Every combination of task, image count, needle count, distractor count and answer form."""
        grid = self.suite.grid
        return combinations({"task": grid.task, "form": grid.form, "images": grid.images or [8], "needles": grid.needles, "distractors": grid.distractors})

    @cached_property
    def filler(self) -> tuple[str, ...]:
        """The sentences of ``haystack.text`` (none: the fixed lines of ``FILLER``)."""
        return corpus_sentences(self.suite) if self.suite.haystack.text is not None else ()

    @cached_property
    def group(self) -> int:
        return max(TASKS.get(cell.get("task", self.suite.task)).meta["group"] for cell in self.cells)

    def check(self) -> None:
        suite = self.suite
        if suite.haystack.text is not None:
            if not suite.image.text:
                raise ConfigError(suite.origin, "haystack.text", "is the text between images: set image.text: true to put it there", suite.haystack.text)
            self.filler  # a missing or empty text source fails before any sample is drawn
        for cell in self.cells:
            task = TASKS.get(cell.get("task", suite.task), source=suite.origin, key="task")
            if "images" not in task.meta["media"]:
                raise ConfigError(suite.origin, "task", "is not asked about image sequences", task.name)
            count = self._count(cell, task)
            if count + cell["distractors"] > cell["images"]:
                raise ConfigError(
                    suite.origin, "grid.images", f"{cell['images']} images cannot hold {count} needles and {cell['distractors']} distractors", cell["images"]
                )

    @staticmethod
    def _count(cell: Mapping, task) -> int:
        if task.meta["needles"] == 1:
            return 1
        return cell["needles"] if cell.get("needles") is not None else task.meta["needles"] or 5

    def sample(self, index: int) -> Sample:
        if index < 0:
            raise IndexError(f"sample indices start at 0, not {index}")
        suite = self.suite
        facets = self.cells[(index // self.group) % len(self.cells)]
        task = TASKS.get(facets.get("task", suite.task), source=suite.origin, key="task")
        group = task.meta["group"]
        twin = index % group
        rng = sample_rng(self.config_key, suite.seed, index - twin, Stream.SAMPLE)
        total = facets["images"]
        needles_count = None if task.meta["needles"] == 1 else facets.get("needles")
        plan = task.meta["plan"](self.needles, rng, needles_count)
        distractors = pick_distractors(self.needles, plan, facets["distractors"], suite.distractors.similarity, rng)
        shown = [*plan.shown, *distractors]
        spots = sorted(int(s) for s in rng.choice(total, size=len(shown), replace=False))
        order = [int(k) for k in rng.permutation(len(shown))]
        tiles = draw_tiles(self.pictures, total, rng)  # the photographs: in-distribution haystack
        placed = []
        for k, needle in enumerate(shown):
            spot = spots[order[k]]
            tiles[spot] = needle.ref
            role = "needle" if k < len(plan.shown) else "distractor"
            placed.append(Placed(needle, role, Fraction(spot), Fraction(spot + 1), range(spot, spot + 1), None))
        items: list[Any] = []
        for k, tile in enumerate(tiles):
            if suite.image.text and k:
                items.append(" ".join(draw_passage(self.filler, rng)) if self.filler else FILLER[int(rng.integers(len(FILLER)))])
            items.append(Mosaic((tile,), 1, 1, suite.image.cell))
        block = index // group
        scene = Scene(
            placed=tuple(sorted(placed, key=lambda p: p.start)),
            plan=plan,
            pool=self.needles,
            kind="image",
            form=facets.get("form", suite.question.form),
            options=suite.question.options,
            twin=twin,
            duration=Fraction(total),
            rng=sample_rng(self.config_key, suite.seed, index, Stream.QUESTION),
            position=lambda k: balanced_position(self.config_key, suite.seed, block, k),
            medium="images",
            zero_counts=0 in (suite.grid.needles or ()),
        )
        question = task.obj(scene)
        entry = lambda p: {"label": p.needle.label, "description": p.needle.description, "image": int(p.start) + 1, "source": p.needle.ref.to_json()}  # noqa: E731
        truth: dict[str, Any] = {
            "images": total,
            "needles": [entry(p) for p in scene.placed if p.role == "needle"],
            "distractors": [entry(p) for p in scene.placed if p.role == "distractor"],
        }
        if question.asked is not None:
            truth["asked"] = {"label": question.asked.label, "description": question.asked.description, "present": question.present, "source": question.asked.ref.to_json()}
        return Sample(
            id=f"{suite.name}-{index:06d}",
            suite=suite.name,
            task=task.name,
            modality=self.modality,
            question=question.text,
            options=question.options,
            answer=question.answer,
            answer_type=question.answer_type,
            media=Gallery(tuple(items)),
            truth=truth,
            facets=facets,
            seed=suite.seed,
            index=index,
        )

    def sources(self) -> Mapping:
        sources = describe_sources(self.suite, self.pictures, self.needles)
        if self.suite.haystack.text is not None:  # suites without it describe what they always did
            sources["text"] = describe_text(self.suite)
        return sources
