"""The HTML report: one self-contained page (styles inline, pictures as data URIs, no scripts)."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from html import escape

from mmhay.scoring.report import MULTI_HEADER, SHOWN_COLUMNS, multi_rows, p_value_text, run_labels, shown_columns, shown_table

__all__ = ["page", "data_uri"]

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1400px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 12px; } td, th { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f4f4f4; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.plots img { margin: 4px 8px 8px 0; border: 1px solid #eee; max-width: 100%; height: auto; }
.failure { border: 1px solid #ddd; padding: 8px 10px; margin: 10px 0; }
.failure img { height: 72px; margin-right: 3px; }
.failure pre { white-space: pre-wrap; background: #f7f7f7; padding: 6px; margin: 4px 0; }
.muted { color: #777; }
"""


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI, so the page needs no other file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{escape(c)}</td>' if k >= numeric_from else f"<td>{escape(c)}</td>" for k, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _runs_table(runs: Sequence[Mapping]) -> str:
    """One row a run; runs that record their visual tokens are sorted by them, so accuracies
    are read at equal token budgets."""
    rows = []
    for m in sorted(runs, key=lambda m: m.get("usage", {}).get("visual_tokens", 0)):
        o = m["overall"]
        circular = m.get("circular", {}).get("accuracy")
        visual = m.get("usage", {}).get("visual_tokens")
        rows.append(
            [
                m["model"]["name"],
                str(m["data"].get("suite", "?")),
                str(m["settings"]["sampler"]),
                m["settings"].get("compress") or "—",
                str(m["settings"]["frames"]),
                "—" if visual is None else f"{visual:g}",
                str(o["n"]),
                _pct(o["accuracy"]),
                f"{_pct(o['low'])}–{_pct(o['high'])}",
                _pct(circular),
                _pct(o["chance"]),
                str(o["unparsed"]),
                str(m.get("skipped", 0)),
                *shown_columns(m),
            ]
        )
    header = ["model", "data", "sampler", "compressor", "frames", "visual tokens / sample", "samples", "accuracy %", "95% CI", "circular %", "chance %", "unparsed", "skipped"]
    header += SHOWN_COLUMNS
    return _table(header, rows, numeric_from=4)


def _task_tables(metrics: Mapping) -> str:
    parts = []
    rows = [[task, str(a["n"]), _pct(a["accuracy"]), f"{_pct(a['low'])}–{_pct(a['high'])}", _pct(a["chance"])] for task, a in metrics["by_task"].items()]
    parts.append(_table(["task", "samples", "accuracy %", "95% CI", "chance %"], rows))
    for task, values in metrics.get("tasks", {}).items():
        names = [k for k in values if k != "n"]
        row = [task] + [("—" if values[k] is None else f"{values[k]:.3f}" if isinstance(values[k], float) else str(values[k])) for k in names]
        parts.append(_table(["task", *names], [row]))
    return "".join(parts)


def _exposure_table(exposure: Mapping) -> str:
    """Shown rate and accuracy on each side of it, overall and by task (results.md's table)."""
    header, rows = shown_table(exposure)
    return _table(["what the model was shown", *header[1:]], rows)


def _failure(item: Mapping) -> str:
    pictures = "".join(f'<img alt="frame at {escape(str(label))}" title="{escape(str(label))}" src="{uri}">' for label, uri in item.get("pictures", []))
    options = "".join(f"<br>{chr(65 + k)}. {escape(o)}" for k, o in enumerate(item.get("options", [])))
    return (
        f'<div class="failure"><b>{escape(item["id"])}</b> <span class="muted">{escape(item["task"])} · '
        f"{escape(str(item.get('facets', {})))}</span><div>{pictures}</div>"
        f"<div>{escape(item['question'])}{options}</div>"
        f"<div>right answer: <b>{escape(item['answer'])}</b> · read as: <b>{escape(str(item.get('parsed')))}</b>"
        + (f" · <b class='exposure'>{escape(item['exposure'])}</b>" if item.get("exposure") else "")
        + "</div>"
        f"<pre>{escape(item.get('output', ''))}</pre></div>"
    )


def _paired_table(compared: Mapping) -> str:
    """The paired comparison of two runs: accuracies on the common samples, their difference with
    its interval, the discordant counts and McNemar's test."""
    m = compared["mcnemar"]
    row = [
        str(compared["samples"]),
        str(compared["clusters"]),
        _pct(compared["first_accuracy"]),
        _pct(compared["second_accuracy"]),
        f"{100 * compared['difference']:+.1f}",
        f"{100 * compared['low']:+.1f} to {100 * compared['high']:+.1f}",
        str(compared["only_first_right"]),
        str(compared["only_second_right"]),
        m["test"],
        p_value_text(m["p_value"]),
    ]
    header = ["common samples", "clusters", "first %", "second %", "difference (points)", "95% CI (paired)", "right only in first", "right only in second", "McNemar", "p"]
    return (
        "<h2>Paired comparison</h2>"
        f"<p>first: <b>{escape(compared['first_label'])}</b> ({escape(compared['first'])}) · second: <b>{escape(compared['second_label'])}</b> ({escape(compared['second'])})"
        f" · {compared['only_in_first']} samples only in the first, {compared['only_in_second']} only in the second, left out</p>"
        + _table(header, [row], numeric_from=0)
        + "<p class='muted'>The difference is the first run's accuracy minus the second's on the samples both scored; its interval resamples clusters of samples (docs/metrics.md, \"Paired comparison of two runs\").</p>"
    )


def page(
    runs: Sequence[Mapping], plots: Mapping[str, Sequence[tuple[str, bytes]]], failures: Mapping[str, Sequence[Mapping]], paired: Mapping | None = None
) -> str:
    """The report page for ``runs`` (their metrics.json), with ``plots`` (titled PNGs by section),
    ``failures`` (wrong answers with their pictures, by run) and, for two runs, their ``paired``
    comparison."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>mmhay report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>mmhay report</h1>",
        _runs_table(runs),
        "<p class='muted'>Accuracy counts each question once; circular accuracy counts a question right only if every rotation of its options was. Intervals are 95% percentile bootstraps over clusters (the twins of one scene resampled together). Definitions: docs/metrics.md.</p>",
    ]
    if paired:
        parts.append(_paired_table(paired))
    for section, images in plots.items():
        if images:
            parts.append(f"<h2>{escape(section)}</h2><div class='plots'>")
            parts += [f'<img alt="{escape(title)}" title="{escape(title)}" src="{data_uri(png)}">' for title, png in images]
            parts.append("</div>")
    for label, m in zip(run_labels(runs), runs):
        parts.append(f"<h2>{escape(label)}</h2>")
        parts.append(_task_tables(m))
        if m.get("headline"):
            rows = [[suite, b["protocol"], b["metric"], b["source"].split(":")[0], _pct(b["overall"])] for suite, b in m["headline"].items()]
            parts.append(_table(["headline as published", "protocol", "metric", "computed as", "headline %"], rows, numeric_from=4))
        if m.get("exposure"):
            parts.append(_exposure_table(m["exposure"]))
        if "mmneedle" in m:
            mm = m["mmneedle"]
            parts.append(
                _table(
                    ["MMNeedle", "existence %", "index %", "exact %", "hallucination %"],
                    [["", _pct(mm["existence_accuracy"]), _pct(mm["index_accuracy"]), _pct(mm["exact_accuracy"]), _pct(mm["hallucination_rate"])]],
                )
            )
        if m.get("mmneedle_multi"):
            parts.append(_table(["MMNeedle, several needles: " + MULTI_HEADER[0], *MULTI_HEADER[1:]], multi_rows(m["mmneedle_multi"])))
        shown = failures.get(label, [])
        if shown:
            parts.append(f"<h3>Failures ({len(shown)} shown)</h3>")
            parts += [_failure(item) for item in shown]
    parts.append("</body></html>")
    return "\n".join(parts)
