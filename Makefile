# tb-gateway: `make run` and `make test` are the quick start (README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Debian packages the build, the tests and the benchmarks need.
APT_PACKAGES := pkg-config binutils librdkafka-dev libmosquitto-dev libsqlite3-dev libmimalloc-dev sqlite3 kcat curl wrk docker-compose mosquitto mosquitto-clients libcoap3-bin python3
SWIFT_BUILD_FLAGS ?=

PYTHON_PACKAGES := paho-mqtt==2.2.0 aiocoap==0.4.14

.PHONY: help deps venv build release run test bench bench-http env-example lwm2m-models clean

help:
	@echo "make run         install what is missing, build (release) and start the gateway"
	@echo "make test        install what is missing, build and run every test"
	@echo "make bench       the load scenarios of docs/performance.md; writes bench/results/ and the README table"
	@echo "make bench-http  HTTP telemetry benchmark with wrk (64 connections, 1,000 devices)"
	@echo "make deps        install the Debian packages only"

# Installs only what is missing, so a second run costs nothing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Python clients used by the integration tests, in a venv of the project's own.
venv: .venv/.installed
.venv/.installed: Makefile
	python3 -m venv .venv || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv .venv; }
	.venv/bin/pip install -q $(PYTHON_PACKAGES)
	touch $@

build: deps venv
	swift build --build-tests $(SWIFT_BUILD_FLAGS)

release: deps
	swift build -c release $(SWIFT_BUILD_FLAGS)

run: release
	.build/release/tb-gateway run

# Serial: the integration tests start real gateways, and two cores shared by
# a dozen of them at once make every time bound a guess.
test: build
	swift test --skip-build --no-parallel

# Scenarios, budgets and results: docs/performance.md. RUNS, DURATION and
# SCENARIOS (comma list) narrow a run.
bench: release
	python3 bench/run.py

bench-http: release
	bench/http.sh

env-example:
	swift run tb-gateway config env-example > .env.example

# The built-in LwM2M object models: Sources/LwM2M/Models/*.json into Swift.
lwm2m-models:
	python3 scripts/lwm2m-models.py

clean:
	rm -rf .build
