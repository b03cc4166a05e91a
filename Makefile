# The two commands a newcomer needs: `./install.sh` (or `make install`) then `make test`.
.PHONY: install test bench

install:
	./install.sh

# The whole suite, then the type check of the package (mypy settings in pyproject.toml).
test:
	.venv/bin/python -m pytest -q -rs -p no:cacheprovider
	.venv/bin/python -m mypy

bench:
	for f in benchmarks/*.py; do echo "== $$f"; .venv/bin/python $$f || exit 1; done
