"""Shape families for the procedural generator: each builder takes a seeded rng and returns (parts, params, caption)."""
