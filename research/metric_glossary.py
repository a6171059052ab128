"""What each agreement metric is, in words: the results page's glossary, hover help and metric
order, and the thresholds below which its confidence intervals and tests mean little. One place,
so that the page and the exports (which keep the short codes) describe the same numbers."""

import re
import statistics
from dataclasses import dataclass, replace

BYLINSKII = (
    "Bylinskii, Judd, Oliva, Torralba & Durand (2019), What do different evaluation metrics tell us "
    "about saliency models? IEEE TPAMI 41(3)"
)


@dataclass(frozen=True)
class Metric:
    code: str  # the CSVs' column / metric value
    name: str
    higher_is_better: bool
    definition: str
    reference: str
    short: str = ""  # for narrow table headers; the code when empty

    @property
    def abbreviation(self) -> str:
        return f"{self.short or self.code} {'↑' if self.higher_is_better else '↓'}"

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"

    @property
    def label(self) -> str:
        return f"{self.name} ({self.direction})"


HEADLINE = "spearman"

# Headline first, then the other similarity measures, then the region overlaps, then the
# two distances (lower is better).
_METRICS = (
    Metric(
        "spearman",
        "Spearman rank correlation",
        True,
        "Pearson correlation of the two maps' pixel ranks: do both order the pixels alike? −1 to 1.",
        "Spearman (1904), The proof and measurement of association between two things, "
        "Am. J. Psychol. 15; for saliency maps: Adebayo et al. (2018), Sanity checks for saliency maps",
    ),
    Metric(
        "cc",
        "Pearson correlation (CC)",
        True,
        "Linear correlation of the two maps after z-scoring each; −1 to 1.",
        BYLINSKII,
    ),
    Metric(
        "nss",
        "Normalized scanpath saliency (NSS)",
        True,
        "Mean of the z-scored model map over the human map's top 10 % pixels; 0 is chance.",
        "Peters, Iyer, Itti & Koch (2005), Vision Research 45; " + BYLINSKII,
    ),
    Metric(
        "auc_judd",
        "AUC-Judd",
        True,
        "Area under the ROC curve of the model map separating the human map's top 10 % pixels "
        "from the rest; 0.5 is chance, 1 perfect.",
        "Judd, Ehinger, Durand & Torralba (2009), Learning to predict where humans look, ICCV; " + BYLINSKII,
    ),
    Metric(
        "auc_borji",
        "AUC-Borji",
        True,
        "As AUC-Judd, with negatives drawn uniformly from the image (100 splits); 0.5 is chance.",
        "Borji, Tavakoli, Sihite & Itti (2013), Analysis of scores, datasets, and models in visual "
        "saliency prediction, ICCV; " + BYLINSKII,
    ),
    Metric(
        "sim",
        "Similarity (SIM, histogram intersection)",
        True,
        "Sum over pixels of the smaller of the two maps, each scaled to sum to one; 0 to 1.",
        "Swain & Ballard (1991), Color indexing, IJCV 7; " + BYLINSKII,
    ),
    Metric(
        "kld",
        "KL divergence",
        False,
        "Information lost when the model map (as a distribution) stands in for the human map; "
        "0 for identical maps.",
        "Kullback & Leibler (1951), Ann. Math. Stat. 22; " + BYLINSKII,
    ),
    Metric(
        "emd",
        "Earth mover's distance (EMD)",
        False,
        "Least mass × distance needed to turn one map into the other (on a coarse grid); "
        "0 for identical maps.",
        "Rubner, Tomasi & Guibas (2000), The earth mover's distance as a metric for image retrieval, "
        "IJCV 40; " + BYLINSKII,
    ),
)
_TOPK = re.compile(r"^top(\d+)_(iou|dice)$")


def _topk_metric(code: str) -> Metric | None:
    match = _TOPK.match(code)
    if not match:
        return None
    percent, kind = match.groups()
    if kind == "iou":
        return Metric(
            code,
            f"Top-{percent} % overlap, IoU",
            True,
            f"Intersection over union of the two maps' top {percent} % pixels; 0 to 1.",
            "Jaccard (1912), The distribution of the flora in the alpine zone, New Phytologist 11",
            f"IoU top {percent} %",
        )
    return Metric(
        code,
        f"Top-{percent} % overlap, Dice",
        True,
        f"Twice the shared top {percent} % pixels over the pixels of both regions; 0 to 1.",
        "Dice (1945), Measures of the amount of ecologic association between species, Ecology 26",
        f"Dice top {percent} %",
    )


_SHORT = {
    "spearman": "Spearman",
    "cc": "CC",
    "nss": "NSS",
    "auc_judd": "AUC-Judd",
    "auc_borji": "AUC-Borji",
    "sim": "SIM",
    "kld": "KLD",
    "emd": "EMD",
}
_METRICS = tuple(replace(entry, short=_SHORT[entry.code]) for entry in _METRICS)
_BY_CODE = {metric.code: metric for metric in _METRICS}
# where the region overlaps go in the order: after the similarity measures, before the distances
_TOPK_RANK = [metric.code for metric in _METRICS].index("sim") + 0.5


def metric(code: str) -> Metric:
    """The glossary entry of a metric code; an unknown code gets a bare entry, not an error."""
    found = _BY_CODE.get(code) or _topk_metric(code)
    return found or Metric(code, code, True, "", "")


def metric_rank(code: str) -> float:
    """Sort key: the headline metric first, distances last, unknown codes after everything."""
    if code in _BY_CODE:
        return [m.code for m in _METRICS].index(code)
    if _TOPK.match(code):
        return _TOPK_RANK
    return len(_METRICS)


def glossary(codes) -> list[Metric]:
    """The entries of ``codes`` in page order."""
    return [metric(code) for code in sorted(codes, key=lambda code: (metric_rank(code), code))]


NORMALISED = (
    "Normalised = the model's mean Spearman ÷ the noise ceiling (how well half the participants' mean "
    "map predicts the other half's). It can exceed 1: the model is compared with the mean of all "
    "participants, while the ceiling compares two halves, each noisier than the whole, so a model "
    "can agree with the human mean better than the halves agree with each other, most often when "
    "there are few participants per image."
)
NOISE_CEILING = (
    "Split-half Spearman between the mean maps of two random halves of an image's participants "
    "(50 splits), averaged over images with at least two maps; the Spearman–Brown value estimates "
    "the full group's reliability."
)

# Below these, bootstrap CIs over images and the permutation tests rest on too little to trust.
MIN_IMAGES = 10
MIN_PARTICIPANTS_PER_IMAGE = 10


def sample_size_warnings(*, n_images: int, participants_per_image) -> list[str]:
    """Sentences for the warning box: too few images or participants per image (median) for the
    95 % CIs and the tests to mean much; empty when there are enough."""
    warnings = []
    counts = [int(count) for count in participants_per_image]
    if n_images < MIN_IMAGES:
        warnings.append(
            f"Only {n_images} image{'s' if n_images != 1 else ''} with both painted and model maps "
            f"(fewer than {MIN_IMAGES}): the 95 % confidence intervals are resampled over images and "
            "the tests pair images, so with so few they are unreliable; read them as descriptive."
        )
    if counts:
        median = statistics.median(counts)
        if median < MIN_PARTICIPANTS_PER_IMAGE:
            warnings.append(
                f"A median of {median:g} analysed painted map{'s' if median != 1 else ''} per image "
                f"(fewer than {MIN_PARTICIPANTS_PER_IMAGE}): each human mean and noise ceiling is noisy, "
                "so per-image scores, the ceiling and the normalised values can move a lot with more "
                "participants."
            )
    return warnings
