"""A run folder of ``mmhay eval``: claimed for one run, its answers read back (mending a line a
kill cut short), and ``samples.jsonl`` rewritten in the data's order once every rank is done."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from mmhay.atomic import write_text_atomic
from mmhay.errors import DatasetError
from mmhay.schema import Sample
from mmhay.software import OUTPUT_SOFTWARE, first_difference

__all__ = ["RECORDS", "claim_run_folder", "read_records", "records_in_order", "rewrite_records"]

log = logging.getLogger(__name__)

RECORDS = "samples.jsonl"


def claim_run_folder(out: Path, run: dict) -> None:
    """Make ``out`` this run's folder, or refuse if it holds another run or anything else."""
    marker = out / "run.json"
    if out.exists() and not out.is_dir():
        raise DatasetError(out, "exists and is not a directory")
    if marker.is_file():
        try:
            previous = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            previous = None
        run = json.loads(json.dumps(run))
        if previous == run:
            return
        if isinstance(previous, dict) and _without_software(previous) == _without_software(run):
            # answers of two environments in one run could not be told apart: what makes the
            # answers must be as it was; other software may differ, and the first record stays
            change = first_difference(previous.get("software"), run.get("software", {}), OUTPUT_SOFTWARE) or _model_software_difference(previous, run)
            if change:
                raise DatasetError(out, f"holds a run made with other software ({change}); resume it there, or choose another --out")
            log.warning("%s: resumed with other software beside mmhay (%s); run.json keeps the first record", out, first_difference(previous.get("software"), run.get("software", {})))
            return
        raise DatasetError(out, "holds a run of another model, data or settings; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        raise DatasetError(out, "exists and is not an mmhay run; choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(marker, json.dumps(run, indent=2, sort_keys=True) + "\n")


def _without_software(run: dict) -> dict:
    """``run`` less its software record, and the model's (versions its answers are keyed on):
    the software is compared apart, to say which version differs."""
    rest = {key: value for key, value in run.items() if key != "software"}
    if isinstance(rest.get("model"), dict):
        rest["model"] = {key: value for key, value in rest["model"].items() if key != "software"}
    return rest


def _model_software_difference(previous: dict, run: dict) -> str:
    """The first way the software the model's answers are keyed on (``mmhay.adapters.fingerprint``) differs, or ""."""
    there, here = (record.get("model", {}).get("software", {}) for record in (previous, run))
    for name in sorted(set(there) | set(here)):
        if there.get(name) != here.get(name):
            return f"{name} {there.get(name, 'not recorded')} there, {here.get(name, 'not recorded')} here"
    return ""


def _record_files(out: Path) -> list[Path]:
    """samples.jsonl and the per-rank files a data-parallel attempt left."""
    return [path for path in [out / RECORDS, *sorted(out.glob("samples.rank*.jsonl"))] if path.exists()]


def read_records(out: Path) -> dict[str, dict]:
    """Answers already written; a line cut short by a kill is dropped (and its file mended)."""
    records: dict[str, dict] = {}
    for path in _record_files(out):
        good_lines, damaged = [], False
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            try:
                if not line.endswith("\n"):
                    raise ValueError("unterminated")
                record = json.loads(line)
            except ValueError:
                damaged = True
                continue
            records.setdefault(record["id"], record)
            good_lines.append(line)
        if damaged:
            log.warning("%s: dropped a line cut short by an interrupted run", path)
            write_text_atomic(path, "".join(good_lines))
    return records


def records_in_order(out: Path, samples: list[Sample], found: dict[str, dict]) -> list[dict]:
    """Every sample's record, in the data's order."""
    missing = [sample.id for sample in samples if sample.id not in found]
    if missing:
        raise DatasetError(out, f"has no answer for {len(missing)} samples (first {missing[0]}) after the run; run it again")
    return [found[sample.id] for sample in samples]


def rewrite_records(out: Path, records: list[dict], found: dict[str, dict]) -> None:
    """Make samples.jsonl hold each sample once, in the data's order, whatever the batching,
    the kills and the ranks were; answers to samples outside this data (an earlier, larger
    ``--limit``) are kept after them."""
    ids = {record["id"] for record in records}
    extra = [record for key, record in found.items() if key not in ids]
    text = "".join(json.dumps(record, sort_keys=True) + "\n" for record in records + extra)
    path = out / RECORDS
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        write_text_atomic(path, text)
    for rank_file in out.glob("samples.rank*.jsonl"):
        rank_file.unlink()
