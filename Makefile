# Stile: `make run` boots the demo under QEMU, `make test` runs every test.
# Variables: PLATFORM (board directory under platform/), CPU, GIC, SMP, MEM for QEMU.

PLATFORM ?= qemu-virt
CPU      ?= max
GIC      ?= 3
SMP      ?= 4
MEM      ?= 1G

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

.PHONY: all image host guest run debug test bench bench-kvm setup clean fuzz mutants FORCE

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

test: setup image
	@scripts/test.sh --image $(IMAGE) --elf $(ELF) --host $(HOST)

# Coverage-guided fuzzing with cargo-fuzz, FUZZ_SECONDS per target (docs/FUZZING.md); slow,
# not in `make test`, which replays the corpora instead.
fuzz:
	@scripts/fuzz.sh

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
