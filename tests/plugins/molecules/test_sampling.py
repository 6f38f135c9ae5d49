"""The sampler's growing KV cache gives the logits a full forward pass gives, through growths
of its capacity and rows dropped from the batch."""

import pytest
import torch

from tlgen.plugins.molecules import backbone, sampling


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_growing_cache_matches_a_full_forward_through_growth_and_dropped_rows(tiny_prior,
                                                                             attention):
    model, _ = backbone.load_pretrained(tiny_prior)
    model.eval()
    model.set_attn_implementation(attention)
    torch.manual_seed(0)
    length = 40  # the cache grows at positions 2, 18 and 34
    ids = torch.randint(4, model.config.vocab_size, (6, length))
    with torch.no_grad():
        full = model(ids).logits
    cache = sampling.growing_cache(model, sampling.KVPool(), length)
    assert isinstance(cache.layers[0], sampling.GrowingLayer)
    positions = torch.arange(length)
    rows = torch.arange(6)
    with torch.no_grad():
        for pos in range(1, length + 1):
            step = model(ids[rows, pos - 1:pos], cache,
                         attention_mask=(positions < pos).expand(len(rows), -1),
                         position_ids=positions[pos - 1].expand(len(rows), 1), use_cache=True)
            torch.testing.assert_close(step.logits[:, -1], full[rows, pos - 1],
                                       rtol=1e-4, atol=1e-4)
            if pos in (10, 25):  # drop rows, as the sampler does when they end
                keep = torch.arange(0, len(rows), 2) if pos == 10 else torch.tensor([0, 2])
                cache.batch_select_indices(keep)
                rows = rows[keep]
    # capacity 1, then 1 + 16 + 16, then capped at the length
    assert cache.layers[0].keys.shape[:3] == (2, model.config.n_head, 40)


def test_the_pool_reuses_its_buffers_across_batches(tiny_prior):
    model, tokenizer = backbone.load_pretrained(tiny_prior)
    pool = sampling.KVPool()
    args = (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, 8, 20, None)
    sampling.sample_ids(model, *args, torch.Generator().manual_seed(0), pool)
    buffers = {key: buffer.data_ptr() for key, buffer in pool.buffers.items()}
    assert buffers
    sampling.sample_ids(model, *args, torch.Generator().manual_seed(1), pool)
    assert {key: buffer.data_ptr() for key, buffer in pool.buffers.items()} == buffers


def test_drawing_on_a_cpu_uses_eager_attention_and_restores_the_models_own(tiny_prior):
    model, tokenizer = backbone.load_pretrained(tiny_prior)
    assert model.config._attn_implementation == "sdpa"
    with sampling.decoding_attention(model, torch.device("cpu")):
        assert model.config._attn_implementation == "eager"
    assert model.config._attn_implementation == "sdpa"
    sampling.generate(model, tokenizer, 4, max_tokens=12)
    assert model.config._attn_implementation == "sdpa"


def test_the_fast_sampler_draws_what_generate_draws_for_the_same_seed(tiny_prior):
    """One row at a time (no row is dropped, so both consume the RNG alike), fp32: the
    sample_ids hook's sampler and core's generate-based default give the same ids."""
    from tlgen.lm import generate_ids

    model, tokenizer = backbone.load_pretrained(tiny_prior)
    for seed in range(4):
        torch.manual_seed(seed)
        fast = sampling.draw_ids(model, tokenizer, 1, temperature=0.9, max_tokens=30, bf16=False)
        torch.manual_seed(seed)
        assert fast == generate_ids(model, 1, temperature=0.9, max_tokens=30)
    rows = sampling.draw_ids(model, tokenizer, 7, max_tokens=30, batch_size=3, bf16=False)
    assert len(rows) == 7 and all(r[0] == tokenizer.bos_token_id for r in rows)
    assert all(len(r) == 30 or (r[-1] == tokenizer.eos_token_id and
                                tokenizer.eos_token_id not in r[1:-1]) for r in rows)


def test_the_reward_stage_draws_through_the_plugins_sampler(tiny_prior, tmp_path):
    """The sample_ids hook answers with the fast sampler, from torch's RNG (which the reward
    stage's checkpoints keep): equal seeds, equal rows."""
    from tlgen import Run

    run = Run.create("molecules", overrides=[f"backbone.path='{tiny_prior}'", "sample.bf16=false"],
                     output_dir=tmp_path, device="cpu")
    backbone = run.load_backbone()
    draws = []
    for _ in range(2):
        torch.manual_seed(7)
        draws.append(run.call("sample_ids", backbone=backbone, model=backbone.model, n=5,
                              temperature=1.0, max_tokens=20))
    torch.manual_seed(7)
    assert draws[0] == draws[1] == sampling.draw_ids(backbone.model, backbone.tokenizer, 5,
                                                     max_tokens=20, bf16=False)
    assert len(draws[0]) == 5 and all(len(row) <= 20 for row in draws[0])


def test_the_plugin_keeps_one_pool_with_the_backbone_across_calls(tiny_prior):
    from tlgen.plugins.molecules import plugin
    from tlgen.types import Backbone

    model, tokenizer = backbone.load_pretrained(tiny_prior)
    held = Backbone(model, tokenizer)
    pool = plugin.kv_pool(held)
    assert plugin.kv_pool(held) is pool
    first = sampling.generate(model, tokenizer, 8, batch_size=8, max_tokens=24, seed=1, pool=pool)
    buffers = {key: buffer.data_ptr() for key, buffer in pool.buffers.items()}
    again = sampling.generate(model, tokenizer, 8, batch_size=8, max_tokens=24, seed=1, pool=pool)
    assert again == first == sampling.generate(model, tokenizer, 8, batch_size=8, max_tokens=24,
                                               seed=1)  # a kept pool changes no draw
    assert {key: buffer.data_ptr() for key, buffer in pool.buffers.items()} == buffers
