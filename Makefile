# One entry point for the everyday tasks. `make build` builds an optimised module in place
# (into the active virtualenv); `pip install .` is what users and CI run.
PY ?= python

.PHONY: build build-dev test test-rust lint format bench stubtest clean

build:
	maturin develop --release

build-dev:
	maturin develop

test: test-rust
	$(PY) -m pytest

test-rust:
	cargo test --lib

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	ruff check
	ruff format --check
	$(PY) -m mypy.stubtest ferrosock._native --allowlist .stubtest-allowlist

format:
	cargo fmt --all
	ruff format
	ruff check --fix

bench:
	$(PY) -m ferrosock bench

clean:
	cargo clean
	rm -rf dist build .pytest_cache .hypothesis
