"""Agreement between human and model saliency maps. Pure numpy/scipy; no Django."""
