//! VCPU_CREATE's flags (x5).

/// The vCPU starts powered off, as a PSCI secondary: it waits for a CPU_ON from another
/// vCPU of its VM (the entry PC and x0 given are not used), and until then VCPU_RUN returns
/// at once with a SYSTEM_EVENT exit naming CPU_OFF.
pub const START_OFF: u64 = 1 << 0;
/// Any other bit is refused (BAD_ARGUMENT).
pub const KNOWN_FLAGS: u64 = START_OFF;
