"""``crystaloop chaos``: kill a simulated campaign again and again, inject lab faults and bad
input, and check that nothing was lost, repeated or silently changed."""
