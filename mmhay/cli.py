"""The ``mmhay`` command. The only module that prints: errors become one line and exit code 2."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from mmhay import __version__
from mmhay.errors import MmhayError

__all__ = ["main"]

EXIT_BAD_INPUT = 2


def _int_at_least(minimum: int):
    """An argparse type: an integer no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} must be at least {minimum}")
        return value

    return parse


_positive = _int_at_least(1)
_non_negative = _int_at_least(0)


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported as one line (as every other error) instead of the
    usage block followed by the error."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mmhay",
        description="Multimodal needle-in-a-haystack data and video-LLM evaluation.",
        epilog="Start with: mmhay build configs/quickstart.yaml --out data/quickstart",
    )
    parser.add_argument("--version", action="version", version=f"mmhay {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    build = commands.add_parser("build", help="render a suite config into a Hugging Face dataset on disk")
    build.add_argument("config", type=Path, help="suite config (YAML), e.g. configs/quickstart.yaml")
    build.add_argument("--out", type=Path, required=True, help="folder to write (resumed if it holds this build)")
    build.add_argument("--seed", type=_non_negative, help="override the config's seed")
    build.add_argument("--limit", type=_positive, help="build only the first N samples")
    build.add_argument("--num-proc", type=_positive, default=1, help="render with N processes (default 1)")
    build.add_argument(
        "--ray", nargs="?", const="", metavar="ADDRESS", help="render on a Ray cluster (ADDRESS, e.g. auto; none: a local one); --out must be on storage every node sees"
    )
    build.add_argument("--strict", action="store_true", help="fail on unreadable media instead of skipping it")
    build.add_argument("--circular", action="store_true", help="also write every rotation of each multiple-choice question")

    evaluate = commands.add_parser("eval", help="evaluate a model on a built suite (or a config, generated on the fly)")
    evaluate.add_argument("--model", required=True, help="random | hf:PATH_OR_ID | NAME with --model-args")
    evaluate.add_argument("--model-args", default="", help="key=value,... e.g. pretrained=PATH,dtype=bfloat16")
    evaluate.add_argument("--data", type=Path, required=True, help="built suite folder, or a suite config (YAML)")
    evaluate.add_argument("--out", type=Path, required=True, help="run folder to write (resumed if it holds this run)")
    evaluate.add_argument("--frames", type=_positive, default=16, help="frames shown per sample (default 16)")
    evaluate.add_argument(
        "--compress", default="", help="visual-token compressor after the vision tower, NAME or NAME:key=value,... (e.g. spatial_pool:k=2; see `mmhay list compressors`)"
    )
    evaluate.add_argument(
        "--sampler", default="uniform", help="frame sampler, NAME or NAME:key=value,... (default uniform; e.g. fps:rate=1, scene, keyclip:scorer=clip:PATH; see `mmhay list samplers`)"
    )
    evaluate.add_argument("--tasks", default="", help="only these tasks, comma-separated, e.g. retrieval,counting (default all)")
    evaluate.add_argument("--limit", type=_positive, help="evaluate only the first N samples (of the --tasks chosen)")
    evaluate.add_argument("--batch-size", type=_positive, help="requests per model call (default: the model's own, 1 for hf)")
    evaluate.add_argument("--seed", type=_non_negative, default=0, help="seed for what the model draws (sampling, the random baseline; default 0)")
    evaluate.add_argument("--log-samples", action="store_true", help="also record in samples.jsonl the exact text the model was given")
    evaluate.add_argument("--cache", type=Path, help="response cache file to share between runs (default OUT/responses.sqlite)")
    evaluate.add_argument("--strict", action="store_true", help="fail on unreadable media instead of skipping it")
    evaluate.add_argument("--circular", action="store_true", help="ask each multiple-choice question once per rotation of its options")

    preview = commands.add_parser("preview", help="write one sample's video and a contact sheet of it, to look at")
    preview.add_argument("config", type=Path, help="suite config (YAML), or a built suite folder")
    preview.add_argument("--index", type=_non_negative, default=0, help="which sample (default 0)")
    preview.add_argument("--out", type=Path, required=True, help="folder to write the mp4, PNG and JSON into")
    preview.add_argument("--frames", type=_positive, default=12, help="evenly spaced frames on the sheet (default 12)")
    preview.add_argument("--strict", action="store_true", help="fail on unreadable media instead of skipping it")

    audit = commands.add_parser("audit", help="check a suite: balance, coverage, duplicates, a blind baseline, truth against media")
    audit.add_argument("data", type=Path, help="built suite folder, or a suite config (YAML)")
    audit.add_argument("--recheck", type=_non_negative, help="re-check the truth of only the first N samples (default all)")
    audit.add_argument("--out", type=Path, help="also write the findings as JSON to this file")
    audit.add_argument("--strict", action="store_true", help="fail on unreadable media instead of skipping it")

    report = commands.add_parser("report", help="the results of one or more runs side by side: a table, and an HTML page")
    report.add_argument("runs", type=Path, nargs="+", help="run folders written by `mmhay eval`")
    report.add_argument("--out", type=Path, help="folder to write report.html (tables, heatmaps, curves, failures) into")
    report.add_argument("--no-pictures", action="store_true", help="leave the frames out of the failures: a far smaller page for many runs")

    export = commands.add_parser("export", help="write a built suite as a task of another evaluation tool (lmms-eval)")
    export.add_argument("format", choices=["lmms-eval"], help="the tool: lmms-eval")
    export.add_argument("data", type=Path, help="built suite folder")
    export.add_argument("--out", type=Path, required=True, help="folder for the task (give it to lmms-eval as --include_path)")
    export.add_argument("--task", help="task name (default mmhay_SUITE)")
    export.add_argument("--max-new-tokens", type=_positive, default=32, help="generation length (default 32, as mmhay eval's hf models)")

    listing = commands.add_parser("list", help="list registered generators, tasks, samplers, adapters, ...")
    listing.add_argument("kind", nargs="?", help="one kind (plural accepted), e.g. samplers")

    tiny = commands.add_parser("tiny-model", help="write a tiny random-weight checkpoint (offline smoke tests)")
    from mmhay.adapters.tiny import TINY_FAMILIES, TINY_SCORERS

    tiny.add_argument("family", metavar="FAMILY", help=f"model family: {', '.join(TINY_FAMILIES + TINY_SCORERS)}")
    tiny.add_argument("--out", type=Path, required=True, help="folder to write the checkpoint into")
    tiny.add_argument("--seed", type=_non_negative, default=0, help="weight seed (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 0
    _log_to_stderr()
    # Hugging Face libraries draw their own progress bars for loading and saving; ours suffice
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    previous = _stop_on_sigterm()
    try:
        handlers = {"build": _build, "eval": _eval, "preview": _preview, "audit": _audit, "report": _report, "export": _export, "list": _list, "tiny-model": _tiny}
        handler = handlers[args.command]
        return handler(args)
    except MmhayError as error:
        print(f"mmhay: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("mmhay: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except _Terminated:
        print("mmhay: terminated (SIGTERM); finished work is kept: run the same command again to resume", file=sys.stderr)
        return 128 + signal.SIGTERM
    except OSError as error:
        from mmhay.atomic import no_room

        full = no_room(error, error.filename or "a file being written")
        if full is None:
            raise
        print(f"mmhay: error: {full}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread: the work in hand unwinds as for Ctrl-C (temporary files
    removed, finished files and answers kept). Not an ``Exception``, so that nothing wraps it."""


def _stop_on_sigterm():
    """Make SIGTERM raise ``_Terminated``; return the handler it replaced (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
        raise _Terminated

    return signal.signal(signal.SIGTERM, stop)


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(lambda record: setattr(record, "level", record.levelname.lower()) or True)
    handler.setFormatter(logging.Formatter("mmhay: %(level)s: %(message)s"))
    logger = logging.getLogger("mmhay")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    # third-party chatter (transformers' advisory warnings) is not the user's problem here
    logging.getLogger("transformers").setLevel(logging.ERROR)


def _progress_bar(description: str, *, rate: str | None = None, show: bool = True):
    """A progress bar on stderr; with ``rate``, also items per second and the time left."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn(f"[bold]{description}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if rate:
        speed = TextColumn("{task.fields[rate]}")
        columns += [speed, TextColumn("eta"), TimeRemainingColumn()]
    console = Console(stderr=True)
    # off a terminal a bar cannot redraw: it would leave only a blank line before the output
    return Progress(*columns, console=console, transient=True, disable=not show or not console.is_terminal)


def _build(args) -> int:
    from mmhay.build import build_suite
    from mmhay.config import load_suite

    suite = load_suite(args.config)
    with _progress_bar(f"build {suite.name}") as bar:
        task = bar.add_task("render", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=stage)

        result = build_suite(
            suite,
            args.out,
            seed=args.seed,
            limit=args.limit,
            num_proc=args.num_proc,
            strict=args.strict,
            circular=args.circular,
            progress=progress,
            ray=args.ray,
        )
    print(f"built {result.samples} samples of {suite.name} ({result.rendered} rendered, {result.reused} already there)")
    folders = [f"{name}/" for name in ("videos", "images", "audio") if (result.out / name).is_dir()]
    print(f"wrote {result.out}/ (dataset_dict.json, test/, {', '.join(folders)}, README.md, manifest.json)")
    return 0


def _eval(args) -> int:
    import time

    from mmhay.adapters import create_adapter, parse_model_args
    from mmhay.evaluate import EvalSettings, evaluate, open_data
    from mmhay.parallel import current_ranks, leave

    ranks = current_ranks()
    tasks = [task.strip() for task in args.tasks.split(",") if task.strip()]
    data = open_data(args.data, limit=args.limit, strict=args.strict, circular=args.circular, tasks=tasks)
    adapter = create_adapter(args.model, parse_model_args(args.model_args), seed=args.seed)
    settings = EvalSettings(frames=args.frames, sampler=args.sampler, batch_size=args.batch_size, log_samples=args.log_samples, compress=args.compress)
    with _progress_bar(f"eval {adapter.name}", rate="samples/s", show=ranks.main) as bar:
        task = bar.add_task("samples", total=data.count, rate="")
        started: list[float] = []

        def progress(done: int, total: int) -> None:
            if not started:  # answers found from an earlier attempt do not count toward the rate
                started[:] = [time.monotonic(), done]
                bar.reset(task, completed=done, total=total, rate="")
                return
            elapsed = time.monotonic() - started[0]
            rate = f"{(done - started[1]) / elapsed:.2f} samples/s" if elapsed > 0 else ""
            bar.update(task, completed=done, total=total, rate=rate)

        result = evaluate(data, adapter, args.out, settings, cache=args.cache, ranks=ranks, progress=progress)
    leave(ranks)
    if not ranks.main:
        # its answers are merged and written by rank 0; end here, before the interpreter's exit
        # runs C++ destructors that now and then abort a torchrun worker ("terminate called
        # without an active exception", exit -6) and with it the whole launch
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    _print_runs([result.metrics], grid=True)
    skipped = f", skipped {result.skipped} (the model cannot hear or see what they ask about)" if result.skipped else ""
    cached = f", {result.cached} from the response cache" if result.cached else ""
    print(f"asked {result.asked}, reused {result.reused} earlier answers{cached}{skipped}")
    print(f"wrote {result.out}/samples.jsonl, {result.out}/metrics.json, {result.out}/results.md, {result.out}/report.html")
    return 0


def _preview(args) -> int:
    from mmhay.errors import ConfigError
    from mmhay.evaluate import open_data
    from mmhay.preview import preview_sample
    from mmhay.prompts import prompt_for

    data = open_data(args.config, strict=args.strict)
    if args.index >= data.count:
        raise ConfigError("--index", "", f"the suite has samples 0..{data.count - 1}", args.index)
    sample = next(s for k, s in enumerate(data.samples()) if k == args.index)
    written = preview_sample(sample, args.out, frames=args.frames)
    print(prompt_for(sample))
    print(f"answer: {sample.answer}")
    for entry in sample.truth.get("needles", []) + sample.truth.get("distractors", []):
        role = "needle" if entry in sample.truth.get("needles", []) else "distractor"
        if "start" in entry:
            box = f" in box {entry['box']}" if entry.get("box") else ""
            print(f"{role}: {entry['label']} at {entry['start']:g}-{entry['end']:g} s{box}")
        else:
            where = f"row {entry['row']}, column {entry['column']} of " if "row" in entry else ""
            print(f"{role}: {entry['label']} in {where}image {entry['image']}")
    print(f"wrote {written.video}, {written.sheet}, {written.sample}")
    return 0


def _audit(args) -> int:
    from mmhay.atomic import write_text_atomic
    from mmhay.audit import audit
    from mmhay.evaluate import open_data

    data = open_data(args.data, strict=args.strict)
    with _progress_bar("audit") as bar:
        task = bar.add_task("samples", total=data.count)
        findings = audit(data.samples(), recheck=args.recheck, progress=lambda done: bar.update(task, completed=done))
    for finding in findings:
        print(f"{'ok  ' if finding.ok else 'FAIL'}  {finding.check:<15} {finding.detail}")
    if args.out:
        write_text_atomic(args.out, json.dumps([f.to_json() for f in findings], indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0 if all(f.ok for f in findings) else 1


def _report(args) -> int:
    from mmhay.report import load_run, write_report

    runs = [load_run(run)[0] for run in args.runs]
    _print_runs(runs, grid=len(runs) == 1)
    if args.out:
        print(f"wrote {write_report(args.runs, args.out, pictures=not args.no_pictures)}")
    return 0


def _print_runs(runs: list[dict], *, grid: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from mmhay.scoring.report import summary_row

    table = Table(title="results", title_justify="left")
    for column in ["model", "data", "samples", "accuracy %", "95% CI", "chance %", "unparsed", "skipped"]:
        table.add_column(column, justify="left" if column in ("model", "data") else "right", no_wrap=True)
    for run in runs:
        row = summary_row(run["model"]["name"], run["overall"], run.get("skipped", 0))
        table.add_row(row[0], run["data"].get("suite", "?"), *row[1:])
    # piped output gets room for long model names instead of rich's default 80 columns
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
    cells = runs[0].get("grid") if grid else None
    if cells:
        keys = [key.split("|") for key in cells["cells"]]
        rows = sorted(dict.fromkeys(k[0] for k in keys), key=float)
        cols = sorted(dict.fromkeys(k[1] for k in keys), key=float)
        console.print(f"accuracy % by {cells['rows']} (rows) and haystack {cells['columns']} in seconds (columns)")
        heat = Table()
        heat.add_column(f"{cells['rows']}")
        for col in cols:
            heat.add_column(col, justify="right")
        for row in rows:
            values = [cells["cells"].get(f"{row}|{col}") for col in cols]
            heat.add_row(row, *[f"{100 * v['accuracy']:.0f}" if v else "" for v in values])
        console.print(heat)


def _export(args) -> int:
    from mmhay.lmms_eval_task import write_lmms_eval_task

    written = write_lmms_eval_task(args.data, args.out, task=args.task, max_new_tokens=args.max_new_tokens)
    task = written[0].stem
    print(f"wrote {', '.join(str(path) for path in written)}")
    print(f"evaluate with: python -m lmms_eval --model MODEL --model_args pretrained=... --tasks {task} --include_path {args.out}")
    return 0


def _list(args) -> int:
    from mmhay.errors import ConfigError
    from mmhay.registry import registries

    everything = registries()
    kinds = list(everything)
    if args.kind:
        kind = args.kind.rstrip("s") if args.kind.rstrip("s") in everything else args.kind
        if kind not in everything:
            raise ConfigError("list", "", f"unknown kind; known: {', '.join(k + 's' for k in kinds)}", args.kind)
        kinds = [kind]
    for kind in kinds:
        print(f"{'procedural sources' if kind == 'procedural' else kind + 's'}:")
        for name in everything[kind].names():
            print(f"  {name:<12} {everything[kind].entries[name].doc}")
    return 0


def _tiny(args) -> int:
    from mmhay.adapters.tiny import make_tiny_checkpoint

    out = make_tiny_checkpoint(args.family, args.out, seed=args.seed)
    use = f"sample with --sampler keyclip:scorer=clip:{out}" if args.family == "clip" else f"evaluate it with --model hf:{out}"
    print(f"wrote a tiny random-weight {args.family} checkpoint to {out}/ ({use})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
