"""Judge workflows on top of lara.scoring.judge: pairwise with position swap, agreement with human
labels, re-scoring saved runs and comparing two runs. Modules import nothing heavy at top level."""
