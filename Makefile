# Two commands matter: `make demo` (the main job) and `make test` (everything CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The tools environment for the template checks (see the AWS section below).
TOOLS := build/tools
TOOLS_STAMP := $(TOOLS)/venv/.installed

.PHONY: demo test lint typecheck unit security bench clean dist

$(STAMP): pyproject.toml sdk/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./sdk -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m functions_runtime.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) $(TOOLS_STAMP) lint typecheck
	$(BIN)/python -m pytest

# Bytecode first, as an installed package has it: workers run with -B and never write it.
bench: $(STAMP)
	$(BIN)/python -m compileall -q functions_runtime sdk/src/functions_sdk bench
	$(BIN)/python -m bench

# The two wheels integration repositories install (the runtime's pins the SDK's version):
# publish them to your private index or artifact store, never to a public index.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist ./sdk .

clean:
	rm -rf dist $(VENV) .mypy_cache .pytest_cache .ruff_cache

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
	PYTHON=$(PYTHON) scripts/build_lambda.sh

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
