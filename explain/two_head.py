"""A small two-head classifier with known evidence per head. Pure torch + numpy; no Django.

Each generated image shows two objects on a noisy grey background: one in the left half,
one in the right half, each a circle, square or triangle in red, green or blue, chosen at
random and independently. The head "shape" is trained on the shape of the LEFT object and
the head "colour" on the colour of the RIGHT object; the left object's colour and the right
object's shape carry no information about either label. So the evidence for each head is
known and lies in different places: a faithful map of the shape head puts its mass on the
left object, one of the colour head on the right object. Both objects' boxes are kept for
every image, so that this can be measured (``own_object_share``).

The network has a shared convolutional trunk (whose flattened features keep where things
are) and one linear layer per head; it returns {"shape": logits, "colour": logits}, the form
explain.saliency.heads reads by name.

Everything is deterministic given the seed (the data exactly; the weights on one machine
and thread count).
"""

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue")
HEADS = {"shape": SHAPES, "colour": COLOURS}  # head name -> its class names, in output order
# Which object each head is trained on: the index into TwoHeadData.boxes' pair.
HEAD_OBJECT = {"shape": 0, "colour": 1}  # 0: the left object, 1: the right object
IMAGE_SIZE = 64
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)
_RGB = {"red": (0.9, 0.12, 0.1), "green": (0.1, 0.75, 0.15), "blue": (0.12, 0.2, 0.9)}

Box = tuple[int, int, int, int]  # [left, top, right, bottom) in pixels


@dataclass
class TwoHeadData:
    """images: (N, H, W, 3) float32 in [0, 1]; labels: head name -> (N,) int64 (the left
    object's shape, the right object's colour); boxes: per image the (left object's,
    right object's) bounding boxes; shapes/colours: (N, 2) int64, every object's
    attributes, the uninformative ones included."""

    images: np.ndarray
    labels: dict[str, np.ndarray]
    boxes: list[tuple[Box, Box]]
    shapes: np.ndarray
    colours: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def tensors(self) -> torch.Tensor:
        """The normalised (N, 3, H, W) model inputs."""
        x = (self.images - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
        return torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

    def uint8_images(self) -> np.ndarray:
        return np.round(self.images * 255).astype(np.uint8)


def _shape_mask(shape: str, cy: float, cx: float, radius: float, size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    if shape == "circle":
        return (y - cy) ** 2 + (x - cx) ** 2 <= radius**2
    if shape == "square":
        half = radius * 0.85
        return (np.abs(y - cy) <= half) & (np.abs(x - cx) <= half)
    # An upright triangle with its apex at the top and its base at the bottom of the box.
    top, bottom = cy - radius, cy + radius
    half_width = (y - top) / (2 * radius) * radius
    return (y >= top) & (y <= bottom) & (np.abs(x - cx) <= half_width)


def _box_of(mask: np.ndarray) -> Box:
    rows, columns = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def generate(n: int, *, seed: int, image_size: int = IMAGE_SIZE) -> TwoHeadData:
    """``n`` images; every object's shape and colour drawn uniformly and independently."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, image_size, image_size, 3), np.float32)
    shapes = rng.integers(len(SHAPES), size=(n, 2))
    colours = rng.integers(len(COLOURS), size=(n, 2))
    boxes: list[tuple[Box, Box]] = []
    half = image_size / 2
    for index in range(n):
        image = rng.uniform(0.35, 0.65) + rng.normal(0, 0.07, size=(image_size, image_size, 3))
        pair = []
        for side in (0, 1):
            radius = rng.uniform(0.11, 0.15) * image_size
            margin = radius + 2
            cx = side * half + rng.uniform(margin, half - margin)
            cy = rng.uniform(margin, image_size - margin)
            mask = _shape_mask(SHAPES[shapes[index, side]], cy, cx, radius, image_size)
            rgb = np.array(_RGB[COLOURS[colours[index, side]]]) + rng.normal(0, 0.04, size=3)
            image[mask] = rgb
            pair.append(_box_of(mask))
        boxes.append((pair[0], pair[1]))
        images[index] = np.clip(image, 0.0, 1.0)
    labels = {
        "shape": shapes[:, HEAD_OBJECT["shape"]].astype(np.int64),
        "colour": colours[:, HEAD_OBJECT["colour"]].astype(np.int64),
    }
    return TwoHeadData(images=images, labels=labels, boxes=boxes, shapes=shapes, colours=colours)


class TwoHeadNet(nn.Module):
    """A shared trunk (four conv -> batch norm -> ReLU -> max-pool blocks, 64 -> 4 px) whose
    flattened features keep where things are, and one linear layer per head."""

    def __init__(self):
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]

        self.trunk = nn.Sequential(
            *block(3, 16), *block(16, 32), *block(32, 32), *block(32, 32), nn.Flatten()
        )
        features = 32 * (IMAGE_SIZE // 16) ** 2
        self.shape = nn.Linear(features, len(SHAPES))
        self.colour = nn.Linear(features, len(COLOURS))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.trunk(x)
        return {"shape": self.shape(features), "colour": self.colour(features)}


@dataclass
class TrainingReport:
    model: TwoHeadNet
    seconds: float
    final_loss: float


def train(
    data: TwoHeadData,
    *,
    epochs: int = 4,
    seed: int = 0,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 0.05,
):
    """Adam on the sum of both heads' cross-entropies; the model in eval mode, and the wall
    time of training."""
    torch.manual_seed(seed)
    model = TwoHeadNet()
    x = data.tensors()
    y = {head: torch.from_numpy(labels) for head, labels in data.labels.items()}
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    order_rng = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=order_rng).split(batch_size):
            optimiser.zero_grad()
            output = model(x[batch])
            loss = sum(nn.functional.cross_entropy(output[head], y[head][batch]) for head in HEADS)
            loss.backward()
            optimiser.step()
    seconds = time.perf_counter() - started
    return TrainingReport(model=model.eval(), seconds=seconds, final_loss=float(loss.detach()))


@torch.no_grad()
def predict(model: nn.Module, data: TwoHeadData, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Head name -> (N,) predicted class indexes."""
    outputs = [model(chunk) for chunk in data.tensors().split(batch_size)]
    return {head: torch.cat([output[head] for output in outputs]).argmax(1).numpy() for head in HEADS}


def accuracy(model: nn.Module, data: TwoHeadData) -> dict[str, float]:
    """Head name -> share of images whose label that head predicts."""
    predicted = predict(model, data)
    return {head: float((predicted[head] == data.labels[head]).mean()) for head in HEADS}


def box_mass(saliency_map: np.ndarray, box: Box) -> float:
    """The sum of ``|map|`` inside ``box`` ([left, top, right, bottom))."""
    left, top, right, bottom = box
    return float(np.abs(saliency_map[top:bottom, left:right]).sum())


def own_object_share(saliency_map: np.ndarray, boxes: tuple[Box, Box], head: str) -> float:
    """Of a head's map's |mass| on the two objects' boxes, the share on the object that head
    was trained on (1: all on its own object, 0.5: no preference, 0: all on the other)."""
    own = box_mass(saliency_map, boxes[HEAD_OBJECT[head]])
    other = box_mass(saliency_map, boxes[1 - HEAD_OBJECT[head]])
    return own / (own + other) if own + other > 0 else 0.5
