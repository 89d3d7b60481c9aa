"""``crystaloop bench rediscover``: hide known phases, let them exist in the world, count experiments to a rediscovery."""
