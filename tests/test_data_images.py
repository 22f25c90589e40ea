"""load_image on every mode, size and kind of broken file; the encoder transform."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _data_helpers import assert_one_line_naming, write_jpeg
from PIL import Image

from sat.data import IMAGENET_MEAN, IMAGENET_STD, DataError, image_transform, load_image


@pytest.mark.parametrize("mode, fmt", [("L", "JPEG"), ("1", "PNG"), ("P", "PNG"), ("CMYK", "JPEG"), ("RGB", "PNG"),
                                       ("I;16", "PNG"), ("I", "TIFF"), ("F", "TIFF"), ("LA", "PNG")])
def test_any_mode_becomes_rgb(tmp_path, mode, fmt):
    path = tmp_path / f"image.{fmt.lower()}"
    Image.new("RGB", (24, 16), (90, 90, 90)).convert(mode).save(path, fmt)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (24, 16)


def test_sixteen_bit_grey_is_rescaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)).save(path)  # 16-bit grayscale PNG
    assert np.asarray(load_image(path))[0, 0].tolist() == [round(40000 / 257)] * 3


def test_alpha_is_composited_on_white(tmp_path):
    path = tmp_path / "rgba.png"
    pixels = np.zeros((4, 4, 4), dtype=np.uint8)  # (H, W, RGBA)
    pixels[..., 0] = 255  # red …
    pixels[0, 0, 3], pixels[1, 1, 3] = 255, 0  # … opaque at (0, 0), transparent at (1, 1)
    Image.fromarray(pixels, "RGBA").save(path)
    rgb = np.asarray(load_image(path))
    assert rgb[0, 0].tolist() == [255, 0, 0] and rgb[1, 1].tolist() == [255, 255, 255]


def test_palette_with_transparency(tmp_path):
    path = tmp_path / "palette.gif"
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    image.info["transparency"] = 1
    image.save(path, transparency=1)
    assert np.asarray(load_image(path))[0, 0].tolist() == [255, 255, 255]


@pytest.mark.parametrize("size", [(1, 1), (500, 7), (7, 500), (333, 517)])
def test_any_size_and_aspect(tmp_path, size):
    image = load_image(write_jpeg(tmp_path / "odd.jpg", size))
    assert image.size == size
    assert image_transform(32)(image).shape == (3, 32, 32)


def test_transform_squashes_and_normalises():
    tensor = image_transform(16)(Image.new("RGB", (64, 8), (255, 0, 128)))  # (3, 16, 16)
    expected = (torch.tensor([1.0, 0.0, 128 / 255]) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert tensor.shape == (3, 16, 16) and torch.allclose(tensor[:, 8, 8], expected, atol=1e-2)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.new("RGB", (40, 20), (10, 200, 10)).save(path, exif=exif)
    assert load_image(path).size == (20, 40)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found") as err:
        load_image(tmp_path / "absent.jpg")
    assert_one_line_naming(err.value, tmp_path / "absent.jpg")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(DataError, match="0 bytes") as err:
        load_image(path)
    assert_one_line_naming(err.value, path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels\n")
    with pytest.raises(DataError, match="not an image") as err:
        load_image(path)
    assert_one_line_naming(err.value, path)


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "cut.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated") as err:
        load_image(path)
    assert_one_line_naming(err.value, path)


def test_corrupt_png(tmp_path):
    path = tmp_path / "bad.png"
    Image.new("RGB", (32, 32), (1, 2, 3)).save(path)
    data = bytearray(path.read_bytes())
    data[60:80] = b"\x00" * 20  # smash the image data chunk
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as err:
        load_image(path)
    assert_one_line_naming(err.value, path)


def test_a_directory_is_not_an_image(tmp_path):
    with pytest.raises(DataError) as err:
        load_image(tmp_path)
    assert_one_line_naming(err.value, tmp_path)
