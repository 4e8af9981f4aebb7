"""SmartEdit (Huang et al., CVPR 2024) rebuilt natively on transformers + diffusers.

Modules, one idea each:

- ``prompt``: the conversation prompt and its piecewise tokenisation (the 35 added tokens);
- ``vision``: CLIP ViT-L/14 patch features (penultimate layer, CLS dropped);
- ``decode``: the multimodal LLM stage that collects the 32 ``<img_k>`` hidden states;
- ``qformer``: the 6-layer Q-Former with 77 learned queries;
- ``two_way``: the two-way transformer and random-Fourier positions of the interaction module;
- ``interaction``: the bidirectional interaction module (text condition and ``conv_in`` residual);
- ``bridge``: projector + Q-Former + interaction module as one loadable unit;
- ``residual``: a removable forward hook that adds the residual after the UNet's ``conv_in``;
- ``keymaps`` / ``convert``: the released ``.bin`` layout mapped to ours, converted once to safetensors;
- ``base_parts``: the Vicuna tokenizer/config, CLIP and InstructPix2Pix parts, by hub id or folder;
- ``model``: everything above assembled, from images + instructions to diffusion conditions;
- ``adapter``: the ``smartedit`` editor (``realedit run --model smartedit``) on the stock InstructPix2Pix
  pipeline.
"""
