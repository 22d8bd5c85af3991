"""The ``mmhay`` command. The only module that prints: errors become one line and exit code 2."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from mmhay.cli_parser import EXIT_BAD_INPUT, parser as _parser
from mmhay.errors import MmhayError

__all__ = ["main"]


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
        handlers = {"build": _build, "eval": _eval, "exposure": _exposure, "preview": _preview, "audit": _audit, "report": _report, "score": _score, "export": _export, "list": _list, "tiny-model": _tiny, "import-needles": _import_needles}
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
    from mmhay.adapters.generation import parse_gen_kwargs
    from mmhay.evaluate import EvalSettings, evaluate, open_data
    from mmhay.parallel import current_ranks, leave

    gen_kwargs, system_prompt = parse_gen_kwargs(args.gen_kwargs), _system_prompt(args.system_prompt)

    ranks = current_ranks()
    tasks = [task.strip() for task in args.tasks.split(",") if task.strip()]
    data = open_data(args.data, limit=args.limit, strict=args.strict, circular=args.circular, tasks=tasks)
    adapter = create_adapter(args.model, parse_model_args(args.model_args), seed=args.seed)
    from mmhay.exposure import parse_minimums

    frames, sampler, frames_from = _frames_and_sampler(adapter, args, data)
    settings = EvalSettings(
        frames=frames,
        sampler=sampler,
        frames_from=frames_from,
        batch_size=args.batch_size,
        log_samples=args.log_samples,
        compress=args.compress,
        min_shown=parse_minimums(args.min_shown),
        scoring=args.scoring,
        system_prompt=system_prompt,
        gen_kwargs=gen_kwargs,
        predict_only=args.predict_only,
    )
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
    if result.metrics.get("predict_only"):
        print(f"answered {result.metrics['answered']} samples without scoring them (--predict-only); score them with: mmhay score {result.out}")
    else:
        _print_runs([result.metrics], grid=True)
    skipped = f", skipped {result.skipped} (the model cannot hear or see what they ask about)" if result.skipped else ""
    cached = f", {result.cached} from the response cache" if result.cached else ""
    print(f"asked {result.asked}, reused {result.reused} earlier answers{cached}{skipped}")
    print(f"wrote {result.out}/samples.jsonl, {result.out}/metrics.json, {result.out}/results.md, {result.out}/report.html")
    return 0


def _system_prompt(text: str) -> str:
    """``--system-prompt``: the text, or the contents of the file ``@FILE`` names."""
    if not text.startswith("@"):
        return text
    from mmhay.errors import ConfigError

    try:
        return Path(text[1:]).expanduser().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError("--system-prompt", "", f"cannot read {text[1:]}: {getattr(error, 'strerror', None) or error}") from None


def _score(args) -> int:
    from mmhay.predictions import score_run

    metrics = score_run(args.run)
    _print_runs([metrics], grid=True)
    print(f"wrote {args.run}/samples.jsonl, {args.run}/metrics.json, {args.run}/results.md, {args.run}/report.html")
    return 0


def _frames_and_sampler(adapter, args, data) -> tuple[int, str, str]:
    """``--frames N --sampler S`` as given, or for ``--frames model`` the frame budget, sampler
    and recorded rule the model's authors recommend."""
    from mmhay.adapters.model_sampling import frames_and_sampler

    return frames_and_sampler(adapter, args.frames, args.sampler, data.samples)


def _exposure(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from mmhay.adapters import create_adapter, parse_model_args
    from mmhay.errors import ConfigError
    from mmhay.evaluate import EvalSettings, open_data
    from mmhay.exposure import parse_minimums
    from mmhay.exposure_survey import survey_exposure
    from mmhay.sampling import check_sampler

    check_sampler(args.sampler)
    settings = EvalSettings(frames=args.frames, sampler=args.sampler, compress=args.compress, min_shown=parse_minimums(args.min_shown))
    adapter = create_adapter(args.model, parse_model_args(args.model_args)) if args.model else None
    if args.compress:
        check = getattr(adapter, "check_compression", None)
        if check is None:
            raise ConfigError("--compress", "", "needs an hf video --model whose tokens it compresses", args.compress)
        check(args.compress)
    data = open_data(args.data, limit=args.limit, strict=args.strict)
    with _progress_bar("exposure") as bar:
        task = bar.add_task("samples", total=data.count)
        result = survey_exposure(data, settings, adapter=adapter, progress=lambda done: bar.update(task, completed=done))
    summary = result.summary
    where = f"at the input of {adapter.name}" if adapter is not None and adapter.needs_frames else "as the sampler renders them"
    print(f"{data.identity.get('suite')}: {args.frames} frames, {args.sampler} sampler{', ' + args.compress if args.compress else ''}; needles measured {where}")
    table = Table(title="shown rate", title_justify="left")
    for column in ["", "samples", "judged", "shown %", "95% CI"]:
        table.add_column(column, justify="left" if not column else "right", no_wrap=True)
    cells = {"overall": summary.get("overall"), **{f"task {k}": v for k, v in summary.get("by_task", {}).items()}} if summary else {}
    for facet, values in (summary or {}).get("by_facet", {}).items():
        cells.update({f"{facet} {value}": cell for value, cell in values.items()})
    for name, cell in cells.items():
        rate = cell["shown_rate"]
        interval = "—" if rate is None else f"{100 * cell['shown_rate_low']:.1f}–{100 * cell['shown_rate_high']:.1f}"
        table.add_row(name, str(cell["n"]), str(cell["judged"]), "—" if rate is None else f"{100 * rate:.1f}", interval)
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    if result.uniform_expectation is not None and not args.sampler.startswith("every"):
        print(f"uniform sampling would show a single needle at a random place {100 * result.uniform_expectation:.1f}% of the time (analytic, docs/metrics.md)")
    if result.skipped:
        print(f"skipped {result.skipped} samples the model cannot be asked (the answer is in what it cannot take)")
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
    print(prompt_for(sample, data.prompts))
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
        findings = audit(data.samples(), recheck=args.recheck, progress=lambda done: bar.update(task, completed=done), sampler=args.sampler, frames=args.frames)
    for finding in findings:
        print(f"{'FAIL' if not finding.ok else 'warn' if finding.warning else 'ok  '}  {finding.check:<15} {finding.detail}")
    if args.out:
        write_text_atomic(args.out, json.dumps([f.to_json() for f in findings], indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0 if all(f.ok for f in findings) else 1


def _report(args) -> int:
    from mmhay.report import load_run, paired_runs, write_report
    from mmhay.scoring.report import paired_lines

    runs = [load_run(run)[0] for run in args.runs]
    paired = paired_runs(*args.runs) if len(runs) == 2 else None
    _print_runs(runs, grid=len(runs) == 1)
    if paired:
        print("\n".join(paired_lines(paired)))
    elif len(runs) == 2:
        print(f"no paired comparison: {args.runs[1]} shares no sample with {args.runs[0]} (matched by id, task and answer, on data of one config and seed)")
    if args.out:
        print(f"wrote {write_report(args.runs, args.out, pictures=not args.no_pictures, paired=paired)}")
    return 0


def _print_runs(runs: list[dict], *, grid: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from mmhay.scoring.metrics import grid_axes
    from mmhay.scoring.report import SHOWN_COLUMNS, shown_columns, summary_row

    table = Table(title="results", title_justify="left")
    for column in ["model", "data", "samples", "accuracy %", "95% CI", "chance %", "unparsed", "skipped", *SHOWN_COLUMNS]:
        table.add_column(column, justify="left" if column in ("model", "data") else "right", no_wrap=True)
    for run in runs:
        scoring = run.get("settings", {}).get("scoring")  # a number read from token probabilities says so
        row = summary_row(run["model"]["name"] + (f" ({scoring})" if scoring else ""), run["overall"], run.get("skipped", 0))
        table.add_row(row[0], run["data"].get("suite", "?"), *row[1:], *shown_columns(run))
    # piped output gets room for long model names instead of rich's default 80 columns
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
    cells = runs[0].get("grid") if grid else None
    if cells:
        rows, cols = grid_axes(cells["cells"])
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

    if args.format == "vlmevalkit":
        return _export_vlmevalkit(args)
    written = write_lmms_eval_task(args.data, args.out, task=args.task, max_new_tokens=args.max_new_tokens)
    task = written[0].stem
    print(f"wrote {', '.join(str(path) for path in written)}")
    print(f"evaluate with: python -m lmms_eval --model MODEL --model_args pretrained=... --tasks {task} --include_path {args.out}")
    return 0


def _export_vlmevalkit(args) -> int:
    from mmhay.vlmevalkit_dataset import write_vlmevalkit_dataset

    summary = write_vlmevalkit_dataset(args.data, args.out, name=args.name, frames=args.frames, sampler=args.sampler)
    for dataset, rows in summary["datasets"].items():
        print(f"wrote {args.out / (dataset + '.tsv')} ({rows} rows)")
    if any(name.endswith("_openended") for name in summary["datasets"]):
        print("the open-ended questions are answered but not scored by VLMEvalKit (its custom VQA dataset has no scorer)")
    print(f"evaluate with: {summary['command']}")
    return 0


def _import_needles(args) -> int:
    from mmhay.needle_import import import_needles

    done = import_needles(args.format, args.source, args.images, args.out)
    chains = f", {done.chains}" if done.chains else ""
    print(f"wrote {done.images} needle images to {done.needles}/, {done.asked} questions to {done.questions}{chains}")
    print(f"ask them with: task: needle_qa, needle: {{kind: image, source: {done.needles}, questions: {done.questions}}}")
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
    from mmhay.adapters.tiny import TINY_SCRIPTED, TINY_TRAINED, make_tiny_checkpoint
    from mmhay.adapters.tiny.finder import FINDER_FRAMES

    out = make_tiny_checkpoint(args.family, args.out, seed=args.seed)
    if args.family == "clip":
        use = f"sample with --sampler keyclip:scorer=clip:{out}"
    elif args.family == "needle-finder":
        use = f"evaluate it with --model hf:{out} --frames {FINDER_FRAMES}, the frame count it was trained at"
    else:
        use = f"evaluate it with --model hf:{out}"
    kind = "trained" if args.family in TINY_TRAINED else "hand-set" if args.family in TINY_SCRIPTED else "random-weight"
    print(f"wrote a tiny {kind} {args.family} checkpoint to {out}/ ({use})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
