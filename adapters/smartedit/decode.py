"""The multimodal LLM stage: read the 32 hidden states of SmartEdit's ``<img_k>`` tokens.

The prompt's ``<img_0>`` placeholder is replaced by the projected CLIP patches and the LLM (a
``LlamaForCausalLM``) is fed input embeddings. Whenever an ``<img_k>`` token is fed, its final hidden
state (after the last RMSNorm) is kept; 32 of them condition the Q-Former. Three ways to get them:

- ``sampled`` (default): token by token at temperature 0.7 like the original, but from a CPU
  ``torch.Generator`` seeded with each sample's seed (the original drew from the global RNG), so a
  sample's states depend neither on the batch it is in nor on the order of samples;
- ``greedy``: token by token, most likely token each step;
- ``teacher_forced``: the trained answer to the prompt (the phrasing, then ``<img_0>`` ... ``<img_31>``)
  is fed after the prompt and the 32 states are read in one pass, without generation.

Samples are batched with left padding, an attention mask and matching position ids.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from adapters.smartedit.prompt import IMAGE_TOKENS, TokenIds, answer_ids, prompt_ids

MODES = ("sampled", "greedy", "teacher_forced")
TEMPERATURE = 0.7
MAX_NEW_TOKENS = 512


class IncompleteImageTokens(RuntimeError):
    """The LLM stopped before emitting its 32 image tokens (the original asserts on it too)."""


class Prefill(NamedTuple):
    """A left-padded batch of input embeddings."""

    embeds: torch.Tensor
    mask: torch.Tensor
    positions: torch.Tensor


def splice(llm: Any, sequences: Sequence[list[int]], patches: torch.Tensor, slot: int) -> Prefill:
    """Embed each id sequence with ``patches[i]`` in place of its first ``slot`` token; left-pad."""
    embed = llm.get_input_embeddings()
    rows = []
    for seq, image in zip(sequences, patches, strict=True):
        at = seq.index(slot)
        ids = torch.tensor(seq[:at] + seq[at + 1 :], device=embed.weight.device)
        text = embed(ids)
        rows.append(torch.cat([text[:at], image.to(text.dtype), text[at:]]))
    length = max(len(r) for r in rows)
    embeds = rows[0].new_zeros(len(rows), length, rows[0].shape[-1])
    mask = torch.zeros(len(rows), length, dtype=torch.long, device=embeds.device)
    for i, row in enumerate(rows):
        embeds[i, length - len(row) :] = row
        mask[i, length - len(row) :] = 1
    return Prefill(embeds, mask, (mask.cumsum(-1) - 1).clamp(min=0))


def _hidden(llm: Any, cache: Any, **inputs: Any) -> torch.Tensor:
    """Final hidden states of ``llm.model``; the KV cache argument is ``cache`` in newer transformers."""
    params = inspect.signature(llm.model.forward).parameters
    name = "cache" if "cache" in params else "past_key_values"
    return llm.model(**inputs, **{name: cache}, use_cache=cache is not None).last_hidden_state


def greedy_pick(logits: torch.Tensor) -> torch.Tensor:
    """The most likely next token of each row."""
    return logits.argmax(-1)


def seeded_sampler(
    seeds: Sequence[int], temperature: float = TEMPERATURE
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A picker that samples row i at ``temperature`` from its own CPU generator seeded with ``seeds[i]``."""
    gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]

    def pick(logits: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(logits.float() / temperature, dim=-1).cpu()
        drawn = [torch.multinomial(p, 1, generator=g) for p, g in zip(probs, gens, strict=True)]
        return torch.cat(drawn).to(logits.device)

    return pick


def generate_states(
    llm: Any,
    prefill: Prefill,
    ids: TokenIds,
    pick: Callable[[torch.Tensor], torch.Tensor],
    max_new_tokens: int,
) -> torch.Tensor:
    """Decode with a KV cache until each row has fed 32 image tokens; their states [B, 32, hidden]."""
    from transformers import DynamicCache

    cache = DynamicCache()
    hidden = _hidden(
        llm, cache, inputs_embeds=prefill.embeds, attention_mask=prefill.mask, position_ids=prefill.positions
    )[:, -1]
    mask, positions = prefill.mask, prefill.positions[:, -1:]
    states: list[list[torch.Tensor]] = [[] for _ in range(len(mask))]
    for _ in range(max_new_tokens):
        token = pick(llm.lm_head(hidden))
        for row, tok in enumerate(token.tolist()):
            if tok == ids.eos and len(states[row]) < IMAGE_TOKENS:
                raise IncompleteImageTokens(
                    f"sample {row}: the LLM ended its answer after {len(states[row])} "
                    f"of {IMAGE_TOKENS} image tokens"
                )
        mask = torch.cat([mask, mask.new_ones(len(mask), 1)], dim=1)
        positions = positions + 1
        hidden = _hidden(llm, cache, input_ids=token[:, None], attention_mask=mask, position_ids=positions)[
            :, -1
        ]
        for row, tok in enumerate(token.tolist()):
            if tok >= ids.first_image and len(states[row]) < IMAGE_TOKENS:
                states[row].append(hidden[row])
        if all(len(s) == IMAGE_TOKENS for s in states):
            return torch.stack([torch.stack(s) for s in states])
    raise IncompleteImageTokens(f"no {IMAGE_TOKENS} image tokens within {max_new_tokens} new tokens")


def image_token_states(
    llm: Any,
    tokenizer: Any,
    ids: TokenIds,
    instructions: Sequence[str],
    patches: torch.Tensor,
    seeds: Sequence[int],
    mode: str = "sampled",
) -> torch.Tensor:
    """The 32 image-token states [B, 32, hidden] for instructions and projected patches [B, N, hidden].

    Raises:
        IncompleteImageTokens: a generating mode ended a sample before its 32 image tokens.
    """
    if mode not in MODES:
        raise ValueError(f"unknown decoding mode {mode!r} (known: {', '.join(MODES)})")
    sequences = [prompt_ids(tokenizer, ids, text) for text in instructions]
    if mode == "teacher_forced":
        answer = answer_ids(tokenizer, ids)
        prefill = splice(llm, [seq + answer for seq in sequences], patches, ids.first_image)
        # The answer ends with the 32 image tokens, so with left padding they are the last columns.
        hidden = _hidden(
            llm,
            None,
            inputs_embeds=prefill.embeds,
            attention_mask=prefill.mask,
            position_ids=prefill.positions,
        )
        return hidden[:, -IMAGE_TOKENS:]
    prefill = splice(llm, sequences, patches, ids.first_image)
    pick = greedy_pick if mode == "greedy" else seeded_sampler(seeds)
    return generate_states(llm, prefill, ids, pick, MAX_NEW_TOKENS)
