"""The SmartEdit conversation prompt and its tokenisation.

SmartEdit talks to its LLM in the Vicuna style of its own "vicuna_v1.3" template: a system line that
says the assistant can generate ``<img>``, then ``USER: ... ASSISTANT:``. The user turn is one of 30
phrasings; the original picks one at random per image, we always use the first (a documented
deviation that makes the prompt deterministic). The instruction is quoted and prefixed with
``<im_start> <img_0> <im_end>``; that ``<img_0>`` is a placeholder where the image patches go.

The LLM was trained with a transformers version whose slow tokenizer cut the text at every added
token, stripped the spaces next to it and encoded each remaining piece on its own (so each piece gets
SentencePiece's leading "▁"). Newer tokenizers keep those spaces, which changes the ids, so we
tokenise piecewise ourselves and never rely on the tokenizer's handling of added tokens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from realedit_bench.errors import WeightsError

SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant can generate <img>. "
    "The assistant needs to conduct the image to image translation task based on given image and text "
    "information. The assistant gives helpful, detailed, and polite answers to the user's questions."
)
#: The first of the released user-turn phrasings; ``[cap]`` becomes the quoted instruction.
USER_TURN = "Could you produce an image based on the previous image and text description [cap]?"
#: The answer the model was trained to give to that phrasing, before its 32 image tokens.
ANSWER = "Certainly, I can create the image you requested"
IMAGE_TOKENS = 32
#: The tokens SmartEdit adds to the Vicuna vocabulary, in the order that fixes their ids.
ADDED_TOKENS = ("<img>", "<im_start>", "<im_end>", *(f"<img_{k}>" for k in range(IMAGE_TOKENS)))
_SPECIAL = ("<im_start>", "<im_end>")


class TokenIds(NamedTuple):
    """Ids the LLM stage needs."""

    added: dict[str, int]
    first_image: int
    bos: int
    eos: int


def add_smartedit_tokens(tokenizer: Any) -> TokenIds:
    """Add the 35 SmartEdit tokens to a Vicuna tokenizer (idempotent) and return the ids that matter.

    Raises:
        WeightsError: the tokenizer already holds some of the tokens at other ids than SmartEdit's.
    """
    vocab = tokenizer.get_vocab()
    if not any(tok in vocab for tok in ADDED_TOKENS):
        tokenizer.add_tokens(["<img>"], special_tokens=False)
        tokenizer.add_tokens(list(_SPECIAL), special_tokens=True)
        tokenizer.add_tokens(list(ADDED_TOKENS[3:]), special_tokens=False)
    base = len(tokenizer) - len(ADDED_TOKENS)
    added = {tok: int(tokenizer.convert_tokens_to_ids(tok)) for tok in ADDED_TOKENS}
    for offset, tok in enumerate(ADDED_TOKENS):
        if added[tok] != base + offset:
            raise WeightsError(
                f"the LLM tokenizer holds {tok!r} at id {added[tok]}, SmartEdit expects {base + offset}; "
                "pass -M llm_base=DIR with the plain Vicuna-1.1 tokenizer"
            )
    return TokenIds(added, added["<img_0>"], int(tokenizer.bos_token_id), int(tokenizer.eos_token_id))


def build_prompt(instruction: str) -> str:
    """The whole prompt text for one instruction, ending with ``ASSISTANT:`` (newlines removed)."""
    edit = f"<im_start> <img_0> <im_end>{instruction.strip()}"
    user = USER_TURN.replace("[cap]", f'"{edit}"')
    return f"{SYSTEM} USER: {user} ASSISTANT:".replace("\n", "")


def encode_pieces(tokenizer: Any, text: str, added: Mapping[str, int]) -> list[int]:
    """Ids of ``text``: added tokens by id, each text piece between them encoded on its own.

    The spaces next to an added token are dropped, as the tokenizer SmartEdit was trained with did.
    """
    pattern = "(" + "|".join(re.escape(tok) for tok in sorted(added, key=len, reverse=True)) + ")"
    ids: list[int] = []
    for piece in re.split(pattern, text):
        if piece in added:
            ids.append(added[piece])
        elif piece.strip():
            ids.extend(tokenizer.encode(piece.strip(), add_special_tokens=False))
    return ids


def prompt_ids(tokenizer: Any, ids: TokenIds, instruction: str) -> list[int]:
    """BOS + the prompt of :func:`build_prompt`; it holds exactly one ``<img_0>`` (the image slot)."""
    return [ids.bos, *encode_pieces(tokenizer, build_prompt(instruction), ids.added)]


def answer_ids(tokenizer: Any, ids: TokenIds) -> list[int]:
    """The trained answer to :data:`USER_TURN`: :data:`ANSWER` then ``<img_0>`` ... ``<img_31>``."""
    images = " ".join(f"<img_{k}>" for k in range(IMAGE_TOKENS))
    return encode_pieces(tokenizer, f"{ANSWER} {images}", ids.added)
