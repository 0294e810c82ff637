"""Digits: a class-conditional 16x16 UNet on scikit-learn's digits, a CNN verifier and a held-out
CNN judge trained on disjoint halves of the data."""

# the process's sampling defaults (here, so that the catalogue names them without loading the model)
DEFAULT_STEPS = 25
DEFAULT_GUIDANCE = 1.0
