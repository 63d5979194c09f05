"""Whole-blood cell composition: marker-gene scores, NNLS deconvolution, composition-adjusted IFN scores."""
