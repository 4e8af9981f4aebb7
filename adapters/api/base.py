"""The base of the editors behind paid HTTP APIs: settings, keys, prices, one HTTP client, error mapping.

An API editor is a subclass that says what is its own: class attributes (registry name, default model,
key variables, base URL, what it does with a seed, refusal codes) and :meth:`APIEditor.send`, one edit
as the provider's wire format wants it, returning :meth:`APIEditor.returned` of the image bytes. The
run loop around it (concurrency, retries honouring ``Retry-After``, the budget, refusals never retried,
rows and files) is :mod:`realedit_bench.remote`; the retry machinery is the judges' own
(:mod:`realedit_bench.net`).

Keys come from the environment only and never reach ``params()``, a file or a message. ``--weights``
names the provider's model. Settings that change speed or money but not the edit (``concurrency``,
``max_retries``, ``timeout``, ``price``) stay out of ``params()``, hence out of the run id.
"""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any, ClassVar
from urllib.parse import urlparse

from PIL import Image

from realedit_bench.errors import ConfigError
from realedit_bench.net import CallError, RetryPolicy, env_key, status_error
from realedit_bench.remote import RemoteEdit, read_returned


def png_bytes(image: Image.Image) -> bytes:
    """The source photo as PNG bytes (lossless: the API sees the photo as it is)."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def data_url(image: Image.Image) -> str:
    """The source photo as a ``data:image/png;base64,...`` URL."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


class APIEditor:
    """An editor behind a paid HTTP API (see the module docstring).

    Args:
        weights: The provider's model id; default ``default_weights``.
        concurrency: Calls in flight at once; default ``default_concurrency``.
        max_retries: Retries of a call that failed for a reason that may pass (429, 5xx, timeouts).
        timeout: Seconds one call may take.
        price: USD per edit, replacing the price table (for a model it lacks, or a negotiated price).
        device: Accepted for the generic ``--device`` flag; the edit runs at the provider.
        dtype: Accepted for the generic ``--dtype`` flag.
        revision: Refused: an API model has no revision.
    """

    name: ClassVar[str]
    family: ClassVar[str] = "api"
    default_weights: ClassVar[str | None]
    license: ClassVar[str]
    #: Not a diffusers editor: ``realedit models`` shows no steps, guidance or resolution.
    default_resolution: ClassVar[int | None] = None
    #: Environment variables holding the key (the first non-empty wins; the first is the one to set).
    key_envs: ClassVar[tuple[str, ...]]
    #: The API's base URL, and the environment variable that overrides it.
    default_base_url: ClassVar[str]
    base_url_env: ClassVar[str]
    #: True when the API takes a seed (it is sent); False: recorded as not honoured.
    takes_seed: ClassVar[bool] = False
    default_concurrency: ClassVar[int] = 4
    #: Error codes of a 400 that mean moderation refused the edit (a ``refused`` row, never retried).
    refusal_codes: ClassVar[frozenset[str]] = frozenset()
    #: Error codes that mean the account cannot pay (the run stops).
    quota_codes: ClassVar[frozenset[str]] = frozenset()
    #: Model id -> why it cannot be used (retired models).
    retired: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        weights: str | None = None,
        concurrency: int | None = None,
        max_retries: int = 5,
        timeout: float = 300.0,
        price: float | None = None,
        device: str = "auto",
        dtype: str = "auto",
        revision: str | None = None,
    ) -> None:
        cls = type(self)
        if revision is not None:
            raise ConfigError(f"model {cls.name!r} is an API: it takes no --revision")
        self.model = weights or cls.default_weights or ""
        if self.model in cls.retired:
            raise ConfigError(cls.retired[self.model])
        self.concurrency = cls.default_concurrency if concurrency is None else concurrency
        if self.concurrency < 1 or max_retries < 0 or timeout <= 0 or (price is not None and price < 0):
            raise ConfigError("concurrency must be >= 1, max_retries >= 0, timeout > 0 and price >= 0")
        self.timeout = timeout
        self.retry = RetryPolicy(max_retries=max_retries, timeout=timeout)
        self.price = price
        self.base_url = (env_key(cls.base_url_env) or cls.default_base_url).rstrip("/")
        self.device, self.dtype = "api", "none"
        self._client: Any = None

    # -- contract -----------------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """The model and every setting the provider is sent; what happens to the seed."""
        return {"model": self.model, "provider": urlparse(self.base_url).hostname or self.base_url,
                "seed": "sent per sample" if self.takes_seed else "not honoured (the API takes none)",
                "device": self.device, "dtype": self.dtype, **self.request_params()}

    def request_params(self) -> dict[str, Any]:
        """The provider's own settings of every call (subclasses add theirs)."""
        return {}

    @property
    def api_key(self) -> str | None:
        """The key from the environment, or None."""
        return env_key(*self.key_envs)

    def check_key(self) -> None:
        """One line when the key is missing (before any work; a dry run skips it)."""
        if self.api_key is None:
            raise ConfigError(f"model {self.name!r} needs an API key: set {self.key_envs[0]}")

    def estimate_cost(self, size: tuple[int, int]) -> float | None:
        """Upper-bound USD of one edit of a photo of ``size`` (``-M price`` when given)."""
        return self.price if self.price is not None else self.table_estimate(size)

    def table_estimate(self, size: tuple[int, int]) -> float | None:
        """The price table's estimate of one edit, or None when the model has no price."""
        return None

    def table_cost(self, edit: RemoteEdit) -> float | None:
        """USD of one returned edit from the price table, where :meth:`send` did not price its usage
        (the base: the table's price of an edit)."""
        return self.table_estimate(edit.size)

    def cost_line(self) -> str:
        """The price of one edit in words, for ``--dry-run``."""
        if self.price is not None:
            return f"{self.model} at ${self.price:.4f} per edit (-M price)"
        return self.price_words()

    def price_words(self) -> str:
        """The price table's rule in words."""
        return f"{self.model}: no price known"

    async def edit_remote(self, image: Image.Image, instruction: str, *, seed: int) -> RemoteEdit:
        """Send one edit, priced: ``-M price``, else the usage :meth:`send` priced, else the table's."""
        edit = await self.send(image.convert("RGB"), instruction, seed)
        if self.price is not None:
            return edit._replace(cost_usd=self.price)
        return edit if edit.cost_usd is not None else edit._replace(cost_usd=self.table_cost(edit))

    async def send(self, image: Image.Image, instruction: str, seed: int) -> RemoteEdit:
        """One call in the provider's wire format (subclasses); ``cost_usd`` set where the usage prices it."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose() if hasattr(client, "aclose") else await client.close()

    def edit(self, image: Image.Image, instruction: str, *, seed: int) -> Image.Image:
        """Edit one photo outside ``realedit run`` (a notebook): with retries, at the source's size."""
        from realedit_bench.net import call_with_retries
        from realedit_bench.remote import judged_view

        self.check_key()

        async def once() -> RemoteEdit:
            try:
                return await call_with_retries(
                    lambda: self.edit_remote(image, instruction, seed=seed), self.retry)
            finally:
                await self.aclose()

        return judged_view(asyncio.run(once()), image.size)

    # -- helpers of the subclasses ----------------------------------------------------------------------
    def returned(self, data: bytes, **usage: Any) -> RemoteEdit:
        """A :class:`RemoteEdit` of the image bytes the API sent (format and size read from them)."""
        fmt, size = read_returned(data)
        return RemoteEdit(data=data, format=fmt, size=size, **usage)

    def status_error(self, status: int, message: str, *, code: str = "", headers: Any = None) -> CallError:
        """Classify an HTTP error of the provider (its quota and refusal codes)."""
        return status_error(status, message, code=code, headers=headers,
                            quota=status == 402 or code in self.quota_codes, refusal_codes=self.refusal_codes)

    @property
    def http(self) -> Any:
        """An ``httpx2`` client for REST providers, made on first use inside the running loop."""
        if self._client is None:
            import httpx2

            self._client = httpx2.AsyncClient(timeout=self.timeout)
        return self._client

    async def request(self, method: str, url: str, **kwargs: Any) -> Any:
        """One HTTP request; transport failures and error statuses become a :class:`CallError`."""
        import httpx2

        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx2.TimeoutException as exc:
            raise CallError("the call timed out", retryable=True) from exc
        except httpx2.TransportError as exc:
            raise CallError(f"connection error: {type(exc).__name__}: {exc}", retryable=True) from exc
        if response.status_code >= 400:
            code, message = _error_body(response)
            raise self.status_error(response.status_code, message, code=code, headers=response.headers)
        return response


def _error_body(response: Any) -> tuple[str, str]:
    """(code, message) of a JSON error body (``{"error": {"code", "message"}}`` or flat), else the text."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:300]
    err = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(err, dict):
        return "", str(err)[:300]
    code = err.get("code") or err.get("type") or err.get("status") or ""
    return str(code), str(err.get("message") or err.get("detail") or body)[:300]
