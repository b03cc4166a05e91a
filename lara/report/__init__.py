"""Reports people look at: the static HTML site (`lara report`), paper plots (`lara plot`) and
per-question run diffs (`lara diff`)."""
