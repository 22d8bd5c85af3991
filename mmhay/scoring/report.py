"""Reports: markdown tables of a run's metrics, and of several runs side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mmhay.scoring.metrics import grid_axes

__all__ = ["run_markdown", "comparison_markdown", "summary_row", "data_label", "run_labels", "exposure_markdown", "shown_table", "headline_markdown", "multi_rows", "MULTI_HEADER", "paired_lines", "intervals_line", "p_value_text"]


def data_label(identity: Mapping) -> str:
    """Where a run's samples came from: the built suite folder, or the config generated on the fly."""
    return str(identity.get("built") or identity.get("config") or identity.get("suite", "?"))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def summary_row(name: str, acc: Mapping, skipped: int = 0) -> list[str]:
    """``[name, n, accuracy %, 95% CI, chance %, unparsed, skipped]`` for one accuracy summary."""
    return [
        name,
        str(acc["n"]),
        _pct(acc["accuracy"]) if acc["n"] else "—",
        f"{_pct(acc['low'])}–{_pct(acc['high'])}" if acc["n"] else "—",
        _pct(acc["chance"]),
        str(acc["unparsed"]),
        str(skipped),
    ]


_HEADER = ["", "samples", "accuracy %", "95% CI", "chance %", "unparsed", "skipped"]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def headline_markdown(blocks: Mapping) -> list[str]:
    """Lines of the headline numbers as published (metrics.json ``headline``), one row per suite."""
    if not blocks:
        return []
    rows = [[suite, b["protocol"], _pct(b["overall"]), b["metric"], b["source"].split(":")[0]] for suite, b in blocks.items()]
    return ["", "## Headline as published", "", _table(["suite", "protocol", "headline %", "metric", "computed as"], rows)]


def run_markdown(metrics: Mapping) -> str:
    """The results of one run: overall, by task, by facet, and the depth x length grid."""
    model = metrics["model"]["name"]
    parts = [
        f"# mmhay results: `{model}`",
        "",
        f"Data: `{data_label(metrics['data'])}` (suite {metrics['data']['suite']}, seed {metrics['data']['seed']})"
        f" · frames per sample: {metrics['settings'].get('frames_from') or metrics['settings']['frames']} "
        f"({metrics['settings']['sampler']} sampler)"
        + (f" · scoring: {metrics['settings']['scoring']}" if metrics["settings"].get("scoring") else ""),
        "",
        _table(["model"] + _HEADER[1:], [summary_row(model, metrics["overall"], metrics.get("skipped", 0))]),
    ]
    if metrics.get("intervals"):
        parts += ["", intervals_line(metrics["intervals"])]
    if metrics.get("skipped"):
        parts += ["", f"{metrics['skipped']} samples were skipped (their answer is in a sound the model cannot hear, or pictures it cannot see); `samples` counts the rest."]
    if metrics.get("usage", {}).get("visual_tokens") is not None:
        u = metrics["usage"]
        parts += ["", f"Tokens per sample (mean): {u['visual_tokens']:g} visual, {u.get('prompt_tokens', 0):g} in the whole prompt."]
    if metrics.get("reasoning"):
        r = metrics["reasoning"]
        tokens = f" ({r['mean_tokens']:g} tokens)" if "mean_tokens" in r else ""
        parts += ["", f"Reasoning: {r['n']} answers reasoned first, {r['mean_chars']:g} characters long on average{tokens}; {r['cut_off']} were cut off inside it (scored wrong, not counted as unparsed)."]
    if metrics.get("circular"):
        c = metrics["circular"]
        parts += ["", f"Circular accuracy (every rotation of the options right): {_pct(c['accuracy'])}% of {c['questions']} questions."]
    parts += headline_markdown(metrics.get("headline", {}))
    for task, values in metrics.get("tasks", {}).items():
        names = [k for k in values if k != "n"]
        row = [task] + ["—" if values[k] is None else f"{values[k]:.3f}" if isinstance(values[k], float) else str(values[k]) for k in names]
        parts += ["", _table(["task", *names], [row])]
    if "mmneedle" in metrics:
        m = metrics["mmneedle"]
        parts += [
            "",
            "## MMNeedle",
            "",
            _table(
                ["existence %", "index %", "exact %", "hallucination %", "positives", "negatives"],
                [[_pct(m["existence_accuracy"]), _pct(m["index_accuracy"]), _pct(m["exact_accuracy"]), _pct(m["hallucination_rate"]), str(m["positives"]), str(m["negatives"])]],
            ),
        ]
    if metrics.get("mmneedle_multi"):
        parts += ["", "### MMNeedle, several needles (evaluate_multi.py)", "", _table(MULTI_HEADER, multi_rows(metrics["mmneedle_multi"]))]
    if len(metrics["by_task"]) > 1:
        parts += ["", "## By task", "", _table(["task"] + _HEADER[1:], [summary_row(k, v) for k, v in metrics["by_task"].items()])]
    for facet, values in metrics["by_facet"].items():
        parts += ["", f"## By {facet}", "", _table([facet] + _HEADER[1:], [summary_row(k, v) for k, v in values.items()])]
    grid = metrics.get("grid")
    if grid:
        rows_axis, cols_axis = grid["rows"], grid["columns"]
        rows, cols = grid_axes(grid["cells"])
        body = []
        for row in rows:
            cells = [grid["cells"].get(f"{row}|{col}") for col in cols]
            body.append([row] + [_pct(c["accuracy"]) + f" (n={c['n']})" if c else "" for c in cells])
        parts += ["", f"## Accuracy % by {rows_axis} (rows) and {cols_axis} (columns, seconds)", "", _table([f"{rows_axis} \\ {cols_axis}"] + cols, body)]
    for cells in metrics.get("image_grid", {}).values():
        parts += ["", f"## Accuracy % by {cells['rows']} (rows) and {cells['columns']} (columns) of the first caption's needle", "", _grid_table(cells)]
    if metrics.get("exposure"):
        parts += exposure_markdown(metrics["exposure"])
    return "\n".join(parts) + "\n"


def _grid_table(grid: Mapping) -> str:
    rows, cols = grid_axes(grid["cells"])
    body = []
    for row in rows:
        cells = [grid["cells"].get(f"{row}|{col}") for col in cols]
        body.append([row] + [_pct(c["accuracy"]) + f" (n={c['n']})" if c else "" for c in cells])
    return _table([f"{grid['rows']} \\ {grid['columns']}"] + cols, body)


MULTI_HEADER = ["captions", "samples", "existence %", "index %", "exact %", "first index %", "first exact %", "all index %", "all exact %"]


def multi_rows(blocks: Mapping) -> list[list[str]]:
    """One row per caption count of metrics.json's ``mmneedle_multi``."""
    names = ["existence_accuracy", "index_accuracy", "exact_accuracy", "first_index_accuracy", "first_exact_accuracy", "all_index_accuracy", "all_exact_accuracy"]
    return [[count, str(b["n"])] + [_pct(b[name]) for name in names] for count, b in blocks.items()]


_SHOWN_HEADER = ["", "samples", "shown %", "95% CI", "accuracy given shown %", "accuracy given not shown %", "nothing to show"]


def _shown_row(name: str, cell: Mapping) -> list[str]:
    def acc(part):
        return "—" if not part else f"{_pct(part['accuracy'])} (n={part['n']})"

    interval = "—" if cell["shown_rate"] is None else f"{_pct(cell['shown_rate_low'])}–{_pct(cell['shown_rate_high'])}"
    return [name, str(cell["n"]), _pct(cell["shown_rate"]), interval, acc(cell["given_shown"]), acc(cell["given_not_shown"]), str(cell["nothing_to_show"])]


# the exposure columns of a table of runs: shown %, then accuracy on each side
SHOWN_COLUMNS = ["shown %", "given shown %", "given not shown %"]


def shown_columns(run: Mapping) -> list[str]:
    """A run's shown rate and its accuracy given shown and given not shown (with n), or dashes
    for a run that recorded no exposure."""
    cell = (run.get("exposure") or {}).get("overall")
    if not cell:
        return ["—"] * len(SHOWN_COLUMNS)
    row = _shown_row("", cell)
    return [row[2], row[4], row[5]]


def shown_table(exposure: Mapping) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the exposure table: overall, then each task where there are several."""
    rows = [_shown_row("overall", exposure["overall"])]
    if len(exposure["by_task"]) > 1:
        rows += [_shown_row(task, cell) for task, cell in exposure["by_task"].items()]
    return _SHOWN_HEADER, rows


def exposure_markdown(exposure: Mapping) -> list[str]:
    """The exposure section of results.md: what the model was shown, and accuracy on each side."""
    m = exposure.get("minimums", {})
    header, rows = shown_table(exposure)
    parts = [
        "",
        "## What the model was shown",
        "",
        "A sample is *shown* when every needle its answer depends on was given: at least "
        f"{m.get('frames', 1)} frame(s) inside its span, at least {m.get('height', 8):g} px high at the model's input, "
        f"at least {_pct(m.get('tokens', 0.5))}% of its tokens kept after compression, at least {_pct(m.get('sound', 0.5))}% of its sound "
        "inside the window heard (docs/metrics.md, \"Exposure\"). A wrong answer to a sample not shown is the sampler's miss, not the model's.",
        "",
        _table(header, rows),
    ]
    for facet, values in exposure["by_facet"].items():
        parts += ["", f"### Shown by {facet}", "", _table([facet] + _SHOWN_HEADER[1:], [_shown_row(k, v) for k, v in values.items()])]
    grid = exposure.get("grid")
    if grid:
        rows, cols = grid_axes(grid["cells"])
        body = [[row] + [_pct(grid["cells"][f"{row}|{col}"]["shown_rate"]) if f"{row}|{col}" in grid["cells"] else "" for col in cols] for row in rows]
        parts += ["", "### Shown rate % by depth (rows) and length (columns, seconds)", "", _table(["depth \\ length"] + cols, body)]
    counting = exposure.get("counting")
    if counting:
        parts += [
            "",
            f"Counting: {_pct(counting['vs_true_count']['accuracy'])}% right against the true count, "
            f"{_pct(counting['vs_shown_count']['accuracy'])}% against the count of appearances shown "
            f"({counting['shown_count_below_true']} of {counting['vs_true_count']['n']} samples were shown fewer than there are).",
        ]
    absent = exposure.get("absent")
    if absent:
        sides = [f"{_pct(side['hallucination_rate'])}% (n={side['n']}) {name.replace('_', ' ')}" for name, side in absent.items() if side["n"]]
        parts += ["", "Negative needles: \"yes\" to the absent look-alike " + ", ".join(sides) + " (the video's own needle shown or not)."]
    return parts


def comparison_markdown(runs: Sequence[Mapping]) -> str:
    """One row per run: the overall accuracy of each model on its data."""
    rows = [summary_row(run["model"]["name"], run["overall"], run.get("skipped", 0)) for run in runs]
    return _table(["model"] + _HEADER[1:], rows) + "\n"


def run_labels(runs: Sequence[Mapping]) -> list[str]:
    """A name for each run: "model on suite", with the settings where runs would share a name."""
    base = [f"{m['model']['name']} on {m['data'].get('suite', '?')}" for m in runs]
    labels = []
    for name, m in zip(base, runs):
        if base.count(name) > 1:
            settings = m.get("settings", {})
            parts = [settings.get("frames_from") or f"{settings.get('frames')} frames", str(settings.get("sampler"))]
            parts += [settings["compress"]] if settings.get("compress") else []
            parts += [f"{settings['scoring']} scoring"] if settings.get("scoring") else []
            name = f"{name} · {', '.join(parts)}"
        labels.append(name)
    return labels


def intervals_line(intervals: Mapping) -> str:
    """How a run's intervals were made: over how many clusters of how many samples."""
    several = intervals.get("clusters_of_several", 0)
    shared = f", {several} of them holding several samples of one scene (twins)" if several else " (each sample its own)"
    return (
        f"95% CIs: percentile bootstrap over {intervals['clusters']} clusters of {intervals['samples']} samples{shared}"
        ' (docs/metrics.md, "Intervals over clusters").'
    )


def p_value_text(p: float) -> str:
    """A p-value as read: three significant digits, or "< 0.0001"."""
    return "< 0.0001" if p < 1e-4 else f"{p:.3g}"


def paired_lines(compared: Mapping) -> list[str]:
    """The paired comparison of two runs (``mmhay.report.paired_runs``) in a few lines of text;
    the runs are named by their folders (the table above names their models)."""
    m = compared["mcnemar"]
    statistic = f", chi-square {m['statistic']:.3f}" if m.get("statistic") is not None else ""
    left_out = [f"{compared[key]} only in {compared[name]}" for key, name in (("only_in_first", "first"), ("only_in_second", "second")) if compared[key]]
    return [
        f"Paired comparison on {compared['samples']} samples both runs scored ({compared['clusters']} clusters)"
        + (f"; left out: {', '.join(left_out)}" if left_out else "")
        + ":",
        f"  first  {compared['first']}: {_pct(compared['first_accuracy'])}%",
        f"  second {compared['second']}: {_pct(compared['second_accuracy'])}%",
        f"  difference (first - second): {100 * compared['difference']:+.1f} points, 95% CI {100 * compared['low']:+.1f} to {100 * compared['high']:+.1f} (paired cluster bootstrap)",
        f"  McNemar ({m['test']}{statistic}): {compared['only_first_right']} right only in the first, "
        f"{compared['only_second_right']} only in the second, p = {p_value_text(m['p_value'])}",
    ]
