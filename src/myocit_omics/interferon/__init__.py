"""Type I IFN scores: kernels, frozen references, the public ``score_ifn`` API."""
