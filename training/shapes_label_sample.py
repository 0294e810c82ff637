"""Draw the sample of generated shapes images that is labelled by eye to check the oracle.

    python training/shapes_label_sample.py     # tests/data/shapes_labelled/{images.png,labels.json}
    python training/shapes_label_sample.py --split test --seed 2 --folder tests/data/shapes_labelled_heldout

Eight prompts per category of a split, one sample each from the embedded model (its
default sampler and guidance, no search). ``images.png`` holds the 48 raw 32x32 images in a grid of
8 columns (row-major, lossless); ``labels.json`` lists their prompts, with ``label`` to be
filled in by a person looking at each image (true when it satisfies its prompt); an
enlarged, numbered copy to look at goes to ``--view``. Running it again keeps labels already given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

import noisesearch as ns
from noisesearch.algorithms.trajectory import sample
from noisesearch.images import labelled_grid
from noisesearch.noise import NoiseSource
from noisesearch.worlds.shapes.prompts import CATEGORIES, prompt_category
from noisesearch.worlds.shapes.suite import benchmark_prompts

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "tests" / "data" / "shapes_labelled"
COLUMNS = 8


def read_labelled(folder: Path) -> tuple[np.ndarray, list[str], list[bool]]:
    """(uint8 images (48, 32, 32, 3), prompts, labels) of a labelled sample folder."""
    grid = np.asarray(Image.open(folder / "images.png").convert("RGB"))
    entries = json.loads((folder / "labels.json").read_text())
    images = []
    for e in entries:
        r, c = divmod(e["index"], COLUMNS)
        images.append(grid[32 * r:32 * (r + 1), 32 * c:32 * (c + 1)])
    return np.stack(images), [e["prompt"] for e in entries], [e["label"] for e in entries]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--view", default="shapes_labelled_view.png", help="where to write the enlarged copy")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--folder", type=Path, default=FOLDER)
    args = parser.parse_args()
    folder = args.folder
    prompts = []
    for category in CATEGORIES:
        prompts += [p for p in benchmark_prompts(args.split) if prompt_category(p) == category][:COLUMNS]
    process = ns.load_process("shapes")
    noises, _ = NoiseSource(process, args.seed, range(len(prompts))).trajectories(
        [(i, (0,)) for i in range(len(prompts))])
    images = sample(process, noises, process.encode(prompts))
    pixels = (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    rows = [np.concatenate(list(pixels[r:r + COLUMNS]), axis=1) for r in range(0, len(pixels), COLUMNS)]
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(folder / "images.png")
    path = folder / "labels.json"
    old = {e["index"]: e for e in json.loads(path.read_text())} if path.exists() else {}
    entries = [{"index": i, "prompt": p, "label": old.get(i, {}).get("label"),
                "note": old.get(i, {}).get("note", "")} for i, p in enumerate(prompts)]
    path.write_text(json.dumps(entries, indent=1) + "\n")
    grid = [[(str(r * COLUMNS + c), images[r * COLUMNS + c]) for c in range(COLUMNS)]
            for r in range(len(prompts) // COLUMNS)]
    view = Path(args.view)
    labelled_grid(grid, tile=96).save(view)
    print(f"wrote {folder}/images.png and labels.json ({len(prompts)} images); enlarged: {view}")


if __name__ == "__main__":
    main()
