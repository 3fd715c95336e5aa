"""Corpus readers (one module per corpus), the demo corpus, the audio loader and subsampling."""
