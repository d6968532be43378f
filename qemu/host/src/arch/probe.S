// Probe accesses for the hypervisor-memory checks. The access is each function's FIRST
// instruction, so an abort taken there has ELR_EL1 = the function's address, which
// probe.rs arms before the call; the handler then skips it (ELR += 4) and `ret` runs.

.section .text.host_probe, "ax"
.balign 4

// u32 host_probe_load32(u64 addr)
.global host_probe_load32
.type host_probe_load32, %function
host_probe_load32:
    ldr     w0, [x0]                // may abort; if skipped, w0 keeps the address bits
    ret
.size host_probe_load32, . - host_probe_load32

// void host_probe_store32(u64 addr, u32 value)
.global host_probe_store32
.type host_probe_store32, %function
host_probe_store32:
    str     w1, [x0]                // may abort
    ret
.size host_probe_store32, . - host_probe_store32

// Where a CPU that PSCI CPU_ON wrongly started would go: it stays here.
.global host_secondary_park
.type host_secondary_park, %function
host_secondary_park:
1:  wfe
    b       1b
.size host_secondary_park, . - host_secondary_park
