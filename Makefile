.PHONY: setup run test lint bench demo

setup:
	bash scripts/setup.sh --dev

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy bridge

bench:
	.venv/bin/python bench/ingest.py && .venv/bin/python bench/alert_to_page.py

demo:
	.venv/bin/python scripts/demo.py
