# Two commands matter: `make demo` (the main job) and `make test` (everything CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The tools environment for the template checks (see the AWS section below).
TOOLS := build/tools
TOOLS_STAMP := $(TOOLS)/venv/.installed

.PHONY: demo test lint typecheck unit security bench clean mutation console console-test chromium wheel dist

$(STAMP): pyproject.toml sdk/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./sdk -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP) console
	$(BIN)/python -m functions_runtime.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The emulator tests (tests/aws/test_rie.py) run when `make aws-rie` can install the
# emulator and a Python 3.12; where it cannot (offline, not x86_64) they skip and say why.
# pytest runs in TEST_WORKERS processes (pytest-xdist), a test file to each at a time so
# its module fixtures start once: half the suite's tests wait on subprocesses, so two
# processes keep both cores busy (TEST_WORKERS=0 runs it in one process).
TEST_WORKERS ?= 2
test: $(STAMP) $(TOOLS_STAMP) console chromium lint typecheck console-test
	$(MAKE) aws-rie || echo "make aws-rie failed: the Lambda emulator tests will be skipped"
	$(BIN)/python -m pytest --numprocesses $(TEST_WORKERS) --dist loadfile

# Bytecode first, as an installed package has it: workers run with -B and never write it.
bench: $(STAMP)
	$(BIN)/python -m compileall -q functions_runtime sdk/src/functions_sdk bench
	$(BIN)/python -m bench

# The two wheels integration repositories install (the runtime's pins the SDK's version):
# publish them to your private index or artifact store, never to a public index.
dist: $(STAMP) console
	rm -rf dist
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist ./sdk .

clean:
	rm -rf dist $(VENV) .mypy_cache .pytest_cache .ruff_cache mutants console/node_modules $(CONSOLE_BUILT_DIR)

# Mutation testing (mutmut 3; scope and tests in pyproject.toml [tool.mutmut]); slow, so
# never part of `make test`. One child at a time: the machine may be shared. Narrow it
# with mutant name globs, e.g. make mutation MUTANTS='functions_runtime.delivery.dispatch.*'
# The last result and the surviving mutants are in docs/TESTING.md.
MUTANTS ?=
MUTATION_CHILDREN ?= 1
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet 'mutmut>=3.8,<4'
	$(BIN)/mutmut run --max-children $(MUTATION_CHILDREN) $(MUTANTS)
	$(BIN)/mutmut results

# -- the web console (console/ -> functions_runtime/console/static) -------------------------
# Built with the machine's Node.js (20+) and npm from package-lock.json; the built files
# are not committed: they ship in the wheel as package data (`make wheel` builds them
# first) and in build/lambda (scripts/build_lambda.sh copies the package).
CONSOLE_DEPS := console/node_modules/.installed
CONSOLE_BUILT_DIR := functions_runtime/console/static
CONSOLE_BUILT := $(CONSOLE_BUILT_DIR)/index.html
CONSOLE_SOURCES := $(wildcard console/src/*) console/index.html console/vite.config.js \
	$(wildcard samples/events/*.json)

$(CONSOLE_DEPS): console/package.json console/package-lock.json
	cd console && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CONSOLE_BUILT): $(CONSOLE_DEPS) $(CONSOLE_SOURCES)
	cd console && npx vite build --logLevel warn
	touch $@

console: $(CONSOLE_BUILT)

console-test: $(CONSOLE_DEPS)
	cd console && npx vitest run

# Debian's chromium for the console's browser tests (tests/e2e), driven by Playwright for
# Python. Where it cannot be installed (no apt-get, not root, offline) the tests say so
# and are skipped.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
		|| { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
		|| echo "make chromium: apt-get could not install chromium; tests/e2e will be skipped"; \
	else echo "make chromium: needs root and apt-get (Debian's chromium at /usr/bin/chromium); tests/e2e will be skipped"; fi

# The runtime's wheel (with the console in it) and the SDK's: see dist.
wheel: dist

# -- AWS (template.yaml, docs/AWS.md) ---------------------------------------------------
# The Lambda code directory, the tools that check the template (cfn-lint and
# aws-sam-translator pin their own pydantic, so they get their own venv, with a moto
# server for the tests that run handlers in child processes) and, for the opt-in
# emulator tests, the Lambda Runtime Interface Emulator with a Lambda-like Python.
AWS_TOOLS := 'cfn-lint>=1.58,<2' 'aws-sam-translator>=1.115,<2' \
	'moto[dynamodb,s3,sqs,kms]>=5.2,<6' 'flask>=3,<4' 'flask-cors>=6,<7'
RIE := $(TOOLS)/rie/aws-lambda-rie-x86_64
RIE_STAMP := $(TOOLS)/rie/.installed
LAMBDA_PYTHON ?= $(shell PYENV_VERSION=3.12.1 python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)

.PHONY: build-lambda aws-tools aws-rie test-aws sam-build

build-lambda:
	PYTHON=$(PYTHON) LAMBDA_PYTHON=$(LAMBDA_PYTHON) scripts/build_lambda.sh

$(TOOLS_STAMP):
	test -x $(TOOLS)/venv/bin/python || $(PYTHON) -m venv $(TOOLS)/venv
	$(TOOLS)/venv/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/venv/bin/python -m pip install --quiet $(AWS_TOOLS)
	touch $@

aws-tools: $(TOOLS_STAMP)

# The emulator ships inside the aws-sam-cli wheel; only that file is kept.
$(RIE):
	rm -rf $(TOOLS)/rie/wheel && mkdir -p $(TOOLS)/rie/wheel
	$(PYTHON) -m pip download --quiet --no-deps --dest $(TOOLS)/rie/wheel 'aws-sam-cli>=1.170,<2'
	$(PYTHON) -c "import glob, sys, zipfile; z = zipfile.ZipFile(glob.glob(sys.argv[1] + '/aws_sam_cli-*.whl')[0]); open(sys.argv[2], 'wb').write(z.read('samcli/local/rapid/aws-lambda-rie-x86_64'))" $(TOOLS)/rie/wheel $@
	chmod +x $@
	rm -rf $(TOOLS)/rie/wheel

# A Lambda-like Python (3.12 when pyenv has it): awslambdaric in its venv, the runtime's
# dependencies in a separate directory on PYTHONPATH, as in /var/task.
$(RIE_STAMP): $(RIE) pyproject.toml sdk/pyproject.toml
	rm -rf $(TOOLS)/rie/venv $(TOOLS)/rie/deps
	$(LAMBDA_PYTHON) -m venv $(TOOLS)/rie/venv
	$(TOOLS)/rie/venv/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/rie/venv/bin/python -m pip install --quiet 'awslambdaric>=3,<5'
	PYTHON=$(PYTHON) scripts/build_lambda.sh $(TOOLS)/rie/code
	$(TOOLS)/rie/venv/bin/python -m pip install --quiet --target $(TOOLS)/rie/deps \
		-r $(TOOLS)/rie/code/requirements.txt
	rm -rf $(TOOLS)/rie/code
	touch $@

aws-rie: $(RIE_STAMP) $(TOOLS_STAMP)

test-aws: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python -m pytest tests/aws -q -p no:cacheprovider

# `sam build` (needs aws-sam-cli: pip install aws-sam-cli, in a venv of its own).
sam-build: build-lambda
	SAM_CLI_TELEMETRY=0 PYENV_VERSION=3.12.1 sam build
