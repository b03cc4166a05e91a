"""allocation package (modules are discovered by lara.registry on first lookup)."""
