/work/main/qemu/kvm-bench/target/debug/deps/bitflags-c787aa160115669f.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bitflags-1.3.2/src/lib.rs

/work/main/qemu/kvm-bench/target/debug/deps/libbitflags-c787aa160115669f.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bitflags-1.3.2/src/lib.rs

/work/main/qemu/kvm-bench/target/debug/deps/libbitflags-c787aa160115669f.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bitflags-1.3.2/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bitflags-1.3.2/src/lib.rs:
