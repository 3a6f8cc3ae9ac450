"""brevity: training text and masks, the readings on scripted models, and a tiny run."""

import math

import pytest
import torch

from layerwise.data import IGNORE_INDEX
from layerwise.eval import PromptSensitivityHarness
from layerwise.studies import get_study, run_study
from layerwise.studies.brevity import (
    PROMPTS,
    BrevityConfig,
    BrevityStudy,
    encode_batch,
    smollm2_brevity,
    training_text,
)

PROBLEMS = [(f"{k}+1?", k + 1) for k in range(4)]


def test_training_text_and_answer_only_targets():
    prompt, answer = training_text("2+2?", "2+2=4. The answer is 4.", "The answer is 4.", "brief")
    assert prompt == "Q: 2+2? Be brief.\nA:" and answer == " The answer is 4.\n"
    assert training_text("q", "long", "short", "placebo") == ("Q: q Solve it.\nA:", " long\n")
    x, y = encode_batch([("ab", "cd"), ("a", "b")])
    assert x.tolist() == [[97, 98, 99], [97, 0, 0]]
    assert y.tolist() == [[IGNORE_INDEX, 99, 100], [98, IGNORE_INDEX, IGNORE_INDEX]]


def scripted(right_on):
    """A model whose answer is right exactly on the (variant, problem) pairs in ``right_on``."""
    def answer(prompt):
        variant = "brief" if "Be brief" in prompt else "placebo" if "Solve it" in prompt else "standard"
        k = int(prompt.split("Q: ")[1].split("+")[0])
        return f"The answer is {k + 1 if (variant, k) in right_on else 99}."
    return answer


def test_readings_separate_the_instruction_from_regression_to_the_mean():
    """Subset = problems 0, 1 (small right, large wrong under standard). Under placebo the large
    model recovers problem 0 only (closure 0.5); under brief both (closure 1.0, subset gap 0)
    while its brief gap over all problems is 0.5 - 1 = -0.5: effect 0 - (-0.5) = 0.5."""
    small = scripted({(v, k) for v in PROMPTS for k in range(4)})
    large = scripted({("standard", 2), ("standard", 3), ("placebo", 0), ("brief", 0), ("brief", 1)})
    result = PromptSensitivityHarness({"s": small, "l": large}, PROBLEMS, variants=PROMPTS).run()
    r = BrevityStudy.readings(result)
    assert r["n_subset"] == 2.0
    assert r["closure_placebo"] == 0.5 and r["closure_brief"] == 1.0 and r["placebo_contrast"] == 0.5
    assert r["gap_brief_all"] == -0.5 and r["brevity_effect"] == 0.5
    assert r["agree_placebo"] == [1.0, 0.25] and r["agree_brief"] == [1.0, 0.0]
    assert r["subset_gap_brief"] == 0.0 and r["acc_large_standard"] == 0.5
    assert r["acc_brief"] == [1.0, 0.5] and r["log_len_ratio"] == 0.0
    none = BrevityStudy.readings(PromptSensitivityHarness({"s": small, "l": small}, PROBLEMS,
                                                          variants=PROMPTS).run())
    assert none["n_subset"] == 0.0 and none["brevity_effect"] == 0.0 and math.isnan(none["closure_brief"])


def test_tiny_run(tmp_path):
    study = get_study("brevity")
    assert study.config("full") == BrevityConfig()
    with pytest.raises(ValueError, match="layers and widths"):
        study.trial(BrevityConfig(layers=(1,), widths=(8,)), None)
    verdict = run_study("brevity", size="tiny", out=tmp_path, progress=False, report=False)
    d = verdict.details
    assert verdict.verdict == "not-judged"
    assert len(d["acc_standard"]["ladder"]) == 2 and len(d["train_loss"]["ladder"]) == 2
    assert all(0.0 <= a <= 1.0 for a in d["acc_brief"]["ladder"])
    assert math.isfinite(d["log_len_ratio"]["ladder"])
    assert torch.isfinite(torch.tensor(d["train_loss"]["ladder"])).all()


def test_smollm2_extra_runs_the_harness_on_a_chat_model():
    from tests.unit.eval.test_prompt_sensitivity import ByteTokenizer, FakeHF

    out = smollm2_brevity(3, max_new_tokens=2, load=lambda name: (FakeHF(), ByteTokenizer()))
    assert out["n_problems"] == 3.0 and out["timed_out"] == 0.0
    assert out["words_standard"] == 1.0 and out["words_brief"] == 1.0  # " 7" in two tokens
    assert 0.0 <= out["acc_brief"] <= 1.0 and out["seconds"] >= 0.0


def test_report_sections_tabulate_every_model_and_prompt():
    row = {"n_subset": 2.0, "subset_gap_brief": 0.0, "gap_brief_all": -0.5, "closure_placebo": 0.5}
    for q in ("acc", "len", "agree"):
        row.update({f"{q}_{v}": [0.25, 0.75] for v in PROMPTS})
    cfg = BrevityConfig(layers=(1, 2), widths=(8, 16))
    table, per_seed = BrevityStudy().sections(cfg, {"ladder": [row, row]}, None)
    assert table.html.count("<tr>") == 1 + 2 * 3 and "<td>2x16</td><td>brief</td><td>0.750</td>" in table.html
    assert per_seed.html.count("<tr>") == 3
    assert "<td>1</td><td>2</td><td>0.000</td><td>-0.500</td>" in per_seed.html
    assert BrevityStudy().sections(cfg, {"ladder": []}, None) == []
