"""The feature cache: fp16 memmap, resumable, invalidated by a changed encoder, bad images counted and listed."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sat.data.errors import DataError
from sat.data.flickr8k import load_flickr8k
from sat.features import DONE, FAILED, FeatureStore, cache_path, extract_features

from _data_helpers import make_flickr8k


class TinyEncoder(nn.Module):
    """A 4×4 grid of 3-dimensional annotation vectors: average pooling of the normalised image."""

    name = "tiny"

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))
        self.calls = 0

    @staticmethod
    def grid(image_size: int) -> tuple[int, int]:
        return 4, 4

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.any():  # the cache's all-zero shape probe is not an image
            self.calls += images.shape[0]
        pooled = nn.functional.adaptive_avg_pool2d(images, 4) * self.scale  # (B, 3, 4, 4)
        return pooled.flatten(2).transpose(1, 2)  # (B, 16, 3)


@pytest.fixture()
def dataset(tmp_path):
    return load_flickr8k(make_flickr8k(tmp_path / "flickr8k"))


def test_features_are_fp16_memmap_with_the_encoder_output(dataset, tmp_path):
    encoder = TinyEncoder()
    store = extract_features(dataset, "tiny", 32, tmp_path / "cache", batch_size=2, encoder=encoder, progress=False)
    assert store.array.dtype == np.float16 and isinstance(store.array, np.memmap)
    assert store.array.shape == (5, 16, 3) and (store.status == DONE).all()
    assert store.grid == (4, 4)
    first = dataset.images[0]
    features = store.get([first.filename])  # (1, 16, 3)
    assert features.dtype == torch.float32 and features.shape == (1, 16, 3)
    from sat.data.images import image_transform, load_image
    expected = encoder(image_transform(32)(load_image(dataset.image_path(first)))[None])
    torch.testing.assert_close(features, expected.detach(), atol=2e-3, rtol=2e-3)


def test_second_run_reuses_the_cache_and_splits_extract_only_their_images(dataset, tmp_path):
    encoder = TinyEncoder()
    store = extract_features(dataset, "tiny", 32, tmp_path / "c", encoder=encoder, splits=["test"], progress=False)
    assert encoder.calls == 1 and store.status.sum() == DONE
    with pytest.raises(DataError, match="no features"):
        store.get([dataset.split("train")[0].filename])
    extract_features(dataset, "tiny", 32, tmp_path / "c", encoder=encoder, progress=False)
    assert encoder.calls == 5  # only the four missing images
    extract_features(dataset, "tiny", 32, tmp_path / "c", encoder=encoder, progress=False)
    assert encoder.calls == 5  # nothing left to do


def test_interrupted_extraction_resumes_where_it_stopped(dataset, tmp_path):
    class Crashing(TinyEncoder):
        def forward(self, images):
            if self.calls >= 2:
                raise KeyboardInterrupt
            return super().forward(images)

    with pytest.raises(KeyboardInterrupt):
        extract_features(dataset, "tiny", 32, tmp_path / "c", batch_size=1, save_every=1, encoder=Crashing(),
                         progress=False)
    store = FeatureStore.open(cache_path("flickr8k", "tiny", 32, tmp_path / "c"))
    assert int((store.status == DONE).sum()) == 2
    resumed = TinyEncoder()
    extract_features(dataset, "tiny", 32, tmp_path / "c", batch_size=1, encoder=resumed, progress=False)
    assert resumed.calls == 3


def test_changed_weights_invalidate_the_cache(dataset, tmp_path):
    extract_features(dataset, "tiny", 32, tmp_path / "c", encoder=TinyEncoder(1.0), progress=False)
    other = TinyEncoder(2.0)
    with pytest.warns(UserWarning, match="rebuilding"):
        store = extract_features(dataset, "tiny", 32, tmp_path / "c", encoder=other, progress=False)
    assert other.calls == 5
    assert float(store.get([dataset.images[0].filename]).abs().sum()) > 0


def test_unreadable_images_are_counted_listed_and_never_served(dataset, tmp_path):
    bad = dataset.image_path(dataset.images[1])
    bad.write_bytes(b"")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\): .*" + bad.name):
        store = extract_features(dataset, "tiny", 32, tmp_path / "c", encoder=TinyEncoder(), progress=False)
    assert store.status[store.index[bad.name]] == FAILED and not store.has(bad.name)
    with pytest.raises(DataError, match=bad.name):
        store.get([bad.name])


def test_damaged_cache_gives_one_line_error(tmp_path):
    root = tmp_path / "broken"
    root.mkdir()
    (root / "meta.json").write_text("{not json")
    with pytest.raises(DataError) as err:
        FeatureStore.open(root)
    assert str(root) in str(err.value) and "\n" not in str(err.value)


def test_mirrored_images_have_a_cache_of_their_own(dataset, tmp_path):
    from sat.data.images import image_transform, load_image

    from PIL import Image

    first = dataset.images[0]
    halves = np.zeros((20, 30, 3), dtype=np.uint8)
    halves[:, 15:] = 255  # left half black, right half white: the mirror differs
    Image.fromarray(halves).save(dataset.image_path(first))
    encoder = TinyEncoder()
    plain = extract_features(dataset, "tiny", 32, tmp_path / "c", encoder=encoder, progress=False)
    mirrored = extract_features(dataset, "tiny", 32, tmp_path / "c", encoder=encoder, progress=False, hflip=True)
    assert mirrored.root == cache_path(dataset.name, "tiny", 32, tmp_path / "c", hflip=True) != plain.root
    assert mirrored.meta["hflip"] and mirrored.meta["fingerprint"] != plain.meta["fingerprint"]
    image = image_transform(32)(load_image(dataset.image_path(first)))  # (3, 32, 32)
    expected = encoder(image.flip(-1)[None]).detach()  # (1, 16, 3): the encoder sees the mirrored image
    torch.testing.assert_close(mirrored.get([first.filename]), expected, atol=2e-3, rtol=2e-3)
    plain_grid = plain.get([first.filename]).view(4, 4, 3)
    assert not torch.allclose(plain_grid.view(1, 16, 3), expected, atol=0.1)
    torch.testing.assert_close(plain_grid.flip(1).reshape(1, 16, 3), expected, atol=2e-3, rtol=2e-3)  # pooling commutes
    calls = encoder.calls
    assert extract_features(dataset, "tiny", 32, tmp_path / "c", encoder=encoder, progress=False).root == plain.root
    assert encoder.calls == calls  # the plain cache is still valid: mirroring did not touch it


def test_load_copies_rows_into_ram_in_the_order_asked(dataset, tmp_path):
    store = extract_features(dataset, "tiny", 32, tmp_path / "c", encoder=TinyEncoder(), progress=False)
    rows = np.array([3, 0, 4, 0])
    loaded = store.load(rows, chunk=3)  # (4, 16, 3): chunks smaller than the request
    assert loaded.dtype == torch.float16 and not isinstance(loaded.numpy(), np.memmap)
    assert torch.equal(loaded, torch.from_numpy(np.asarray(store.array[rows])))
