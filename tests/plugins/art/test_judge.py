"""The metrics tell Van Gogh from other painters and from photos: a held-out Van Gogh (each
shipped one against the other seven, and a ninth never in the set) must be closer to the
style set than the other painters' paintings and the photos, at ROC AUC >= 0.85 each."""

import pytest
from sklearn.metrics import roc_auc_score

from tlgen import TlgenError
from tlgen.plugins.art import data
from tlgen.plugins.art.judge import StyleJudge
from tlgen.plugins.art.metrics import StyleDistance, held_out_distances

SIZE = 128  # the art plugin's default content_size: runs measure their outputs at this scale
MIN_AUC = 0.85


def load(*names: str) -> list:
    return [img for name in names for _, img in data.load(name, name)]


@pytest.fixture(scope="module")
def sets():
    return {"vangogh": load("vangogh"), "heldout": load("vangogh_heldout"),
            "paintings": load("paintings"), "photos": load("skimage", "photos")}


@pytest.fixture(scope="module")
def judge(sets):
    return StyleJudge(sets["vangogh"], SIZE)


@pytest.fixture(scope="module")
def distances(sets, judge):
    """Per metric: the held-out Van Goghs' distances, and each other set's."""
    style = StyleDistance(sets["vangogh"], SIZE)
    out = {}
    for name, metric, held_out in (("judge", judge, judge.held_out()),
                                   ("random-filter", style,
                                    held_out_distances(sets["vangogh"], SIZE))):
        out[name] = {"vangogh": held_out + [metric(img) for img in sets["heldout"]],
                     **{key: [metric(img) for img in sets[key]] for key in ("paintings",
                                                                             "photos")}}
    return out


@pytest.mark.parametrize("metric", ["judge", "random-filter"])
@pytest.mark.parametrize("others", ["paintings", "photos"])
def test_held_out_van_goghs_are_closer_to_the_style_set_than(others, metric, distances):
    found = distances[metric]
    ours, theirs = found["vangogh"], found[others]
    auc = roc_auc_score([0] * len(ours) + [1] * len(theirs), ours + theirs)
    assert auc >= MIN_AUC, f"{metric}: AUC {auc:.3f} for Van Gogh vs {others}"


def test_the_sets_are_what_the_test_means(sets):
    assert [len(sets[k]) for k in ("vangogh", "heldout", "paintings", "photos")] == [8, 1, 20, 20]


def test_the_judge_puts_the_style_set_itself_at_zero(sets):
    one = sets["vangogh"][:1]
    judge = StyleJudge(one, SIZE)
    assert judge(one[0]) == pytest.approx(0, abs=1e-6)
    assert judge(sets["photos"][0]) > 0.01


def test_leave_one_out_uses_the_mean_of_the_others(sets, judge):
    two = StyleJudge(sets["vangogh"][1:3], SIZE)
    assert judge.held_out()[0] == pytest.approx(StyleJudge(sets["vangogh"][1:], SIZE)(
        sets["vangogh"][0]), abs=1e-6)
    assert two.held_out()[0] == pytest.approx(two.held_out()[1], abs=1e-6)  # symmetric
    with pytest.raises(TlgenError, match="at least two"):
        StyleJudge(sets["vangogh"][:1], SIZE).held_out()
