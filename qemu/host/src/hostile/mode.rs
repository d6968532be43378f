//! The hostile mode's bootargs: `hostile[=<calls>]`, `hostile.seed=<n>`, `hostile.cpus=<n>`.

/// Host CPUs the campaign runs on at most (the payload has a stack for each).
pub const MAX_CPUS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// Calls in all (every CPU's together), not counting each phase's clean-up.
    pub calls: u64,
    pub seed: u64,
    /// CPUs making calls at once, 1..=MAX_CPUS (more is cut to MAX_CPUS, 0 or junk is 1).
    pub cpus: usize,
}

impl Mode {
    /// The mode `bootargs` asks for, if any (`hostile` alone: 100,000 calls).
    pub fn parse(bootargs: &str) -> Option<Mode> {
        let mut calls = None;
        let (mut seed, mut cpus) = (1, 1);
        for w in bootargs.split_ascii_whitespace() {
            if w == "hostile" {
                calls = Some(100_000);
            } else if let Some(n) = w.strip_prefix("hostile=") {
                calls = n.parse().ok();
            } else if let Some(n) = w.strip_prefix("hostile.seed=") {
                seed = n.parse().unwrap_or(1);
            } else if let Some(n) = w.strip_prefix("hostile.cpus=") {
                cpus = n.parse().unwrap_or(1usize).clamp(1, MAX_CPUS);
            }
        }
        calls.map(|calls| Mode { calls, seed, cpus })
    }
}
