"""HIVE (Zhang et al., CVPR 2024): the editor and its helpers.

- ``adapter``: the ``hive`` editor (``realedit run --model hive``);
- ``prompt``: the "condition" variant's instruction suffix;
- ``config``: the SD-1.5 / SD-2.1-base InstructPix2Pix-layout pipeline config, written as a folder;
- ``ema``: the LDM EMA weights moved onto the UNet keys (the official script samples with EMA);
- ``convert``: a released ``.ckpt`` converted once, in a separate process, to safetensors;
- ``ckpt_worker``: that separate process.
"""
