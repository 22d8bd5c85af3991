"""Shown rate of every frame sampler at 8 to 64 frames on four suites, beside uniform sampling's analytic rate; no model.

    python benchmarks/exposure_samplers.py [--configs quickstart,vniah,vniah_d,vnbench]
        [--samplers uniform,fps,random,scene,keyclip] [--frames 8,16,32,64]
        [--limit vniah=11,vniah_d=12,vnbench=30] [--subset spread|first] [--scorer CLIP]

For each suite config (generated on the fly, nothing is built) x sampler x budget this runs what
``mmhay exposure CONFIG --sampler S --frames N`` runs (``mmhay.exposure_survey.survey_exposure``,
no model: the sampler plans each sample's frames and every needle is measured at the size the
pipeline renders it) and prints the suite's shown rate with its Wilson 95% interval: the share of
samples whose needles were all among the frames picked, the most accuracy that sampler allows.
Beside it, per suite and budget: the analytic shown rate of uniform sampling for a single needle
at a uniformly random start (``SurveyResult.uniform_expectation``, the mean over the suite's
single-needle samples), and measured uniform over those same samples divided by it.

``--samplers`` defaults to every registered sampler. ``keyclip``, ``bolt`` and ``aks`` need a relevance scorer: a tiny
random-weight CLIP made on the spot (``mmhay tiny-model clip``) unless ``--scorer PATH`` names a
real one, so with the default its rate shows the selection's mechanics, not a relevance model's
judgement; the row ``keyclip-candidates`` (in the default list, or by that name) is the shown rate
if every frame keyclip chooses among were given (1-fps candidates, 512 uniform ones past 512 s):
the ceiling no scorer can lift, the same at every budget. A sampler that refuses a budget (a ConfigError, e.g. one that needs at least as many
frames as the video has) gets "—" and a note.

The samplers that look at the video (``scene``, ``keyclip``, ``bolt``, ``aks``) render proxies of every sample (the
hour-long haystacks of vniah at 2 fps: 7,200 proxy frames each), so they run on a documented subset
where ``--limit CONFIG=N`` says (``--limit none``: every sample). With ``--subset spread`` (the
default) the N samples are spread over the suite's grid: its cells (distinct facet values) in the
suite's order, every (cells / N)-th cell's first sample, or when N is larger the cells in turn
(the first sample of every cell, then the second, ...); ``--subset first`` takes the first N
samples, as ``mmhay exposure --limit`` does. Limited rows are followed by uniform sampling on the
same samples. The other samplers need only each video's duration and run on every sample.

Prints a markdown table, the uniform shown rate by depth, the notes and the time taken.
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ["quickstart", "vniah", "vniah_d", "vnbench"]
SCORED = ("keyclip", "bolt", "aks")  # samplers that score frames against the question (--scorer)
LOOKING = ("scene", *SCORED)  # samplers that render proxies of the video
CANDIDATES = "keyclip-candidates"  # not a sampler: every frame keyclip chooses among
DEFAULT_LIMITS = "vniah=11,vniah_d=12,vnbench=30"


def spread(samples: list, n: int | None, how: str) -> list[int]:
    """The indices of the subset (see the module docstring); every index where n is None."""
    if n is None or n >= len(samples):
        return list(range(len(samples)))
    if how == "first":
        return list(range(n))
    cells: dict[tuple, list[int]] = {}
    for index, sample in enumerate(samples):
        cells.setdefault(tuple(sorted((k, str(v)) for k, v in sample.facets.items())), []).append(index)
    members = list(cells.values())
    if n <= len(members):
        return sorted(members[i * len(members) // n][0] for i in range(n))
    rounds = [m[r] for r in range(max(map(len, members))) for m in members if r < len(m)]  # round robin over the cells
    return sorted(rounds[:n])


def single_needle(sample) -> bool:
    """The samples ``uniform_expectation`` is averaged over: exactly one timed needle in a video."""
    needles = sample.truth.get("needles", [])
    return len(needles) == 1 and "start" in needles[0] and bool(getattr(sample.media, "segments", None))


def candidates_cell(samples: list) -> dict:
    """The shown rate if every one of keyclip's candidate frames were given at full size: the
    most any scorer can make keyclip show (it picks among these). Uses keyclip's own candidate
    times (a private helper, read only), shown as ``given_by_plan`` shows a plan's."""
    from mmhay.exposure import Given, exposure, shown_times
    from mmhay.sampling import _candidate_times
    from mmhay.scoring.metrics import shown_cell

    records = []
    for sample in samples:
        media = sample.media
        times = shown_times(media, _candidate_times(media.duration))
        given = Given(frame_times=times, frame_sizes=(tuple(media.size),) * len(times))
        records.append({"task": sample.task, "correct": False, "chance": None, "exposure": exposure(sample, given)})
    return shown_cell(records)


def cell(overall: dict | None) -> str:
    if not overall or overall.get("shown_rate") is None:
        return "—"
    return f"{100 * overall['shown_rate']:.1f} ({100 * overall['shown_rate_low']:.1f}–{100 * overall['shown_rate_high']:.1f})"


def coverage(samples: list, picked: list[int]) -> str:
    """Which facet values a subset holds, e.g. ``length 60: 3, 300: 2, ...``."""
    parts = []
    for name in sorted({k for i in picked for k in samples[i].facets}):
        counts: dict = {}
        for i in picked:
            value = samples[i].facets.get(name)
            counts[value] = counts.get(value, 0) + 1
        if len(counts) > 1 or len({s.facets.get(name) for s in samples}) > 1:
            ordered = sorted(counts.items(), key=lambda kv: (isinstance(kv[0], str), kv[0]))
            parts.append(f"{name} " + ", ".join(f"{v:g}: {c}" if isinstance(v, float) else f"{v}: {c}" for v, c in ordered))
    return "; ".join(parts)


def _cap_tokenizer(checkpoint: Path) -> None:
    """Let the tiny CLIP's tokenizer truncate at its text model's positions. The checkpoint
    ``mmhay tiny-model clip`` writes has 128 text positions but no ``model_max_length``, so
    ``truncation=True`` keeps long questions whole (vnbench's ordering questions: 185 tokens) and
    the text model raises; a real CLIP's tokenizer says 77."""
    import json

    config = json.loads((checkpoint / "config.json").read_text())
    positions = config.get("text_config", {}).get("max_position_embeddings")
    tokenizer = checkpoint / "tokenizer_config.json"
    settings = json.loads(tokenizer.read_text())
    if positions and settings.get("model_max_length", 0) > positions:
        tokenizer.write_text(json.dumps({**settings, "model_max_length": positions}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="names under configs/ or paths to suite YAMLs")
    parser.add_argument("--samplers", default="", help=f"sampler specs, comma-separated, or {CANDIDATES}; default: every registered one and {CANDIDATES}")
    parser.add_argument("--frames", default="8,16,32,64")
    parser.add_argument("--limit", default=DEFAULT_LIMITS, help="CONFIG=N,... samples for the samplers that look at the video (none: all)")
    parser.add_argument("--subset", choices=["spread", "first"], default="spread")
    parser.add_argument("--scorer", type=Path, help="CLIP or SigLIP checkpoint for keyclip (default: a tiny random one)")
    args = parser.parse_args()

    from mmhay.errors import ConfigError
    from mmhay.evaluate import DataSource, EvalSettings, open_data
    from mmhay.exposure_survey import survey_exposure
    from mmhay.sampling import SAMPLERS, check_sampler

    started_all = time.perf_counter()
    budgets = [int(b) for b in args.frames.split(",")]
    limits = {} if args.limit.strip().lower() in ("", "none", "all") else {k.strip(): int(v) for k, _, v in (p.partition("=") for p in args.limit.split(","))}
    order = ["uniform", "fps", "random", "every", "scene", *SCORED]
    names = [s.strip() for s in args.samplers.split(",") if s.strip()] if args.samplers else sorted(SAMPLERS.names(), key=lambda n: (order.index(n) if n in order else len(order), n))
    if not args.samplers and "keyclip" in names:
        names.insert(names.index("keyclip") + 1, CANDIDATES)
    scorer = args.scorer
    if scorer is None and any(n.split(":")[0] in SCORED and "scorer=" not in n for n in names):
        from mmhay.adapters.tiny import make_tiny_checkpoint

        folder = tempfile.mkdtemp(prefix="mmhay-tiny-clip-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        scorer = make_tiny_checkpoint("clip", Path(folder) / "clip")
        _cap_tokenizer(scorer)
    specs = [f"{n}:scorer=clip:{scorer}" if n in SCORED else n for n in names]
    scorer_name = "tiny random CLIP" if args.scorer is None else args.scorer.name
    label = {spec: f"{spec.split(':')[0]} ({scorer_name})" if spec.split(":")[0] in SCORED and spec.endswith(f"scorer=clip:{scorer}") else spec for spec in specs}

    rows: list[tuple] = []  # (config, sampler label, samples, cells by budget, seconds)
    depth_rows: list[tuple] = []
    notes: list[str] = []

    def survey(samples: list, spec: str, frames: int):
        source = DataSource({"suite": "subset"}, len(samples), lambda: iter(samples))
        return survey_exposure(source, EvalSettings(frames=frames, sampler=spec))

    for config in [c.strip() for c in args.configs.split(",")]:
        path = Path(config) if config.endswith((".yaml", ".yml")) else ROOT / "configs" / f"{config}.yaml"
        name = path.stem
        data = open_data(path)
        samples = list(data.samples())
        singles = [s for s in samples if single_needle(s)]
        analytic, ratio, uniform_depth, uniform_full = {}, {}, {}, {}
        started = time.perf_counter()
        for frames in budgets:
            full = uniform_full[frames] = survey(samples, "uniform", frames)
            analytic[frames] = full.uniform_expectation
            mine = full if len(singles) == len(samples) else survey(singles, "uniform", frames)
            rate = mine.summary.get("overall", {}).get("shown_rate")
            ratio[frames] = None if rate is None or not analytic[frames] else rate / analytic[frames]
            uniform_depth[frames] = full.summary.get("by_facet", {}).get("depth")
        uniform_seconds = time.perf_counter() - started
        last_subset: list[int] | None = None
        for spec in specs:
            base = spec.split(":")[0]
            if spec == CANDIDATES:
                started = time.perf_counter()
                value = cell(candidates_cell(samples))
                rows.append((name, "keyclip's candidates (any scorer's ceiling)", len(samples), {f: value for f in budgets}, time.perf_counter() - started))
                continue
            try:
                check_sampler(spec)
            except ConfigError as error:
                rows.append((name, label[spec], len(samples), {f: "—" for f in budgets}, 0.0))
                notes.append(f"{name}, {label[spec]}: {error}")
                continue
            limit = limits.get(name) if base in LOOKING else None
            picked = spread(samples, limit, args.subset)
            subset = [samples[i] for i in picked]
            cells, refused, started = {}, {}, time.perf_counter()
            for frames in budgets:
                if spec == "uniform" and limit is None:
                    cells[frames] = cell(uniform_full[frames].summary.get("overall"))
                    continue
                try:
                    cells[frames] = cell(survey(subset, spec, frames).summary.get("overall"))
                except Exception as error:  # a sampler refusing a budget (ConfigError), or failing
                    cells[frames] = "—"
                    refused[frames] = f"{type(error).__name__}: {error}"
            seconds = uniform_seconds if spec == "uniform" and limit is None else time.perf_counter() - started
            if refused:
                first = min(refused)
                notes.append(f"{name}, {label[spec]}: no rate at {', '.join(map(str, refused))} frames, the survey stops at the first sample refused; at {first}: {refused[first]}")
            partial = len(subset) < len(samples)
            rows.append((name, label[spec] + (f", {len(subset)} of {len(samples)} samples" if partial else ""), len(subset), cells, seconds))
            print(f"{name} {label[spec]}: {seconds:.1f} s", flush=True)
            if partial and picked != last_subset:
                last_subset = picked
                rows.append((name, f"uniform, the same {len(subset)} samples", len(subset), {f: cell(survey(subset, "uniform", f).summary.get("overall")) for f in budgets}, 0.0))
                notes.append(f"{name}, the subset of {len(picked)} samples for {' and '.join(LOOKING)} ({args.subset}): samples {picked}; {coverage(samples, picked)}")
        rows.append((name, "uniform, analytic (single-needle samples)", len(singles), {f: "—" if analytic[f] is None else f"{100 * analytic[f]:.1f}" for f in budgets}, 0.0))
        rows.append((name, "uniform measured / analytic", len(singles), {f: "—" if ratio[f] is None else f"{ratio[f]:.2f}" for f in budgets}, 0.0))
        if all(uniform_depth.values()):
            for depth in uniform_depth[budgets[0]]:
                depth_rows.append((name, depth, {f: cell(uniform_depth[f].get(depth)) for f in budgets}))

    total = time.perf_counter() - started_all
    print(f"\nmachine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, Python {platform.python_version()}; {total:.0f} s in all\n")
    print("Shown rate, % (Wilson 95% interval):\n")
    print("| suite | sampler | samples | " + " | ".join(f"{f} frames" for f in budgets) + " | seconds |")
    print("| --- | --- | ---: | " + " | ".join("---:" for _ in budgets) + " | ---: |")
    for name, sampler, count, cells, seconds in rows:
        print(f"| {name} | {sampler} | {count} | " + " | ".join(cells[f] for f in budgets) + f" | {f'{seconds:.1f}' if seconds else ''} |")
    if depth_rows:
        print("\nUniform sampling, shown rate by depth, % (Wilson 95% interval):\n")
        print("| suite | depth | " + " | ".join(f"{f} frames" for f in budgets) + " |")
        print("| --- | ---: | " + " | ".join("---:" for _ in budgets) + " |")
        for name, depth, cells in depth_rows:
            print(f"| {name} | {depth} | " + " | ".join(cells[f] for f in budgets) + " |")
    if notes:
        print("\nNotes:")
        for note in notes:
            print(f"- {note}")
    print(f"\n{total:.0f} s in all")


if __name__ == "__main__":
    main()
