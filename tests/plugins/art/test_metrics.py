import numpy as np
import pytest
from PIL import Image

from tlgen.plugins.art import data
from tlgen.plugins.art.metrics import (Scorer, StyleDistance, content_distances, content_ssim,
                                       held_out_distances, measure, style_metrics, summarise)


def noise(size=(96, 64), seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size[::-1], 3), np.uint8))


def test_an_image_is_closer_to_itself_than_to_noise():
    photo = data.read_rgb(data.builtin("skimage")[0])
    metric = StyleDistance([photo], size=64)
    assert metric(photo) < 1e-5 < metric(noise())
    assert StyleDistance([noise()], size=64)(noise(seed=1)) < metric(noise(seed=1))


def test_paintings_are_closer_to_the_other_paintings_than_photos_are():
    paintings = [img for _, img in data.load("vangogh", "data.style")]
    held_out = held_out_distances(paintings, 96)
    metric = StyleDistance(paintings, 96)
    photos = [metric(img) for _, img in data.load("skimage", "data.content")]
    assert np.mean(held_out) < np.mean(photos)


def test_ssim_is_one_for_the_image_and_low_for_noise():
    photo = data.resize_short_side(data.read_rgb(data.builtin("skimage")[1]), 64)
    assert content_ssim(photo, photo) == 1.0
    assert content_ssim(noise(photo.size), photo) < 0.2


def test_summary_compares_each_output_with_its_own_content():
    bases = {"style_dist": {"a": 1.0, "b": 0.5}, "judge": {"a": 0.1, "b": 0.2}}
    rows = [{"kind": "stylised", "content": "a", "strength": 0.5, "style_dist": 0.5,
             "ssim": 0.8, "style_change": -0.5, "judge": 0.05, "judge_change": -0.5},
            {"kind": "stylised", "content": "b", "strength": 0.5, "style_dist": 0.5,
             "ssim": 0.6, "style_change": 0.0, "judge": 0.2, "judge_change": 0.0},
            {"kind": "sample", "index": 0, "style_dist": 0.3, "judge": 0.04}]
    metrics = summarise(rows, bases)
    assert metrics == pytest.approx({"style_dist_content": 0.75, "style_dist_s0.5": 0.5,
                                     "ssim_s0.5": 0.7, "style_change_s0.5": -0.25,
                                     "style_dist_samples": 0.3, "judge_content": 0.15,
                                     "judge_s0.5": 0.125, "judge_change_s0.5": -0.25,
                                     "judge_samples": 0.04})


def test_measure_gives_one_row_of_figures_per_image():
    photo = data.resize_short_side(data.read_rgb(data.builtin("skimage")[1]), 64)
    metrics = style_metrics([noise()], size=64)
    bases = content_distances(metrics, {"photo": photo})
    kept, styled, free = photo.copy(), noise(photo.size, seed=2), noise((32, 32), seed=3)
    kept.info.update(kind="stylised", content="photo", strength=0.3, file="photo_s0.30.png")
    styled.info.update(kind="stylised", content="photo", strength=0.7)
    free.info.update(kind="sample", index=0)
    rows = measure([kept, styled, free], {"photo": photo}, metrics, bases)
    assert [r["kind"] for r in rows] == ["stylised", "stylised", "sample"]
    assert rows[0]["file"] == "photo_s0.30.png" and rows[1]["strength"] == 0.7
    for change in ("style_change", "judge_change"):
        assert rows[0][change] == pytest.approx(0, abs=1e-5) and rows[1][change] < 0
    assert rows[0]["ssim"] == 1.0 and rows[1]["ssim"] < 0.2
    assert "ssim" not in rows[2]
    assert rows[2]["style_dist"] == pytest.approx(metrics["style_dist"](free))
    assert rows[2]["judge"] == pytest.approx(metrics["judge"](free))
    assert not set(kept.info) & set(rows[0]) - {"kind", "content", "strength", "file"}


def test_the_scorer_measures_a_stage_once_and_again_for_new_images():
    photo = data.resize_short_side(data.read_rgb(data.builtin("skimage")[1]), 64)
    scorer = Scorer([noise()], {"photo": photo}, size=64)
    calls = []
    judge = scorer.metrics["judge"]
    scorer.metrics["judge"] = lambda img: calls.append(img) or judge(img)
    first = noise(photo.size, seed=2)
    first.info.update(kind="sample", index=0)
    samples = [first]
    rows = scorer.rows(samples)
    assert scorer.rows(samples) == rows and len(calls) == 1  # evaluate, then item_metrics
    rows[0]["judge"] = -1.0  # a caller's copy: the scorer's own rows stay as measured
    assert scorer.rows(samples)[0]["judge"] == pytest.approx(judge(first))
    second = noise(photo.size, seed=4)
    second.info.update(kind="sample", index=0)
    assert scorer.rows([second])[0]["judge"] == pytest.approx(judge(second)) and len(calls) == 2
