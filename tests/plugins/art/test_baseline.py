import pytest

from tlgen.plugins.art import data
from tlgen.plugins.art.baseline import MagentaBaseline
from tlgen.plugins.art.metrics import StyleDistance, content_ssim


@pytest.fixture(scope="module")
def paintings():
    return [img for _, img in data.load("vangogh", "data.style")]


@pytest.fixture(scope="module")
def baseline(paintings):
    return MagentaBaseline(paintings)


@pytest.fixture(scope="module")
def photo():
    """The astronaut, as the benchmark measures it: short side 128, not square."""
    return data.resize_short_side(data.read_rgb(data.builtin("skimage")[0]), 128).crop(
        (0, 0, 128, 96))


def test_full_blend_moves_a_photo_towards_the_style_set_at_its_own_size(baseline, paintings,
                                                                        photo):
    metric = StyleDistance(paintings, 128)
    styled = baseline.stylise(photo, blend=1.0)
    assert styled.size == photo.size
    assert metric(styled) < 0.6 * metric(photo)


def test_zero_blend_keeps_the_content(baseline, photo):
    assert content_ssim(baseline.stylise(photo, blend=0.0), photo) > 0.6


def test_blend_outside_zero_to_one_is_refused(baseline, photo):
    with pytest.raises(ValueError, match="blend"):
        baseline.stylise(photo, blend=1.5)
