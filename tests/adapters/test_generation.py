"""--system-prompt and --gen-kwargs at a tiny real checkpoint's input and output."""

import json

import pytest

from mmhay.adapters import create_adapter
from mmhay.adapters.generation import parse_gen_kwargs
from mmhay.cli import main
from mmhay.errors import ConfigError
from mmhay.evaluate import EvalSettings, evaluate, open_data

SYSTEM = "You are a careful judge of videos."


def _records(run):
    return [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]


def test_the_system_prompt_is_in_the_templated_input_and_gen_kwargs_reach_generate(tiny_qwen2_vl, built_small, tmp_path, quick_runs):
    model = create_adapter(f"hf:{tiny_qwen2_vl}", {"max_new_tokens": "6"})
    data = open_data(built_small, limit=1)
    cache = tmp_path / "cache.sqlite"
    plain = evaluate(data, model, tmp_path / "plain", EvalSettings(frames=2, log_samples=True), cache=cache)
    gen_kwargs = {"max_new_tokens": 1, "num_beams": 2, "do_sample": False}
    settings = EvalSettings(frames=2, log_samples=True, system_prompt=SYSTEM, gen_kwargs=gen_kwargs)
    told = evaluate(data, model, tmp_path / "told", settings, cache=cache)
    assert told.asked == 1 and told.cached == 0, "a system prompt and gen kwargs are in the cache key"
    for before, after in zip(_records(tmp_path / "plain"), _records(tmp_path / "told")):
        assert SYSTEM not in before["input"] and before["usage"]["completion_tokens"] > 1
        system_turn, user_turn = after["input"].split(SYSTEM)
        assert "system" in system_turn and before["prompt"] in user_turn, "the system turn comes first, the question after it"
        assert after["usage"]["completion_tokens"] == 1, "max_new_tokens=1 reached generate"
        assert after["usage"]["prompt_tokens"] > before["usage"]["prompt_tokens"]
    recorded = json.loads((tmp_path / "told" / "run.json").read_text())["settings"]
    assert recorded["system_prompt"] == SYSTEM and recorded["gen_kwargs"] == gen_kwargs
    assert "system_prompt" not in plain.metrics["settings"] and "gen_kwargs" not in plain.metrics["settings"]
    with pytest.raises(ConfigError, match="--gen-kwargs: num_beams = 0: must be an integer of at least 1"):
        evaluate(data, model, tmp_path / "bad", EvalSettings(frames=2, gen_kwargs={"num_beams": 0}))
    with pytest.raises(ConfigError, match="return_dict_in_generate: is not a decoding setting"):
        evaluate(data, model, tmp_path / "bad", EvalSettings(frames=2, gen_kwargs={"return_dict_in_generate": True}))
    assert not (tmp_path / "bad").exists(), "refused before anything was written"


def test_gen_kwargs_are_typed_as_lmms_eval_types_them():
    assert parse_gen_kwargs("temperature=0.2, top_k=5,do_sample=True,stop=END,length_penalty=-1") == {
        "temperature": 0.2,
        "top_k": 5,
        "do_sample": True,
        "stop": "END",
        "length_penalty": -1,
    }
    assert parse_gen_kwargs("") == {}


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--gen-kwargs", "temperature"], "--gen-kwargs: expected key=value pairs separated by commas, got 'temperature'"),
        (["--gen-kwargs", "top_k=1,top_k=2"], "--gen-kwargs: top_k: is given twice"),
        (["--gen-kwargs", "num_beams=2"], "--gen-kwargs: random takes no decoding settings (hf and openai models do)"),
        (["--system-prompt", "@/no/such/file.txt"], "--system-prompt: cannot read /no/such/file.txt: No such file or directory"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(built_small, tmp_path, capsys, flags, message):
    assert main(["eval", "--model", "random", "--data", str(built_small), "--out", str(tmp_path / "run"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_a_system_prompt_is_read_from_the_file_at_sign_names(built_small, tmp_path, quick_runs):
    (tmp_path / "system.txt").write_text(SYSTEM + "\n")
    flags = ["--system-prompt", f"@{tmp_path / 'system.txt'}", "--limit", "1"]
    assert main(["eval", "--model", "random", "--data", str(built_small), "--out", str(tmp_path / "run"), *flags]) == 0
    assert json.loads((tmp_path / "run" / "run.json").read_text())["settings"]["system_prompt"] == SYSTEM
