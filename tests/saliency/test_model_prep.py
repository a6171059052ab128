import numpy as np
import pytest
import torch
import torchvision

from explain import saliency
from explain.model_zoo import build_efficientnet_lite0
from explain.saliency.model_prep import fold_batch_norms, prepare_for_gradients


class SharedConvOutput(torch.nn.Module):
    """The convolution's output feeds the batch norm AND a skip connection: not foldable."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(3)
        self.head = torch.nn.Linear(3, 2)

    def forward(self, x):
        y = self.conv(x)
        z = self.bn(y) + y
        return self.head(z.mean(dim=(2, 3)))


def _randomise_batch_norms(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
    return model.eval()


@pytest.mark.parametrize(
    ("build", "expected_folds"),
    [(lambda: torchvision.models.resnet18(num_classes=10), 20), (build_efficientnet_lite0, 49)],
)
def test_folding_keeps_the_outputs_and_leaves_the_original_untouched(build, expected_folds):
    torch.manual_seed(0)
    model = _randomise_batch_norms(build())
    x = torch.randn(2, 3, 64, 64)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    folded, count = fold_batch_norms(model, x[:1])
    assert count == expected_folds
    with torch.no_grad():
        np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), rtol=1e-4, atol=1e-4)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_a_convolution_whose_output_is_reused_is_not_folded():
    torch.manual_seed(0)
    model = _randomise_batch_norms(SharedConvOutput())
    folded, count = fold_batch_norms(model, torch.randn(1, 3, 8, 8))
    assert count == 0
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(folded(x), model(x))


def test_maps_from_the_prepared_model_match_the_original():
    torch.manual_seed(1)
    model = _randomise_batch_norms(torchvision.models.resnet18(num_classes=5))
    images = torch.randn(1, 3, 64, 64)
    prepared = prepare_for_gradients(model, images)
    assert not any(p.requires_grad for p in prepared.parameters())
    ours = saliency.integrated_gradients(prepared, images, 3, steps=8)
    reference = saliency.integrated_gradients(model, images, 3, steps=8)
    assert np.corrcoef(ours.ravel(), reference.ravel())[0, 1] > 0.999
