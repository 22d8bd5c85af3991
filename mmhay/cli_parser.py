"""The ``mmhay`` command line's arguments (``mmhay.cli`` runs the commands)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmhay import __version__

__all__ = ["parser", "EXIT_BAD_INPUT"]

EXIT_BAD_INPUT = 2

_MIN_SHOWN_HELP = "what counts as shown: frames=1,height=8,tokens=0.5,sound=0.5 (the defaults; docs/metrics.md, Exposure)"


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


def _frames(text: str) -> int | str:
    """--frames of eval: a positive count, or ``model`` (the model's recommended sampling)."""
    return "model" if text == "model" else _positive(text)


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported as one line (as every other error) instead of the
    usage block followed by the error."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    """The ``mmhay`` command line: every command, its arguments and their help."""
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
    evaluate.add_argument("--frames", type=_frames, default=16, help="frames shown per sample (default 16), or model: the model's recommended sampling (Qwen-family, LLaVA-OneVision)")
    evaluate.add_argument(
        "--compress", default="", help="visual-token compressor after the vision tower, NAME or NAME:key=value,... (e.g. spatial_pool:k=2; see `mmhay list compressors`)"
    )
    evaluate.add_argument(
        "--sampler", default="uniform", help="frame sampler, NAME or NAME:key=value,... (default uniform; e.g. fps:rate=1, scene, keyclip:scorer=clip:PATH; see `mmhay list samplers`)"
    )
    evaluate.add_argument("--tasks", default="", help="only these tasks, comma-separated, e.g. retrieval,counting (default all)")
    evaluate.add_argument("--limit", type=_positive, help="evaluate only the first N samples (of the --tasks chosen)")
    evaluate.add_argument("--batch-size", type=_positive, help="requests per model call (default: the model's own, 1 for hf)")
    evaluate.add_argument(
        "--scoring",
        choices=("generate", "likelihood"),
        default="generate",
        help="generate: parse the generated answer (default); likelihood (hf models): the option letter of highest mean "
        "log-probability per token, or whether every token of the teacher-forced reference is the argmax (docs/metrics.md)",
    )
    evaluate.add_argument("--seed", type=_non_negative, default=0, help="seed for what the model draws (sampling, the random baseline; default 0)")
    evaluate.add_argument("--log-samples", action="store_true", help="also record in samples.jsonl the exact text the model was given")
    evaluate.add_argument("--cache", type=Path, help="response cache file to share between runs (default OUT/responses.sqlite)")
    evaluate.add_argument("--strict", action="store_true", help="fail on unreadable media instead of skipping it")
    evaluate.add_argument("--circular", action="store_true", help="ask each multiple-choice question once per rotation of its options")
    evaluate.add_argument("--min-shown", default="", metavar="KEY=VALUE,...", help=_MIN_SHOWN_HELP)
    evaluate.add_argument("--system-prompt", default="", metavar="TEXT|@FILE", help="a system message before every question (chat models), or @FILE to read it from a file")
    evaluate.add_argument(
        "--gen-kwargs", default="", metavar="KEY=VALUE,...", help="decoding settings as lmms-eval takes them, e.g. max_new_tokens=64,num_beams=3,do_sample=false (hf: to generate; openai: the request's fields)"
    )
    evaluate.add_argument("--predict-only", action="store_true", help="record the answers without scoring them; score them later with `mmhay score OUT`")

    score = commands.add_parser("score", help="score the answers of a --predict-only run (or score a run again): its metrics, results and report")
    score.add_argument("run", type=Path, help="run folder written by `mmhay eval --predict-only`")

    exposure = commands.add_parser("exposure", help="how often a suite's needles are shown at all, for a sampler and a frame budget (no model answers)")
    exposure.add_argument("data", type=Path, help="built suite folder, or a suite config (YAML)")
    exposure.add_argument("--sampler", default="uniform", help="frame sampler, NAME or NAME:key=value,... (default uniform)")
    exposure.add_argument("--frames", type=_positive, default=16, help="frames per sample (default 16)")
    exposure.add_argument("--model", help="measure at this model's input: after its processor (and --compress); default: as the sampler renders")
    exposure.add_argument("--model-args", default="", help="key=value,... for --model")
    exposure.add_argument("--compress", default="", help="visual-token compressor (needs an hf --model)")
    exposure.add_argument("--min-shown", default="", metavar="KEY=VALUE,...", help=_MIN_SHOWN_HELP)
    exposure.add_argument("--limit", type=_positive, help="only the first N samples")
    exposure.add_argument("--strict", action="store_true", help="fail on unreadable media instead of skipping it")

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
    audit.add_argument("--sampler", default="uniform", help="sampler whose shown rate the audit reports (default uniform)")
    audit.add_argument("--frames", type=_positive, default=16, help="frame budget whose shown rate the audit reports (default 16)")

    report = commands.add_parser(
        "report", help="the results of one or more runs side by side: a table, and an HTML page; two runs are also compared on their common samples (paired)"
    )
    report.add_argument("runs", type=Path, nargs="+", help="run folders written by `mmhay eval`")
    report.add_argument("--out", type=Path, help="folder to write report.html (tables, heatmaps, curves, failures) into")
    report.add_argument("--no-pictures", action="store_true", help="leave the frames out of the failures: a far smaller page for many runs")

    export = commands.add_parser("export", help="write a built suite as a task of another evaluation tool (lmms-eval, VLMEvalKit)")
    export.add_argument("format", choices=["lmms-eval", "vlmevalkit"], help="the tool: lmms-eval, or vlmevalkit (custom datasets)")
    export.add_argument("data", type=Path, help="built suite folder")
    export.add_argument("--out", type=Path, required=True, help="folder for the task (lmms-eval's --include_path; VLMEvalKit's LMUData)")
    export.add_argument("--task", help="lmms-eval: task name (default mmhay_SUITE)")
    export.add_argument("--max-new-tokens", type=_positive, default=32, help="lmms-eval: generation length (default 32, as mmhay eval's hf models)")
    export.add_argument("--name", help="vlmevalkit: dataset name (default MMHAY_SUITE)")
    export.add_argument("--frames", type=_positive, default=16, help="vlmevalkit: frames written per video sample (default 16, as mmhay eval)")
    export.add_argument("--sampler", default="uniform", help="vlmevalkit: frame sampler, as mmhay eval's (default uniform)")

    needles = commands.add_parser("import-needles", help="convert a published suite's needle file (LongVA, VideoChat-Flash) into a needle folder and a questions file")
    from mmhay.needle_import import FORMATS

    needles.add_argument("format", choices=FORMATS, metavar="FORMAT", help=f"the needle file's format: {', '.join(FORMATS)}")
    needles.add_argument("source", type=Path, help="the needle file, e.g. LongVA's vision_niah/needle_datasets/dataset.json")
    needles.add_argument("--images", type=Path, required=True, help="folder holding the images the file names (nothing is downloaded)")
    needles.add_argument("--out", type=Path, required=True, help="folder to write needles/, questions.json (and multihop.json) into")

    listing = commands.add_parser("list", help="list registered generators, tasks, samplers, adapters, ...")
    listing.add_argument("kind", nargs="?", help="one kind (plural accepted), e.g. samplers")

    tiny = commands.add_parser("tiny-model", help="write a tiny checkpoint: random weights (offline smoke tests) or the trained needle-finder")
    from mmhay.adapters.tiny import TINY_FAMILIES, TINY_SCORERS, TINY_SCRIPTED, TINY_TRAINED

    tiny.add_argument("family", metavar="FAMILY", help=f"model family: {', '.join(TINY_FAMILIES + TINY_SCORERS + TINY_TRAINED + TINY_SCRIPTED)}")
    tiny.add_argument("--out", type=Path, required=True, help="folder to write the checkpoint into")
    tiny.add_argument("--seed", type=_non_negative, default=0, help="weight seed (default 0; the needle-finder's weights are trained, not drawn)")
    return parser
