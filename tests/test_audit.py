from dataclasses import replace
from pathlib import Path

from mmhay.audit import audit
from mmhay.cli import main
from mmhay.config import load_suite, parse_suite
from mmhay.generators import create_generator

QUICKSTART = Path(__file__).parent.parent / "configs" / "quickstart.yaml"


def test_the_quickstart_suite_passes_with_balanced_letters_and_a_blind_baseline_at_chance(capsys):
    assert main(["audit", str(QUICKSTART), "--recheck", "6"]) == 0
    printed = capsys.readouterr().out
    assert "ok    letters         4 options: A 15 B 15 C 15 D 15" in printed
    blind = next(line for line in printed.splitlines() if "blind baseline" in line)
    assert blind.startswith("ok") and "chance 25.0%" in blind


def test_a_biased_suite_fails_letters_and_the_blind_baseline():
    generator = create_generator(load_suite(QUICKSTART))
    biased = []
    for i in range(60):
        sample = generator.sample(i)
        k = ord(sample.answer) - 65
        options = list(sample.options)
        options[0], options[k] = options[k], options[0]  # the right option always first
        biased.append(replace(sample, options=tuple(options), answer="A"))
    findings = {f.check: f for f in audit(biased, recheck=0)}
    assert not findings["letters"].ok and not findings["blind baseline"].ok
    assert findings["blind baseline"].figures["accuracy"] == 1.0


def test_duplicates_imbalance_and_wrong_truth_are_found():
    generator = create_generator(parse_suite({"name": "n", "samples": 8, "task": "negative", "video": {"size": [128, 72], "fps": 8}, "grid": {"length": [10]}}))
    samples = [generator.sample(i) for i in range(8)]
    shifted = dict(samples[0].truth)
    needle = dict(shifted["needles"][0])
    needle["frames"] = [needle["frames"][0] + 24, needle["frames"][1] + 24]  # three seconds off
    shifted["needles"] = [needle]
    broken = [replace(samples[0], truth=shifted), samples[1], samples[2], samples[2], samples[4]]
    findings = {f.check: f for f in audit(broken)}
    assert not findings["duplicates"].ok and findings["duplicates"].figures["repeated"] == 2
    assert not findings["presence"].ok and findings["presence"].figures == {"present": 4, "absent": 1, "largest_difference": 3}
    assert not findings["truth"].ok and "does not show" in findings["truth"].figures["problems"][0]
    assert {f.check: f.ok for f in audit(samples)} == {
        "letters": True, "presence": True, "coverage": True, "duplicates": True, "blind baseline": True, "shown": True, "truth": True,
    }  # fmt: skip


def test_audit_writes_its_findings_as_json(tmp_path):
    import json

    assert main(["audit", str(QUICKSTART), "--recheck", "2", "--out", str(tmp_path / "audit.json")]) == 0
    findings = json.loads((tmp_path / "audit.json").read_text())
    assert [f["check"] for f in findings] == ["letters", "presence", "coverage", "duplicates", "blind baseline", "shown", "truth"]
    assert all(f["ok"] for f in findings)
