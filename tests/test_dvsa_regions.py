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


def test_pool_whole_gem_lies_between_the_mean_and_the_max():
    from sat.dvsa.regions import pool_whole

    torch.manual_seed(0)
    feats = torch.rand(3, 49, 8) * 6  # non-negative, like the encoder's ReLU6 outputs
    mean, gem, largest = (pool_whole(feats, kind) for kind in ("mean", "gem", "max"))
    assert torch.allclose(mean, feats.mean(dim=1)) and torch.equal(largest, feats.amax(dim=1))
    assert bool((mean < gem).all() and (gem < largest).all())  # power mean inequality, strict for unequal cells
    assert torch.allclose(pool_whole(feats, "gem", p=1.0), mean, atol=1e-5)  # p = 1 is the mean
    one_hot = torch.zeros(1, 4, 1)
    one_hot[0, 2, 0] = 8.0
    assert pool_whole(one_hot, "gem").item() == pytest.approx(8.0 / 4 ** (1 / 3))  # (8³/4)^(1/3)
    with pytest.raises(ValueError, match="whole_pool must be one of mean, gem, max, not 'sum'"):
        pool_whole(feats, "sum")


def test_whole_image_pooled_otherwise_is_standardised_with_its_own_statistics():
    from sat.dvsa.regions import RegionEmbedding, pool_whole

    torch.manual_seed(0)
    feats = torch.rand(200, 16, 5) ** 3 * 6  # (N, L, D): skewed, so the max of a row sits far above the cell mean
    for kind in ("gem", "max"):
        regions = RegionEmbedding(5, 3, grid=0, whole_pool=kind)
        regions.set_feature_stats(feats.half())
        whole = (pool_whole(feats, kind) - regions.whole_mean) / regions.whole_std  # (N, D)
        assert whole.mean(dim=0).abs().max() < 1e-2 and (whole.std(dim=0) - 1).abs().max() < 1e-2
        cells = (pool_whole(feats, kind) - regions.feature_mean) / regions.feature_std  # the cells' statistics
        assert cells.mean(dim=0).min() > 0.5  # would leave every whole-image vector a shared offset
    assert not hasattr(RegionEmbedding(5, 3), "whole_mean")  # the mean-pooled model's state is Eq. 1's alone


def test_image_mlp_starts_as_eq1_and_learns_beside_it():
    from sat.dvsa.regions import RegionEmbedding

    feats = torch.randn(4, 9, 6)
    torch.manual_seed(1)
    linear = RegionEmbedding(6, 5, grid=None)
    torch.manual_seed(1)
    residual = RegionEmbedding(6, 5, grid=None, mlp=12)
    assert torch.equal(residual(feats), linear(feats))  # W_2 = 0: exactly W_m x + b_m at the start
    residual(feats).square().sum().backward()
    assert residual.mlp[2].weight.grad.abs().sum() > 0  # the perceptron's output layer learns from the first step
    assert residual.mlp[0].weight.grad.abs().sum() == 0  # (its input layer once W_2 has moved)
    with pytest.raises(ValueError, match="whole_pool must be one of"):
        RegionEmbedding(6, 5, whole_pool="median")
