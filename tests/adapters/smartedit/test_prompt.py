"""The conversation prompt and its piecewise tokenisation."""

from __future__ import annotations

import pytest
import tiny_smartedit as ts

from adapters.smartedit.prompt import (
    ADDED_TOKENS,
    add_smartedit_tokens,
    answer_ids,
    build_prompt,
    encode_pieces,
    prompt_ids,
)
from realedit_bench.errors import WeightsError


@pytest.fixture()
def tokenizer(tmp_path):
    return ts.build_tokenizer(tmp_path / "tok")


def test_prompt_is_template_zero_with_the_quoted_instruction_after_the_image_slot():
    text = build_prompt("  make the sky red\n")
    assert text.startswith("A chat between a curious user and an artificial intelligence assistant. ")
    assert " USER: Could you produce an image based on the previous image and text description " in text
    assert text.endswith('"<im_start> <img_0> <im_end>make the sky red"? ASSISTANT:')
    assert "\n" not in build_prompt("two\nlines")


def test_added_tokens_get_smartedit_ids_in_order_and_adding_twice_changes_nothing(tokenizer):
    base = len(tokenizer)
    ids = add_smartedit_tokens(tokenizer)
    assert [ids.added[t] for t in ADDED_TOKENS] == list(range(base, base + 35))
    assert ids.first_image == base + 3
    assert add_smartedit_tokens(tokenizer) == ids
    assert len(tokenizer) == base + 35


def test_tokens_already_present_at_other_ids_are_refused(tokenizer):
    tokenizer.add_tokens(["<img_5>"])
    with pytest.raises(WeightsError, match=r"'<img>'.*llm_base"):
        add_smartedit_tokens(tokenizer)


def test_pieces_are_encoded_apart_and_spaces_next_to_added_tokens_are_dropped(tokenizer):
    ids = add_smartedit_tokens(tokenizer)
    got = encode_pieces(tokenizer, 'say "<im_start> <img_0> <im_end>red sky"', ids.added)
    expected = [
        *tokenizer.encode('say "', add_special_tokens=False),
        ids.added["<im_start>"],
        ids.added["<img_0>"],
        ids.added["<im_end>"],
        *tokenizer.encode('red sky"', add_special_tokens=False),
    ]
    assert got == expected
    # Each piece gets its own leading "▁", as the tokenizer SmartEdit was trained with gave it.
    after = tokenizer.convert_ids_to_tokens(got[got.index(ids.added["<im_end>"]) + 1])
    assert after.startswith("▁")


def test_prompt_ids_start_with_bos_and_hold_one_image_slot(tokenizer):
    ids = add_smartedit_tokens(tokenizer)
    seq = prompt_ids(tokenizer, ids, "make the sky red")
    assert seq[0] == tokenizer.bos_token_id
    assert seq.count(ids.first_image) == 1
    assert seq.count(ids.added["<img>"]) == 1


def test_the_teacher_forced_answer_ends_with_the_32_image_tokens_in_order(tokenizer):
    ids = add_smartedit_tokens(tokenizer)
    answer = answer_ids(tokenizer, ids)
    assert answer[-32:] == list(range(ids.first_image, ids.first_image + 32))
    assert tokenizer.decode(answer[:-32]).strip() == "Certainly, I can create the image you requested"
