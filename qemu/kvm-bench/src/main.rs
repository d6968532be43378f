//! stile-kvm-bench: the peer measurement for Stile's `make bench`, run as /init of a Linux
//! kernel that owns EL2 (KVM, nVHE or VHE) inside the same QEMU command line Stile runs in.
//!
//! It times, with CNTVCT under `-icount shift=0` (1 tick = 16 instructions), a guest MMIO-read
//! round trip (KVM_EXIT_MMIO answered by this VMM) and a guest HVC round trip (answered inside
//! the kernel; also forwarded to this VMM when the kernel has the SMCCC filter). Then, in a
//! second VM with the in-kernel vGICv3, Stile's vGIC rows (irq.rs): virtual timer delivery,
//! an SPI this VMM injects with KVM_IRQ_LINE, a guest SGI to itself, and a guest read of
//! GICD_TYPER. Every line it
//! prints for scripts/bench-kvm.sh starts with `stile-kvm-bench: `.
//!
//! Kernel command-line knobs (the kernel hands `name=value` words to init as environment):
//! `kvmbench_n=` iterations per phase (default 10000), `kvmbench_rounds=` (default 5).

mod clock;
mod guest;
mod irq;
mod irq_guest;
mod pmu;
mod vm;

use guest::{Inputs, Phase};
use kvm_ioctls::Kvm;
use std::ffi::CStr;

pub(crate) fn say(line: &str) {
    println!("stile-kvm-bench: {line}");
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

/// `ticks` CNTVCT ticks over `n` operations, as instructions per operation with two decimals.
fn per_op(ticks: i64, n: u64) -> String {
    let hundredths = (ticks as i128 * clock::instructions_per_tick() as i128 * 100) / n as i128;
    let sign = if hundredths < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:02}",
        hundredths.abs() / 100,
        hundredths.abs() % 100
    )
}

/// `count` events over `n` operations, with two decimals.
fn per_op_count(count: u64, n: u64) -> String {
    let hundredths = count as u128 * 100 / n as u128;
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// PID 1 housekeeping: /dev (devtmpfs has /dev/kvm) and /proc.
fn mount_filesystems() {
    for (src, dst, fstype) in [
        (c"devtmpfs", c"/dev", c"devtmpfs"),
        (c"proc", c"/proc", c"proc"),
    ] {
        // SAFETY: all pointers are NUL-terminated literals; no data argument.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                fstype.as_ptr(),
                0,
                core::ptr::null(),
            )
        };
        if rc != 0 {
            say(&format!(
                "init: cannot mount {} on {} ({})",
                fstype.to_string_lossy(),
                dst.to_string_lossy(),
                std::io::Error::last_os_error()
            ));
        }
    }
}

fn power_off() -> ! {
    // SAFETY: sync and reboot take no pointers; as PID 1 we may power off (QEMU then exits).
    unsafe {
        libc::sync();
        libc::reboot(libc::LINUX_REBOOT_CMD_POWER_OFF);
    }
    loop {
        std::thread::park();
    }
}

fn report_system() {
    // SAFETY: uname fills the zeroed struct we pass; every field is NUL-terminated after it.
    let mut u: libc::utsname = unsafe { core::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } == 0 {
        // SAFETY: uname NUL-terminates each field within its array.
        let field = |f: &[libc::c_char]| unsafe { CStr::from_ptr(f.as_ptr()) }.to_string_lossy();
        say(&format!(
            "kernel: {} {} {}",
            field(&u.release),
            field(&u.version),
            field(&u.machine)
        ));
    }
    if let Ok(cmdline) = std::fs::read_to_string("/proc/cmdline") {
        say(&format!("kernel command line: {}", cmdline.trim()));
    }
    // The kernel log says which KVM mode it came up in ("VHE mode initialized" or "Hyp mode").
    let mut buf = vec![0u8; 1 << 20];
    // SAFETY: SYSLOG_ACTION_READ_ALL (3) copies at most buf.len() bytes into buf.
    let n = unsafe { libc::klogctl(3, buf.as_mut_ptr().cast(), buf.len() as libc::c_int) };
    if n > 0 {
        let log = String::from_utf8_lossy(&buf[..n as usize]);
        for line in log
            .lines()
            .filter(|l| l.contains("kvm [") && l.contains("initialized"))
        {
            let text = line.split_once("] ").map_or(line, |(_, t)| t);
            say(&format!("kernel log: {}", text.trim()));
        }
    }
}

/// Prints CNTFRQ and checks the 16-instructions-per-tick rule on a loop of known length,
/// against the PMU's count of the same loop when the PMU is there.
///
/// CNTVCT counts every instruction the machine runs, so it is only a measure of this thread
/// while nothing else runs: right after boot a kernel may still be busy (Linux 6.12 runs its
/// crypto self-tests in kthreads then). Until the loop reads within 1.5% of 16 instructions per
/// tick, this sleeps 200 ms and tries again (at most 50 times), and says how long it waited.
/// Returns whether the machine settled.
fn calibrate(mut counters: Option<&mut pmu::Counters>) -> bool {
    let freq = clock::frequency();
    let verdict = if clock::whole_nanosecond_ticks(freq) {
        "ok"
    } else {
        "UNEXPECTED"
    };
    say(&format!(
        "clock: CNTFRQ_EL0 = {freq} Hz ({verdict}: {} instructions per tick)",
        clock::instructions_per_tick()
    ));
    const ITERATIONS: u64 = 1_000_000;
    const TRIES: u32 = 50;
    let instructions = ITERATIONS * clock::KNOWN_LOOP_BODY;
    let mut tries = 0;
    loop {
        tries += 1;
        let s0 = counters.as_deref_mut().map(pmu::Counters::read);
        let ticks = clock::known_loop(ITERATIONS);
        let pmu = counters
            .as_deref_mut()
            .map(pmu::Counters::read)
            .zip(s0)
            .map(|(s1, s0)| s1.since(s0));
        // Settled: ticks * instructions per tick within 1.5% of the loop's own instructions.
        let settled = ticks * clock::instructions_per_tick() * 1000 <= instructions * 1015;
        if !settled && tries < TRIES {
            std::thread::sleep(std::time::Duration::from_millis(200));
            continue;
        }
        say(&format!(
            "clock: a loop of {instructions} EL0 instructions took {ticks} ticks = {} instructions \
             per tick (expected {}; the rest is the kernel's interrupts){}",
            per_op_count(instructions, ticks),
            clock::instructions_per_tick(),
            if tries > 1 { format!(" [try {tries}, after {} ms of sleep]", (tries - 1) * 200) } else { String::new() },
        ));
        if let Some(s) = pmu {
            // This thread at every EL (it never enters a guest here) against ticks * 16.
            let all: u64 = s.0.iter().sum();
            say(&format!(
                "clock: PMU over the same loop: {} at EL0, {all} at all ELs; ticks * {} = {}",
                s.0[0],
                clock::instructions_per_tick(),
                ticks * clock::instructions_per_tick()
            ));
        }
        if !settled {
            say(&format!(
                "warning: other work kept running for {} ms: CNTVCT-based results include it \
                 (the PMU split counts this thread only)",
                (tries - 1) * 200
            ));
        }
        return settled;
    }
}

fn main() {
    let pid1 = std::process::id() == 1;
    if pid1 {
        mount_filesystems();
    }
    let code = match run() {
        Ok(()) => 0,
        Err(e) => {
            say(&format!("error: {e}"));
            1
        }
    };
    say(&format!(
        "end ({})",
        if code == 0 { "ok" } else { "failed" }
    ));
    if pid1 {
        power_off();
    }
    std::process::exit(code);
}

fn run() -> Result<(), vm::Failure> {
    let boot_ticks = clock::ticks();
    say(&format!(
        "clock: /init started at CNTVCT {boot_ticks} (~{} million instructions since reset)",
        boot_ticks * clock::instructions_per_tick() / 1_000_000
    ));
    report_system();
    let mut counters = match pmu::Counters::open() {
        Ok(c) => Some(c),
        Err(why) => {
            say(&format!("pmu: no per-EL split ({why})"));
            None
        }
    };
    let settled = calibrate(counters.as_mut());

    let n = env_u64("kvmbench_n", 10_000);
    let mut inputs = Inputs {
        iterations: n,
        rounds: env_u64("kvmbench_rounds", 5),
        hvc_user_fid: 0,
    };
    let kvm = Kvm::new().map_err(vm::Failure::OpenKvm)?;
    say(&format!(
        "kvm: API version {}, host IPA limit {} bits",
        kvm.get_api_version(),
        kvm.get_host_ipa_limit()
    ));
    let mut bench = vm::Bench::new(&kvm, &mut inputs, true)?;
    match vm::smccc_filter_supported(bench.vm()) {
        Ok(()) if bench.user_hvc() => {
            say("kvm: SMCCC filter: forwarding the hvc-user function ID to the VMM")
        }
        Ok(()) => say("kvm: SMCCC filter: present but refused the forwarding range"),
        Err(e) => say(&format!(
            "kvm: SMCCC filter: not available ({e}); guest HVCs are handled inside the kernel only"
        )),
    }
    say(&format!(
        "guest: {} bytes of code at IPA {:#x}, {} iterations per phase, {} rounds",
        guest::code().len(),
        guest::RAM.0,
        inputs.iterations,
        inputs.rounds
    ));

    let outcome = bench.run(&inputs, counters.as_mut())?;
    say(&format!(
        "kvm: VM created with a {}-bit IPA space",
        outcome.ipa_bits
    ));
    for (i, r) in outcome.results.iter().enumerate() {
        let round = i / Phase::round(bench.user_hvc()).len() + 1;
        let mut line = format!(
            "round {round} {:<12} guest {:>9} ticks = {:>9} instr/op; host {:>9} ticks; \
             exits to VMM: {} mmio, {} hvc",
            r.phase.name(),
            r.guest_ticks,
            per_op(r.guest_ticks as i64, n),
            r.host_ticks,
            r.mmio_exits,
            r.hypercall_exits
        );
        if let Some(irqs) = r.irqs {
            line.push_str(&format!("; host irqs {irqs}"));
        }
        if let Some(s) = r.pmu {
            line.push_str("; pmu instr/op:");
            for (split, count) in pmu::SPLITS.iter().zip(s.0) {
                line.push_str(&format!(" {} {}", split.name(), per_op_count(count, n)));
            }
        }
        say(&line);
    }

    // Sanity: every MMIO read reached the VMM, no in-kernel HVC did, and the values came back.
    let expect = |ok: bool, what: String| {
        if ok {
            Ok(())
        } else {
            Err(vm::Failure::BadReport(what))
        }
    };
    for r in &outcome.results {
        let (mmio, hvc) = match r.phase {
            Phase::MmioRead => (n, 0),
            Phase::HvcUser => (0, n),
            _ => (0, 0),
        };
        expect(
            r.mmio_exits == mmio && r.hypercall_exits == hvc,
            format!(
                "{}: {} mmio and {} hvc exits",
                r.phase.name(),
                r.mmio_exits,
                r.hypercall_exits
            ),
        )?;
    }
    expect(
        outcome.last_mmio_value == guest::MMIO_DEVICE_VALUE,
        format!("guest read {:#x} from the device", outcome.last_mmio_value),
    )?;
    expect(
        outcome.hvc_ret == guest::SMCCC_RET_NOT_SUPPORTED,
        format!("in-kernel hvc returned {:#x}", outcome.hvc_ret),
    )?;
    if let Some(ret) = outcome.hvc_user_ret {
        expect(
            ret == guest::SMCCC_RET_NOT_SUPPORTED,
            format!("forwarded hvc returned {ret:#x}"),
        )?;
    }

    // Results: per phase, the round with the fewest ticks (interrupts only ever add), minus
    // the same for its baseline loop; and the per-EL split of that round.
    let best = |phase: Phase| -> &vm::PhaseResult {
        outcome
            .results
            .iter()
            .filter(|r| r.phase == phase)
            .min_by_key(|r| r.guest_ticks)
            .expect("every phase ran at least once")
    };
    let spread = |phase: Phase| -> u64 {
        let ticks = outcome
            .results
            .iter()
            .filter(|r| r.phase == phase)
            .map(|r| r.guest_ticks);
        ticks.clone().max().unwrap_or(0) - ticks.min().unwrap_or(0)
    };
    let mut measured = vec![
        ("mmio-read-roundtrip", Phase::MmioRead, Phase::BaselineLdr),
        ("hvc-roundtrip", Phase::Hvc, Phase::BaselineNop),
    ];
    if bench.user_hvc() {
        measured.push(("hvc-user-roundtrip", Phase::HvcUser, Phase::BaselineNop));
    }
    for (name, phase, baseline) in measured {
        let (r, b) = (best(phase), best(baseline));
        say(&format!(
            "result {name} {}",
            per_op(r.guest_ticks as i64 - b.guest_ticks as i64, n)
        ));
        say(&format!(
            "detail {name}: {} loop {} instr/op minus {} loop {} instr/op (fewest-tick rounds; \
             spread over rounds {} and {} instr/op)",
            phase.name(),
            per_op(r.guest_ticks as i64, n),
            baseline.name(),
            per_op(b.guest_ticks as i64, n),
            per_op(spread(phase) as i64, n),
            per_op(spread(baseline) as i64, n),
        ));
        if let Some(s) = r.pmu {
            let mut line = format!("split {name}");
            for (split, count) in pmu::SPLITS.iter().zip(s.0) {
                line.push_str(&format!(" {} {}", split.name(), per_op_count(count, n)));
            }
            line.push_str(&format!(
                " (sum {}, loop included)",
                per_op_count(s.0.iter().sum(), n)
            ));
            say(&line);
        }
        if !settled {
            say(&format!(
                "warning: {name}: the machine never settled; see the clock lines"
            ));
        }
    }
    drop(bench);

    // The vGIC rows, in a VM of their own (the one above has no vGIC, as before).
    irq::bench(&kvm, n, inputs.rounds, settled, counters.as_mut())
}
