"""Regions of the alignment model: all grid cells, cells pooled to a coarser grid, or the whole image alone."""
import pytest
import torch

from sat.dvsa.model import AlignmentModel
from sat.dvsa.regions import grid_regions, pool_cells


def test_pool_cells_averages_blocks_of_a_square_grid():
    feats = torch.arange(16.0).view(1, 16, 1)  # a 4×4 grid of 1-d cells, row-major: value = 4·row + col
    pooled = pool_cells(feats, 2)  # (1, 4, 1)
    # top-left block {0, 1, 4, 5} → 2.5, top-right {2, 3, 6, 7} → 4.5, bottom-left 10.5, bottom-right 12.5
    assert pooled[0, :, 0].tolist() == [2.5, 4.5, 10.5, 12.5]
    assert torch.equal(pool_cells(feats, 4), feats)
    assert pool_cells(feats, 0).shape == (1, 0, 1)
    with pytest.raises(ValueError):
        pool_cells(torch.zeros(1, 5, 1), 2)


def test_grid_regions_keeps_the_whole_image_last():
    torch.manual_seed(0)
    feats = torch.randn(3, 49, 8)  # 7×7 cells
    for grid, regions in ((None, 50), (7, 50), (3, 10), (1, 2), (0, 1)):
        r = grid_regions(feats, grid)
        assert r.shape == (3, regions, 8)
        assert torch.allclose(r[:, -1], feats.mean(dim=1), atol=1e-6)  # the whole image is the mean of all cells
    assert torch.allclose(grid_regions(feats, 1)[:, 0], feats.mean(dim=1), atol=1e-6)


def test_model_region_grid_changes_the_number_of_regions():
    torch.manual_seed(0)
    feats = torch.randn(2, 16, 10)  # 4×4 cells
    tokens, lengths = torch.tensor([[3, 4, 5]]), torch.tensor([3])
    for grid, regions in ((None, 17), (2, 5), (0, 1)):
        model = AlignmentModel(vocab_size=10, feature_dim=10, word_dim=4, hidden_dim=6, region_grid=grid).eval()
        assert model.embed_images(feats).shape == (2, regions, 6)
        assert model.word_region_scores(feats[0], tokens[0]).shape == (3, regions)
        assert model(feats, tokens, lengths).shape == (2, 1)
