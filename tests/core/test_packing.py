"""Padding-free packed batches (core/packing.py) and fused activations (core/kernels.py):
the loss stays the token-exact mean, sequences never see each other, and a plugin or
model that cannot pack is refused in one line."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from tlgen import TlgenError
from tlgen.data import CausalLMCollator
from tlgen.kernels import fuse_activations
from tlgen.packing import PackedCollator, check_isolation, fill_rows, training_collate
from tlgen.types import DataSplits, count_items

from .conftest import dropout_free_trainer

PAD = 0


def tiny_gpt2(**kwargs) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=50, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, pad_token_id=PAD,
                        **kwargs)
    return GPT2LMHeadModel(config).eval()


def some_sequences(seed: int = 1) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    lengths = [3, 17, 9, 1, 30, 12, 5, 22]
    return [torch.randint(1, 50, (n,), generator=gen).tolist() for n in lengths]


def per_sequence_mean(model, sequences) -> float:
    """The token-exact mean NLL computed one sequence at a time (no batching at all)."""
    total, count = 0.0, 0
    for seq in sequences:
        if len(seq) < 2:
            continue
        logits = model(input_ids=torch.tensor([seq])).logits[0, :-1]
        total += torch.nn.functional.cross_entropy(logits, torch.tensor(seq[1:]),
                                                   reduction="sum").item()
        count += len(seq) - 1
    return total / count


@pytest.mark.parametrize("row_tokens", [1, 32, 1000])
def test_the_packed_loss_is_the_token_exact_mean_of_the_padded_batch(row_tokens):
    model, sequences = tiny_gpt2(), some_sequences()
    padded = CausalLMCollator(PAD)(sequences)
    packed = PackedCollator(row_tokens, PAD)(sequences)
    assert "attention_mask" not in packed
    assert count_items(packed, "labels") == count_items(padded, "labels") == 91
    with torch.no_grad():
        exact = per_sequence_mean(model, sequences)
        assert model(**padded).loss.item() == pytest.approx(exact, abs=1e-5)
        assert model(**packed).loss.item() == pytest.approx(exact, abs=1e-5)


def test_a_sequence_packed_with_others_does_not_see_them():
    model, sequences = tiny_gpt2(), some_sequences()
    collate = PackedCollator(1000, PAD)  # everything in one row
    changed = [list(s) for s in sequences]
    changed[4] = [(t % 49) + 1 for t in changed[4]]  # the longest: packed first
    with torch.no_grad():
        before = model(**collate(sequences)).logits[0]
        after = model(**collate(changed)).logits[0]
    assert collate(sequences)["input_ids"].shape == (1, 99)
    moved = (before - after).abs().amax(dim=-1) > 1e-5
    assert moved[:30].all()  # the changed sequence's own logits move ...
    assert not moved[30:].any()  # ... and no other sequence's


def test_rows_hold_at_most_their_capacity_and_every_item_once():
    lengths = [5, 40, 7, 7, 20, 3, 90]
    rows = fill_rows(lengths, 40)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert [6] in rows  # longer than a row: alone
    assert all(sum(lengths[i] for i in row) <= 40 for row in rows if row != [6])
    assert len(rows) == 4


def test_packing_refuses_data_that_are_not_token_sequences():
    class Images:
        def __call__(self, items):
            return {"pixels": torch.stack(items)}

    data = DataSplits(train=[torch.zeros(3)] * 4, collate_fn=Images())
    cfg = type("Train", (), {"pack": 256})()
    with pytest.raises(TlgenError, match="train.pack: packing needs token-id sequences"):
        training_collate(cfg, data, tiny_gpt2())
    cfg.pack = 0
    assert training_collate(cfg, data, tiny_gpt2()) is data.collate_fn


def test_packing_refuses_a_loss_that_is_a_mean_over_items():
    data = DataSplits(train=some_sequences(), collate_fn=CausalLMCollator(PAD), count_key=None)
    cfg = type("Train", (), {"pack": 256})()
    with pytest.raises(TlgenError, match="count_key 'labels'.*count_key is None"):
        training_collate(cfg, data, tiny_gpt2())
    data.count_key = "labels"
    assert isinstance(training_collate(cfg, data, tiny_gpt2()), PackedCollator)


class RunningMean(torch.nn.Module):
    """A causal model that takes a packed batch but ignores position_ids: each position
    sees every earlier token of its row."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 8)

    def forward(self, input_ids, position_ids=None, labels=None, use_cache=None):
        x = self.embed(input_ids).cumsum(1)
        return x / torch.arange(1, x.shape[1] + 1)[None, :, None]


def test_a_model_that_attends_across_packed_sequences_is_refused():
    with pytest.raises(TlgenError, match="RunningMean attends across packed sequences"):
        check_isolation(RunningMean(), some_sequences()[:2])
    check_isolation(tiny_gpt2(), some_sequences()[:2])  # GPT-2 under SDPA packs cleanly


def test_fused_activations_compute_the_same_function():
    model, reference = tiny_gpt2(), tiny_gpt2()
    keys = set(model.state_dict())
    assert fuse_activations(model) == 2
    assert fuse_activations(model) == 0  # already fused
    assert set(model.state_dict()) == keys
    batch = CausalLMCollator(PAD)(some_sequences())
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, reference(**batch).logits,
                                   rtol=1e-5, atol=1e-5)
    assert fuse_activations(tiny_gpt2(activation_function="relu")) == 0


def test_a_killed_packed_run_resumes_exactly(make_run):
    from tlgen import Run
    from tlgen.testing import KillAt, Killed

    reference = make_run("train.pack=64", "before=false", name="reference")
    reference.execute()
    killed = make_run("train.pack=64", "before=false", extra=[KillAt(6)], name="killed")
    with pytest.raises(Killed):
        killed.execute()
    resumed = Run.open(killed.dir)
    assert resumed.execute()["train"]["steps"] == 12
    want = reference.load_trained().model.state_dict()
    got = resumed.load_trained().model.state_dict()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6)


def packed_and_padded_step(make_run, group, pack):
    """The gradients of one trainer step over ``group`` (dropout off), batched by the
    trainer's own collate function."""
    run = make_run(f"train.pack={pack}", name=f"pack{pack}")
    trainer, data = dropout_free_trainer(run)
    backbone = trainer.backbone
    batch = trainer.train_loader.collate_fn([data.train[i] for i in group])
    trainer.model.train()
    loss = run.call("loss", backbone=backbone, model=trainer.model, batch=batch, training=True)
    loss.backward()
    return batch, loss.item(), {n: p.grad for n, p in trainer.model.named_parameters()}


def test_a_packed_trainer_step_gives_the_padded_steps_loss_and_gradients(make_run):
    group = list(range(12))
    padded, loss, grads = packed_and_padded_step(make_run, group, 0)
    packed, packed_loss, packed_grads = packed_and_padded_step(make_run, group, 96)
    assert "attention_mask" in padded and "position_ids" in packed
    assert packed["input_ids"].numel() < padded["input_ids"].numel()  # less padding
    assert packed_loss == pytest.approx(loss, abs=1e-5)
    for name, grad in grads.items():
        torch.testing.assert_close(packed_grads[name], grad, rtol=1e-4, atol=1e-6)
