"""The dataset card (README.md) of a built suite."""

from __future__ import annotations

import json
from collections import Counter

from mmhay.artifacts import SPLIT
from mmhay.config import SuiteConfig
from mmhay.schema import Sample

__all__ = ["dataset_card"]


def dataset_card(suite: SuiteConfig, samples: list[Sample], modality: str) -> str:
    """The README.md of a built suite: what it holds, how to load it, its grid, how to rebuild it."""
    import yaml

    letters = Counter(sample.answer for sample in samples)
    cells = Counter(json.dumps(sample.facets, sort_keys=True) for sample in samples)
    size = "n<1K" if len(samples) < 1000 else "1K<n<10K" if len(samples) < 10_000 else "10K<n<100K"
    category = {"video": "video-text-to-text", "image": "image-text-to-text", "audio": "audio-text-to-text"}[modality]
    header = yaml.safe_dump(
        {
            "pretty_name": f"mmhay {suite.name}",
            "task_categories": [category],
            "tags": ["mmhay", "needle-in-a-haystack", modality, "synthetic"],
            "size_categories": [size],
            "license": "other",
        },
        sort_keys=False,
    )
    names = sorted({name for sample in samples for name in sample.facets})
    facet_header = "| " + " | ".join(names + ["samples"]) + " |\n|" + " --- |" * (len(names) + 1)
    facet_rows = "\n".join(
        "| " + " | ".join([f"{json.loads(cell).get(name, '')}" for name in names] + [str(n)]) + " |"
        for cell, n in sorted(cells.items())
    )
    letter_rows = ", ".join(f"{letter}: {n}" for letter, n in sorted(letters.items()))
    config_yaml = yaml.safe_dump(suite.model_dump(mode="json"), sort_keys=False)
    return f"""---
{header}---

# mmhay suite `{suite.name}`

{suite.description or "A needle-in-a-haystack suite built with mmhay."}

{len(samples)} samples, tasks {", ".join(f"`{t}`" for t in sorted({s.task for s in samples}))}, generator
`{suite.generator}`, seed {suite.seed}. Each sample is {_what(suite, modality)} with a question about the needles hidden in it.

## Load

```python
import datasets
suite = datasets.load_from_disk("path/to/this/folder")["{SPLIT}"]
print(suite[0]["question"], suite[0]["options"], suite[0]["answer"])
```

Or evaluate a model on it: `mmhay eval --model hf:PATH --data path/to/this/folder --out run/`.
{_audio_note(modality)}

## Columns

| column | holds |
| --- | --- |
| `id`, `index`, `seed`, `suite` | which sample this is; `index` and `seed` regenerate it |
| `task`, `modality`, `answer_type` | what is asked and how the answer is written |
| `question`, `options`, `answer` | the question, its options in order (if any), the answer: an option letter, a count, `yes`/`no`, letters in order (`C,A,B`), `start,end` seconds, a short text, or cells as `image,row,column` (`-1`: absent) |
| `truth` | JSON: where every needle and distractor is (`start`/`end` seconds with `frames` or `samples`, `box` [x, y, w, h] for overlays, or `image`, `row`, `column`), its `source`, and what is asked about |
| `facets` | JSON: the grid cell, one key per axis (haystack `length` in seconds, `depth` 0..1, `distractors`, ...) |
| {_media_row(modality)} |
| `recipe` | JSON: the composition the video was rendered from (sources, cuts, needle) |

## Facet grid

{facet_header}
{facet_rows}

Correct letters: {letter_rows}.

## Licence

Procedural footage pans over photographs that ship with scikit-image (public domain or
CC0/CC-BY, see scikit-image's data licences); needle pictures are drawn by mmhay. Media taken from
user folders keeps its own licence.

## Reproduce

`manifest.json` lists the SHA-256 of every video and the software versions. This config with
`mmhay build CONFIG --out DIR --seed {suite.seed}` renders the same suite:

```yaml
{config_yaml}```
"""




def _what(suite: SuiteConfig, modality: str) -> str:
    if modality == "image":
        return "a set of images (`images/NNNNNN-K.png`, also in the `images` column)"
    if modality == "audio":
        return f"a recording (`audio/NNNNNN.flac`, {suite.audio.rate} Hz, also in the `audio` column)"
    return f"a video (`videos/NNNNNN.mp4`, H.264, {suite.video.size[0]}x{suite.video.size[1]} at {suite.video.fps} fps)"


def _media_row(modality: str) -> str:
    if modality == "image":
        return "`images` | the sample's images in order (`datasets.Image`), also as files in `images/`"
    if modality == "audio":
        return "`audio` | the sample's recording (`datasets.Audio`, FLAC), also as a file in `audio/`"
    return "`video` | the sample's video (with its soundtrack, if any), relative to this folder"


def _audio_note(modality: str) -> str:
    if modality != "audio":
        return ""
    return (
        "\n`datasets` 4 and newer decode `Audio` with torchcodec; where it cannot load, read the column "
        'with `suite.cast_column("audio", datasets.Audio(decode=False))` (FLAC bytes) or the files.\n'
    )
