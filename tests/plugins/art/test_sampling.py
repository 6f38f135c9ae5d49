import numpy as np
import torch
from PIL import Image

from tlgen.plugins.art.backbone import size_multiple, to_backbone
from tlgen.plugins.art.sampling import PixelStylizer

from .conftest import tiny_pixel_pipeline


def stylizer(steps=6):
    pipe = tiny_pixel_pipeline()
    return PixelStylizer(pipe.unet.eval(), pipe.scheduler.config, steps, torch.device("cpu"))


def content(size=(40, 24)):
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (*size[::-1], 3), np.uint8))


def test_a_fixed_seed_gives_the_same_image_and_another_seed_does_not():
    model, image = stylizer(), content()
    first = np.asarray(model.stylise(image, 0.5, seed=3))
    assert np.array_equal(first, np.asarray(stylizer().stylise(image, 0.5, seed=3)))
    assert not np.array_equal(first, np.asarray(model.stylise(image, 0.5, seed=4)))


def test_content_larger_than_the_training_size_keeps_its_size():
    model = stylizer()
    assert model.size == 16
    assert model.stylise(content((40, 24)), 0.3, seed=0).size == (40, 24)


def test_content_sides_are_a_multiple_of_the_unet_downsampling():
    assert size_multiple(to_backbone(tiny_pixel_pipeline(), "tiny")) == 2


def test_strength_sets_how_far_the_output_moves_from_the_content():
    model, image = stylizer(steps=10), content()
    pixels = np.asarray(image, dtype=float)
    moved = [np.abs(np.asarray(model.stylise(image, s, seed=0), dtype=float) - pixels).mean()
             for s in (0.1, 1.0)]
    assert moved[0] < moved[1]


def test_free_samples_are_reproducible():
    samples = stylizer().generate(2, seed=5)
    again = stylizer().generate(2, seed=5)
    assert [s.size for s in samples] == [(16, 16)] * 2
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(samples, again))
