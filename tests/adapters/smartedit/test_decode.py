"""The LLM stage: exactly 32 image-token states, reproducible and independent of batch order."""

from __future__ import annotations

import pytest
import tiny_smartedit as ts
import torch
from PIL import Image

from adapters.smartedit.decode import (
    IMAGE_TOKENS,
    IncompleteImageTokens,
    _hidden,
    generate_states,
    greedy_pick,
    image_token_states,
    seeded_sampler,
    splice,
)
from adapters.smartedit.prompt import prompt_ids
from adapters.smartedit.vision import clip_pixels, patch_features


@pytest.fixture(scope="module")
def stage(smartedit_model):
    """(model, projected patches of 3 images) for the three tiny instructions."""
    images = [Image.new("RGB", (40, 30), (60 * i, 100, 50)) for i in range(3)]
    with torch.no_grad():
        patches = patch_features(
            smartedit_model.vision.model, clip_pixels(smartedit_model.vision.processor, images)
        )
        return smartedit_model, smartedit_model.bridge.projector(patches)


def _states(stage, order, seeds, mode):
    model, patches = stage
    with torch.no_grad():
        return image_token_states(
            model.llm,
            model.base.tokenizer,
            model.base.ids,
            [ts.INSTRUCTIONS[i] for i in order],
            patches[list(order)],
            seeds,
            mode,
        )


@pytest.mark.parametrize("mode", ["greedy", "sampled", "teacher_forced"])
def test_each_mode_collects_exactly_32_states_per_sample(stage, mode):
    states = _states(stage, [0, 1, 2], [1, 2, 3], mode)
    assert states.shape == (3, IMAGE_TOKENS, ts.HIDDEN)
    assert torch.isfinite(states).all()


def test_cached_decoding_matches_one_pass_over_the_same_tokens(stage):
    """The KV cache, left padding and position ids of a mixed-length batch change nothing."""
    model, patches = stage
    ids, fed = model.base.ids, []

    def recording(logits):
        fed.append(greedy_pick(logits))
        return fed[-1]

    prompts = [prompt_ids(model.base.tokenizer, ids, text) for text in ts.INSTRUCTIONS]
    with torch.no_grad():
        states = generate_states(
            model.llm, splice(model.llm, prompts, patches, ids.first_image), ids, recording, 100
        )
    tokens = torch.stack(fed, dim=1)
    for row, prompt in enumerate(prompts):
        answer = tokens[row].tolist()
        answer = answer[: answer.index(ids.first_image + 31) + 1]
        with torch.no_grad():
            once = splice(model.llm, [prompt + answer], patches[row : row + 1], ids.first_image)
            hidden = _hidden(
                model.llm,
                None,
                inputs_embeds=once.embeds,
                attention_mask=once.mask,
                position_ids=once.positions,
            )[0]
        at = [hidden.shape[0] - len(answer) + i for i, t in enumerate(answer) if t >= ids.first_image]
        assert torch.allclose(states[row], hidden[at], atol=1e-4)


def test_sampling_repeats_with_the_same_seeds_and_varies_with_others(stage):
    first = _states(stage, [0, 1, 2], [5, 6, 7], "sampled")
    assert torch.equal(first, _states(stage, [0, 1, 2], [5, 6, 7], "sampled"))
    per_seed = [_states(stage, [0], [seed], "sampled")[0] for seed in range(8)]
    assert any(not torch.allclose(per_seed[0], other, atol=1e-4) for other in per_seed[1:])


def test_sampled_states_do_not_depend_on_the_order_or_company_of_samples(stage):
    forward = _states(stage, [0, 1, 2], [11, 12, 13], "sampled")
    backward = _states(stage, [2, 1, 0], [13, 12, 11], "sampled")
    alone = _states(stage, [1], [12], "sampled")
    assert torch.allclose(forward, backward.flip(0), atol=1e-4)
    assert torch.allclose(forward[1], alone[0], atol=1e-4)


def test_seeded_sampler_draws_each_row_from_its_own_generator():
    logits = torch.zeros(2, 50)
    forward = seeded_sampler([1, 2])(logits).tolist()
    assert seeded_sampler([2, 1])(logits).tolist() == forward[::-1]
    assert seeded_sampler([1, 2])(logits).tolist() == forward


def test_an_answer_that_ends_before_32_image_tokens_is_an_error(stage):
    model, patches = stage
    ids = model.base.ids
    prompts = [prompt_ids(model.base.tokenizer, ids, ts.INSTRUCTIONS[0])]
    prefill = splice(model.llm, prompts, patches[:1], ids.first_image)
    with torch.no_grad(), pytest.raises(IncompleteImageTokens, match="after 0 of 32 image tokens"):
        generate_states(model.llm, prefill, ids, lambda logits: torch.full((len(logits),), ids.eos), 10)


def test_an_unknown_mode_is_refused(stage):
    with pytest.raises(ValueError, match="unknown decoding mode 'beam'"):
        _states(stage, [0], [0], "beam")
