"""Data: renders, render-paste composites, the shard cache and the engine export reader."""
