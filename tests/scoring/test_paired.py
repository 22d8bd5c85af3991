import pytest

from mmhay.scoring.bootstrap import bootstrap_interval
from mmhay.scoring.paired import mcnemar, paired_comparison


def test_mcnemar_matches_the_hand_computed_tables():
    # b = 3, c = 9: 12 discordant, exact: 2 (C(12,0) + C(12,1) + C(12,2) + C(12,3)) / 2^12 = 598 / 4096
    assert mcnemar(3, 9) == {"test": "exact binomial", "statistic": None, "p_value": 598 / 4096}
    assert mcnemar(9, 3)["p_value"] == 598 / 4096
    # b = 2, c = 22: 24 discordant, still exact: 2 (1 + 24 + 276) / 2^24
    assert mcnemar(2, 22)["p_value"] == 602 / 2**24
    # b = 30, c = 15: chi-square (|30 - 15| - 1)^2 / 45 = 196 / 45 = 4.3556, upper tail at 1 df 0.036888
    chi = mcnemar(30, 15)
    assert chi["test"] == "chi-square, continuity-corrected"
    assert chi["statistic"] == pytest.approx(196 / 45, abs=1e-6) and chi["p_value"] == pytest.approx(0.0368884, abs=1e-6)
    # b = 6, c = 19: 25 discordant, the first chi-square count: 12^2 / 25 = 5.76, p = 0.016395
    assert mcnemar(6, 19)["p_value"] == pytest.approx(0.0163951, abs=1e-6)
    assert mcnemar(20, 20)["p_value"] == 1.0 and mcnemar(0, 0)["p_value"] == 1.0 and mcnemar(1, 0)["p_value"] == 1.0


def _record(index, correct, *, task="retrieval", answer="A", present=None, **extra):
    record = {"id": f"s-{index:06d}", "group": f"s-{index:06d}", "index": index, "task": task, "answer": answer, "correct": correct, "parsed": answer, "rotation": 0}
    if present is not None:
        record["asked_present"] = present
    return {**record, **extra}


def test_the_paired_difference_of_two_hand_written_runs():
    first = [
        _record(0, True),
        _record(1, True),
        _record(2, False),
        _record(3, True),
        _record(4, True, task="negative", answer="yes", present=True),  # twins: one scene, one cluster
        _record(5, True, task="negative", answer="no", present=False),
        _record(6, True),  # only in the first run
        _record(8, True, answer="B"),  # the same id for another question: not the same sample
    ]
    second = [
        _record(0, False),
        _record(1, True),
        {**_record(1, False), "id": "s-000001-r1", "rotation": 1},  # a rotation: not counted
        _record(2, False),
        _record(3, False),
        _record(4, False, task="negative", answer="yes", present=True),
        _record(5, False, task="negative", answer="no", present=False),
        _record(7, True),  # only in the second run
        {**_record(9, False), "skipped": "no audio"},
        _record(8, False, answer="C"),
    ]
    compared = paired_comparison(first, second, seed=11)
    assert (compared["samples"], compared["clusters"]) == (6, 5)
    assert (compared["only_in_first"], compared["only_in_second"]) == (2, 2)
    assert (compared["first_accuracy"], compared["second_accuracy"], compared["difference"]) == (round(5 / 6, 6), round(1 / 6, 6), round(4 / 6, 6))
    counts = [compared[k] for k in ("both_right", "only_first_right", "only_second_right", "both_wrong")]
    assert counts == [1, 4, 0, 1]
    # 4 discordant, all one way: exact p = 2 / 2^4
    assert compared["mcnemar"] == {"test": "exact binomial", "statistic": None, "p_value": 0.125}
    # the twins move together: a resample draws both or neither, and the interval is wider than
    # if they were drawn apart; no sample favours the second run, so no resample can
    differences = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    low, high = bootstrap_interval(differences, 11, clusters=["0", "1", "2", "3", "twins", "twins"])
    assert (compared["low"], compared["high"]) == (round(low, 6), round(high, 6)) == (0.2, 1.0)
    assert bootstrap_interval(differences, 11) == (1 / 3, 1.0)
    same = paired_comparison(first, first, seed=11)
    assert (same["difference"], same["low"], same["high"], same["mcnemar"]["p_value"]) == (0.0, 0.0, 0.0, 1.0)
    assert paired_comparison(first, [_record(20, True)], seed=11) is None
