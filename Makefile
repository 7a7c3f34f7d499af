# Two commands on a fresh clone:  `make demo` (set up + stylize and inpaint the bundled photo)  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

GIMP3_TOOLS ?= ../shared/tools/gimp3

# With an NVIDIA driver loaded (the paths sfumato's runtime checks), setup also installs the cuda extra:
# the CUDA runtime and cuDNN as pip wheels (~2.1 GB installed), so `--device auto` runs on the GPU after the two
# commands. `make setup CUDA=0` (or CUDA=) leaves it out, `make setup CUDA=1` puts it in.
comma  := ,
CUDA   ?= $(if $(wildcard /proc/driver/nvidia/version /usr/lib/wsl/lib/libcuda.so.1),1)
EXTRAS := export,test,serve,ray$(if $(filter-out 0 no false,$(CUDA)),$(comma)cuda)

.PHONY: setup demo test bench gimp-env clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	@# bytecode now, as pip compiles a package it installs: the editable install leaves it to the first
	@# import, and PYTHONDONTWRITEBYTECODE turns that off (every command then compiles ~20 ms of modules)
	$(BIN)/python -m compileall -q core > /dev/null
	touch $@

setup: $(BIN)/.installed

demo: setup
	mkdir -p out
	cp core/samples/coffee.jpg out/before.jpg
	$(BIN)/sfumato stylize out/before.jpg --style starry-blue -o out/after-starry-blue.png
	$(BIN)/sfumato stylize out/before.jpg --style-image core/samples/starry_night.jpg -o out/after-starry-night.png
	$(BIN)/sfumato inpaint out/before.jpg --mask core/samples/coffee_spoon_mask.png -o out/after-no-spoon.png
	$(BIN)/sfumato styles --sheet out/styles-sheet.png

# GIMP 3 (a Debian 13 chroot, ~2 min once, cached) for the plug-in tests, with Xvfb, openbox and xdotool
# for the tests that drive its window (GIMP3_GUI=1). Needs root and shared/tools/gimp3 beside the clone;
# elsewhere those tests are skipped, in CI they are required.
gimp-env:
	@if [ "$$(id -u)" = 0 ] && [ -x "$(GIMP3_TOOLS)/setup-gimp3.sh" ]; then \
	  GIMP3_GUI=1 GIMP3_CORE_PKGS="" "$(GIMP3_TOOLS)/setup-gimp3.sh" > .gimp3-setup.log 2>&1 \
	    || { tail -30 .gimp3-setup.log; exit 1; }; \
	  grep -E "smoke|SMOKE" .gimp3-setup.log; \
	else echo "gimp-env: no root or no $(GIMP3_TOOLS): the real-GIMP tests will be skipped"; fi

test: setup gimp-env
	GIMP3_TOOLS="$(abspath $(GIMP3_TOOLS))" SFUMATO_REQUIRE_GIMP=$(if $(CI),1,) $(BIN)/python -m pytest -q

bench: setup gimp-env
	$(BIN)/python bench/bench_stylize.py
	$(BIN)/python bench/bench_gimp.py

clean:
	rm -rf $(VENV) out
