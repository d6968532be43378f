/work/main/qemu/kvm-bench/target/debug/deps/stile_kvm_bench-bc6176318c50d160.d: src/main.rs src/clock.rs src/guest.rs src/pmu.rs src/vm.rs

/work/main/qemu/kvm-bench/target/debug/deps/stile_kvm_bench-bc6176318c50d160: src/main.rs src/clock.rs src/guest.rs src/pmu.rs src/vm.rs

src/main.rs:
src/clock.rs:
src/guest.rs:
src/pmu.rs:
src/vm.rs:
