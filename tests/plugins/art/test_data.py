import numpy as np
import pytest
import torch
from PIL import Image

from tlgen import TlgenError
from tlgen.plugins.art import data
from tlgen.plugins.art.data import Collate, RandomCrops


def save(path, array):
    Image.fromarray(array).save(path)
    return path


@pytest.mark.parametrize("name, array", [
    ("gray.png", np.full((20, 30), 200, np.uint8)),
    ("rgba.png", np.dstack([np.full((20, 30, 3), 200, np.uint8),
                            np.full((20, 30), 255, np.uint8)])),
    ("deep.png", np.full((20, 30), 200 * 257, np.uint16)),
    ("palette.gif", np.full((20, 30), 200, np.uint8)),
])
def test_any_mode_becomes_8bit_rgb(tmp_path, name, array):
    img = data.read_rgb(save(tmp_path / name, array))
    assert img.mode == "RGB" and img.size == (30, 20)
    assert np.abs(np.asarray(img).astype(int) - 200).max() <= 1


def test_16bit_and_alpha_are_rescaled_and_composited(tmp_path):
    deep = data.read_rgb(save(tmp_path / "deep.png", np.full((4, 4), 65535, np.uint16)))
    assert np.asarray(deep).min() == 255
    clear = np.zeros((4, 4, 4), np.uint8)  # fully transparent black: white after compositing
    assert np.asarray(data.read_rgb(save(tmp_path / "clear.png", clear))).min() == 255


def test_truncated_and_fake_images_name_the_file(tmp_path):
    good = save(tmp_path / "good.png", np.random.default_rng(0).integers(0, 255, (64, 64, 3),
                                                                         dtype=np.uint8))
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:200])
    fake = tmp_path / "fake.jpg"
    fake.write_text("not an image")
    for bad in (cut, fake):
        with pytest.raises(TlgenError, match=bad.name):
            data.read_rgb(bad)


def test_empty_or_missing_folders_are_clear_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(TlgenError, match="data.style.*has no images"):
        data.image_files(str(tmp_path), "data.style")
    with pytest.raises(TlgenError, match="data.content.*neither a folder"):
        data.image_files(str(tmp_path / "missing"), "data.content")


def test_builtin_sets_are_there_offline():
    assert [len(data.builtin(name)) for name in data.SHIPPED] == [8, 1, 20]
    for name in ("skimage", "photos", "ukiyoe"):
        assert all(p.is_file() for p in data.builtin(name))


def test_the_ukiyoe_set_is_the_hokusai_and_hiroshige_prints_of_the_paintings():
    provenance = (data.builtin("paintings")[0].parent / "PROVENANCE.md").read_text("utf-8")
    prints = {row.split("|")[1].strip() for row in provenance.splitlines()
              if "Hokusai (1849)" in row or "Hiroshige (1858)" in row}
    assert {p.name for p in data.builtin("ukiyoe")} == prints and len(prints) == 9


@pytest.mark.parametrize("name", data.SHIPPED)
def test_each_shipped_painting_has_its_provenance(name):
    files = data.builtin(name)
    provenance = (files[0].parent / "PROVENANCE.md").read_text(encoding="utf-8")
    assert all(f"| {path.name} |" in provenance for path in files)


def test_crops_of_small_images_are_resized_up_and_fixed_with_a_seed():
    small = Image.fromarray(np.random.default_rng(0).integers(0, 255, (10, 14, 3), np.uint8))
    fixed = RandomCrops([small], crop=32, zoom=(1.0, 2.0), per_image=3, seed=0)
    first = fixed[1]
    assert first.shape == (3, 32, 32) and -1 <= first.min() and first.max() <= 1
    assert torch.equal(first, fixed[1])
    batch = Collate(torch.tensor([[0, 5, 1]]))([fixed[0], fixed[2]])
    assert batch["pixel_values"].shape == (2, 3, 32, 32) and batch["input_ids"].shape == (2, 3)


def test_images_below_the_minimum_side_are_refused_naming_file_and_size(tmp_path):
    save(tmp_path / "big.png", np.zeros((40, 50, 3), np.uint8))
    save(tmp_path / "thin.png", np.zeros((31, 200, 3), np.uint8))
    with pytest.raises(TlgenError, match=r"data.style.*thin\.png is 200x31 px.*at least 32 px"):
        data.load(str(tmp_path), "data.style", data.MIN_SIDE)
    (tmp_path / "thin.png").unlink()
    assert [(p.name, img.size) for p, img in data.load(str(tmp_path), "data.style", 32)] == [
        ("big.png", (50, 40))]


def test_guided_pairs_are_made_once_when_first_needed_and_cropped_alike():
    made = []

    def make():
        made.append(1)
        photo = torch.linspace(-1, 1, 3 * 20 * 30).reshape(3, 20, 30)
        return [(photo, 0.5 * photo), (-photo, -0.5 * photo)]

    pairs = data.GuidedPairs(make, pairs=2, crop=8, per_pair=5, seed=3)
    assert made == [] and len(pairs) == 10  # nothing made until the trainer asks
    pairs.set_epoch(0)
    assert made == [1]
    flips = set()
    for i in range(len(pairs)):
        photo, guided = pairs[i]
        assert photo.shape == guided.shape == (3, 8, 8)
        assert torch.equal(guided, 0.5 * photo)  # one window and one flip for both
        flips.add(bool(photo[0, 0, 0] > photo[0, 0, 1]))
    assert flips == {True, False} and made == [1]
    again = data.GuidedPairs(make, pairs=2, crop=8, per_pair=5, seed=3)
    assert torch.equal(again[4][0], pairs[4][0])  # seeded: a resumed run sees the same crops
    pairs.set_epoch(1)
    assert not torch.equal(again[4][0], pairs[4][0])
    style = RandomCrops([Image.new("RGB", (40, 40), "red")], crop=8, zoom=(1.0, 1.0), per_image=4)
    batch = Collate()([data.WithPhotos(style, pairs)[i] for i in range(3)])
    assert sorted(batch) == ["guided_values", "photo_values", "pixel_values"]
    assert batch["guided_values"].shape == (3, 3, 8, 8)
