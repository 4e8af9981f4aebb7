"""Reward-conditioned InstructPix2Pix: the editor of "Multi-Reward as Condition for Instruction-based
Image Editing" (ICLR 2025), as ``realedit run --model reward-instruct-pix2pix``.

Weights: ``Gstar666/Reward-InsPix2Pix``, folder ``stage2_reward_instruct_pix2pix`` (the authors' release;
the U-Net holds the reward modules beside the standard keys; it inherits the CreativeML OpenRAIL-M
licence of Stable Diffusion / InstructPix2Pix, code Apache-2.0). Defaults are those of the released
``eval.py``: Euler-ancestral sampler, 30 steps, image guidance 1.5, text guidance 7.5 (the pipeline
default it leaves in place), about 512 px; reward condition scores 5,5,5 and text ``"None; None; None"``.
``-M reward_scores=3,3,3`` (or 0,0,0 ...) and ``-M reward_text=...`` reproduce the paper's Table 6.
Weights trained without one of the inputs (``realedit reward train --reward-inputs score`` or ``text``)
refuse a ``-M`` value for the input they do not read, and record that input as ``None`` in the run's
parameters when the weights are a local folder (a hub id is only known after download).

Resizing follows the released ``eval.py``, not the paper's text: the paper says the shorter side is
resized to 512; the released code scales the *longer* side to about 512 and rounds both sides to
multiples of 64 (the InstructPix2Pix adapter's ``resolution``), which is what this adapter does.
Weights of the ``paper`` variant add ``Linear2`` of the *mean* over c_R (77 failure-text tokens + 1
score token, no padding mask) after each U-Net block, so the scores reach that addition at about 1/78
of the text's weight (see reward_model/TRAINING.md, section 3).

``--weights`` takes a hub id (its ``subfolder`` is downloaded) or a local directory, which is either

* a reward checkpoint written by realedit: a diffusers InstructPix2Pix pipeline directory
  (``model_index.json``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``) whose ``unet/`` is
  the inner U-Net and whose ``reward/`` holds the reward config and modules (see
  :func:`reward_model.mrc.save_reward_pipeline`; training writes this layout), or
* the authors' layout (same pipeline directory, no ``reward/``, extra keys inside ``unet/``), or
* a directory that holds either of the above under ``subfolder`` (``-M subfolder=NAME``) or, when
  ``model_index.json`` is not at its top, under the default ``stage2_reward_instruct_pix2pix`` (what
  ``huggingface-cli download Gstar666/Reward-InsPix2Pix --local-dir DIR`` writes).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from adapters.base import load_pipeline, torch_dtype
from adapters.instruct_pix2pix import InstructPix2Pix
from realedit_bench.errors import ConfigError, WeightsError

#: The released inference condition (reward_model.mrc.NO_FAILURE_TEXT; repeated to keep this import light).
_NO_FAILURE_TEXT = "None; None; None"

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def parse_scores(text: str) -> tuple[float, float, float]:
    """``"5,5,5"`` -> (5.0, 5.0, 5.0); three numbers 0-5 (following, preserving, quality)."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [float(p) + 0.0 for p in parts]  # + 0.0: "-0" is 0 (one run id, not two)
    except ValueError as exc:
        raise ConfigError(f"-M reward_scores={text}: expected three numbers like 5,5,5") from exc
    if len(values) != 3 or not all(0.0 <= v <= 5.0 for v in values):
        raise ConfigError(
            f"-M reward_scores={text}: expected three numbers from 0 to 5 (following,preserving,quality)"
        )
    return values[0], values[1], values[2]


def peek_reward_config(directory: Path) -> dict[str, Any] | None:
    """The reward config a pipeline folder declares (``reward/config.json``), without loading weights.

    None for the authors' layout (no ``reward/``: the released variant reads both inputs) or an unreadable
    file.
    """
    import json

    try:
        meta = json.loads((directory / "reward" / "config.json").read_text())
    except (OSError, ValueError):
        return None
    reward = meta.get("reward") if isinstance(meta, dict) else None
    return reward if isinstance(reward, dict) else None


class RewardCondition:
    """The reward condition of a reward-conditioned editor: its settings, the inputs its weights read, and
    the pipeline U-Net that applies it (shared by the InstructPix2Pix and SmartEdit variants)."""

    reward_scores: tuple[float, float, float] | None
    reward_text: str | None

    def _set_reward(self, reward_scores: str | None, reward_text: str | None) -> None:
        """Parse ``-M reward_scores`` / ``-M reward_text`` (None: the released inference condition)."""
        # None: not given (-M), so the default applies; given values are checked against the weights.
        self._given = {"reward_scores": reward_scores is not None, "reward_text": reward_text is not None}
        self.reward_scores = parse_scores(reward_scores or "5,5,5")
        self.reward_text = str(_NO_FAILURE_TEXT if reward_text is None else reward_text).strip()
        if not self.reward_text:
            raise ConfigError(
                '-M reward_text must not be empty (the released "no failure" text is "None; None; None")'
            )

    def _drop_unused_inputs(self, config: dict[str, Any] | None, where: Path | str) -> None:
        """Refuse a given -M value for a reward input the weights do not read; forget the unused default."""
        if config is None:
            return
        inputs = (("reward_scores", "use_scores", "scores"), ("reward_text", "use_text", "failure text"))
        for key, flag, attr in inputs:
            if config.get(flag, True):
                continue
            if self._given[key]:
                raise ConfigError(
                    f"-M {key}: the weights at {where} were trained without the {attr} "
                    f"(reward config {flag}=false), so it would be ignored; leave it out"
                )
            setattr(self, key, None)

    def reward_params(self) -> dict[str, Any]:
        """The reward condition as recorded in a run's parameters."""
        return {
            "reward_scores": list(self.reward_scores) if self.reward_scores is not None else None,
            "reward_text": self.reward_text,
        }

    def conditioned_unet(self, pipe: Any, reward_unet: Any, device: str) -> Any:
        """``reward_unet`` with the condition fixed, for ``pipe.unet`` (failure text encoded by ``pipe``)."""
        import torch

        from reward_model.mrc import RewardConditionedUNet, encode_reward_text

        # An input the weights do not read gets a placeholder (the model ignores it).
        with torch.no_grad():
            texts = [self.reward_text or _NO_FAILURE_TEXT]
            text = encode_reward_text(pipe.tokenizer, pipe.text_encoder, texts)
        scores = torch.tensor([self.reward_scores or (5.0, 5.0, 5.0)], device=device)
        return RewardConditionedUNet(reward_unet, scores, text.hidden, text.pooled)


class RewardInstructPix2Pix(RewardCondition, InstructPix2Pix):
    """InstructPix2Pix whose U-Net is conditioned on three reward scores and failure texts.

    Args:
        reward_scores: ``"F,P,Q"``, the scores 0-5 the edit is conditioned on (default 5,5,5).
        reward_text: The failure texts, ``"following; preserving; quality"`` (default "None; None; None").
        subfolder: Where the pipeline is inside ``weights`` (default: the released folder's name for the
            released hub id, else none).
        **settings: The settings of :class:`adapters.base.DiffusersEditor`.
    """

    name: ClassVar[str] = "reward-instruct-pix2pix"
    default_weights: ClassVar[str | None] = "Gstar666/Reward-InsPix2Pix"
    default_subfolder: ClassVar[str] = "stage2_reward_instruct_pix2pix"
    license: ClassVar[str] = "CreativeML OpenRAIL-M (weights), Apache-2.0 (code)"
    default_steps: ClassVar[int] = 30  # eval.py's other defaults are InstructPix2Pix's, inherited

    def __init__(
        self,
        *,
        reward_scores: str | None = None,
        reward_text: str | None = None,
        subfolder: str | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(**settings)
        self._set_reward(reward_scores, reward_text)
        # The default subfolder belongs to the default hub repository; other weights name theirs.
        if subfolder is None:
            subfolder = type(self).default_subfolder if self.weights == type(self).default_weights else ""
        self.subfolder = subfolder
        if not Path(self.weights).expanduser().is_dir() and not _HUB_ID.fullmatch(self.weights):
            raise WeightsError(
                f"--weights {self.weights}: no such directory (and not a hub id like owner/name)"
            )
        self.reward_config: dict[str, Any] | None = None  # of the loaded weights, for inspection
        self._reward_unet: Any = None  # from load_weights() to adapt()
        local = self._find_pipeline_dir(Path(self.weights).expanduser())
        if local is not None:
            # Known before loading for a local folder: params() then records only inputs that apply.
            self._drop_unused_inputs(peek_reward_config(local), local)

    def params(self) -> dict[str, Any]:
        """Every resolved setting, with the reward condition."""
        out = super().params()
        out.update({"subfolder": self.subfolder or None, **self.reward_params()})
        # The reward config belongs to the weights (read at load time); params() must not change on
        # load, since the runner compares it with an existing run's manifest before loading.
        return out

    # -- loading ------------------------------------------------------------------------------------
    def _subfolders(self) -> list[str]:
        """The subfolders a pipeline is looked for in: the one asked for, then the released one."""
        return [sub for sub in dict.fromkeys((self.subfolder, type(self).default_subfolder)) if sub]

    def _find_pipeline_dir(self, path: Path) -> Path | None:
        """``path`` itself, its ``subfolder`` or the default subfolder: the first with a model_index.json."""
        if not path.is_dir():
            return None
        for cand in (path, *(path / sub for sub in self._subfolders())):
            if (cand / "model_index.json").is_file():
                return cand
        return None

    def _download(self) -> Path:
        """The hub repository's ``subfolder`` downloaded (or found in the cache)."""
        try:
            from huggingface_hub import snapshot_download

            pattern = f"{self.subfolder}/*" if self.subfolder else None
            return Path(snapshot_download(self.weights, revision=self.revision, allow_patterns=pattern))
        except Exception as exc:  # hub, network and offline-mode errors all mean "weights not reachable"
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0].split(". ")[0]
            include = f" --include '{self.subfolder}/*'" if self.subfolder else ""
            # DIR/<default subfolder> is found on its own; another subfolder has to be named.
            other = self.subfolder not in ("", self.default_subfolder)
            named = f" -M subfolder={self.subfolder}" if other else ""
            raise WeightsError(
                f"cannot download {self.weights!r} ({first[:160]}); download it (huggingface-cli download "
                f"{self.weights}{include} --local-dir DIR) and pass --weights DIR{named}"
            ) from exc

    def _local_dir(self) -> Path:
        """The pipeline directory on disk, downloading ``subfolder`` of a hub id when needed."""
        path = Path(self.weights).expanduser()
        if not path.is_dir():
            path = self._download()
        found = self._find_pipeline_dir(path)
        if found is not None:
            return found
        where = " or ".join(f"{sub}/" for sub in self._subfolders())
        raise WeightsError(
            f"{path} is not a reward InstructPix2Pix pipeline directory (no model_index.json there, in "
            f"{where}; for a pipeline in another subfolder pass -M subfolder=NAME)"
        )

    def load_weights(self) -> Any:
        """The reward U-Net, then the rest of the pipeline around its inner U-Net."""
        from reward_model.mrc import RewardUNet

        directory = self._local_dir()
        reward_unet = RewardUNet.from_pretrained(directory, torch_dtype=torch_dtype(self.dtype))
        self.reward_config = {**reward_unet.reward_config.to_dict(), "text_dim": reward_unet.text_dim}
        self._drop_unused_inputs(self.reward_config, self.weights)
        self._reward_unet = reward_unet
        # The inner U-Net is handed over so the pipeline does not load it a second time.
        return load_pipeline(
            self.pipeline_class, str(directory), revision=None, dtype=self.dtype, unet=reward_unet.unet,
            **self.load_kwargs(),
        )

    def adapt(self, pipe: Any) -> Any:
        """The pipeline's U-Net conditioned on the reward scores and text."""
        pipe.unet = self.conditioned_unet(pipe, self._reward_unet.to(self.device).eval(), self.device)
        return pipe
