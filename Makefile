# One entry point for the everyday tasks. `make build` builds an optimised module in place
# (into the active virtualenv); `pip install .` is what users and CI run.
PY ?= python
# The interpreters wheels are built for and tested on here (.ci/pythons finds them), and those
# built from maturin's bundled sysconfig without an interpreter: built, not tested here.
PYTHONS = $(shell .ci/pythons)
UNTESTED_PYTHONS ?= 3.14
HOST = $(shell rustc -vV | sed -n 's/^host: //p')
# zig links against glibc 2.17's symbol versions, so the wheels install on any glibc >= 2.17
# Linux (RHEL 8, Ubuntu 20.04, Amazon Linux 2); maturin's auditwheel check refuses the build
# if a newer symbol slips in. `pip install 'maturin[zig]'` (the dev extra) brings zig.
WHEEL_FLAGS = --release --zig --compatibility manylinux_2_17

.PHONY: build build-dev test test-rust lint format bench stubtest clean wheels fuzz fuzz-smoke

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

# dist/: a manylinux_2_17 wheel per interpreter, plus the sdist.
wheels:
	rm -rf dist
	maturin build $(WHEEL_FLAGS) $(addprefix -i ,$(PYTHONS)) --out dist
	maturin build $(WHEEL_FLAGS) --target $(HOST) $(addprefix -i python,$(UNTESTED_PYTHONS)) --out dist
	maturin sdist --out dist
	@for w in dist/*.whl; do case "$$w" in *manylinux_2_17_*) ;; *) echo "$$w: not manylinux_2_17" >&2; exit 1;; esac; done
	@ls -1 dist

# Coverage-guided fuzzing under ASan (fuzz/README.md): FUZZ_SECONDS per target; the smoke
# run (about 20 s a target) is what CI runs.
FUZZ_SECONDS ?= 3600
fuzz:
	fuzz/run.sh long $(FUZZ_SECONDS)

fuzz-smoke:
	fuzz/run.sh smoke

clean:
	cargo clean
	rm -rf dist build .pytest_cache .hypothesis
