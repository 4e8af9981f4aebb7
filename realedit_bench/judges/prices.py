"""Price table and token estimates for ``--dry-run`` and ``--max-cost``.

The table (``prices.json`` in this package) gives USD per million input and output tokens per
``provider/model``; the longest key that prefixes the judge name applies, so
``openai/gpt-4o-mini-2024-07-18`` finds ``openai/gpt-4o-mini``. ``--prices FILE`` (same format) overrides
entries, and its keys win over packaged ones even when a packaged key is more specific. Money actually spent is computed from the token counts the responses report.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

from realedit_bench.errors import ConfigError

PRICE_FILE = Path(__file__).resolve().parent / "prices.json"


class Price(NamedTuple):
    """USD per million tokens."""

    input: float
    output: float


class PriceTable(NamedTuple):
    """Prices by provider/model prefix, and the Batch API discount factor."""

    models: dict[str, Price]
    batch_discount: float
    #: Keys that came from ``--prices``: they win over any packaged key, however specific.
    user_keys: frozenset[str] = frozenset()

    def lookup(self, judge: str) -> Price | None:
        """The price of the longest key that prefixes ``judge`` (user keys first), or None when unknown."""
        for pool in (self.user_keys, self.models.keys()):
            best = max((k for k in pool if judge.startswith(k)), key=len, default=None)
            if best:
                return self.models[best]
        return None

    def cost(self, judge: str, input_tokens: int, output_tokens: int, *, batch: bool = False) -> float:
        """USD for the tokens (0.0 when the judge has no price; see :meth:`lookup`)."""
        price = self.lookup(judge)
        if price is None:
            return 0.0
        usd = (input_tokens * price.input + output_tokens * price.output) / 1e6
        return usd * (self.batch_discount if batch else 1.0)


def _read(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read price file {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"price file {path} is not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        raise ConfigError(f"price file {path} must be an object with a 'models' object")
    return data


def load_prices(override: Path | None = None) -> PriceTable:
    """The packaged table, with entries of ``override`` taking precedence."""
    base = _read(PRICE_FILE)
    models = dict(base["models"])
    discount = float(base.get("batch_discount", 0.5))
    user: set[str] = set()
    if override is not None:
        extra = _read(override)
        models.update(extra.get("models", {}))
        user = set(extra.get("models", {}))
        discount = float(extra.get("batch_discount", discount))
    table: dict[str, Price] = {}
    for name, entry in models.items():
        try:
            table[name] = Price(float(entry["input"]), float(entry["output"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"price entry {name!r} needs numeric 'input' and 'output' (USD per 1M tokens)") from exc
    return PriceTable(table, discount, frozenset(user))


def estimate_text_tokens(text: str) -> int:
    """About 4 characters per token: an estimate for planning, never used for money spent."""
    return max(1, math.ceil(len(text) / 4))


def estimate_image_tokens(provider: str, width: int, height: int) -> int:
    """Image tokens by the providers' published rules.

    OpenAI (high detail): fit in 2048x2048, shortest side to 768, then 85 + 170 per 512-px tile.
    Anthropic: about width*height/750 after fitting the long side to 1568 px.
    """
    if provider == "anthropic":
        scale = min(1.0, 1568 / max(width, height))
        return math.ceil(width * scale * height * scale / 750)
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)
