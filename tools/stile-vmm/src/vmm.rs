//! `caps` and `run`: the VMM proper, over /dev/stile.

use crate::guest_load::{linux_guest, write_chunked};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use stile_abi::run_page::{ExitReason, HostAction};
use stile_abi::{caps as capbits, slot::SlotKind, Reason};
use stile_vmm::args::{self, RunArgs};
use stile_vmm::bench::{self, Spans, BENCH_REPORT};
use stile_vmm::checks::{self, Checks};
use stile_vmm::dev::{DevError, Device, RunPageMap};
use stile_vmm::exits::{self, Bus, Decision, Stop};
use stile_vmm::pl011::Pl011;
use stile_vmm::revoke::RevokePlan;
use stile_vmm::slots::{SlotSpec, SlotTable, SLOTS};
use stile_vmm::{image, linux_boot};

pub(crate) fn say(msg: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "stile-vmm: {msg}");
    let _ = out.flush();
}

fn open() -> Option<Device> {
    match Device::open() {
        Ok(d) => Some(d),
        Err(e) => {
            say(format_args!(
                "cannot open /dev/stile: {e} (is the stile module loaded? insmod stile.ko)"
            ));
            None
        }
    }
}

fn reason_name(code: u64) -> String {
    Reason::from_u64(code).map_or(format!("reason {code}"), |r| r.name().to_string())
}

pub fn caps() -> i32 {
    let Some(dev) = open() else { return 1 };
    let c = match dev.caps() {
        Ok(c) => c,
        Err(e) => {
            say(e);
            return 1;
        }
    };
    println!(
        "Stile ABI {}.{}: capabilities {:#x}",
        c.major, c.minor, c.caps
    );
    for (bit, name) in capbits::ALL {
        if c.caps & bit != 0 {
            println!("  {name:<22} yes");
        } else {
            let why = capbits::reason_of(c.reasons, bit);
            println!("  {name:<22} no ({})", reason_name(u64::from(why)));
        }
    }
    0
}

/// `region revoke|restore PA`: the host's side of a device reset, from a shell.
pub fn region(restore: bool, base: u64) -> i32 {
    let Some(dev) = open() else { return 1 };
    match dev.region(base, restore) {
        Ok((slots, vms)) if !restore => {
            say(format_args!(
                "region {base:#x} revoked: {slots} slots in {vms} VMs unmapped"
            ));
            0
        }
        Ok(_) => {
            say(format_args!("region {base:#x} restored"));
            0
        }
        Err(e) => {
            say(format_args!("region {base:#x}: {e}"));
            1
        }
    }
}

/// The VM's devices and call channel, shared by its vCPU threads.
struct VmBus {
    uart: Option<(u64, Pl011)>,
    checks: Option<Checks>,
    /// RUN ioctls that ended in MMIO exits, timed (for the guest's BENCH_REPORT).
    spans: Spans,
}

impl VmBus {
    fn uart_offset(&self, ipa: u64) -> Option<u64> {
        let (base, _) = self.uart.as_ref()?;
        let off = ipa.checked_sub(*base)?;
        (off < 0x1000).then_some(off)
    }

    fn flush_checks(&mut self) {
        if let Some(c) = &mut self.checks {
            for line in c.out.drain(..) {
                println!("{line}");
            }
        }
    }
}

impl Bus for VmBus {
    fn mmio_read(&mut self, vcpu: u32, ipa: u64, size: u8) -> Option<u64> {
        if let Some(off) = self.uart_offset(ipa) {
            return self.uart.as_ref().map(|(_, u)| u.read(off));
        }
        self.checks.as_mut()?.mmio_read(vcpu, ipa, size)
    }

    fn mmio_write(&mut self, vcpu: u32, ipa: u64, size: u8, value: u64) -> bool {
        if let Some(off) = self.uart_offset(ipa) {
            if let Some(b) = self.uart.as_mut().and_then(|(_, u)| u.write(off, value)) {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&[b]);
                if b == b'\n' {
                    let _ = out.flush();
                }
            }
            return true;
        }
        self.checks
            .as_mut()
            .is_some_and(|c| c.mmio_write(vcpu, ipa, size, value))
    }

    fn nisv(&mut self, vcpu: u32, ipa: u64) -> HostAction {
        match &mut self.checks {
            Some(c) => c.nisv(vcpu, ipa),
            None => HostAction::InjectAbort,
        }
    }

    fn refused_access(&mut self, vcpu: u32, ipa: u64, reason: u64) -> HostAction {
        match &mut self.checks {
            Some(c) => c.refused_access(vcpu, ipa, reason),
            None => HostAction::InjectAbort,
        }
    }

    fn hvc(&mut self, vcpu: u32, x: &[u64; 8]) -> [u64; 4] {
        match &mut self.checks {
            Some(c) => c.hvc(vcpu, x),
            None if x[0] == BENCH_REPORT => {
                for line in bench::report(x[1], x[2], self.spans, bench::frequency()) {
                    say(line);
                }
                [0; 4]
            }
            None => [u64::MAX, 0, 0, 0], // SMCCC NOT_SUPPORTED: no guest calls without --checks
        }
    }
}

struct Shared {
    dev: Device,
    table: SlotTable,
    state: Mutex<(VmBus, [bool; SLOTS as usize])>,
    vcpus: u32,
    /// vCPUs powered off (PSCI) and waiting for a CPU_ON.
    off: AtomicU32,
    /// A vCPU stopped the machine (SYSTEM_OFF/RESET, an error): the waiting ones give up.
    stopping: AtomicBool,
    revoke: Option<RevokePlan>,
}

/// A vCPU waiting in WFI with nothing pending: sleep until its virtual timer's `deadline`
/// (counter ticks; `u64::MAX`: none), at most 1 ms, then run it again: an interrupt raised
/// meanwhile (an IPI from another vCPU, a line) is then delivered, and if there is still
/// nothing the guest's idle loop comes back here.
fn wait_for_interrupt(deadline: u64) {
    let now = bench::counter();
    let freq = bench::frequency().max(1);
    let ticks = deadline.saturating_sub(now);
    let nanos = (u128::from(ticks) * 1_000_000_000 / u128::from(freq)).min(1_000_000) as u64;
    if nanos > 0 {
        std::thread::sleep(std::time::Duration::from_nanos(nanos));
    }
}

/// A vCPU that is powered off (its CPU_OFF, or created off as a secondary) and may be
/// turned on by another vCPU's CPU_ON: wait a little and run it again (VCPU_RUN returns at
/// once while it is off). False when it never will: the machine is stopping, or every vCPU
/// is off.
fn wait_while_off(vm: &Shared, was_off: &mut bool) -> bool {
    if !*was_off {
        *was_off = true;
        vm.off.fetch_add(1, Ordering::AcqRel);
    }
    if vm.vcpus < 2
        || vm.stopping.load(Ordering::Acquire)
        || vm.off.load(Ordering::Acquire) >= vm.vcpus
    {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_millis(1));
    true
}

impl Shared {
    /// `--revoke-after`: count the exit just answered; revoke the region at the Nth.
    fn exit_answered(&self) {
        let Some(plan) = self.revoke.as_ref().filter(|p| p.exit_seen()) else {
            return;
        };
        match self.dev.region(plan.region, false) {
            Ok((slots, vms)) => say(format_args!(
                "REGION_REVOKE {:#x} (a device reset behind the guest's back): {slots} slots in {vms} VMs unmapped",
                plan.region
            )),
            Err(e) => say(format_args!("region {:#x}: {e}", plan.region)),
        }
    }

    /// Registers slot `index` again after SLOT_CHANGED. While its region is revoked:
    /// restore it if this VMM revoked it, else wait up to 10 s for someone to.
    fn register_again(&self, index: u32, s: &SlotSpec) -> Result<(), DevError> {
        let mut r = register(&self.dev, index, s);
        let revoked =
            |r: &Result<(), DevError>| matches!(r, Err(e) if e.reason == Reason::Revoked as u64);
        if revoked(&r) && self.revoke.as_ref().is_some_and(|p| p.take_back()) {
            let base = self.revoke.as_ref().map_or(0, |p| p.region);
            match self.dev.region(base, true) {
                Ok(_) => say(format_args!("REGION_RESTORE {base:#x}: the device is back")),
                Err(e) => say(format_args!("region {base:#x}: {e}")),
            }
            r = register(&self.dev, index, s);
        }
        let mut waited = 0;
        while revoked(&r) && waited < 500 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            waited += 1;
            r = self
                .dev
                .set_memslot(index, s.ipa, s.backing, s.size, s.word());
        }
        if waited > 0 && r.is_ok() {
            say(format_args!(
                "slot {index} registered again once its region was restored ({} ms)",
                waited * 20
            ));
        }
        r
    }
}

/// Registers slot `index`; on refusal, says why in the user's words.
fn register(dev: &Device, index: u32, s: &SlotSpec) -> Result<(), DevError> {
    let r = dev.set_memslot(index, s.ipa, s.backing, s.size, s.word());
    if let Err(e) = r {
        let hint = match Reason::from_u64(e.reason) {
            Some(Reason::NeedsFwb) => {
                ": this CPU has no FEAT_S2FWB, so no cacheable device memory for guests"
            }
            Some(Reason::NotOptedIn) => ": cacheable-device needs the opt-in flag (add opt-in)",
            Some(Reason::NotOwned) => {
                ": the backing is neither this VM's memory nor an assignable board region"
            }
            Some(Reason::BadKind) => ": the board region is of another kind",
            Some(Reason::Revoked) => ": the board region is revoked until REGION_RESTORE",
            _ => "",
        };
        say(format_args!(
            "slot {index} ({} at IPA {:#x}, {:#x} bytes) not registered: {e}{hint}",
            s.kind.name(),
            s.ipa,
            s.size
        ));
    }
    r
}

fn vcpu_loop(vm: Arc<Shared>, vcpu: u32, mut page: RunPageMap, pin: Option<usize>) -> Stop {
    if let Some(cpu) = pin {
        // SAFETY: a zeroed cpu_set_t filled by CPU_SET, for this thread (pid 0).
        unsafe {
            let mut set: libc::cpu_set_t = core::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                say(format_args!(
                    "vcpu {vcpu}: cannot pin to CPU {cpu}: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
    }
    let stop = vcpu_runs(&vm, vcpu, &mut page);
    if !matches!(stop, Stop::CpuOff) {
        vm.stopping.store(true, Ordering::Release);
    }
    stop
}

fn vcpu_runs(vm: &Shared, vcpu: u32, page: &mut RunPageMap) -> Stop {
    let mut replays = (u64::MAX, 0u32);
    let mut off = false;
    loop {
        let t0 = bench::counter();
        if let Err(e) = vm.dev.run(vcpu) {
            if e.errno == libc::EINTR {
                continue;
            }
            return Stop::Error(format!("vcpu {vcpu}: {e}"));
        }
        let span = bench::counter().wrapping_sub(t0);
        let p = page.read();
        if p.exit_reason == ExitReason::SystemEvent as u32 && p.system_event == exits::PSCI_CPU_OFF
        {
            if wait_while_off(vm, &mut off) {
                continue;
            }
            return Stop::CpuOff;
        }
        if std::mem::take(&mut off) {
            vm.off.fetch_sub(1, Ordering::AcqRel);
        }
        if p.exit_reason == ExitReason::Wfi as u32 {
            wait_for_interrupt(p.data);
        }
        let mut st = vm.state.lock().unwrap_or_else(|e| e.into_inner());
        let (bus, registered) = &mut *st;
        if p.exit_reason == stile_abi::ExitReason::Mmio as u32 {
            bus.spans.ticks = bus.spans.ticks.wrapping_add(span);
            bus.spans.runs += 1;
        }
        let d = exits::decide(vcpu, &p, bus, &vm.table, registered);
        bus.flush_checks();
        match d {
            Decision::Resume {
                action,
                data,
                hvc,
                note,
            } => {
                if let Some(n) = note {
                    say(n);
                }
                page.answer(action, data, hvc);
                vm.exit_answered();
            }
            Decision::AddSlot { index, spec, note } => {
                say(note);
                replays = if replays.0 == p.ipa {
                    (p.ipa, replays.1 + 1)
                } else {
                    (p.ipa, 1)
                };
                if replays.1 > 2 {
                    return Stop::Error(format!(
                        "vcpu {vcpu}: IPA {:#x} still faults after re-registering slot {index}",
                        p.ipa
                    ));
                }
                if registered[index as usize] {
                    let _ = vm.dev.clear_memslot(index);
                }
                if vm.register_again(index, &spec).is_ok() {
                    registered[index as usize] = true;
                    page.answer(HostAction::Complete, 0, [0; 4]);
                } else {
                    page.answer(HostAction::InjectAbort, 0, [0; 4]);
                }
            }
            Decision::Stop(s) => return s,
        }
    }
}

pub fn run(a: &RunArgs) -> i32 {
    match run_vm(a) {
        Ok(code) => code,
        Err(e) => {
            say(e);
            1
        }
    }
}

fn run_vm(a: &RunArgs) -> Result<i32, String> {
    let bytes = std::fs::read(&a.image).map_err(|e| format!("{}: {e}", a.image))?;
    let setup = a.checks.then(checks::setup);
    let mem = setup.as_ref().map_or(a.mem, |s| s.mem_size);
    let ram_ipa = setup.as_ref().map_or(a.ram_ipa, |s| s.ram_ipa);
    let ram_size = match &setup {
        Some(s) => s.slots[0].size,
        None => a.ram_size.unwrap_or(mem),
    };
    let place = image::place(&bytes, ram_size).map_err(|e| format!("{}: {e}", a.image))?;
    let mut specs: Vec<SlotSpec> = match &setup {
        Some(s) => s.slots.clone(),
        None => {
            let mut v = vec![SlotSpec::parse(&format!(
                "slot=0,ipa={ram_ipa:#x},size={ram_size:#x},kind=ram,perms=rwx"
            ))?];
            if let Some(u) = a.uart {
                v.push(SlotSpec::parse(&format!(
                    "slot=1,ipa={u:#x},size=4K,kind=mmio"
                ))?);
            }
            v
        }
    };
    specs.extend(a.slots.iter().copied());
    if let Some(path) = &a.config {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        specs.extend(args::parse_config(&text).map_err(|e| format!("{path}: {e}"))?);
    }
    let table = SlotTable::new(&specs)?;
    let revoke = match a.revoke_after {
        Some(n) => Some(RevokePlan::new(n, a.revoke_region, &specs)?),
        None => None,
    };

    // The guest's GIC is the host's version (VGIC_CONFIG gives the machine's).
    let gic_v2 = a.linux
        && linux_boot::host_gic_version(std::path::Path::new("/proc/device-tree")) == Some(2);
    let boot = match a.linux {
        true => Some(linux_guest(a, ram_ipa, ram_size, place, gic_v2)?),
        false => None,
    };

    let dev = open().ok_or("no device")?;
    dev.create_vm(mem).map_err(|e| e.to_string())?;
    write_chunked(&dev, place.offset, &bytes)?;
    if let Some(b) = &boot {
        for (offset, blob) in &b.blobs {
            write_chunked(&dev, *offset, blob)?;
        }
    }
    for (offset, word) in setup.as_ref().map_or(&[][..], |s| &s.prefill[..]) {
        dev.write_mem(*offset, &word.to_le_bytes())
            .map_err(|e| e.to_string())?;
    }
    let id = dev.donate().map_err(|e| e.to_string())?;
    let entry = ram_ipa + place.offset;
    say(format_args!(
        "VM {id}: {} KiB donated; image {} ({} bytes) at IPA {entry:#x}",
        mem >> 10,
        a.image,
        bytes.len()
    ));
    if a.linux {
        // The GIC the guest's device tree describes, emulated in EL2.
        let (version, cpu, what) = match gic_v2 {
            true => (2, linux_boot::GICC_IPA, "CPU interface"),
            false => (3, linux_boot::GICR_IPA, "redistributors"),
        };
        match dev.vgic_config(linux_boot::GICD_IPA, cpu) {
            Ok(()) => say(format_args!(
                "VM {id}: virtual GICv{version} (distributor at IPA {:#x}, {what} at {cpu:#x})",
                linux_boot::GICD_IPA
            )),
            Err(e) => say(format_args!(
                "VM {id}: no virtual GIC ({e}): the guest stops at its interrupt controller"
            )),
        }
    }

    let mut registered = [false; SLOTS as usize];
    for (index, s) in &table.slots {
        if !s.on_fault && register(&dev, *index, s).is_ok() {
            registered[*index as usize] = true;
        }
    }
    if !registered[table.slots[0].0 as usize] {
        return Err("guest RAM slot refused: nothing to run".into());
    }
    let x0 = match (&setup, &boot) {
        (Some(s), _) => s.x0,
        (None, Some(b)) => b.dtb_ipa,
        (None, None) => a.x0,
    };
    let mut pages = Vec::new();
    for i in 0..a.cpus {
        // A Linux guest starts its secondaries itself, with PSCI CPU_ON.
        let v = dev
            .create_vcpu(entry, x0, a.linux && i > 0)
            .map_err(|e| e.to_string())?;
        pages.push((
            v,
            dev.map_run_page(v)
                .map_err(|e| format!("mmap of vcpu {v}'s run page: {e}"))?,
        ));
    }
    let bus = VmBus {
        uart: if a.checks {
            None
        } else {
            a.uart.map(|u| (u, Pl011::new()))
        },
        checks: a.checks.then(Checks::new),
        spans: Spans::default(),
    };
    let vm = Arc::new(Shared {
        dev,
        table,
        state: Mutex::new((bus, registered)),
        vcpus: a.cpus,
        off: AtomicU32::new(0),
        stopping: AtomicBool::new(false),
        revoke,
    });
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: Vec<_> = pages
        .into_iter()
        .map(|(v, page)| {
            let vm = Arc::clone(&vm);
            let pin = a.pin.then_some(v as usize % ncpu);
            std::thread::spawn(move || vcpu_loop(vm, v, page, pin))
        })
        .collect();
    // The first vCPU to stop the machine ends the run (SYSTEM_OFF/RESET, an error);
    // CPU_OFF ends only its own vCPU.
    let mut code = 0;
    for (v, t) in threads.into_iter().enumerate() {
        let stop = t
            .join()
            .unwrap_or_else(|_| Stop::Error(format!("vcpu {v}: thread panicked")));
        match &stop {
            Stop::SystemOff => say(format_args!(
                "vcpu {v}: guest powered off (PSCI SYSTEM_OFF)"
            )),
            Stop::SystemReset => say(format_args!(
                "vcpu {v}: guest asked for a reset (PSCI SYSTEM_RESET)"
            )),
            Stop::CpuOff => say(format_args!("vcpu {v}: CPU_OFF")),
            Stop::Error(m) => say(m),
        }
        code = code.max(stop.exit_code());
        if matches!(stop, Stop::SystemOff | Stop::SystemReset | Stop::Error(_)) {
            break;
        }
    }
    let mut st = vm.state.lock().unwrap_or_else(|e| e.into_inner());
    st.0.flush_checks();
    for ipa in &a.translate {
        match vm.dev.translate(*ipa) {
            Ok(t) => say(format_args!(
                "TRANSLATE {ipa:#x}: PA {:#x}, PAR_EL1.ATTR {:#04x}{}, stage-2 bits {:#x}",
                t.pa,
                t.attr,
                attr_name(t.attr),
                t.s2_bits
            )),
            Err(e) => say(format_args!("TRANSLATE {ipa:#x}: {e}")),
        }
    }
    if let Ok(s) = vm.dev.stats() {
        say(format_args!(
            "VM {id}: {} exits, {} lazy maps, {} aborts injected",
            s.exits, s.lazy_maps, s.aborts_injected
        ));
    }
    if let Some(c) = &st.0.checks {
        say(format_args!(
            "guest checks: {} passed, {} failed",
            c.passed, c.failed
        ));
        if !c.all_passed() {
            code = code.max(1);
        }
    }
    let _ = SlotKind::Ram; // (slot kinds are named in messages through SlotSpec)
                           // Returning closes /dev/stile: the driver destroys the VM and Stile scrubs its memory.
    Ok(code)
}

fn attr_name(attr: u64) -> &'static str {
    match attr {
        0xff => " (Normal-WB)",
        0x44 => " (Normal-NC)",
        0x04 => " (Device-nGnRE)",
        0x00 => " (Device-nGnRnE)",
        _ => "",
    }
}
