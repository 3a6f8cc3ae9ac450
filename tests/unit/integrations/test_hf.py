"""LayerwiseCallback in a real Hugging Face Trainer on a tiny Llama built from its config."""

import pytest
import torch

from layerwise import RunLog

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int):
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 64, (n, 16), generator=g)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def test_trainer_steps_are_recorded_and_evaluation_does_not_replace_them(tmp_path):
    from layerwise.integrations.hf import LayerwiseCallback

    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        hidden_size=16, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2,
        intermediate_size=32, vocab_size=64, max_position_embeddings=32))
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=6, per_device_train_batch_size=4,
        per_device_eval_batch_size=4, eval_strategy="steps", eval_steps=2, logging_steps=2,
        learning_rate=1e-3, report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens(32),
                                   eval_dataset=Tokens(8), callbacks=[LayerwiseCallback(tmp_path / "run")])
    trainer.train()
    rows = RunLog.read(tmp_path / "run").to_pylist()
    steps = lambda metric: sorted({r["step"] for r in rows if r["metric"] == metric})  # noqa: E731
    assert steps("grad_norm") == list(range(6))  # every optimizer step, no phantom step after
    assert steps("act_grad_norm") == list(range(6))  # eval passes (no gradient) never replaced one
    assert steps("update_ratio") == list(range(6))  # the accelerate optimizer was unwrapped
    layers = {r["layer"] for r in rows if r["metric"] == "act_rms"}
    assert layers == {f"model.layers.{i}" for i in range(3)}
    assert {"loss", "eval_loss"} <= {r["metric"] for r in rows if r["layer"] == ""}
    assert RunLog.read_meta(tmp_path / "run")["status"] == "finished"
