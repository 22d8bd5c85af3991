"""Streaming needle data for training: every index exactly once across ranks and DataLoader
workers, resuming from a step without repeats or gaps, chat examples a real processor takes, and
a tiny Qwen2-VL whose loss falls on a fixed batch."""

import pytest
import torch
import yaml
from PIL import Image
from conftest import SMALL_SUITE
from torch.utils.data import DataLoader

from mmhay.errors import ConfigError
from mmhay.stream import NeedleStream, hf_stream

# three workers on a two-core machine is the point of the test; torch warns about it
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")

SUITE = {**SMALL_SUITE, "samples": 30, "video": {"size": [64, 36], "fps": 4}, "grid": {"length": [4], "depth": [0.0, 0.5, 1.0]}}


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "s.yaml"
    path.write_text(yaml.safe_dump(SUITE))
    return path


def _indices(config, *, world, workers, batch_size, steps=None, start_step=0, endless=False, frames=2):
    """What each rank's loop is handed, batch by batch, with real worker processes."""
    taken = []
    for rank in range(world):
        stream = NeedleStream(config, batch_size=batch_size, frames=frames, workers=workers, rank=rank, world=world, start_step=start_step, endless=endless)
        loader = DataLoader(stream, batch_size=batch_size, num_workers=workers, collate_fn=list)
        for step, batch in enumerate(loader):
            if steps is not None and step >= steps:
                break
            taken.append([example["index"] for example in batch])
    return taken


def test_two_ranks_by_three_workers_produce_every_index_exactly_once(config):
    batches = _indices(config, world=2, workers=3, batch_size=2)
    flat = [index for batch in batches for index in batch]
    assert sorted(flat) == list(range(30)), "each of the 30 samples once, none twice, none missing"


def test_resuming_from_a_saved_step_continues_without_repeats_or_gaps(config):
    first = _indices(config, world=2, workers=3, batch_size=2, steps=4, endless=True)  # 4 steps per rank
    rest = _indices(config, world=2, workers=3, batch_size=2, steps=5, start_step=4, endless=True)
    whole = _indices(config, world=2, workers=3, batch_size=2, steps=9, endless=True)
    assert sorted(i for b in first + rest for i in b) == sorted(i for b in whole for i in b)
    assert len({i for b in first + rest for i in b}) == 2 * 9 * 2, "no index twice"
    # a whole number of rounds over the workers consumes a prefix of the indices
    six = _indices(config, world=2, workers=3, batch_size=2, steps=6, endless=True)
    assert sorted(i for b in six for i in b) == list(range(24))


def test_an_endless_stream_goes_past_the_suite_with_fresh_samples(config):
    stream = NeedleStream(config, frames=2, endless=True)
    examples = [example for _, example in zip(range(33), stream)]
    assert [e["index"] for e in examples] == list(range(33))
    assert len({e["id"] for e in examples}) == 33
    assert len({e["videos"][0].tobytes() for e in examples[:33]}) == 33, "indices past the grid are new draws"


def test_the_same_index_gives_the_same_bytes(config):
    one = next(iter(NeedleStream(config, frames=3)))
    again = next(iter(NeedleStream(config, frames=3)))
    assert one["videos"][0].tobytes() == again["videos"][0].tobytes() and one["messages"] == again["messages"]
    assert one["videos"][0].shape == (3, 36, 64, 3) and len(one["frame_times"]) == 3
    user, assistant = one["messages"]
    assert user["content"][0] == {"type": "video"} and "Answer with" in user["content"][1]["text"]
    assert assistant["content"][0]["text"] == one["answer"]


def test_a_resume_with_another_layout_is_refused(config):
    stream = NeedleStream(config, batch_size=2, workers=3, world=2, rank=0)
    saved = stream.position(7).to_json()
    assert NeedleStream.resume(config, saved, workers=3, world=2, rank=1).start_step == 7
    with pytest.raises(ConfigError, match="3 workers x 2 ranks"):
        NeedleStream.resume(config, saved, workers=2, world=2, rank=0)


def test_the_datasets_stream_gives_the_same_examples_over_its_shards(config):
    stream = hf_stream(config, frames=2, shards=3)
    examples = list(stream)
    assert sorted(e["index"] for e in examples) == list(range(30))
    mine = {e["index"]: e for e in NeedleStream(config, frames=2)}
    for example in examples[:4]:
        ours = mine[example["index"]]
        assert example["messages"] == ours["messages"]
        assert [picture.size for picture in example["images"]] == [(64, 36)] * 2


def test_a_tiny_qwen2_vl_learns_on_a_fixed_batch_of_the_stream(config, tiny_qwen2_vl):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from mmhay.collator import ChatCollator

    processor = AutoProcessor.from_pretrained(tiny_qwen2_vl)
    collate = ChatCollator(processor)
    batch = collate([example for _, example in zip(range(4), NeedleStream(config, frames=2))])
    answer_tokens = (batch["labels"] != -100).sum(dim=1)
    assert torch.all(answer_tokens >= 2), "the answer and the end of the turn are learned"
    assert torch.all(answer_tokens <= 4), "the prompt and the media are not"
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen2_vl, dtype=torch.float32)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] < losses[0] * 0.9, losses


def test_the_collator_in_generation_mode_gives_the_prompt_left_padded_without_labels(config, tiny_qwen2_vl):
    from transformers import AutoProcessor

    from mmhay.collator import ChatCollator

    processor = AutoProcessor.from_pretrained(tiny_qwen2_vl)
    examples = [example for _, example in zip(range(3), NeedleStream(config, frames=2))]
    training, asking = ChatCollator(processor)(examples), ChatCollator(processor, generation=True)(examples)
    assert "labels" not in asking
    tokenizer = processor.tokenizer
    cue = tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    for row in range(3):
        ids = asking["input_ids"][row].tolist()
        assert ids[-len(cue) :] == cue, "every row ends with the assistant's cue: padding is on the left"
        mask = training["attention_mask"][row].bool()
        answer = int((training["labels"][row] != -100).sum())
        prompt = training["input_ids"][row][mask].tolist()[:-answer]
        assert [t for t, keep in zip(ids, asking["attention_mask"][row].tolist()) if keep] == prompt, "the training row's prompt, without the answer"


@pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated")  # transformers' own, from TRL's config
def test_trl_sft_trainer_learns_from_the_datasets_stream_through_the_collator(config, tiny_qwen2_vl, tmp_path):
    """TRL's SFTTrainer takes ``hf_stream`` (frames as PIL pictures) with ``ChatCollator`` as its
    data collator, and the model's loss on a fixed batch falls over its steps."""
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTConfig, SFTTrainer

    from mmhay.collator import ChatCollator

    processor = AutoProcessor.from_pretrained(tiny_qwen2_vl)
    collate = ChatCollator(processor)
    examples = list(hf_stream(config, frames=2, shards=1).take(4))
    assert all(isinstance(example["images"][0], Image.Image) for example in examples)
    batch = collate(examples)
    assert batch["pixel_values_videos"].shape[0] > 0 and "pixel_values" not in batch, "the frames go in as a video"
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen2_vl, dtype=torch.float32)

    def loss() -> float:
        with torch.no_grad():
            return model(**batch).loss.item()

    before = loss()
    args = SFTConfig(
        output_dir=str(tmp_path / "sft"), max_steps=6, per_device_train_batch_size=2, learning_rate=3e-3, seed=0,
        remove_unused_columns=False, dataset_kwargs={"skip_prepare_dataset": True}, report_to=[], save_strategy="no",
        logging_steps=1, use_cpu=True, dataloader_num_workers=0,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=hf_stream(config, frames=2, shards=1), data_collator=collate, processing_class=processor)
    trainer.train()
    model.eval()
    assert trainer.state.global_step == 6
    assert loss() < before * 0.9, (before, loss(), [entry.get("loss") for entry in trainer.state.log_history])


def test_the_datasets_stream_splits_over_nodes_and_workers_without_overlap(config):
    from datasets.distributed import split_dataset_by_node

    seen = []
    for rank in range(2):
        node = split_dataset_by_node(hf_stream(config, frames=1, shards=6), rank=rank, world_size=2)
        loader = DataLoader(node, batch_size=None, num_workers=3)
        seen.append(sorted(example["index"] for example in loader))
    assert sorted(seen[0] + seen[1]) == list(range(30)) and not set(seen[0]) & set(seen[1])
