"""The embedded testbeds, each a package: its data, trained networks, process, verifier, judges
and benchmark suite. The weights they load are committed under ``noisesearch/weights/``."""

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
