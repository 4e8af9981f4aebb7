"""Prices and token estimates: each backend's own table, a user's ``--prices`` file over it, batch prices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realedit_bench.errors import ConfigError
from realedit_bench.judges.backends.anthropic_messages import AnthropicMessages
from realedit_bench.judges.backends.openai_chat import OpenAIChat, OpenAICompatible
from realedit_bench.judges.prices import Price, load_prices


@pytest.mark.parametrize("judge, price", [
    ("openai/gpt-4o-mini-2024-07-18", (0.15, 0.6)),  # the longest prefix wins over 'gpt-4o'
    ("openai/gpt-4o-2024-08-06", (2.5, 10.0)),
    ("anthropic/claude-sonnet-4-6", (3.0, 15.0)),
    ("openai-api/http://x/v1/m", None),  # a compatible server has no price
    ("nosuch/m", None),  # nor does a provider nobody registered
])
def test_each_backend_prices_its_own_models(judge: str, price: tuple | None) -> None:
    assert load_prices().lookup(judge) == price


def test_costs_and_the_batch_price() -> None:
    t = load_prices()
    assert t.cost("openai/gpt-4o-2024-08-06", 1_000_000, 100_000) == pytest.approx(3.5)
    assert t.cost("openai/gpt-4o-2024-08-06", 1_000_000, 100_000, batch=True) == pytest.approx(1.75)
    assert t.cost("openai-api/http://x/v1/m", 1_000_000, 100_000) == 0.0


def test_a_price_file_overrides_the_backends(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"models": {"openai/gpt-4o-2024-11-20": {"input": 1, "output": 2},
                                        "openai-api/": {"input": 0, "output": 0}}, "batch_discount": 0.25}))
    t2 = load_prices(f)
    assert t2.lookup("openai/gpt-4o-2024-11-20") == (1.0, 2.0)
    assert t2.lookup("openai/gpt-4o-2024-08-06") == (2.5, 10.0)
    assert t2.lookup("openai-api/http://x/v1/m") == (0.0, 0.0)
    assert t2.cost("openai/gpt-4o-2024-11-20", 1_000_000, 0, batch=True) == pytest.approx(0.25)


def test_user_prices_win_over_more_specific_backend_keys(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text('{"models": {"openai/gpt-4o": {"input": 100, "output": 100}}}')
    table = load_prices(f)
    assert table.lookup("openai/gpt-4o-2024-08-06").input == 100
    assert load_prices().lookup("openai/gpt-4o-2024-08-06").input != 100  # the backend's price otherwise


@pytest.mark.parametrize("text, message", [
    ("{bad", "not valid JSON"),
    ('{"models": []}', "'models' object"),
    ('{"models": {"openai/x": {"input": "a lot"}}}', "numeric 'input' and 'output'"),
    ('{"models": {}, "batch_discount": "half"}', "batch_discount must be a number"),
])
def test_bad_price_files_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "p.json"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_prices(f)


def test_image_token_estimates_follow_each_providers_rule() -> None:
    # OpenAI's published example: a 1024x1024 high-detail image is 765 tokens.
    assert OpenAIChat.image_tokens(1024, 1024) == 765
    assert OpenAICompatible.image_tokens(1024, 1024) == 765  # compatible servers take OpenAI's rule
    # Anthropic's: about width*height/750 once the long side fits 1568 px.
    assert AnthropicMessages.image_tokens(1000, 750) == 1000
    assert AnthropicMessages.image_tokens(3136, 3136) == AnthropicMessages.image_tokens(1568, 1568)


def test_a_backend_declares_its_prices_by_model_prefix() -> None:
    assert OpenAIChat.price("gpt-4o-mini-2024-07-18") == Price(0.15, 0.6)
    assert AnthropicMessages.price("claude-3-5-haiku-20241022") == Price(0.8, 4.0)
    assert OpenAICompatible.price("gpt-4o") is None  # a compatible server does not inherit OpenAI's prices
