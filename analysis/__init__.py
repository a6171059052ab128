"""Agreement between human and model saliency maps. numpy/scipy (and POT, when installed, for
the exact EMD); no Django."""
