"""``mmhay preview``: one sample as a person checks it, its video and a contact sheet.

The contact sheet shows frames decoded from the written video at evenly spaced times plus the
middle of every needle and distractor, each with its time; needle frames are outlined in red,
distractor frames in orange, and overlay boxes are drawn where the item sits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from mmhay.atomic import output_folder, write_text_atomic
from mmhay.media.decode import read_frames
from mmhay.schema import Sample

__all__ = ["Preview", "preview_sample", "contact_sheet"]

NEEDLE_COLOR = (230, 30, 30)
DISTRACTOR_COLOR = (255, 150, 0)
_TILE_WIDTH = 320
_COLUMNS = 4


@dataclass(frozen=True)
class Preview:
    """What a preview wrote."""

    video: Path
    sheet: Path
    sample: Path


def preview_sample(sample: Sample, out: str | Path, *, frames: int = 12) -> Preview:
    """Write ``sample``'s media (an mp4, the images, or a FLAC recording), a sheet to look at and
    the sample as JSON into the folder ``out``."""
    from mmhay.errors import DatasetError
    from mmhay.gallery import Gallery

    stem = f"{sample.id}"
    if Path(stem).name != stem or stem in ("", ".", ".."):  # a built suite's rows are not trusted to name files
        raise DatasetError(out, f"sample id {stem!r} is not a file name; refusing to write it")
    out = output_folder(out)
    sheet = out / f"{stem}.png"
    if isinstance(sample.media, Gallery):
        media = out / f"{stem}-images.png"
        tiles = _gallery_tiles(sample)
        _save_png(np.concatenate(tiles, axis=1), media)
        rows = [np.concatenate(tiles[k : k + _COLUMNS], axis=1) for k in range(0, len(tiles), _COLUMNS)]
        if sample.media.options:  # the option pictures, in letter order, the answer's outlined
            rows.append(np.concatenate(_option_tiles(sample), axis=1))
        width = max(_TILE_WIDTH * _COLUMNS, *(row.shape[1] for row in rows))
        _save_png(_stack(_header(sample, width, _text_needle_lines(sample)), rows), sheet)
    elif not sample.media.segments:
        media = out / f"{stem}.flac"
        sample.media.write(media)
        _save_png(_stack(_header(sample, _TILE_WIDTH * _COLUMNS), [_spectrogram(sample)]), sheet)
    else:
        media = out / f"{stem}.mp4"
        sample.media.write(media)
        contact_sheet(sample, media, sheet, frames=frames)
    record = out / f"{stem}.json"
    write_text_atomic(record, json.dumps(sample.to_json(), indent=2) + "\n")
    return Preview(media, sheet, record)


def _save_png(pixels: np.ndarray, path: Path) -> None:
    from PIL import Image

    partial = path.with_name(f".{path.name}.tmp.png")
    Image.fromarray(pixels).save(partial)
    partial.replace(path)


def _stack(header: np.ndarray, rows: list[np.ndarray]) -> np.ndarray:
    """The header above rows of pixels, on white, as wide as the widest."""
    width = max([header.shape[1]] + [r.shape[1] for r in rows])
    parts = [np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)), constant_values=255) for p in [header, *rows]]
    return np.concatenate(parts, axis=0)


def _gallery_tiles(sample: Sample) -> list[np.ndarray]:
    """Each image of an image sample, the cells or images holding needles outlined."""
    from PIL import Image, ImageDraw

    images = sample.media.render()
    cell = sample.truth.get("cell_size")
    tiles = []
    for k, pixels in enumerate(images):
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image)
        for role, color in (("needles", NEEDLE_COLOR), ("distractors", DISTRACTOR_COLOR)):
            for entry in sample.truth.get(role, []):
                if entry.get("image") != k + 1:
                    continue
                if "box" in entry:  # a picture pasted into the image
                    x, y, w, h = entry["box"]
                    draw.rectangle([x, y, x + w - 1, y + h - 1], outline=color, width=3)
                elif cell and "row" in entry:
                    x, y = (entry["column"] - 1) * cell[0], (entry["row"] - 1) * cell[1]
                    draw.rectangle([x, y, x + cell[0] - 1, y + cell[1] - 1], outline=color, width=4)
                else:
                    draw.rectangle([0, 0, image.width - 1, image.height - 1], outline=color, width=6)
        tiles.append(np.asarray(image))
    height = max(t.shape[0] for t in tiles)
    return [np.pad(t, ((0, height - t.shape[0]), (0, 8), (0, 0)), constant_values=255) for t in tiles]


def _spectrogram(sample: Sample) -> np.ndarray:
    """A spectrogram of a recording (time across), needle spans marked red, distractors orange."""
    import cv2

    audio = sample.media.audio().mean(axis=0)
    rate = sample.media.audio_rate
    window = 512
    hops = max(1, (len(audio) - window) // 2048)
    columns = [np.abs(np.fft.rfft(audio[k * hops : k * hops + window] * np.hanning(window))) for k in range(max(1, (len(audio) - window) // hops))]
    level = 20 * np.log10(np.stack(columns, axis=1) + 1e-6)
    level = np.clip((level - level.max() + 80) / 80, 0, 1)[::-1]
    picture = cv2.resize((level * 255).astype(np.uint8), (_TILE_WIDTH * _COLUMNS, 256))
    picture = np.repeat(picture[:, :, None], 3, axis=2)
    for role, color in (("needles", NEEDLE_COLOR), ("distractors", DISTRACTOR_COLOR)):
        for entry in sample.truth.get(role, []):
            a = int(entry["start"] * rate / len(audio) * picture.shape[1])
            b = max(a + 2, int(entry["end"] * rate / len(audio) * picture.shape[1]))
            picture[:8, a:b] = color
            picture[-8:, a:b] = color
    return picture


def contact_sheet(sample: Sample, video: Path, path: Path, *, frames: int = 12) -> None:
    """Draw the contact sheet of ``sample`` from its written ``video`` into the PNG ``path``."""
    from PIL import Image

    entries = [(e, "needle") for e in sample.truth.get("needles", [])] + [(e, "distractor") for e in sample.truth.get("distractors", [])]
    rate = sample.media.rate or Fraction(1)
    duration = sample.media.duration
    wanted = {Fraction(duration * (2 * i + 1) / (2 * frames)) for i in range(frames)}
    for entry, _ in entries:
        first, stop = entry["frames"]
        wanted.add(Fraction((first + stop - 1) // 2) / rate)
    times = sorted(wanted)
    decoded = read_frames(video, times)
    tiles = [_tile(pixels, t, rate, entries) for pixels, t in zip(decoded.pixels, decoded.times)]
    rows = -(-len(tiles) // _COLUMNS)
    tile_h = tiles[0].shape[0]
    header = _header(sample, _COLUMNS * _TILE_WIDTH)
    sheet = np.full((header.shape[0] + rows * tile_h, _COLUMNS * _TILE_WIDTH, 3), 255, np.uint8)
    sheet[: header.shape[0]] = header
    for k, tile in enumerate(tiles):
        row, col = divmod(k, _COLUMNS)
        y = header.shape[0] + row * tile_h
        sheet[y : y + tile_h, col * _TILE_WIDTH : (col + 1) * _TILE_WIDTH] = tile
    partial = path.with_name(f".{path.name}.tmp.png")
    Image.fromarray(sheet).save(partial)
    partial.replace(path)


def _tile(pixels: np.ndarray, t: Fraction, rate: Fraction, entries) -> np.ndarray:
    """One frame scaled to the tile width, outlined if a needle shows, with its time and label below."""
    from PIL import Image, ImageDraw

    from mmhay.media.captions import font

    height, width = pixels.shape[:2]
    scale = _TILE_WIDTH / width
    frame = Image.fromarray(pixels).resize((_TILE_WIDTH, max(1, round(height * scale))))
    draw = ImageDraw.Draw(frame)
    k = round(t * rate)
    showing = [(entry, role) for entry, role in entries if entry["frames"][0] <= k < entry["frames"][1]]
    for entry, role in showing:
        color = NEEDLE_COLOR if role == "needle" else DISTRACTOR_COLOR
        if entry.get("box"):
            x, y, w, h = (v * scale for v in entry["box"])
            draw.rectangle([x, y, x + w - 1, y + h - 1], outline=color, width=3)
        else:
            draw.rectangle([0, 0, frame.width - 1, frame.height - 1], outline=color, width=6)
    caption = Image.new("RGB", (_TILE_WIDTH, 40), (255, 255, 255))
    text = ImageDraw.Draw(caption)
    text.text((6, 3), f"{float(t):.2f} s  (frame {k})", fill=(0, 0, 0), font=font(14))
    if showing:
        entry, role = showing[0]
        color = NEEDLE_COLOR if role == "needle" else DISTRACTOR_COLOR
        copies = sum(1 for other, r in showing if r == role and other["label"] == entry["label"])  # side by side in one frame
        text.text((6, 21), f"{role}: {entry['label']}" + (f" x {copies}" if copies > 1 else ""), fill=color, font=font(14))
    tile = Image.new("RGB", (_TILE_WIDTH, frame.height + caption.height), (255, 255, 255))
    tile.paste(frame, (0, 0))
    tile.paste(caption, (0, frame.height))
    return np.asarray(tile)


def _option_tiles(sample: Sample) -> list[np.ndarray]:
    """A question's option pictures, each under its letter, the right one outlined in red."""
    from PIL import Image, ImageDraw

    from mmhay.media.captions import font
    from mmhay.schema import option_letter

    tiles = []
    for k, pixels in enumerate(sample.media.render_options()):
        image = Image.new("RGB", (pixels.shape[1] + 8, pixels.shape[0] + 30), (255, 255, 255))
        image.paste(Image.fromarray(pixels), (0, 30))
        draw = ImageDraw.Draw(image)
        letter = option_letter(k)
        draw.text((4, 4), f"option {letter}", fill=NEEDLE_COLOR if letter == sample.answer else (0, 0, 0), font=font(16))
        if letter == sample.answer:
            draw.rectangle([0, 30, pixels.shape[1] - 1, 30 + pixels.shape[0] - 1], outline=NEEDLE_COLOR, width=4)
        tiles.append(np.asarray(image))
    return tiles


def _text_needle_lines(sample: Sample) -> list[str]:
    """The needle sentences of a document's text, with where they are (none elsewhere)."""
    return [
        f"text needle at depth {entry['depth']:.2f} (item {entry['item']}): {entry['text']}"
        for entry in sample.truth.get("text_needles", [])
    ]


def _header(sample: Sample, width: int, marked: list[str] = ()) -> np.ndarray:
    """The question, options and answer above the frames, then ``marked`` lines (in red)."""
    from PIL import Image, ImageDraw

    from mmhay.media.captions import font
    from mmhay.prompts import prompt_for

    lines = [f"{sample.id}  ·  task {sample.task}  ·  facets {json.dumps(dict(sample.facets))}"]
    lines += prompt_for(sample).splitlines()
    plain = len(lines)
    lines += [f"answer: {sample.answer}", *marked]
    heading = font(16)
    image = Image.new("RGB", (width, 12 + 22 * len(lines)), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((10, 6 + 22 * i), line, fill=(0, 0, 0) if i < plain else NEEDLE_COLOR, font=heading)
    return np.asarray(image)
