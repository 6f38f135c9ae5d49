import pickle

import numpy as np
import pytest
from PIL import Image

from tlgen.plugins.art import images
from tlgen.plugins.art.evaluation import (content_distances, measure, style_metrics,
                                          summarise)
from tlgen.plugins.art.style import StyleDistance, content_ssim, held_out_distances


def noise(size=(96, 64), seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size[::-1], 3), np.uint8))


def test_an_image_is_closer_to_itself_than_to_noise():
    photo = images.read_rgb(images.builtin("skimage")[0])
    metric = StyleDistance([photo], size=64)
    assert metric(photo) < 1e-5 < metric(noise())
    assert StyleDistance([noise()], size=64)(noise(seed=1)) < metric(noise(seed=1))


def test_paintings_are_closer_to_the_other_paintings_than_photos_are():
    paintings = [img for _, img in images.load("vangogh", "data.style")]
    held_out = held_out_distances(paintings, 96)
    metric = StyleDistance(paintings, 96)
    photos = [metric(img) for _, img in images.load("skimage", "data.content")]
    assert np.mean(held_out) < np.mean(photos)


def test_ssim_is_one_for_the_image_and_low_for_noise():
    photo = images.resize_short_side(images.read_rgb(images.builtin("skimage")[1]), 64)
    assert content_ssim(photo, photo) == 1.0
    assert content_ssim(noise(photo.size), photo) < 0.2


def test_summary_compares_each_output_with_its_own_content():
    bases = {"style_dist": {"a": 1.0, "b": 0.5}, "judge": {"a": 0.1, "b": 0.2}}
    infos = [{"kind": "stylised", "content": "a", "strength": 0.5, "style_dist": 0.5,
              "ssim": 0.8, "style_change": -0.5, "judge": 0.05, "judge_change": -0.5},
             {"kind": "stylised", "content": "b", "strength": 0.5, "style_dist": 0.5,
              "ssim": 0.6, "style_change": 0.0, "judge": 0.2, "judge_change": 0.0},
             {"kind": "sample", "index": 0, "style_dist": 0.3, "judge": 0.04}]
    metrics = summarise(infos, bases)
    assert metrics == pytest.approx({"style_dist_content": 0.75, "style_dist_s0.5": 0.5,
                                     "ssim_s0.5": 0.7, "style_change_s0.5": -0.25,
                                     "style_dist_samples": 0.3, "judge_content": 0.15,
                                     "judge_s0.5": 0.125, "judge_change_s0.5": -0.25,
                                     "judge_samples": 0.04})


def test_measure_puts_each_images_figures_in_its_info_and_they_survive_pickling():
    photo = images.resize_short_side(images.read_rgb(images.builtin("skimage")[1]), 64)
    metrics = style_metrics([noise()], size=64)
    bases = content_distances(metrics, {"photo": photo})
    kept, styled, free = photo.copy(), noise(photo.size, seed=2), noise((32, 32), seed=3)
    kept.info.update(kind="stylised", content="photo", strength=0.3)
    styled.info.update(kind="stylised", content="photo", strength=0.7)
    free.info.update(kind="sample", index=0)
    measure([kept, styled, free], {"photo": photo}, metrics, bases)
    for change in ("style_change", "judge_change"):
        assert kept.info[change] == pytest.approx(0, abs=1e-5) and styled.info[change] < 0
    assert kept.info["ssim"] == 1.0 and styled.info["ssim"] < 0.2
    assert "ssim" not in free.info
    assert free.info["style_dist"] == pytest.approx(metrics["style_dist"](free))
    assert free.info["judge"] == pytest.approx(metrics["judge"](free))
    assert pickle.loads(pickle.dumps(styled)).info == styled.info
