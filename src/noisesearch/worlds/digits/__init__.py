"""Digits: a class-conditional 16x16 UNet on scikit-learn's digits, a CNN verifier and a held-out
CNN judge trained on disjoint halves of the data."""
