# The two entry points README.md documents; both install what they need.
.PHONY: demo test lint bench

demo:
	bash scripts/quickstart.sh

test:
	bash scripts/test.sh

lint:
	ruff check sigward tests examples $(wildcard bench) $(wildcard deploy)

bench:
	bash scripts/bench.sh
