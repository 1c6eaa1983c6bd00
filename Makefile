# OVSS: open-vocabulary land-cover mapping for QGIS.
# Every target installs what it needs and skips what is already there (idempotent).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

SYSTEM_PYTHON := /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := qgis python3-qgis qgis-providers python3-gdal gdal-bin qttools5-dev-tools xvfb xauth chromium
PLUGIN_NAME := ovss
QGIS_PLUGINS_DIR ?= $(HOME)/.local/share/QGIS/QGIS3/profiles/default/python/plugins
DEMO_INPUT := engine/data/demo/oem_koeln_50.tif
DEMO_OUTPUT := out/demo_classified.tif
DEMO_METHOD ?= segearth-ov
DEMO_PRESET ?= openearthmap-ori
LOCALES := de
DIST ?= dist
# the plugin ZIP: one folder, LICENSE included, no tests/tools/caches/compiled files (tools/check_plugin_zip.py)
PACKAGE_EXCLUDES := --exclude='./.venv' --exclude='./.git' --exclude='./tests' --exclude='./bench' \
	--exclude='./out' --exclude='./.ci' --exclude='./dist' --exclude='./$(DIST)' --exclude='./tools' --exclude='./conftest.py' \
	--exclude='./shared' --exclude='./build' --exclude='*.ts' --exclude='./.pytest_cache' --exclude='./.ruff_cache' \
	--exclude='__pycache__' --exclude='*.pyc' --exclude='*.pyo' --exclude='__MACOSX' --exclude='.DS_Store' \
	--exclude='*.part' --exclude='./.qgis-settings'

.PHONY: help setup system-packages venv test test-all demo lint package deploy transup transcompile bench clean

help:
	@echo "make demo   - set everything up and segment the demo raster"
	@echo "make test   - set everything up and run the tests (not the slow ones)"
	@echo "other targets: setup lint test-all bench package deploy transup transcompile clean"

setup: system-packages venv

system-packages:
	@if dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		echo "system packages: already installed"; \
	else \
		$(SUDO) apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt | system-packages
	@[ -x $(PY) ] || $(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -c "import torch, torchvision, open_clip, timm, numpy, qgis.core, osgeo.gdal_array"
	@touch $@

lint: venv
	$(VENV)/bin/ruff check .

test: setup lint transcompile
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

test-all: setup lint transcompile
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m ""

demo: setup
	@mkdir -p out
	$(PY) -m engine segment $(DEMO_INPUT) $(DEMO_OUTPUT) --method $(DEMO_METHOD) --preset $(DEMO_PRESET) \
		--weights $${OVSS_DEMO_WEIGHTS:-random}
	@echo "demo output: $(DEMO_OUTPUT)"

bench: setup
	$(PY) bench/run_all.py

transup: venv
	$(PY) i18n/update_ts.py $(foreach l,$(LOCALES),i18n/ovss_$(l).ts)

transcompile: system-packages
	@for l in $(LOCALES); do lrelease -silent i18n/ovss_$$l.ts -qm i18n/ovss_$$l.qm; done

package: venv transcompile
	@rm -rf $(DIST)/$(PLUGIN_NAME) $(DIST)/$(PLUGIN_NAME).zip && mkdir -p $(DIST)/$(PLUGIN_NAME)
	tar -cf - $(PACKAGE_EXCLUDES) . | tar -xf - -C $(DIST)/$(PLUGIN_NAME)
	cd $(DIST) && $(abspath $(PY)) -m zipfile -c $(PLUGIN_NAME).zip $(PLUGIN_NAME)/
	$(PY) tools/check_plugin_zip.py $(DIST)/$(PLUGIN_NAME).zip
	@echo "$(DIST)/$(PLUGIN_NAME).zip"

deploy: package
	@mkdir -p $(QGIS_PLUGINS_DIR)
	rm -rf $(QGIS_PLUGINS_DIR)/$(PLUGIN_NAME)
	cp -r $(DIST)/$(PLUGIN_NAME) $(QGIS_PLUGINS_DIR)/$(PLUGIN_NAME)
	@echo "deployed to $(QGIS_PLUGINS_DIR)/$(PLUGIN_NAME)"

clean:
	rm -rf dist out i18n/*.qm .pytest_cache .ruff_cache
