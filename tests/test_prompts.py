"""Prompt templates from a suite config's ``prompts``: what the model is asked, built or not."""

import json
import shutil

import pytest
import yaml

from conftest import SMALL_SUITE
from mmhay.adapters import create_adapter
from mmhay.cli import main
from mmhay.config import parse_suite
from mmhay.errors import ConfigError
from mmhay.evaluate import EvalSettings, evaluate, open_data
from mmhay.lmms_eval_task import write_lmms_eval_task
from mmhay.prompts import prompt_for

TEMPLATES = {"retrieval": "Watch closely. {question}\nChoices:\n{options}\nReply with one letter.", "choice": "unused: the task's template wins {question}"}


def test_a_config_template_changes_the_prompt_asked_and_travels_with_the_built_suite(built_small, tmp_path, quick_runs):
    plain, templated = parse_suite(SMALL_SUITE), parse_suite({**SMALL_SUITE, "prompts": TEMPLATES})
    assert templated.key() == plain.key(), "a template changes no sample"
    assert "prompts" not in plain.model_dump(mode="json"), "suites without templates dump as before"
    # a build of the templated suite differs from built_small only in the config its manifest holds
    built = tmp_path / "built"
    shutil.copytree(built_small, built)
    manifest = json.loads((built / "manifest.json").read_text())
    (built / "manifest.json").write_text(json.dumps({**manifest, "config": templated.model_dump(mode="json")}))
    config = tmp_path / "templated.yaml"
    config.write_text(yaml.safe_dump({**SMALL_SUITE, "prompts": TEMPLATES}))
    for data, name in ((built, "built"), (config, "config")):
        run = evaluate(open_data(data, limit=2), create_adapter("random"), tmp_path / f"run-{name}", EvalSettings(frames=2))
        assert run.metrics["data"]["prompts"] == TEMPLATES, "the run's identity records the templates"
        for record in (json.loads(line) for line in (tmp_path / f"run-{name}" / "samples.jsonl").read_text().splitlines()):
            lettered = "\n".join(f"{chr(65 + k)}. {option}" for k, option in enumerate(record["options"]))
            assert record["prompt"].startswith("Watch closely. ") and record["prompt"].endswith(f"\nChoices:\n{lettered}\nReply with one letter.")
    with pytest.raises(ConfigError, match="prompt templates are not carried into an lmms-eval task"):
        write_lmms_eval_task(built, tmp_path / "task")
    sample = next(open_data(built_small).samples())
    assert prompt_for(sample, {"choice": "{instruction} {question}"}).startswith("Answer with the option's letter"), "by answer type"
    assert prompt_for(sample, {}) == prompt_for(sample), "no template: the prompt as before"


@pytest.mark.parametrize(
    "prompts, message",
    [
        ({"retrieval": "{question} {answer}"}, "prompts.retrieval = '{question} {answer}': names {answer}; a template may use {question}, {options}, {instruction}"),
        ({"retrieval": "{options}"}, "prompts.retrieval = '{options}': must contain {question}"),
        ({"retrieval": "{question"}, "is not a valid template"),
        ({"retreival": "{question}"}, "prompts.retreival: is neither a task nor an answer type"),
    ],
)
def test_a_bad_template_is_one_line_naming_its_key(prompts, message):
    with pytest.raises(ConfigError) as error:
        parse_suite({**SMALL_SUITE, "prompts": prompts}, origin="suite.yaml")
    assert str(error.value).startswith("suite.yaml: prompts.") and message in str(error.value)


def test_a_bad_template_stops_eval_with_exit_2(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({**SMALL_SUITE, "prompts": {"integer": "{question} {nope}"}}))
    assert main(["eval", "--model", "random", "--data", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "prompts.integer" in err and err.count("\n") == 1
