"""Where the per-sample work runs: in the engine's event loop (default) or on Ray actors (ray_executor)."""
