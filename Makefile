# Kiln: `make demo` runs the main job, `make test` the whole suite. Both install what they
# need first (Debian packages as root), so they work on a fresh machine.

SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
KILN := .build/debug/kiln
# Debian packages the tests and the emulator use (loop devices, partitions, filesystems,
# the busybox userland of the emulator's platform images, the qemu-user-static interpreters
# that run an Arm64 image's programs in a chroot on an x86-64 builder).
PACKAGES := busybox-static fdisk e2fsprogs util-linux mount dosfstools python3 python3-venv qemu-user-static
# The emulator's Arm64 platform image is an aarch64 busybox userland: the binary of Debian's
# busybox-static:arm64, which cannot be installed beside the host's busybox-static, so it is
# downloaded and extracted here (the emulator's default `busybox.Arm64`).
ARM64_BUSYBOX := /usr/local/lib/kiln/arm64/busybox

.PHONY: all build test demo deps clean sdk-check bench robustness lint format install uninstall install-check \
	schema-check

all: build

deps:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing packages:$$missing (run make as root, or apt-get install them)"; exit 1; fi; \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if [ ! -x $(ARM64_BUSYBOX) ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing $(ARM64_BUSYBOX) (run make deps as root)"; exit 1; fi; \
		echo "extracting Debian's busybox-static:arm64 to $(ARM64_BUSYBOX)"; \
		dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64; \
		apt-get update -qq || exit 1; \
		tmp=$$(mktemp -d); chmod 0755 $$tmp; \
		(cd $$tmp && apt-get download -qq busybox-static:arm64) \
			&& dpkg-deb -x $$tmp/busybox-static_*_arm64.deb $$tmp/root \
			&& install -D -m 0755 "$$(ls $$tmp/root/bin/busybox $$tmp/root/usr/bin/busybox 2>/dev/null | head -n 1)" \
				$(ARM64_BUSYBOX); \
		status=$$?; rm -rf $$tmp; exit $$status; \
	fi

build: deps
	$(SWIFT) build

# The tree is formatted by swift-format (bundled with Swift 6) at 120 columns (.swift-format):
# `make format` rewrites it, `make lint` (part of `make test`) fails on any difference.
FORMAT_PATHS := Package.swift Sources Tests
lint:
	$(SWIFT) format lint --strict --parallel --recursive $(FORMAT_PATHS)

format:
	$(SWIFT) format format --in-place --parallel --recursive $(FORMAT_PATHS)

# The suite runs with an emulator serving in the background for the Azure client's
# integration tests (scripts/test-with-emulator.sh stops it however the tests end).
test: deps lint
	$(SWIFT) build --build-tests
	SWIFT=$(SWIFT) KILN=$(KILN) scripts/test-with-emulator.sh

# The main job on the built-in emulator (state under .kiln; real loop devices, mounts and a
# chroot as root): validate, plan, apply, drift, and a second plan with nothing to do.
demo: build
	$(KILN) validate manifests/*.yaml
	$(KILN) plan --emulator manifests/quickstart.yaml
	$(KILN) apply --emulator --auto-approve --artifact .kiln/quickstart-artifact.json manifests/quickstart.yaml
	$(KILN) drift --emulator manifests/quickstart.yaml
	$(KILN) plan --emulator --detailed-exitcode manifests/quickstart.yaml

# The official Azure SDK for Python, then the Azure CLI (a pinned azure-cli, scripts/az-check.sh;
# KEEP_GOING=1 runs every step and sums up), against the emulator, each in a network namespace
# with only lo (needs root and PyPI; not part of `make test`).
sdk-check: build
	KILN=$(KILN) scripts/sdk-check.sh
	KILN=$(KILN) scripts/az-check.sh

# Benchmarks against the emulator's scaled latency profile: writes docs/benchmarks.md and
# docs/benchmarks.json (see docs/benchmarks.md for what each figure means).
bench: deps
	$(SWIFT) build -c release
	SWIFT=$(SWIFT) scripts/bench.sh

# The full robustness matrix (crashes, faults, bad input, secrets); `make test` runs a
# reduced one. Results: docs/reliability.md.
robustness: deps
	$(SWIFT) build --build-tests
	SWIFT=$(SWIFT) KILN=$(KILN) KILN_ROBUSTNESS=full scripts/test-with-emulator.sh --filter RobustnessTests

# `kiln schema` and the CI recipes (docs/ci) against pinned validators from PyPI; `make test`
# also checks the schema against the robustness corpus (scripts/schema-check.sh).
schema-check: build
	KILN=$(KILN) scripts/schema-check.sh

# A release build of kiln, its man pages, bash/zsh/fish completions and the manifest's JSON
# Schema under $(DESTDIR)$(PREFIX); `kiln --version` names the commit (scripts/install.sh).
# `make uninstall` removes exactly what the install listed in share/kiln/installed-files.
PREFIX ?= /usr/local
install:
	SWIFT=$(SWIFT) PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) scripts/install.sh install

uninstall:
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) scripts/install.sh uninstall

# make install and make uninstall into a temporary DESTDIR, checking every file (a release
# build: many minutes the first time, so not part of `make test`).
install-check:
	SWIFT=$(SWIFT) scripts/install-check.sh

clean:
	rm -rf .build
