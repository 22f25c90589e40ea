"""Small helpers shared by the data tests (not a test module)."""
from __future__ import annotations

from pathlib import Path

from PIL import Image


def assert_one_line_naming(err: BaseException, path: str | Path, line: int | None = None) -> str:
    """The error message is a single line that names ``path`` (and ``path:line``)."""
    message = str(err)
    assert "\n" not in message, message
    assert str(path) in message, message
    if line is not None:
        assert f"{path}:{line}" in message, message
    return message


def write_jpeg(path: Path, size: tuple[int, int] = (40, 30), colour: tuple[int, int, int] = (200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, "JPEG")
    return path


def make_flickr8k(root: Path, splits: dict[str, list[str]] | None = None, captions_per_image: int = 5,
                  token_lines: list[str] | None = None, skip_files: tuple[str, ...] = ()) -> Path:
    """A miniature Flickr8k folder in the official layout."""
    splits = splits or {"train": ["1_a.jpg", "2_b.jpg", "3_c.jpg"], "dev": ["4_d.jpg"], "test": ["5_e.jpg"]}
    names = [n for group in splits.values() for n in group]
    images, text = root / "Flicker8k_Dataset", root / "Flickr8k_text"
    text.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name not in skip_files:
            write_jpeg(images / name)
    if token_lines is None:
        token_lines = [f"{n}#{k}\tA dog number {k} runs on the grass ."
                       for n in names for k in range(captions_per_image)]
    (text / "Flickr8k.token.txt").write_text("\n".join(token_lines) + "\n")
    files = {"train": "Flickr_8k.trainImages.txt", "dev": "Flickr_8k.devImages.txt", "test": "Flickr_8k.testImages.txt"}
    for split, group in splits.items():
        (text / files[split]).write_text("\n".join(group) + "\n")
    return root

