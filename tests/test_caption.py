"""``sat caption``: images of any size and mode, a corrupt file among them, plots, the default checkpoint."""
from __future__ import annotations

import pytest
import torch

from _caption_helpers import awkward_images, tiny_checkpoint
from sat import caption as caption_module
from sat.caption import caption_images
from sat.cli import main

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


def test_sat_caption_command_captions_the_good_images_and_names_the_bad_one(tmp_path, checkpoint, capsys):
    """``sat caption`` (run in-process; tests/test_cli.py runs the installed entry point)."""
    images = awkward_images(tmp_path / "images")
    order = [images["rgba"], images["corrupt"], images["gray"], images["cmyk"], images["tiny"]]
    status = main(["caption", *map(str, order), "--checkpoint", str(checkpoint), "--beam", "2", "--max-len", "6"])
    out, err = capsys.readouterr()
    assert status != 0
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(p) for p in order if p != images["corrupt"]]
    assert all(len(line.split("\t")) == 2 and line.split("\t")[1] for line in lines)
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and str(images["corrupt"]) in errors[0]
    assert "Traceback" not in err


def test_caption_images_keeps_order_and_plots_one_figure_per_good_image(tmp_path, checkpoint):
    images = awkward_images(tmp_path / "images")
    paths = [images["tiny"], images["corrupt"], images["cmyk"]]
    results = caption_images(paths, checkpoint=checkpoint, beam_size=3, max_len=4, plot_dir=tmp_path / "plots")
    assert [r.path for r in results] == [str(p) for p in paths]
    assert results[1].caption is None and str(images["corrupt"]) in results[1].error
    assert results[0].error is None and 1 <= len(results[0].caption.split()) <= 4
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["cmyk.png", "tiny.png"]


def test_hard_attention_checkpoint_captions_too(tmp_path):
    checkpoint = tiny_checkpoint(tmp_path / "hard.pt", attention="hard")
    images = awkward_images(tmp_path / "images")
    [result] = caption_images([images["gray"]], checkpoint=checkpoint, beam_size=1, max_len=3,
                              plot_dir=tmp_path / "plots")
    assert result.error is None and (tmp_path / "plots" / "gray.png").is_file()


def test_missing_default_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(caption_module, "repo_root", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match="--checkpoint") as info:
        caption_images([tmp_path / "x.jpg"])
    assert "\n" not in str(info.value) and "soft.pt" in str(info.value)


def _decoding_asked(monkeypatch, argv):
    """The decoding settings ``sat caption ARGV`` hands to ``caption_images``."""
    asked = {}

    def spy(paths, checkpoint=None, plot_dir=None, max_len=20, device="cpu", **decoding):
        assert torch.device(device).type == ("cuda" if torch.cuda.is_available() else "cpu")  # --device auto
        asked.update(decoding, checkpoint=checkpoint)
        return []

    monkeypatch.setattr(caption_module, "caption_images", spy)
    assert main(["caption", "x.jpg", *argv]) == 0
    return asked


def test_the_default_model_is_decoded_as_published_unless_told_otherwise(tmp_path, monkeypatch, checkpoint):
    import json

    metrics = tmp_path / caption_module.DEFAULT_METRICS
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"Bleu_4": 0.2, "beam_size": 7, "length_normalization": 0.5, "mirror": True}))
    monkeypatch.setattr(caption_module, "repo_root", lambda: tmp_path)
    published = {"beam_size": 7, "length_normalization": 0.5, "mirror": True}
    assert caption_module.default_decoding() == published
    assert _decoding_asked(monkeypatch, []) == {**published, "checkpoint": None}
    assert _decoding_asked(monkeypatch, ["--beam", "2", "--no-mirror"]) == {
        "beam_size": 2, "length_normalization": 0.5, "mirror": False, "checkpoint": None}
    # any other checkpoint: beam 3, P 0, the image alone, whatever the default model's settings
    assert _decoding_asked(monkeypatch, ["--checkpoint", str(checkpoint)]) == {
        "beam_size": 3, "length_normalization": 0.0, "mirror": False, "checkpoint": str(checkpoint)}
    assert _decoding_asked(monkeypatch, ["--checkpoint", str(checkpoint), "--mirror", "--length-normalization", "1"]) == {
        "beam_size": 3, "length_normalization": 1.0, "mirror": True, "checkpoint": str(checkpoint)}
    metrics.unlink()
    assert caption_module.default_decoding() == caption_module.DECODING


def test_the_committed_default_decoding_is_the_soft_models_published_one():
    import json

    from sat.paths import repo_root

    metrics = json.loads((repo_root() / caption_module.DEFAULT_METRICS).read_text())
    decoding = caption_module.default_decoding()
    assert decoding == {key: metrics[key] for key in ("beam_size", "length_normalization", "mirror")}
    assert metrics["checkpoint"] == caption_module.DEFAULT_CHECKPOINT.as_posix()
