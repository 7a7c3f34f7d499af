# Two commands on a fresh clone:  `make demo` (set up + stylize the bundled photo)  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[export,test]"
	touch $@

setup: $(BIN)/.installed

demo: setup
	mkdir -p out
	cp core/samples/coffee.jpg out/before.jpg
	$(BIN)/sfumato stylize out/before.jpg --style starry-blue -o out/after-starry-blue.png
	$(BIN)/sfumato stylize out/before.jpg --style-image core/samples/starry_night.jpg -o out/after-starry-night.png
	$(BIN)/sfumato styles --sheet out/styles-sheet.png

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/bench_stylize.py

clean:
	rm -rf $(VENV) out
