"""Answers without scores: ``mmhay eval --predict-only`` records them, ``mmhay score RUN``
gives them their verdicts later.

A predict-only run writes samples.jsonl as a normal run does, less ``parsed``, ``correct`` and
``correct_vs_shown_count``, and a metrics.json that says ``predict_only`` and counts the answers.
``score_run`` reads the data the run names again (for its samples' suites and the protocols
their headline numbers follow), gives every answer its verdict with the function ``mmhay eval``
uses (``mmhay.scoring.verdict``), and writes the metrics, results and report a normal run of the
same model and settings writes, marked ``predicted_then_scored``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from mmhay.atomic import write_text_atomic
from mmhay.errors import ConfigError, DatasetError
from mmhay.run_folder import read_records, records_in_order, rewrite_records
from mmhay.schema import Sample

__all__ = ["check_predict_only", "write_predictions", "score_run"]


def check_predict_only(settings) -> None:
    """Refuse ``--predict-only`` where there is nothing to score later."""
    if settings.predict_only and settings.scoring != "generate":
        raise ConfigError("--predict-only", "", f"--scoring {settings.scoring} reads its verdict from token probabilities as it asks; it cannot be scored later")


def write_predictions(out: Path, run: dict, samples: list[Sample], protocols: Mapping[str, str] | None = None) -> None:
    """Merge a predict-only run's answers into samples.jsonl and write its metrics.json (no scores)."""
    found = read_records(out)
    records = records_in_order(out, samples, found)
    rewrite_records(out, records, found)
    skipped = sum(1 for record in records if "skipped" in record)
    metrics = {**run, "predict_only": True, "answered": len(records) - skipped, "skipped": skipped}
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    write_text_atomic(
        out / "results.md",
        f"# mmhay predictions: `{run['model']['name']}`\n\n{len(records) - skipped} answers, not scored (--predict-only); score them with `mmhay score {out}`.\n",
    )


def score_run(out: str | Path) -> dict:
    """Score a finished run's answers (a ``--predict-only`` run, or any generated one again) and
    write its metrics, results and report; return the metrics."""
    from mmhay.eval_data import open_data
    from mmhay.evaluate import _finish
    from mmhay.exposure import COUNTING_TASKS
    from mmhay.scoring.verdict import verdict

    out = Path(out)
    run = _read_json(out / "run.json", out, "not an mmhay run (no run.json)")
    if not (out / "metrics.json").is_file():
        raise DatasetError(out, "is not a finished run (no metrics.json); run the same `mmhay eval` command again to finish it")
    settings = dict(run.get("settings", {}))
    if settings.get("scoring", "generate") != "generate":
        raise DatasetError(out, f"was scored by {settings['scoring']} as it was asked; there is nothing to score again")
    data_identity = run["data"]
    where = data_identity.get("built") or data_identity.get("config")
    try:
        data = open_data(where, tasks=data_identity.get("tasks", ()), circular=bool(data_identity.get("circular")))
    except (DatasetError, ConfigError) as error:
        raise DatasetError(out, f"its data {where} cannot be read to score it ({error})") from None
    if data.identity != data_identity:
        raise DatasetError(out, f"its data {where} is not the data the run was asked (the suite, its config or its prompts changed)")
    found = read_records(out)
    samples = [sample for sample in data.samples() if sample.id in found]
    records = records_in_order(out, samples, found)
    for record in records:
        if "skipped" not in record:
            counted = record["exposure"]["shown_count"] if record["task"] in COUNTING_TASKS else None
            # what is read is the answer after any reasoning, as eval reads it (mmhay.scoring.reasoning)
            said = record.get("reasoning", {}).get("final_text", record["output"])
            record.update(verdict(record["answer_type"], record["options"], record["answer"], said, shown_count=counted))
    rewrite_records(out, records, found)
    settings.pop("predict_only", None)
    _finish(out, {**run, "settings": settings}, samples, data.protocols)
    metrics = json.loads((out / "metrics.json").read_text())
    if run["settings"].get("predict_only"):
        metrics["predicted_then_scored"] = True
        write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def _read_json(path: Path, out: Path, missing: str) -> dict:
    if not path.is_file():
        raise DatasetError(out, missing)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(path, f"unreadable: {error}") from None
