"""Data: sources (IMDB, your own files), the text pipeline, the encoded cache and the DataModule."""
