# Stile: `make run` boots the demo under QEMU, `make test` runs every test, `make run-linux`
# boots Debian's Linux as Stile's host.
# Variables: PLATFORM (board directory under platform/), CPU, GIC, SMP, MEM for QEMU
# (LINUX_MEM for run-linux).

PLATFORM ?= qemu-virt
CPU      ?= max
GIC      ?= 3
SMP      ?= 4
MEM      ?= 1G
LINUX_MEM ?= 2G

TARGET   := aarch64-unknown-none-softfloat
OUT      := build/$(PLATFORM)
ELF_SRC  := target/$(TARGET)/release/stile
IMAGE    := $(OUT)/stile.bin
ELF      := $(OUT)/stile.elf
HOST_SRC := target/$(TARGET)/release/stile-host
HOST     := $(OUT)/host.bin
GUEST_SRC := target/$(TARGET)/release/stile-guest
GUEST    := $(OUT)/guest.bin
QEMU_CMD := qemu-system-aarch64 -M virt,virtualization=on,gic-version=$(GIC) -cpu $(CPU) \
            -smp $(SMP) -m $(MEM) -nographic -no-reboot

# A user's RUSTFLAGS would replace .cargo/config.toml's (position-independent code): drop it.
CARGO := env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS cargo

.PHONY: all image host guest run debug test test-boards board-images bench bench-kvm setup clean fuzz mutants linux run-linux bench-linux driver vmm test-driver run-driver run-guest bench-driver FORCE

all: image

setup:
	@scripts/setup.sh

# The hypervisor image, and the host payload it runs (passed to QEMU as the initrd).
image: $(IMAGE) $(HOST)

host: $(HOST)

guest: $(GUEST)

$(IMAGE): FORCE
	@mkdir -p $(OUT)
	$(CARGO) build --release -p stile-boot --target $(TARGET) \
		--no-default-features --features $(PLATFORM)
	@scripts/pack-image.sh $(ELF_SRC) $(IMAGE) $(ELF)

# The guest payload is embedded in the host payload (the host is the VMM that runs it).
$(GUEST): FORCE
	@mkdir -p $(OUT)
	$(CARGO) build --release -p stile-guest --target $(TARGET)
	@scripts/pack-image.sh $(GUEST_SRC) $(GUEST) $(OUT)/guest.elf

$(HOST): $(GUEST) FORCE
	@mkdir -p $(OUT)
	STILE_GUEST_BIN=$(abspath $(GUEST)) $(CARGO) build --release -p stile-host --target $(TARGET)
	@scripts/pack-image.sh $(HOST_SRC) $(HOST) $(OUT)/host.elf

run: setup image
	$(QEMU_CMD) -kernel $(IMAGE) -initrd $(HOST)

debug: image
	@scripts/setup.sh --debug
	@echo "QEMU is halted with a gdb stub on :1234; gdb attaches below (quit gdb to end)."
	$(QEMU_CMD) -kernel $(IMAGE) -initrd $(HOST) -s -S & \
	gdb-multiarch $(ELF) -ex 'target remote :1234'; kill %1 2>/dev/null || true

# Every board directory but qemu-virt (the QEMU >= 10 cases boot them on QEMU's board models).
BOARDS := $(filter-out qemu-virt,$(notdir $(patsubst %/,%,$(dir $(wildcard platform/*/regions.toml)))))

# The EL2 image of every board (`make image PLATFORM=<board>` builds one, with its host).
board-images:
	@for b in $(BOARDS); do $(MAKE) --no-print-directory PLATFORM=$$b build/$$b/stile.bin || exit 1; done

test: setup image board-images
	@scripts/build-linux.sh || echo "make test: scripts/build-linux.sh failed: the linux-* cases will fail"
	@$(MAKE) --no-print-directory guest driver vmm || echo "make test: building the driver or stile-vmm failed: the driver checks will fail"
	@scripts/test.sh --image $(IMAGE) --elf $(ELF) --host $(HOST)

# Coverage-guided fuzzing with cargo-fuzz, FUZZ_SECONDS per target (docs/FUZZING.md); slow,
# not in `make test`, which replays the corpora instead.
fuzz:
	@scripts/fuzz.sh
# The board-DTB corpus alone (make test runs it too): Debian's arm64 board DTBs through DT
# discovery, printing `consoles driven: X / Y DTBs with stdout-path`.
test-boards:
	@scripts/fetch-board-dtbs.sh
	$(CARGO) test -p stile-hyp --lib board_dtb_corpus -- --ignored --nocapture

# Mutation testing of the arch-free core with cargo-mutants (docs/FUZZING.md); slow, not in
# `make test`. MUTANTS_FILES / MUTANTS_TESTS narrow it.
mutants:
	@scripts/mutants.sh

# Instruction counts of the hot paths under QEMU -icount (docs/PERFORMANCE.md).
bench: setup image
	@scripts/bench.sh

clean:
	cargo clean
	rm -rf build

# Linux KVM's numbers for the same guest round trips (docs/PERFORMANCE-KVM.md); slow, not in `make test`.
bench-kvm: setup
	@scripts/bench-kvm.sh $(BENCH_KVM_ARGS)

# Debian's arm64 Linux as Stile's host (docs/LINUX-HOST.md): fetch kernel and busybox (cached
# under build/linux), build the initramfs and the host bundles (U-Boot FIT, mkimage).
linux: setup
	@scripts/build-linux.sh

# `-cpu max` runs Linux ~3x faster under TCG with QEMU's cheaper pointer-auth algorithm.
comma := ,
LINUX_CPU := $(if $(filter max,$(CPU)),max$(comma)pauth-impdef=on,$(CPU))

# Linux as the host on $(SMP) CPUs to a busybox shell; `poweroff -f` (or Ctrl-A x) ends it.
run-linux: setup image linux
	qemu-system-aarch64 -M virt,virtualization=on,gic-version=$(GIC) -cpu $(LINUX_CPU) \
		-smp $(SMP) -m $(LINUX_MEM) -nographic -no-reboot -kernel $(IMAGE) \
		-initrd build/linux/host-shell.itb \
		-drive if=none,format=raw,id=disk0,file=build/linux/scratch.img \
		-device virtio-blk-device,drive=disk0

# Linux host overhead: EL2's share of the instructions while Linux boots and fills RAM, and
# reset-to-/init under Stile vs directly at EL1 (docs/PERFORMANCE.md, "Linux as the host").
bench-linux: setup image linux
	@scripts/bench-linux.sh $(BENCH_LINUX_ARGS)

# /dev/stile, the Linux driver (linux/driver), cross-built against Debian's headers for the
# kernel the Linux-host tests boot (scripts/fetch-linux-headers.sh fetches them under build/).
DRIVER_OUT := build/linux-driver
driver:
	@mkdir -p $(DRIVER_OUT)
	$(MAKE) -C linux/driver KDIR=$$(scripts/fetch-linux-headers.sh) ARCH=arm64 \
		CROSS_COMPILE=aarch64-linux-gnu- modules
	cp linux/driver/stile.ko $(DRIVER_OUT)/stile.ko

# stile-vmm, the userspace VMM for that Linux (static, aarch64-unknown-linux-musl, rust-lld).
VMM_TARGET := aarch64-unknown-linux-musl
vmm:
	@mkdir -p $(DRIVER_OUT)
	@rustup target list --installed | grep -qx $(VMM_TARGET) || rustup target add $(VMM_TARGET)
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld $(CARGO) build --release \
		-p stile-vmm --target $(VMM_TARGET)
	cp target/$(VMM_TARGET)/release/stile-vmm $(DRIVER_OUT)/stile-vmm

# Linux under Stile loads /dev/stile and runs stile-vmm's checks (docs/LINUX-DRIVER.md).
test-driver: setup image guest driver vmm
	@scripts/test-linux-driver.sh $(TEST_DRIVER_ARGS)

# The same Linux, one guest run shown on the console: module, `stile-vmm caps`, the guest
# payload's checks, power-off.
run-driver: setup image guest driver vmm
	@scripts/test-linux-driver.sh --demo --cpu $(CPU)

# A guest MMIO read answered by stile-vmm, in instructions under -icount (docs/PERFORMANCE.md).
bench-driver: setup image guest driver vmm
	@scripts/test-linux-driver.sh --bench --cpu max

# Linux host -> stile-vmm -> Debian's kernel as a guest, its console on the VMM's stdout.
run-guest: setup image guest driver vmm
	@scripts/test-linux-driver.sh --guest-demo --cpu $(CPU)
