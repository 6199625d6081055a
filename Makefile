# The whole set-up on a fresh machine: `make run` or `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench fonts chromium clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

# Test, demo and corpus documents are printed in three CJK families from Debian
# (simulators/docfonts.py): WenQuanYi Micro Hei, Noto Sans CJK and Noto Serif CJK.
# The console's browser test runs in Debian's Chromium.
FONT_CHECK := fc-list :lang=zh family 2>/dev/null | grep -q 'WenQuanYi Micro Hei' && \
	fc-list :lang=zh family 2>/dev/null | grep -q 'Noto Sans CJK SC' && \
	fc-list :lang=zh family 2>/dev/null | grep -q 'Noto Serif CJK SC'
fonts:
	@$(FONT_CHECK) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei fonts-noto-cjk fontconfig >/dev/null && \
	    $(FONT_CHECK) || { echo "could not install fonts-wqy-microhei and fonts-noto-cjk, or fc-list does not show them" >&2; exit 1; }; \
	  else echo "install the CJK fonts: sudo apt-get install fonts-wqy-microhei fonts-noto-cjk fontconfig" >&2; exit 1; fi; }

chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else echo "the console test needs Chromium: sudo apt-get install chromium (it skips without)" >&2; fi; }

run: $(STAMP) fonts
	$(VENV)/bin/jieya dev

test: $(STAMP) fonts chromium
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP) fonts
	$(PY) bench/throughput.py

clean:
	rm -rf $(VENV) .jieya .pytest_cache
