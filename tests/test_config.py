import pytest

from mmhay.config import load_suite, parse_suite
from mmhay.errors import ConfigError


def _write(tmp_path, text):
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_a_typo_names_the_file_the_key_and_the_known_keys(tmp_path):
    path = _write(tmp_path, "name: s\nhaystak:\n  source: builtin\n")
    with pytest.raises(ConfigError) as error:
        load_suite(path)
    message = str(error.value)
    assert message.startswith(f"{path}: haystak: unknown key; expected one of: ")
    assert "haystack" in message and "\n" not in message


def test_a_nested_typo_lists_that_sections_keys(tmp_path):
    path = _write(tmp_path, "name: s\nneedle:\n  durration: 2\n")
    with pytest.raises(ConfigError, match=r"needle\.durration: unknown key; expected one of: captions, duration, insertion, kind, position, questions, scale, snr_db, sound, source, text"):
        load_suite(path)


def test_an_out_of_range_depth_names_its_index(tmp_path):
    path = _write(tmp_path, "name: s\ngrid:\n  depth: [0, 0.5, 1, 1.4]\n")
    with pytest.raises(ConfigError) as error:
        load_suite(path)
    assert str(error.value) == f"{path}: grid.depth[3] = 1.4: depth must be within 0..1"


def test_an_ill_typed_value_says_what_was_expected(tmp_path):
    path = _write(tmp_path, "name: s\nsamples: many\n")
    with pytest.raises(ConfigError, match=r"samples = 'many': input should be a valid integer"):
        load_suite(path)


def test_odd_frame_sizes_are_refused():
    with pytest.raises(ConfigError, match=r"video\.size = .*must both be even"):
        parse_suite({"name": "s", "video": {"size": [385, 216]}})


def test_broken_yaml_names_the_line(tmp_path):
    path = _write(tmp_path, "name: s\ngrid: [\n")
    with pytest.raises(ConfigError, match=r"suite.yaml: line \d+: invalid YAML"):
        load_suite(path)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"task = 'retreival': unknown task; known: count_instances, count_kind, count_spread, counting, counting_image, counting_text, cross_modal, localization, locate, motion_count, multihop, needle_qa, negative, ordering, recall_order, retrieval, retrieval_image, retrieval_text"):
        parse_suite({"name": "s", "task": "retreival"})


def test_missing_file():
    with pytest.raises(ConfigError, match="no such config file"):
        load_suite("/nonexistent/suite.yaml")


def test_relative_paths_are_read_from_the_config_folder(tmp_path):
    path = _write(tmp_path, "name: s\nhaystack:\n  source: videos\n")
    assert load_suite(path).resolve("videos") == tmp_path / "videos"


def test_the_key_ignores_name_seed_and_count_but_not_content():
    base = {"name": "a", "seed": 1, "samples": 10}
    key = parse_suite(base).key()
    assert parse_suite({**base, "name": "b", "seed": 2, "samples": 99}).key() == key
    assert parse_suite({**base, "grid": {"depth": [0.1]}}).key() != key


def test_a_setting_added_later_changes_no_key_until_it_is_set():
    import hashlib
    import json

    suite = parse_suite({"name": "a"})
    before = suite.model_dump(mode="json", exclude={"name", "description", "samples", "seed"})
    del before["audio"]["peak_dbfs"]  # the config as it was keyed before audio.peak_dbfs existed
    del before["distractors"]["offset"]  # and before distractors.offset
    del before["needle"]["questions"]  # and before needle.questions
    del before["haystack"]["text"]  # and before haystack.text
    del before["grid"]["bed"]  # and before grid.bed
    del before["question"]["option_media"]  # and before question.option_media
    assert suite.key() == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    assert parse_suite({"name": "a", "audio": {"peak_dbfs": -1.0}}).key() == suite.key()
    assert parse_suite({"name": "a", "audio": {"peak_dbfs": -3.0}}).key() != suite.key()
    assert parse_suite({"name": "a", "distractors": {"offset": 200}}).key() == suite.key()
    assert parse_suite({"name": "a", "distractors": {"offset": 100}}).key() != suite.key()
    assert parse_suite({"name": "a", "haystack": {"text": "builtin"}}).key() != suite.key()
    assert parse_suite({"name": "a", "grid": {"bed": ["white"]}}).key() != suite.key()


def test_the_shipped_configs_are_valid():
    from pathlib import Path

    configs = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        load_suite(path)
