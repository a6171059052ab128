"""Faithfulness and sanity diagnostics of saliency maps: does a map show where the *model* looks?

Pure numpy/scipy (scikit-image for SSIM and HOG); no Django, no torch. The model is reached only
through a prediction callback, PAIR-saliency's PIC convention (see ``model_scores``):
``pred_func(images: np.ndarray) -> np.ndarray`` of class scores for a batch of images.

One module per metric family:

- ``perturbation_epsilon``: the Perturbation-ε axiom (XRAI, Kapishnikov et al. 2019) per
  pixel, patch or region.
- ``randomisation``: the similarity part of the model-parameter randomisation test
  (Adebayo et al. 2018); the re-initialisation of the layers is torch and lives in ``explain``.
- ``localisation``: maps against ground-truth masks or boxes (pixel AUC, F1, MAE, pointing
  game, relevance mass / rank accuracy, top-k intersection).
- ``insertion_deletion``: the insertion and deletion curves of RISE (Petsiuk et al. 2018).
"""
