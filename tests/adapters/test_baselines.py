from math import sqrt

import yaml
from conftest import SMALL_SUITE

from mmhay.adapters import create_adapter
from mmhay.evaluate import evaluate, open_data


def test_random_scores_within_three_standard_errors_of_chance(tmp_path):
    config = tmp_path / "big.yaml"
    config.write_text(yaml.safe_dump({**SMALL_SUITE, "samples": 400}))
    result = evaluate(open_data(config), create_adapter("random"), tmp_path / "run")
    overall = result.metrics["overall"]
    n, chance = overall["n"], overall["chance"]
    assert n == 400 and chance == 0.25
    standard_error = sqrt(chance * (1 - chance) / n)
    assert abs(overall["accuracy"] - chance) <= 3 * standard_error
    assert overall["unparsed"] == 0


def test_random_answers_depend_on_the_seed_not_on_the_order(tmp_path):
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump({**SMALL_SUITE, "samples": 40}))
    data = open_data(config)
    requests_in_order = [(s.id, s.options) for s in data.samples()]
    first = evaluate(data, create_adapter("random"), tmp_path / "a")
    again = evaluate(open_data(config), create_adapter("random"), tmp_path / "b")
    other_seed = evaluate(open_data(config), create_adapter("random", {"seed": "1"}), tmp_path / "c")
    read = lambda run: [line for line in (run / "samples.jsonl").read_text().splitlines()]  # noqa: E731
    assert read(first.out) == read(again.out)
    assert read(first.out) != read(other_seed.out)
    assert len(requests_in_order) == 40
