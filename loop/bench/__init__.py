"""Benchmarks that drive whole campaigns across every stage (plug-ins through the registry):
``bench rediscover`` (:mod:`loop.bench.rediscover`) and ``bench loop-prior`` (:mod:`loop.bench.prior_check`)."""
