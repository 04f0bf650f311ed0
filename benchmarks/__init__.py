"""Benchmarks: throughput and memory, printed as ratios against anchors run alongside."""
