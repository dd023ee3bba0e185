"""Investigation: curves, the gradient probe, the distance and depth experiments, benchmarks."""
