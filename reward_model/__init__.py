"""The paper's multi-reward conditioned editor: MRC module, reward encoder, training, inference (on
InstructPix2Pix and on SmartEdit) and reward data."""

#: Marker checked by the CLI.
REALEDIT_PACKAGE = True
