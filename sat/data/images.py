"""Reading any image file as 8-bit RGB, and the encoder's input transform.

:func:`load_image` accepts every mode Pillow decodes: grayscale (``1``, ``L``), palette (``P``, with or without
transparency), alpha (``LA``, ``RGBA``, ``PA`` — composited on white, as a viewer shows them), ``CMYK``, ``YCbCr``,
16-bit and 32-bit integer or float images (rescaled to 0–255), at any size and aspect ratio; the EXIF orientation is
applied. A missing, empty, truncated, corrupt or non-image file raises :class:`~sat.data.errors.DataError` naming it.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision import transforms

from .errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_WIDE_MODES = {"I", "F"}  # 32-bit int / float, and I;16* variants below


def _to_8bit(image: Image.Image) -> Image.Image:
    """Rescale a 16/32-bit single-channel image to ``L``: 16-bit ranges are divided by 257, others min–max scaled."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16") or (values.size and 255 < values.max() <= 65535 and values.min() >= 0):
        values = values / 257.0
    elif values.size and (values.min() < 0 or values.max() > 255):
        low, high = float(values.min()), float(values.max())
        values = (values - low) * (255.0 / max(high - low, 1e-12))
    elif image.mode == "F" and values.size and values.max() <= 1.0:
        values = values * 255.0
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert a decoded image of any mode to ``RGB`` (alpha composited on white)."""
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode in _WIDE_MODES or image.mode.startswith("I;16"):
        image = _to_8bit(image)
    return image.convert("RGB")


def load_image(path: str | Path) -> Image.Image:
    """Read ``path`` fully into memory as an ``RGB`` :class:`PIL.Image.Image`; bad files raise :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "image file not found" if not path.exists() else "not a regular file")
    if path.stat().st_size == 0:
        raise DataError(path, "empty image file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                opened.load()
                image = opened.copy()
    except UnidentifiedImageError:
        raise DataError(path, "not an image file (Pillow cannot identify its format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(path, f"image too large to decode safely ({err})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise DataError(path, f"corrupt or truncated image ({reason})") from None
    try:
        image = ImageOps.exif_transpose(image)
    except Exception as err:  # a malformed EXIF block must not cost the image: keep it unrotated, and say so
        warnings.warn(f"{path}: ignored unreadable EXIF orientation ({type(err).__name__})", stacklevel=2)
    try:
        return to_rgb(image)
    except (OSError, ValueError) as err:
        raise DataError(path, f"cannot convert image mode {image.mode} to RGB ({err})") from None


def image_transform(image_size: int = 224, hflip: bool = False) -> transforms.Compose:
    """PIL RGB image → float tensor (3, image_size, image_size), ImageNet-normalised.

    The image is resized to a square *without* keeping its aspect ratio, as the shared Flickr8k copy is, with
    antialiased bilinear interpolation; no crop, so every region stays visible to attention (the paper crops the
    centre: a deviation the book lists). It is then scaled to [0, 1] and normalised by :data:`IMAGENET_MEAN` /
    :data:`IMAGENET_STD`.
    ``hflip`` mirrors the image left to right first (the second view of each training image that
    ``DataConfig.hflip`` trains on).
    """
    mirror = [transforms.RandomHorizontalFlip(p=1.0)] if hflip else []
    return transforms.Compose([
        *mirror,
        transforms.Resize((image_size, image_size), interpolation=transforms.InterpolationMode.BILINEAR,
                          antialias=True),
        transforms.ToTensor(),  # (H, W, 3) uint8 → (3, H, W) float in [0, 1]
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
