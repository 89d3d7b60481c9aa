"""Benchmarks: pool campaigns (Liang et al. 2021 protocol), perovskite discovery, planner latency."""
