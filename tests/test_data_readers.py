"""Dataset readers on small fixtures in the real formats, and every bad input they must name."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _data_helpers import assert_one_line_naming, make_flickr8k, write_jpeg

from sat.data import DataError, load_coco_captions, load_dataset, load_flickr8k, load_karpathy_json

FIXTURES = Path(__file__).parent / "fixtures"


# --- Flickr8k, official layout --------------------------------------------------------------------

def test_flickr8k_reads_splits_and_captions(tmp_path):
    data = load_flickr8k(make_flickr8k(tmp_path))
    assert data.split_sizes() == {"train": 3, "val": 1, "test": 1}
    first = data.split("train")[0]
    assert len(first.captions) == 5 and first.tokens[0] == ["a", "dog", "number", "0", "runs", "on", "the", "grass"]
    assert data.image_path(first).is_file()


def test_flickr8k_missing_images_warn_with_count_and_names(tmp_path):
    root = make_flickr8k(tmp_path, skip_files=("2_b.jpg", "5_e.jpg"))
    with pytest.warns(UserWarning, match=r"skipped 2 image\(s\).*2_b\.jpg, 5_e\.jpg"):
        data = load_flickr8k(root)
    assert len(data) == 3


def test_flickr8k_malformed_caption_line_names_file_and_line(tmp_path):
    lines = [f"1_a.jpg#{k}\tA dog ." for k in range(5)]
    lines.insert(2, "1_a.jpg A dog without a tab")
    root = make_flickr8k(tmp_path, splits={"train": ["1_a.jpg"]}, token_lines=lines)
    with pytest.raises(DataError) as err:
        load_flickr8k(root)
    assert_one_line_naming(err.value, root / "Flickr8k_text" / "Flickr8k.token.txt", line=3)


def test_flickr8k_empty_caption_names_file_and_line(tmp_path):
    lines = ["1_a.jpg#0\tA dog .", "1_a.jpg#1\t  . "]
    root = make_flickr8k(tmp_path, splits={"train": ["1_a.jpg"]}, token_lines=lines)
    with pytest.raises(DataError, match="empty caption") as err:
        load_flickr8k(root)
    assert_one_line_naming(err.value, root / "Flickr8k_text" / "Flickr8k.token.txt", line=2)


def test_flickr8k_not_a_flickr8k_folder(tmp_path):
    with pytest.raises(DataError) as err:
        load_flickr8k(tmp_path)
    assert_one_line_naming(err.value, tmp_path)


# --- Karpathy JSON --------------------------------------------------------------------------------

def test_karpathy_json_coco_style():
    data = load_karpathy_json(FIXTURES / "dataset_tiny.json", "/coco")
    assert data.name == "coco"
    assert data.split_sizes() == {"train": 2, "val": 1, "test": 1}  # restval → train
    first = data.images[0]
    assert first.filename == "val2014/COCO_val2014_000000000001.jpg" and first.image_id == 1 and first.key == "1"
    assert first.captions[0] == "A man riding a horse." and first.tokens[1] == ["a", "person", "on", "a", "horse"]
    assert data.images[2].tokens == [["a", "cat", "sleeps", "on", "the", "sofa"]]  # tokens from raw when absent
    assert data.image_path(first) == Path("/coco/val2014/COCO_val2014_000000000001.jpg")


def _karpathy(tmp_path: Path, images: list) -> Path:
    path = tmp_path / "dataset_flickr8k.json"
    path.write_text(json.dumps({"images": images}))
    return path


def test_karpathy_json_flickr_style_uses_file_names(tmp_path):
    path = _karpathy(tmp_path, [{"filename": "1.jpg", "split": "train", "sentences": [{"tokens": ["a", "b"]}]}])
    data = load_karpathy_json(path, tmp_path)
    assert data.name == "flickr8k" and data.images[0].filename == "1.jpg" and data.images[0].key == "1.jpg"


@pytest.mark.parametrize("entry, complaint", [
    ({"split": "train", "sentences": [{"tokens": ["a"]}]}, "missing key 'filename'"),
    ({"filename": "1.jpg", "split": "holdout", "sentences": [{"tokens": ["a"]}]}, "unknown split 'holdout'"),
    ({"filename": "1.jpg", "split": "train", "sentences": [{"tokens": []}]}, "empty caption"),
    ({"filename": "1.jpg", "split": "train", "sentences": [{"imgid": 0}]}, "needs 'tokens' or 'raw'"),
    ({"filename": "1.jpg", "split": "train", "sentences": []}, "no sentences"),
])
def test_karpathy_json_bad_entries_name_file_and_image(tmp_path, entry, complaint):
    good = {"filename": "0.jpg", "split": "train", "sentences": [{"tokens": ["a"]}]}
    path = _karpathy(tmp_path, [good, entry])
    with pytest.raises(DataError, match=complaint) as err:
        load_karpathy_json(path, tmp_path)
    assert "images[1]" in assert_one_line_naming(err.value, path)


def test_karpathy_json_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "dataset_coco.json"
    path.write_text('{"images": [\n  {"filename": "a.jpg",,}\n]}')
    with pytest.raises(DataError, match="malformed JSON") as err:
        load_karpathy_json(path, tmp_path)
    assert_one_line_naming(err.value, path, line=2)


def test_karpathy_json_wrong_top_level_and_missing_file(tmp_path):
    path = tmp_path / "dataset_coco.json"
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="not a Karpathy split file") as err:
        load_karpathy_json(path, tmp_path)
    assert_one_line_naming(err.value, path)
    with pytest.raises(DataError, match="not found") as err:
        load_karpathy_json(tmp_path / "absent.json", tmp_path)
    assert_one_line_naming(err.value, tmp_path / "absent.json")


def test_karpathy_json_check_images_warns_about_missing_files(tmp_path):
    write_jpeg(tmp_path / "val2014" / "COCO_val2014_000000000001.jpg")
    with pytest.warns(UserWarning, match=r"skipped 3 image\(s\) missing.*COCO_val2014_000000000002\.jpg"):
        data = load_karpathy_json(FIXTURES / "dataset_tiny.json", tmp_path, check_images=True)
    assert [im.image_id for im in data.images] == [1]


# --- COCO captions --------------------------------------------------------------------------------

def test_coco_captions(tmp_path):
    with pytest.warns(UserWarning, match=r"skipped 1 image\(s\) without captions: COCO_val2014_000000000013\.jpg"):
        data = load_coco_captions(FIXTURES / "captions_tiny2014.json", tmp_path, "val")
    assert data.split_sizes() == {"train": 0, "val": 2, "test": 0}
    first = data.images[0]
    assert first.image_id == 11 and len(first.captions) == 2 and first.tokens[1] == ["a", "surfer", "rides", "a",
                                                                                     "large", "wave"]


@pytest.mark.parametrize("document, complaint", [
    ({"images": [{"id": 1}], "annotations": []}, r"images\[0\]: missing key 'file_name'"),
    ({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 2, "caption": "x"}]},
     r"annotations\[0\]: image_id 2 is not in 'images'"),
    ({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1, "caption": " . "}]},
     r"annotations\[0\]: empty caption"),
    ({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1}]}, "missing key 'caption'"),
    ({"annotations": []}, "not a COCO captions file"),
])
def test_coco_bad_documents_name_the_file(tmp_path, document, complaint):
    path = tmp_path / "captions_val2014.json"
    path.write_text(json.dumps(document))
    with pytest.raises(DataError, match=complaint) as err:
        load_coco_captions(path, tmp_path, "val")
    assert_one_line_naming(err.value, path)


def test_coco_unknown_split_and_malformed_json(tmp_path):
    with pytest.raises(DataError, match="unknown split 'minival'") as err:
        load_coco_captions(FIXTURES / "captions_tiny2014.json", tmp_path, "minival")
    assert_one_line_naming(err.value, FIXTURES / "captions_tiny2014.json")
    path = tmp_path / "captions.json"
    path.write_bytes(b'{"images": [\xff]}')
    with pytest.raises(DataError, match="not UTF-8") as err:
        load_coco_captions(path, tmp_path, "train")
    assert_one_line_naming(err.value, path)


# --- load_dataset ---------------------------------------------------------------------------------

def test_load_dataset_dispatches_by_name(tmp_path):
    make_flickr8k(tmp_path / "flickr8k")
    assert load_dataset("flickr8k", tmp_path).split_sizes() == {"train": 3, "val": 1, "test": 1}
    coco = tmp_path / "coco"
    shutil.copy(FIXTURES / "dataset_tiny.json", (coco.mkdir() or coco) / "dataset_coco.json")
    for record_file in ("val2014/COCO_val2014_000000000001.jpg", "val2014/COCO_val2014_000000000002.jpg",
                        "train2014/COCO_train2014_000000000003.jpg", "train2014/COCO_train2014_000000000004.jpg"):
        write_jpeg(coco / record_file)
    data = load_dataset("coco", tmp_path)
    assert len(data) == 4 and data.image_path(data.images[0]).is_file()
    shapes = load_dataset("shapes", tmp_path, n_images=20, seed=3)
    assert len(shapes) == 20 and shapes.image_path(shapes.images[0]).is_file()
    with pytest.raises(DataError, match="Karpathy split file not found") as err:
        load_dataset("flickr30k", tmp_path)
    assert_one_line_naming(err.value, tmp_path / "flickr30k" / "dataset_flickr30k.json")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet", tmp_path)


def test_load_dataset_uses_sat_data(tmp_path, monkeypatch):
    make_flickr8k(tmp_path / "flickr8k")
    monkeypatch.setenv("SAT_DATA", str(tmp_path))
    assert len(load_dataset("flickr8k")) == 5
