"""Shapes: a text-to-image 32x32 UNet on procedural scenes of coloured shapes, whose prompts a
program can check (the ``shapes-oracle`` judge), and a small CLIP as its verifier."""
