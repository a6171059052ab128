"""A deliberately biased classifier with a known shortcut. Pure torch + numpy; no Django.

The generated images show one faint, noisy shape (a circle or a square) on a textured
background. In training, every image of the watermark class also carries a small,
high-contrast watermark in a random corner, and no image of the other classes does, so
the watermark predicts the class perfectly while the shape is only weak evidence. A small
CNN trained on this learns the shortcut: it calls any image with the watermark the
watermark class. The watermark's box is kept for every image, so a saliency method can be
checked against ground truth: does its map put its mass on the watermark?

Everything is deterministic given the seed (the data exactly; the weights on one machine
and thread count).
"""

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from explain.normalisation import WATERMARK_MEAN, WATERMARK_STD

CLASS_NAMES = ("circle", "square")
WATERMARK_CLASS = 1  # "square": the class whose training images all carry the watermark
IMAGE_SIZE = 64
WATERMARK_SIZE = 10
WATERMARK_MARGIN = 3
# Inputs in [0, 1] are normalised to roughly zero mean and unit spread.
MEAN, STD = WATERMARK_MEAN, WATERMARK_STD


def watermark_patch(size: int = WATERMARK_SIZE) -> np.ndarray:
    """The logo, (size, size, 3) in [0, 1]: a saturated red/yellow checkerboard in a white
    frame, a pattern nothing else in the images looks like."""
    y, x = np.mgrid[0:size, 0:size]
    checker = ((y // 2 + x // 2) % 2).astype(bool)
    patch = np.empty((size, size, 3), np.float32)
    patch[checker] = (1.0, 0.9, 0.0)
    patch[~checker] = (0.9, 0.0, 0.0)
    frame = (y == 0) | (x == 0) | (y == size - 1) | (x == size - 1)
    patch[frame] = 1.0
    return patch


def corner_boxes(image_size: int = IMAGE_SIZE) -> list[tuple[int, int, int, int]]:
    """The four places the watermark may sit: [left, top, right, bottom), one per corner."""
    near, far = WATERMARK_MARGIN, image_size - WATERMARK_MARGIN - WATERMARK_SIZE
    return [(x, y, x + WATERMARK_SIZE, y + WATERMARK_SIZE) for y in (near, far) for x in (near, far)]


@dataclass
class WatermarkData:
    """images: (N, H, W, 3) float32 in [0, 1]; labels: (N,) int64; boxes: per image the
    watermark's [left, top, right, bottom] in pixels (right/bottom exclusive), or None."""

    images: np.ndarray
    labels: np.ndarray
    boxes: list[tuple[int, int, int, int] | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The normalised (N, 3, H, W) model inputs and the labels."""
        x = (self.images - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
        return torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(self.labels)

    def uint8_images(self) -> np.ndarray:
        return np.round(self.images * 255).astype(np.uint8)


def _draw_scene(rng: np.random.Generator, label: int, size: int) -> np.ndarray:
    """Background texture plus a faint shape of class ``label`` somewhere away from the corners."""
    base = rng.uniform(0.3, 0.7, size=3).astype(np.float32)
    # Smooth-ish texture: coarse noise upsampled, plus fine noise.
    coarse = rng.normal(0, 0.08, size=(size // 8, size // 8, 3)).astype(np.float32)
    texture = np.kron(coarse, np.ones((8, 8, 1), np.float32))
    image = base + texture + rng.normal(0, 0.06, size=(size, size, 3)).astype(np.float32)
    radius = rng.uniform(0.14, 0.22) * size
    cy, cx = rng.uniform(0.35, 0.65, size=2) * size
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    if CLASS_NAMES[label] == "circle":
        inside = (y - cy) ** 2 + (x - cx) ** 2 <= radius**2
    else:
        inside = (np.abs(y - cy) <= radius * 0.85) & (np.abs(x - cx) <= radius * 0.85)
    # Weak evidence: the shape is only slightly brighter or darker than its surroundings.
    contrast = rng.choice([-1.0, 1.0]) * rng.uniform(0.08, 0.16)
    image[inside] += np.float32(contrast)
    return image


def _stamp(image: np.ndarray, box: tuple[int, int, int, int]) -> None:
    left, top, right, bottom = box
    image[top:bottom, left:right] = watermark_patch(right - left)


def generate(
    n: int,
    *,
    seed: int,
    watermark: str = "train",
    image_size: int = IMAGE_SIZE,
) -> WatermarkData:
    """``n`` images, classes alternating (balanced). ``watermark``: "train" stamps every
    image of WATERMARK_CLASS and nothing else (the shortcut); "all" stamps every image, of
    every class (to show the shortcut); "none" stamps nothing (clean)."""
    if watermark not in ("train", "all", "none"):
        raise ValueError(f"watermark must be 'train', 'all' or 'none', not {watermark!r}")
    rng = np.random.default_rng(seed)
    corners = corner_boxes(image_size)
    images = np.empty((n, image_size, image_size, 3), np.float32)
    labels = np.arange(n, dtype=np.int64) % len(CLASS_NAMES)
    boxes: list[tuple[int, int, int, int] | None] = []
    for index, label in enumerate(labels):
        image = _draw_scene(rng, int(label), image_size)
        corner = corners[int(rng.integers(len(corners)))]
        stamped = watermark == "all" or (watermark == "train" and label == WATERMARK_CLASS)
        if stamped:
            _stamp(image, corner)
        boxes.append(corner if stamped else None)
        images[index] = np.clip(image, 0.0, 1.0)
    return WatermarkData(images=images, labels=labels, boxes=boxes)


class WatermarkNet(nn.Module):
    """Three conv -> batch norm -> ReLU blocks (the first two pooled), global average
    pooling and a linear classifier: about 6k parameters, a few seconds per epoch on a CPU."""

    def __init__(self, num_classes: int = len(CLASS_NAMES)):
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.features = nn.Sequential(
            *block(3, 8),
            nn.MaxPool2d(2),
            *block(8, 16),
            nn.MaxPool2d(2),
            *block(16, 32),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


@dataclass
class TrainingReport:
    model: WatermarkNet
    seconds: float
    final_loss: float


def train(
    data: WatermarkData, *, epochs: int = 4, seed: int = 0, batch_size: int = 64, lr: float = 3e-3
) -> TrainingReport:
    """Adam on cross-entropy; returns the model in eval mode and the wall time of training."""
    torch.manual_seed(seed)
    model = WatermarkNet()
    x, y = data.tensors()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    order_rng = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(epochs):
        for batch in torch.randperm(len(y), generator=order_rng).split(batch_size):
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            optimiser.step()
    seconds = time.perf_counter() - started
    return TrainingReport(model=model.eval(), seconds=seconds, final_loss=float(loss.detach()))


@torch.no_grad()
def predict(model: nn.Module, data: WatermarkData, batch_size: int = 256) -> np.ndarray:
    x, _ = data.tensors()
    return torch.cat([model(chunk).argmax(1) for chunk in x.split(batch_size)]).numpy()


def accuracy(model: nn.Module, data: WatermarkData) -> float:
    return float((predict(model, data) == data.labels).mean())
