"""The run store: how search runs and benches write their folders so that a kill loses nothing.

- ``atomic(path)``: write a temporary file, then rename it onto ``path``, so ``path`` is whole
  or absent, with the mode of an ordinary new file (0666 less the umask) whatever wrote it;
- ``append_line(path, line)``: one JSON line appended in one write, flushed to disk, so a line
  is whole or, after a kill, a last line cut short that ``read_lines`` ignores;
- ``open_folder(out, ...)``: create a folder with its spec file, or reopen one holding the same
  spec (naming the fields that differ otherwise), so a killed run is resumed, never mixed with
  another.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    import torch
    from PIL import Image


def new_file_mode(path: Path) -> int:
    """The permission bits a file newly created at ``path`` gets (0666 less the umask); it is left
    there, empty."""
    path.unlink(missing_ok=True)
    path.touch()
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def atomic(path: Path, fsync: bool = False) -> Iterator[Path]:
    """A temporary path to write; renamed onto ``path`` once written (and, with ``fsync``,
    flushed to disk first). The file gets the mode of an ordinary new file, whatever mode the
    writer gave it (safetensors' ``save_file`` makes 0600). A write that fails leaves no file."""
    tmp = path.with_name(path.name + ".tmp")
    mode = new_file_mode(tmp)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.chmod(tmp, mode)
    if fsync:
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: Path, value: Any, fsync: bool = False, indent: int | None = 2) -> None:
    """``value`` as JSON, written whole or not at all."""
    with atomic(path, fsync) as tmp:
        tmp.write_text(json.dumps(value, indent=indent) + ("\n" if indent is not None else ""))


def append_line(path: Path, line: dict[str, Any]) -> None:
    """Append one JSON line in one write, flushed to disk."""
    with open(path, "a") as f:
        f.write(json.dumps(line) + "\n")
        f.flush()
        os.fsync(f.fileno())


class DamagedFile(InputError):
    """A file the tool wrote that is missing or cannot be read back; the message names it."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        self.path, self.line = path, line
        where = f"{path} line {line}" if line is not None else str(path)
        super().__init__(f"{where} is damaged ({problem}); remove it, or restore it from a copy")


def describe(exc: BaseException) -> str:
    """What went wrong reading a file, in a few words."""
    if isinstance(exc, FileNotFoundError):
        return "missing"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def read_json(path: Path) -> Any:
    """A JSON file the tool wrote; ``DamagedFile`` naming it when missing or not JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DamagedFile(path, describe(exc)) from None


def read_lines(path: Path, damaged: list[int] | None = None) -> list[dict[str, Any]]:
    """Every complete line of a JSON-lines file (a last line cut short by a kill is not one).

    A complete line that is not a JSON object raises ``DamagedFile`` naming its line number, or,
    when a ``damaged`` list is given, is skipped and its number (from 1) appended to it."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedFile(path, describe(exc)) from None
    records = []
    for number, line in enumerate(text[:text.rfind("\n") + 1].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if damaged is None:
                raise DamagedFile(path, describe(exc), line=number) from None
            damaged.append(number)
            continue
        records.append(record)
    return records


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file the tool wrote; ``DamagedFile`` naming it when missing or damaged."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error type for a damaged file
        raise DamagedFile(path, describe(exc)) from None


def check_tensors(path: Path) -> None:
    """``DamagedFile`` unless the safetensors file at ``path`` is whole: its header is read and
    checked against the file's length, its tensors are not loaded."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt"):
            pass
    except Exception as exc:  # safetensors raises its own error type for a damaged file
        raise DamagedFile(path, describe(exc)) from None


def read_image(path: Path) -> Image.Image:
    """A PNG the tool wrote, as RGB; ``DamagedFile`` naming it when missing or damaged."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except Exception as exc:  # PIL raises several error types for a damaged file
        raise DamagedFile(path, describe(exc)) from None


def readable(read: Callable[[Path], Any], *paths: Path) -> bool:
    """Whether every file in ``paths`` reads back whole with ``read``."""
    try:
        for path in paths:
            read(path)
    except DamagedFile:
        return False
    return True


def drop_partial_line(path: Path) -> None:
    """Cut a JSON-lines file after its last complete line, so that appending goes on cleanly."""
    if path.exists():
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)


def open_folder(out: Path, spec_file: str, spec: dict[str, Any],
                differs: Callable[[dict[str, Any]], list[str]], resume: bool, kind: str) -> bool:
    """Create ``out`` holding ``spec_file`` (``spec`` as JSON), or, with ``resume``, reopen a folder
    whose spec file holds the same ``kind`` of work; returns whether it was reopened.

    ``differs(held)`` names the fields in which a held spec differs from this one. A folder
    holding anything else is refused, so nothing is ever overwritten. Temporary files left by a
    kill are removed on reopening.
    """
    path = out / spec_file
    if resume and path.exists():
        fields = differs(read_json(path))
        if fields:
            raise InputError(f"output folder {out} holds another {kind} (it differs in {', '.join(fields)}); "
                             "rerun with its own arguments to resume it, or choose a new `out`")
        for leftover in out.rglob("*.tmp"):  # cut short by a kill
            leftover.unlink()
        return True
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        held = path.exists()
        advice = "; pass `resume` to continue it" if held and not resume else ""
        raise InputError(f"output folder {out} already holds {f'a {kind}' if held else 'other files'}; "
                         f"choose a new `out` or remove it{advice}")
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, spec)
    return False
