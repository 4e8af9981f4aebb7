"""Prices for ``--dry-run`` and ``--max-cost``: each backend's own table, under a user's ``--prices`` file.

A backend class declares USD per million input and output tokens by model-name prefix
(:attr:`~realedit_bench.judges.backends.base.Backend.prices`): the longest key that prefixes the model
applies, so ``openai/gpt-4o-mini-2024-07-18`` finds ``gpt-4o-mini``. ``--prices FILE``
(``{"models": {"openai/gpt-4o": {"input": 2.5, "output": 10}}, "batch_discount": 0.5}``, keys are
``provider/model`` prefixes) overrides them: its keys win over the backend's, however specific. Money
actually spent is computed from the token counts the responses report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.judges.backends.base import Price
from realedit_bench.userfiles import read_json

#: Largest price file read (a table of every model is a few kB).
MAX_PRICE_BYTES = 1 << 20

__all__ = ["Price", "PriceTable", "load_prices"]


class PriceTable(NamedTuple):
    """A user's prices by ``provider/model`` prefix over the backends' own, and the batch discount."""

    #: Entries of ``--prices``: they win over any backend's price, however specific.
    models: dict[str, Price]
    #: The batch discount of ``--prices``; None: the backend's.
    batch_discount: float | None = None

    def lookup(self, judge: str) -> Price | None:
        """The user's price of the longest key prefixing ``judge``, else the backend's, else None."""
        best = max((k for k in self.models if judge.startswith(k)), key=len, default=None)
        if best:
            return self.models[best]
        cls = _backend(judge)
        return cls.price(judge.partition("/")[2]) if cls is not None else None

    def cost(self, judge: str, input_tokens: int, output_tokens: int, *, batch: bool = False) -> float:
        """USD for the tokens (0.0 when the judge has no price; see :meth:`lookup`)."""
        price = self.lookup(judge)
        if price is None:
            return 0.0
        usd = (input_tokens * price.input + output_tokens * price.output) / 1e6
        if not batch:
            return usd
        cls = _backend(judge)
        discount = (
            self.batch_discount if self.batch_discount is not None else cls.batch_discount if cls else 1.0
        )
        return usd * discount


def _backend(judge: str) -> Any:
    """The backend class of ``judge``'s provider, or None when no such provider is registered."""
    from realedit_bench.judges.backends import backend_class

    try:
        return backend_class(judge.partition("/")[0])
    except RealEditError:
        return None


def _read(path: Path) -> dict:
    data = read_json(Path(path), what="price file", max_bytes=MAX_PRICE_BYTES, error=ConfigError)
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        raise ConfigError(f"price file {path} must be an object with a 'models' object")
    return data


def load_prices(override: Path | None = None) -> PriceTable:
    """The backends' prices, with the entries of the price file ``override`` taking precedence."""
    if override is None:
        return PriceTable({})
    data = _read(override)
    table: dict[str, Price] = {}
    for name, entry in data.get("models", {}).items():
        try:
            table[name] = Price(float(entry["input"]), float(entry["output"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"price entry {name!r} needs numeric 'input' and 'output' (USD per 1M tokens)"
            ) from exc
    discount = data.get("batch_discount")
    if discount is not None and not isinstance(discount, (int, float)):
        raise ConfigError(f"price file {override}: batch_discount must be a number, not {discount!r}")
    return PriceTable(table, float(discount) if discount is not None else None)
