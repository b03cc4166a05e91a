# The two commands a newcomer needs: `./install.sh` (or `make install`) then `make test`.
.PHONY: install test bench

install:
	./install.sh

test:
	.venv/bin/python -m pytest -q -rs -p no:cacheprovider

bench:
	for f in benchmarks/*.py; do echo "== $$f"; .venv/bin/python $$f || exit 1; done
