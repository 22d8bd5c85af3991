"""A run folder of ``mmhay eval``: claimed for one run, its answers read back (mending a line a
kill cut short), and ``samples.jsonl`` rewritten in the data's order once every rank is done.

On several nodes the folder must be on a filesystem every node mounts at the same path: rank 0
claims it, and the other ranks check that they see the very folder rank 0 wrote (not one of the
same name on their own disk) before any of them asks the model anything. SQLite's write-ahead log
works only among processes of one machine, so there each rank but 0 keeps its answers in a cache
of its own in the run folder, which rank 0 adds to the response cache once every rank is done.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

from mmhay.atomic import write_text_atomic
from mmhay.errors import DatasetError
from mmhay.parallel import Ranks, sum_over_ranks, wait_for_all
from mmhay.schema import Sample
from mmhay.software import OUTPUT_SOFTWARE, first_difference

__all__ = ["RECORDS", "claim_run_folder", "join_run_folder", "rank_cache", "rank_caches", "rank_records", "read_records", "records_in_order", "rewrite_records"]

log = logging.getLogger(__name__)

RECORDS = "samples.jsonl"
_LAUNCH = ".launch"  # what rank 0 leaves for the others to find, while they check the folder
_LOOK_FOR = 60.0  # seconds a rank looks for it: a network filesystem can be that late with new names


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


def join_run_folder(out: Path, run: dict, ranks: Ranks) -> None:
    """Wait for rank 0 to claim ``out``, then check that every rank sees that folder, and (on the
    other ranks) that it holds this run. Every rank fails together, naming the ranks that do not
    see it, rather than the others answering into a folder of their own that rank 0 never reads.

    Rank 0 leaves a file of a name no launch used before (from its clock and process id, which the
    others learn through the process group); a name never looked up cannot be in a network
    filesystem's cache of names it did not find, so a rank on another machine that looks a while
    without finding it does not share the folder."""
    if ranks.world == 1:
        return
    slots = [0] * ranks.world
    if ranks.main:
        for left in out.glob(f"{_LAUNCH}-*"):  # of a launch killed while its ranks looked
            left.unlink(missing_ok=True)
        slots[0] = (time.time_ns() ^ (os.getpid() << 40)) & ((1 << 60) - 1)
    mark = out / f"{_LAUNCH}-{sum_over_ranks(ranks, slots)[0]:x}"
    if ranks.main:
        write_text_atomic(mark, f"{socket.gethostname()} {os.getpid()}\n")
    wait_for_all(ranks)
    deadline = time.monotonic() + _LOOK_FOR
    while not mark.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    slots = [0] * ranks.world
    slots[ranks.rank] = int(not mark.is_file())
    blind = [rank for rank, missing in enumerate(sum_over_ranks(ranks, slots)) if missing]
    if ranks.main:
        mark.unlink(missing_ok=True)  # every rank has looked: the sums waited for them all
    if blind:
        listed = ", ".join(str(rank) for rank in blind[:8]) + (" ..." if len(blind) > 8 else "")
        raise DatasetError(
            out,
            f"rank{'s' if len(blind) > 1 else ''} {listed} of {ranks.world} {'do' if len(blind) > 1 else 'does'} not see the folder rank 0 claimed "
            "under this name: on several machines --out must be on a filesystem they all share, at the same path",
        )
    if not ranks.main:
        claim_run_folder(out, run)  # now only checks that rank 0 made it this run's folder


def rank_records(out: Path, ranks: Ranks) -> Path:
    """The file this rank appends its answers to: samples.jsonl for one process; under data
    parallelism one of the rank's own, named by its rank among all (on several nodes, ranks on
    two machines share a LOCAL_RANK, and appends from two machines to one file can interleave)."""
    return out / (RECORDS if ranks.world == 1 else f"samples.rank{ranks.rank}.jsonl")


def rank_cache(out: Path, cache: Path, ranks: Ranks) -> Path:
    """The response cache this rank opens: ``cache`` itself on one machine; on several, rank 0's
    alone, and each other rank one of its own in the run folder (added to ``cache`` at the end)."""
    if ranks.several_nodes and not ranks.main:
        return out / f"responses.rank{ranks.rank}.sqlite"
    return cache


def rank_caches(out: Path) -> list[Path]:
    """The ranks' own caches a run on several nodes left in ``out``, for rank 0 to add to the cache."""
    return sorted(out.glob("responses.rank*.sqlite"))


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
