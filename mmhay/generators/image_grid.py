"""The image-grid generator (MMNeedle's shape): needles hidden in cells of M images of N x N sub-images."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from mmhay.config import SuiteConfig
from mmhay.errors import ConfigError
from mmhay.gallery import Gallery, Mosaic
from mmhay.generators import GENERATORS, TASKS, combinations
from mmhay.generators.haystacks import describe_sources, draw_tiles, picture_pool
from mmhay.generators.needles import Needle, needle_pool
from mmhay.generators.seeds import Stream, balanced_position, sample_rng
from mmhay.generators.tasks.locate import Cell, GridScene
from mmhay.schema import Sample
from mmhay.timeline import FileRef

__all__ = ["ImageGridGenerator", "image_grid_generator", "placement_facets"]


@GENERATORS.register("image_grid", modality="image")
def image_grid_generator(suite: SuiteConfig, *, strict: bool = False) -> "ImageGridGenerator":
    """Needle pictures in cells of M images, each an N x N grid of sub-images (MMNeedle), described by captions."""
    if suite.needle.kind != "image":
        raise ConfigError(suite.origin, "needle.kind", "image grids hold picture needles; use kind image", suite.needle.kind)
    generator = ImageGridGenerator(suite, suite.key(), picture_pool(suite, strict=strict), needle_pool(suite, "image", strict=strict))
    generator.check()
    return generator


@dataclass(frozen=True)
class ImageGridGenerator:
    """Samples of one image-grid suite; ``sample(i)`` depends only on the config, the seed and ``i``."""

    suite: SuiteConfig
    config_key: str
    pictures: tuple[FileRef, ...]
    needles: tuple[Needle, ...]

    modality = "image"

    def __len__(self) -> int:
        return self.suite.samples

    @cached_property
    def cells(self) -> list[dict[str, Any]]:
        """Every combination of images (M), grid size (N) and needle count where the needles fit;
        consecutive twins take them in turn."""
        grid = self.suite.grid
        cells = combinations({"task": grid.task, "images": grid.images or [1], "grid_size": grid.grid_size or [2], "needles": grid.needles or [1]})
        # more needles than cells (2 needles in one 1 x 1 image) is no question to ask: left out
        fitting = [c for c in cells if c["needles"] <= c["images"] * c["grid_size"] ** 2]
        return fitting or cells[:1]

    def check(self) -> None:
        suite = self.suite
        for name in suite.grid.task or [suite.task]:
            if "grid" not in TASKS.get(name, source=suite.origin, key="task").meta["media"]:
                raise ConfigError(suite.origin, "task", "is not asked about image grids; use locate", name)
        for cell in self.cells:
            cells = cell["images"] * cell["grid_size"] ** 2
            if cell["needles"] > cells:
                raise ConfigError(suite.origin, "grid.needles", f"{cell['needles']} needles do not fit in {cells} cells", cell["needles"])
            if len(self.needles) < 2 * cell["needles"]:
                raise ConfigError(
                    suite.origin, "needle.source", f"has {len(self.needles)} usable needles; {cell['needles']} shown and as many absent need {2 * cell['needles']}", suite.needle.source
                )

    def sample(self, index: int) -> Sample:
        if index < 0:
            raise IndexError(f"sample indices start at 0, not {index}")
        suite = self.suite
        facets = self.cells[(index // 2) % len(self.cells)]
        task = TASKS.get(facets.get("task", suite.task), source=suite.origin, key="task")
        twin = index % task.meta["group"]
        rng = sample_rng(self.config_key, suite.seed, index - twin, Stream.SAMPLE)
        m, n, k = facets["images"], facets["grid_size"], facets["needles"]
        tiles = draw_tiles(self.pictures, m * n * n, rng)
        plan = task.meta["plan"](self.needles, rng, k)
        spots = sorted(int(s) for s in rng.choice(m * n * n, size=k, replace=False))
        order = [int(i) for i in rng.permutation(k)]  # the captions list the needles in random order
        placed = []
        for needle, spot in zip(plan.shown, [spots[i] for i in order]):
            tiles[spot] = needle.ref
            image, rest = divmod(spot, n * n)
            placed.append((needle, Cell(image + 1, rest // n + 1, rest % n + 1)))
        gallery = Gallery(tuple(Mosaic(tuple(tiles[i * n * n : (i + 1) * n * n]), n, n, suite.image.cell) for i in range(m)))
        block = index // task.meta["group"]
        scene = GridScene(
            needles=tuple(placed),
            plan=plan,
            images=m,
            grid=n,
            twin=twin,
            rng=sample_rng(self.config_key, suite.seed, index, Stream.QUESTION),
            position=lambda k: balanced_position(self.config_key, suite.seed, block, k),
        )
        question = task.obj(scene)
        truth: dict[str, Any] = {
            "images": m,
            "grid": n,
            "cell_size": list(suite.image.cell),
            "needles": [
                {"label": needle.label, "description": needle.description, "image": c.index, "row": c.row, "column": c.column, "source": needle.ref.to_json()}
                for needle, c in placed
            ],
            "asked": {"labels": [n.label for n in (plan.shown if question.present else plan.absent_all)], "present": question.present},
        }
        return Sample(
            id=f"{suite.name}-{index:06d}",
            suite=suite.name,
            task=task.name,
            modality=self.modality,
            question=question.text,
            options=question.options,
            answer=question.answer,
            answer_type=question.answer_type,
            media=gallery,
            truth=truth,
            facets=facets,
            seed=suite.seed,
            index=index,
        )

    def sources(self) -> Mapping:
        return describe_sources(self.suite, self.pictures, self.needles)


def placement_facets(sample: Sample) -> dict[str, int]:
    """Where the first caption's needle sits, as facets of a scored record: ``needle_image``
    (its image, MMNeedle's depth, from 1), ``needle_row`` and ``needle_column`` (from 1).

    Empty for a sample asking about absent needles, and for samples of other generators. These are
    drawn, not gridded, so they are read from the truth when a sample is scored and stay out of
    the sample's own facets (which the build, the card and the audit treat as the design grid).
    """
    truth = sample.truth
    asked = truth.get("asked")
    if "grid" not in truth or not truth.get("needles") or not (isinstance(asked, dict) and asked.get("present")):
        return {}
    first = truth["needles"][0]
    return {"needle_image": int(first["image"]), "needle_row": int(first["row"]), "needle_column": int(first["column"])}
