"""Shapes: a text-to-image 32x32 UNet on procedural scenes of coloured shapes, whose prompts a
program can check (the ``shapes-oracle`` judge), and a small CLIP as its verifier."""

# the process's sampling defaults (here, so that the catalogue names them without loading the model)
DEFAULT_STEPS = 25
DEFAULT_GUIDANCE = 3.0
DEFAULT_SAMPLER = "sde"
