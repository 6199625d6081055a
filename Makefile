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

# Test and demo documents are rendered with a CJK font from Debian; the
# console's browser test runs in Debian's Chromium.
fonts:
	@fc-list 2>/dev/null | grep -qiE 'wqy|noto (sans|serif) cjk' || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei fontconfig >/dev/null; \
	  else echo "install a CJK font: sudo apt-get install fonts-wqy-microhei" >&2; exit 1; fi; }

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
