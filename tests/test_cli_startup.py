"""The help, ``list`` and the command line's checks of its arguments load no model library
(torch, diffusers, transformers), so they answer at once; the package's names still resolve."""

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import noisesearch as ns

# in a fresh interpreter: the exit codes of the commands, then the model libraries imported
CODE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from noisesearch.cli import main
codes = [main(argv) for argv in json.loads(sys.argv[2])]
print(json.dumps([codes, sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)]))
"""


def test_help_list_and_argument_errors_import_no_model_library(tmp_path):
    commands = [["--help"], ["search", "--help"], ["bench", "--help"], ["replay", "--help"], ["list"],
                ["search", "--algorithm", "nope", "x"], ["search", "--model", "nope", "x"],
                ["search", "--set", "bogus=1", "x"], ["search", "--set", "n=abc", "x"],
                ["bench", "--budgets", "x", "--out", str(tmp_path / "b")],
                ["bench", "--suite", "nope", "--out", str(tmp_path / "b")],
                ["bench", "--algorithms", "nope", "--out", str(tmp_path / "b")]]
    source = str(Path(ns.__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", CODE, source, json.dumps(commands)], capture_output=True,
                         text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    codes, imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert codes == [0] * 5 + [2] * 7
    assert imported == []
    assert not (tmp_path / "b").exists()
    assert "error: unknown algorithm 'nope'; valid: random," in out.stderr
    assert "error: algorithm 'random' has no option 'bogus'; valid: max_batch, top_k" in out.stderr


def test_every_exported_name_resolves():
    assert inspect.isfunction(ns.search) and ns.__version__
    for name in ns.__all__:
        assert getattr(ns, name) is not None
    assert ns.RunSpec.__name__ == "RunSpec" and "random" in ns.ALGORITHMS and "digits" in ns.MODELS
