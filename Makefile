# brainstem: the two commands are `make demo` and `make test`; both run `make setup` first.
# setup is idempotent: each step leaves a stamp and reruns only when its inputs change.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
BUILD := build
SITE := $(VENV)/lib/python3.11/site-packages
IFACE := edge_nerve/interfaces/brainstem_interfaces
ROS_PREFIX := $(BUILD)/ros/install
# Debian packages the build needs (installed by name when missing; root or sudo required then)
DEB_PACKAGES := cmake g++ make libosmesa6 ignition-tools libsdformat-dev espeak-ng sox

.PHONY: setup demo test test-unit test-integration clean
setup: $(BUILD)/.debs $(BUILD)/.deps $(BUILD)/.interfaces $(BUILD)/.protos $(SITE)/brainstem_env.pth

demo: setup
	$(VENV)/bin/brainstem demo

test: setup
	$(PY) -m pytest -q tests

test-unit: setup
	$(PY) -m pytest -q tests/unit

test-integration: setup
	$(PY) -m pytest -q tests/integration

$(BUILD)/.debs: Makefile
	@mkdir -p $(BUILD)
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

$(PY):
	$(PYTHON) -m venv $(VENV)

$(BUILD)/.deps: requirements.lock pyproject.toml | $(PY)
	@mkdir -p $(BUILD)
	$(PIP) install -q --disable-pip-version-check -r requirements.lock
	$(PIP) install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

# brainstem_interfaces (msg/action) built with plain cmake against the ROS 2 wheels
$(BUILD)/.interfaces: $(BUILD)/.deps $(shell find $(IFACE) -type f)
	@rm -rf $(BUILD)/ros/build
	@mkdir -p $(BUILD)/ros/build
	@# the wheels' cmake exports name their build machine's Python paths; point them at ours
	@inc=$$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['include'])"); \
	grep -rl --include='*.cmake' '/opt/python/cp311-cp311' $(VENV)/share 2>/dev/null | \
	  xargs -r sed -i -e "s#/opt/python/cp311-cp311/include/python3.11#$$inc#g" \
	    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages#$(CURDIR)/$(SITE)#g"
	cd $(BUILD)/ros/build && \
	  _ROS_WHEELS_BOOTSTRAP_COMPLETE=1 _BRAINSTEM_ENV=1 \
	  CMAKE_PREFIX_PATH=$(CURDIR)/$(VENV) AMENT_PREFIX_PATH=$(CURDIR)/$(VENV) \
	  PATH=$(CURDIR)/$(VENV)/bin:$$PATH \
	  cmake $(CURDIR)/$(IFACE) -DCMAKE_INSTALL_PREFIX=$(CURDIR)/$(ROS_PREFIX) \
	    -DPython3_EXECUTABLE=$(CURDIR)/$(PY) -DBUILD_TESTING=OFF -Wno-dev > ../cmake.log 2>&1 && \
	  _ROS_WHEELS_BOOTSTRAP_COMPLETE=1 _BRAINSTEM_ENV=1 PATH=$(CURDIR)/$(VENV)/bin:$$PATH \
	  $(MAKE) -j2 install >> ../cmake.log 2>&1 || { tail -40 ../cmake.log; exit 1; }
	@touch $@

# gRPC + protobuf modules generated from protos/ (never committed)
$(BUILD)/.protos: $(BUILD)/.deps $(wildcard protos/brainstem/v1/*.proto)
	@mkdir -p $(BUILD)/gen
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=$(BUILD)/gen --grpc_python_out=$(BUILD)/gen \
	  --pyi_out=$(BUILD)/gen protos/brainstem/v1/*.proto
	@touch $@

# every interpreter of the venv gets brainstem's environment (see cloud_brain/env.py)
$(SITE)/brainstem_env.pth: $(BUILD)/.deps cloud_brain/env.py
	echo "import cloud_brain.env as _b; _b.bootstrap()" > $@

clean:
	rm -rf $(BUILD) $(VENV)
