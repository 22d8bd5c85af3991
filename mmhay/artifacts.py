"""The files a built sample is written to, its dataset columns, and reading it back.

A video sample is ``videos/NNNNNN.mp4`` (with its soundtrack, if any); an image sample is
``images/NNNNNN-K.png``, one per image (then one per option picture), also stored in the dataset as ``datasets.Image``; a sound
sample is ``audio/NNNNNN.flac``, also stored as ``datasets.Audio``. A sample read back is a
composition (or gallery) of its files.
"""

from __future__ import annotations

from pathlib import Path

from mmhay.gallery import Gallery, Mosaic
from mmhay.schema import Sample
from mmhay.timeline import Composition, FileRef

__all__ = ["media_files", "write_media", "media_columns", "media_values", "read_media", "FOLDERS", "SPLIT"]

FOLDERS = ("videos", "images", "audio")
SPLIT = "test"  # the split a built suite is saved as


def media_files(sample: Sample) -> list[str]:
    """The files (relative to the build folder) that hold ``sample``'s media."""
    media = sample.media
    if isinstance(media, Gallery):
        # option pictures follow the images, as MM-NIAH appends them to images_list; a rotation's
        # (``--circular``) are its question's files, in its own option order
        n, k = len(media.images), len(media.options)
        return [f"images/{sample.index:06d}-{i}.png" for i in range(n)] + [f"images/{sample.index:06d}-{n + (i - sample.rotation) % k}.png" for i in range(k)]
    if not media.segments:
        return [f"audio/{sample.index:06d}.flac"]
    return [f"videos/{sample.index:06d}.mp4"]


def write_media(sample: Sample, out: Path) -> None:
    """Render ``sample``'s media into its files under ``out`` (each written atomically)."""
    from PIL import Image

    from mmhay.atomic import reporting_full_disk, temporary_path

    media, names = sample.media, media_files(sample)
    if isinstance(media, Gallery):
        for name, pixels in zip(names, media.render() + media.render_options()):
            path = out / name
            partial = temporary_path(path)
            try:
                with reporting_full_disk(path):
                    Image.fromarray(pixels).save(partial, format="PNG")
                    partial.replace(path)
            finally:
                partial.unlink(missing_ok=True)
        return
    with reporting_full_disk(out / names[0]):
        media.write(out / names[0])


def media_columns(modality: str) -> dict:
    """The dataset columns (name to ``datasets`` feature) that carry media, by the suite's modality."""
    from datasets import Audio, Image, List, Value

    if modality == "image":
        return {"images": List(Image())}
    if modality == "audio":
        return {"audio": Audio()}
    return {"video": Value("string")}


def media_values(sample: Sample, out: Path) -> dict:
    """The values of the media columns for one built sample: paths for videos, encoded bytes for
    images and sound (so the dataset carries them)."""
    names = media_files(sample)
    if isinstance(sample.media, Gallery):
        return {"images": [{"bytes": (out / name).read_bytes(), "path": Path(name).name} for name in names]}
    if not sample.media.segments:
        return {"audio": {"bytes": (out / names[0]).read_bytes(), "path": Path(names[0]).name}}
    return {"video": names[0]}


def read_media(sample: Sample, out: Path) -> Composition | Gallery:
    """The media of a built sample as compositions of its files (``sample.media`` is the recipe)."""
    names = media_files(sample)
    if isinstance(sample.media, Gallery):
        files = iter(names)
        items = []
        for item in sample.media.items:
            if isinstance(item, str):
                items.append(item)
                continue
            ref = FileRef.image(out / next(files))
            items.append(Mosaic((ref,), 1, 1, item.size))
        options = tuple(Mosaic((FileRef.image(out / next(files)),), 1, 1, option.size) for option in sample.media.options)
        return Gallery(tuple(items), options)
    if not sample.media.segments:
        return Composition.from_sound_file(out / names[0])
    return Composition.from_file(out / names[0])

