//! The vGIC rows: a second VM, this one with KVM's in-kernel vGICv3 (KVM_CREATE_DEVICE
//! KVM_DEV_TYPE_ARM_VGIC_V3), running [`irq_guest`]'s program. The first VM (vm.rs) stays
//! without one, so the MMIO and HVC rows measure what they always did.
//!
//! Each row is a sum of CNTVCT ticks over N interrupts, to the vector's counter read; per
//! interrupt that is ticks x 16 / N minus the vector's 3-instruction jump, as in Stile's
//! `make bench` (qemu/host/src/bench/vgic.rs). Per row the round with the fewest ticks counts
//! (the host's own interrupts only ever add), as for the other KVM rows.

use crate::guest::{self as layout};
use crate::irq_guest::{self as g, Inputs};
use crate::vm::{guest_ram, init_vcpu, start_at_ram, Failure, GuestRam};
use crate::{clock, pmu, say};
use kvm_bindings::{
    kvm_create_device, kvm_device_attr, kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3,
    KVM_ARM_IRQ_TYPE_SHIFT, KVM_ARM_IRQ_TYPE_SPI, KVM_DEV_ARM_VGIC_CTRL_INIT,
    KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_VGIC_V3_ADDR_TYPE_DIST,
    KVM_VGIC_V3_ADDR_TYPE_REDIST,
};
use kvm_ioctls::{DeviceFd, Kvm, VcpuExit, VcpuFd, VmFd};

/// The rows, in the order the guest runs them in each round; the names are Stile's.
pub const ROWS: [&str; 4] = [
    "vtimer-delivery",
    "spi-injection",
    "sgi-self-round-trip",
    "vgic-gicd-read",
];
const TIMER: usize = 0;
const SPI: usize = 1;
const SGI: usize = 2;
const GICD: usize = 3;

/// KVM_REG_ARM_TIMER_CNT: ARM64_SYS_REG(3, 3, 14, 3, 2), the guest's CNTVCT as KVM reads it.
const REG_TIMER_CNT: u64 = 0x6030_0000_0013_df1a;

/// The report window's size: a write anywhere else is an unexpected exit.
const MARK_SIZE: u64 = 0x1000;

/// One row of one round: ticks summed over the interrupts, and how many the guest took.
#[derive(Clone, Copy, Default)]
pub struct Count {
    pub sum: u64,
    pub taken: u64,
    /// Instructions by where they ran, from the report before the loop to the one after it
    /// (for the SPI: the whole loop, the untimed lowering of the line included).
    pub pmu: Option<pmu::Sample>,
    /// SPI only: ticks the VMM's KVM_IRQ_LINE calls that lower the line took (untimed part).
    pub lower: u64,
    /// Over the same interval as `pmu`: CNTVCT ticks (every context, not only this thread),
    /// host interrupts and context switches (all of the machine).
    pub ticks: u64,
    pub irqs: Option<u64>,
    pub switches: Option<u64>,
}

/// The machine at a report exit: what a row's context figures are differences of.
#[derive(Clone, Copy)]
struct Snap {
    ticks: u64,
    pmu: Option<pmu::Sample>,
    irqs: Option<u64>,
    switches: Option<u64>,
}

/// Context switches so far (/proc/stat `ctxt`).
fn switches_so_far() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("ctxt "))?;
    line[5..].trim().parse().ok()
}

/// /proc first and the counters last at a row's start; the reverse at its end, so that the
/// reads themselves fall outside the row.
fn snap_start(counters: &mut Option<&mut pmu::Counters>) -> Snap {
    let (irqs, switches) = (crate::vm::interrupts_so_far(), switches_so_far());
    let pmu = counters.as_deref_mut().map(pmu::Counters::read);
    Snap {
        ticks: clock::ticks(),
        pmu,
        irqs,
        switches,
    }
}

fn snap_end(counters: &mut Option<&mut pmu::Counters>) -> Snap {
    let ticks = clock::ticks();
    let pmu = counters.as_deref_mut().map(pmu::Counters::read);
    Snap {
        ticks,
        pmu,
        irqs: crate::vm::interrupts_so_far(),
        switches: switches_so_far(),
    }
}

impl Count {
    /// Records the context figures of the interval from `start` to `end`.
    fn context(&mut self, start: Snap, end: Snap) {
        self.ticks = end.ticks - start.ticks;
        self.pmu = end.pmu.zip(start.pmu).map(|(e, s)| e.since(s));
        self.irqs = end.irqs.zip(start.irqs).map(|(e, s)| e - s);
        self.switches = end.switches.zip(start.switches).map(|(e, s)| e - s);
    }
}

/// One round: a [`Count`] per row, indexed as [`ROWS`].
pub type Round = [Count; 4];

/// The phase of the VMM's counter read before each KVM_IRQ_LINE: the same generator and seed
/// as Stile's host payload uses for its SPI row (qemu/host/src/bench/measure.rs, `Dither`).
struct Dither(u64);

impl Dither {
    fn next_phase(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 60) as u8
    }
}

pub struct IrqBench {
    // Field order is drop order: the vCPU, the vGIC and the VM go before the memory they map.
    vcpu: VcpuFd,
    _gic: DeviceFd,
    vm: VmFd,
    _ram: GuestRam,
    /// The VMM's counter just before and just after KVM_CREATE_VCPU (Linux 6.1 sets the
    /// vCPU's CNTVOFF to the physical count then: a check on the guest's offset report).
    vcpu_created: (u64, u64),
}

fn vgic(step: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> Failure {
    move |err| Failure::Vgic { step, err }
}

impl IrqBench {
    /// VM, RAM, one vCPU, then the vGICv3 at [`g::GICD`] / [`g::GICR`], initialised once the
    /// vCPU exists (KVM_DEV_ARM_VGIC_CTRL_INIT); then the guest's PC and inputs.
    pub fn new(kvm: &Kvm, inputs: &Inputs) -> Result<IrqBench, Failure> {
        let vm = kvm.create_vm().map_err(Failure::CreateVm)?;
        // SAFETY: `IrqBench` drops the vCPU, the vGIC and the VM before the RAM (its field
        // order).
        let ram = unsafe { guest_ram(&vm, g::code()) }?;

        let before = clock::ticks();
        let vcpu = vm.create_vcpu(0).map_err(Failure::CreateVcpu)?;
        let vcpu_created = (before, clock::ticks());
        init_vcpu(&vm, &vcpu)?;

        let mut device = kvm_create_device {
            type_: kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3,
            fd: 0,
            flags: 0,
        };
        let gic = vm
            .create_device(&mut device)
            .map_err(vgic("KVM_CREATE_DEVICE"))?;
        for (kind, base, step) in [
            (KVM_VGIC_V3_ADDR_TYPE_DIST, g::GICD, "distributor address"),
            (
                KVM_VGIC_V3_ADDR_TYPE_REDIST,
                g::GICR,
                "redistributor address",
            ),
        ] {
            let addr: u64 = base.0;
            gic.set_device_attr(&kvm_device_attr {
                group: KVM_DEV_ARM_VGIC_GRP_ADDR,
                attr: u64::from(kind),
                addr: &addr as *const u64 as u64,
                flags: 0,
            })
            .map_err(vgic(step))?;
        }
        gic.set_device_attr(&kvm_device_attr {
            group: KVM_DEV_ARM_VGIC_GRP_CTRL,
            attr: u64::from(KVM_DEV_ARM_VGIC_CTRL_INIT),
            addr: 0,
            flags: 0,
        })
        .map_err(vgic("KVM_DEV_ARM_VGIC_CTRL_INIT"))?;

        start_at_ram(&vcpu, inputs.registers())?;
        Ok(IrqBench {
            vcpu,
            _gic: gic,
            vm,
            _ram: ram,
            vcpu_created,
        })
    }

    /// Runs the vCPU to its next report: (offset in the report window, value written).
    fn report(&mut self) -> Result<(u64, u64), Failure> {
        match self.vcpu.run().map_err(Failure::Run)? {
            VcpuExit::MmioWrite(addr, data)
                if (g::MARK.0..g::MARK.0 + MARK_SIZE).contains(&addr) && data.len() == 8 =>
            {
                let value = u64::from_le_bytes(data.try_into().expect("8 bytes"));
                Ok((addr - g::MARK.0, value))
            }
            other => Err(Failure::UnexpectedExit(format!("{other:?}"))),
        }
    }

    /// The guest's reports until it is done: one [`Round`] per round.
    pub fn run(
        &mut self,
        inputs: &Inputs,
        mut counters: Option<&mut pmu::Counters>,
    ) -> Result<Vec<Round>, Failure> {
        let mut dither = Dither(0x7669_7271_4265_6e63);
        let mut offset = None;
        let mut rounds = Vec::new();
        let mut round = Round::default();
        // The counters are read after each report exit and again before the next KVM_RUN, so
        // that reading them (and this loop's work) falls in no row.
        let mut last = snap_start(&mut counters);
        loop {
            let (mark, value) = self.report()?;
            let now = snap_end(&mut counters);
            match mark {
                g::MARK_COUNTER_OFFSET => {
                    let (before, after) = self.vcpu_created;
                    let at_create = (before..=after).contains(&value);
                    say(&format!(
                        "irq guest: CNTVOFF (its CNTPCT_EL0 - CNTVCT_EL0) = {value} ticks; the \
                         VMM's CNTVCT around KVM_CREATE_VCPU: {before}..{after} ({})",
                        if at_create {
                            "inside: the VMM's counter is the physical one"
                        } else {
                            "outside"
                        }
                    ));
                    self.outside_offset(value);
                    offset = Some(value);
                }
                g::MARK_COUNTER_OFFSET_FAILED => {
                    return Err(Failure::BadReport(
                        "the guest never read CNTPCT_EL0 between two equal CNTVCT_EL0 reads".into(),
                    ))
                }
                g::MARK_TIMER_SUM => {
                    round[TIMER].sum = value;
                    round[TIMER].context(last, now);
                }
                g::MARK_TIMER_TAKEN => round[TIMER].taken = value,
                g::MARK_SPI_READY => {
                    let Some(offset) = offset else {
                        return Err(Failure::BadReport(
                            "SPI loop before the counter offset".into(),
                        ));
                    };
                    let start = snap_start(&mut counters);
                    let (sum, lower) = self.spi(inputs.iterations, offset, &mut dither)?;
                    round[SPI].sum = sum;
                    round[SPI].lower = lower;
                    round[SPI].context(start, snap_end(&mut counters));
                }
                g::MARK_SPI_TAKEN => round[SPI].taken = value,
                g::MARK_SGI_SUM => {
                    round[SGI].sum = value;
                    round[SGI].context(last, now);
                }
                g::MARK_SGI_TAKEN => round[SGI].taken = value,
                g::MARK_GICD_SUM => {
                    round[GICD].sum = value;
                    round[GICD].context(last, now);
                }
                g::MARK_GICD_TAKEN => {
                    round[GICD].taken = value;
                    rounds.push(core::mem::take(&mut round));
                }
                g::MARK_DONE => break,
                g::MARK_UNEXPECTED => {
                    return Err(Failure::UnexpectedExit(format!(
                        "guest exception, ESR_EL1 {value:#x}"
                    )))
                }
                other => {
                    return Err(Failure::UnexpectedExit(format!(
                        "irq guest write to MARK+{other:#x}"
                    )))
                }
            }
            last = snap_start(&mut counters);
        }
        if rounds.len() as u64 != inputs.rounds {
            return Err(Failure::BadReport(format!(
                "{} irq rounds reported, {} asked",
                rounds.len(),
                inputs.rounds
            )));
        }
        Ok(rounds)
    }

    /// For comparison only: the offset as a VMM could take it from outside the guest, its
    /// counter read before or after KVM_GET_ONE_REG(KVM_REG_ARM_TIMER_CNT), against `exact`.
    fn outside_offset(&self, exact: u64) {
        let mut buf = [0u8; 8];
        let before = clock::ticks();
        let got = self.vcpu.get_one_reg(REG_TIMER_CNT, &mut buf);
        let after = clock::ticks();
        if got.is_ok() {
            let cnt = u64::from_le_bytes(buf);
            let off = |host: u64| {
                let ticks = host.wrapping_sub(cnt).wrapping_sub(exact) as i64;
                ticks * clock::instructions_per_tick() as i64
            };
            say(&format!(
                "irq guest: from outside, KVM_GET_ONE_REG(TIMER_CNT) with the VMM's counter \
                 read before or after it gives CNTVOFF {:+} or {:+} instructions off",
                off(before),
                off(after)
            ));
        }
    }

    /// `n` times: a dithered counter read, KVM_IRQ_LINE (SPI up), KVM_RUN; the guest's vector
    /// reads its counter and its loop reports it. The line goes down again untimed. Returns the
    /// ticks summed over the `n` interrupts, the guest's reads moved to this VMM's counter by
    /// `offset` (the VMM's CNTVCT at EL0 is the physical count: Linux's CNTVOFF is 0 while
    /// no vCPU is loaded). Each read must fall between the VMM's reads around it. Also returns
    /// the ticks of the (untimed) calls that lower the line, timed on their own.
    fn spi(&mut self, n: u64, offset: u64, dither: &mut Dither) -> Result<(u64, u64), Failure> {
        let line = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | g::SPI;
        let (mut sum, mut lower) = (0, 0);
        let mut each = Vec::with_capacity(n as usize);
        let mut each_lower = Vec::with_capacity(n as usize);
        for i in 0..n {
            let k = dither.next_phase();
            let t0 = clock::dithered_ticks(k);
            self.vm.set_irq_line(line, true).map_err(Failure::IrqLine)?;
            let (mark, read) = self.report()?;
            let after = clock::ticks();
            if mark != g::MARK_SPI_READ {
                return Err(Failure::UnexpectedExit(format!(
                    "irq guest write to MARK+{mark:#x} in the SPI loop"
                )));
            }
            if read == 0 {
                return Err(Failure::BadReport(format!("SPI {i}: the guest took none")));
            }
            let t1 = read.wrapping_add(offset);
            if !(t0..=after).contains(&t1) {
                return Err(Failure::BadReport(format!(
                    "SPI {i}: the guest's read {read} + CNTVOFF {offset} is not between the \
                     VMM's reads {t0} and {after}"
                )));
            }
            sum += t1 - t0;
            each.push(t1 - t0);
            let l0 = clock::ticks();
            self.vm
                .set_irq_line(line, false)
                .map_err(Failure::IrqLine)?;
            let l1 = clock::ticks() - l0;
            lower += l1;
            each_lower.push(l1);
            // Two more system calls, so that an iteration makes 5 and the kernel's refill of
            // its per-syscall randomness (one in 48 syscalls with Linux 6.1's randomized kernel
            // stack offset; about 2,800 instructions) takes turns over all five, instead of
            // landing on the same one of 3 for a whole round (see docs/PERFORMANCE-KVM.md).
            // SAFETY: getppid takes no arguments and cannot fail.
            unsafe {
                libc::getppid();
                libc::getppid();
            }
        }
        let median = |v: &mut Vec<u64>| {
            v.sort_unstable();
            let m = v.get(v.len() / 2).copied().unwrap_or(0);
            (m, v.iter().filter(|&&t| t > m + 50).count())
        };
        let ((timed, slow), (lowering, slow_lowering)) =
            (median(&mut each), median(&mut each_lower));
        say(&format!(
            "spi-injection: per interrupt, median {timed} ticks timed ({slow} over median + 50), \
             {lowering} ticks lowering ({slow_lowering} over median + 50)"
        ));
        Ok((sum, lower))
    }
}

/// Hundredths as a decimal with two places.
fn two_places(hundredths: i128) -> String {
    let sign = if hundredths < 0 { "-" } else { "" };
    let h = hundredths.abs();
    format!("{sign}{}.{:02}", h / 100, h % 100)
}

/// `ticks` over `n` interrupts as instructions per interrupt, less `jump` instructions each.
fn per_irq_less(ticks: u64, n: u64, jump: u64) -> String {
    let all = i128::from(ticks) * i128::from(clock::instructions_per_tick()) * 100;
    two_places((all - i128::from(jump) * 100 * i128::from(n)) / i128::from(n))
}

/// Instructions of each iteration of `row` that are not its figure's: the vector's jump
/// before its counter read for the interrupt rows; none for the GICD read, whose figure
/// is its whole loop.
fn jump(row: usize) -> u64 {
    if row == GICD {
        0
    } else {
        g::VECTOR_JUMP
    }
}

/// `ticks` over `n` iterations of `row` as instructions per interrupt (to the vector's
/// first instruction) or per read.
fn per_op(row: usize, ticks: u64, n: u64) -> String {
    per_irq_less(ticks, n, jump(row))
}

/// ` host-el0 a host-kernel b el2 c guest d`: a sample per interrupt.
fn split_text(s: pmu::Sample, n: u64) -> String {
    let mut text = String::new();
    for (split, count) in pmu::SPLITS.iter().zip(s.0) {
        let hundredths = i128::from(count) * 100 / i128::from(n);
        text.push_str(&format!(" {} {}", split.name(), two_places(hundredths)));
    }
    text
}

/// Creates the vGIC VM, runs its rounds, checks them and prints `result` lines for the rows.
pub fn bench(
    kvm: &Kvm,
    iterations: u64,
    rounds: u64,
    settled: bool,
    counters: Option<&mut pmu::Counters>,
) -> Result<(), Failure> {
    let inputs = Inputs { iterations, rounds };
    let mut bench = IrqBench::new(kvm, &inputs)?;
    say(&format!(
        "irq guest: {} bytes of code at IPA {:#x}, in-kernel vGICv3 (GICD {:#x}, GICR {:#x}), \
         {iterations} interrupts per row, {rounds} rounds",
        g::code().len(),
        layout::RAM.0,
        g::GICD.0,
        g::GICR.0
    ));
    let measured = bench.run(&inputs, counters)?;
    for (i, round) in measured.iter().enumerate() {
        for (row, (name, c)) in ROWS.iter().zip(round).enumerate() {
            say(&format!(
                "round {} {name:<19} {:>9} ticks = {:>8} instr/op; {} taken{}",
                i + 1,
                c.sum,
                per_op(row, c.sum, iterations),
                c.taken,
                c.pmu
                    .map(|s| format!("; pmu instr/op:{}", split_text(s, iterations)))
                    .unwrap_or_default()
            ));
            say(&format!(
                "round {} {name:<19} context: whole loop {} instr/op by CNTVCT (every context), \
                 {} by this thread's PMU; {} host irqs, {} context switches{}",
                i + 1,
                per_irq_less(c.ticks, iterations, 0),
                c.pmu.map_or("-".into(), |s| two_places(
                    i128::from(s.0.iter().sum::<u64>()) * 100 / i128::from(iterations)
                )),
                c.irqs.map_or("-".into(), |v| v.to_string()),
                c.switches.map_or("-".into(), |v| v.to_string()),
                if name == &ROWS[SPI] {
                    format!(
                        "; lowering calls {} instr/irq",
                        per_irq_less(c.lower, iterations, 0)
                    )
                } else {
                    String::new()
                }
            ));
            if c.taken != iterations {
                return Err(Failure::BadReport(format!(
                    "{name}: round {}: the guest took {} interrupts of {iterations}",
                    i + 1,
                    c.taken
                )));
            }
        }
    }
    for (row, name) in ROWS.iter().enumerate() {
        let sums = measured.iter().map(|r| r[row].sum);
        let (best, worst) = (sums.clone().min().unwrap_or(0), sums.max().unwrap_or(0));
        let Some(best_round) = measured.iter().find(|r| r[row].sum == best) else {
            continue;
        };
        say(&format!("result {name} {}", per_op(row, best, iterations)));
        let less = match row {
            GICD => "(the whole loop: the read, `subs`, `b.ne`)".to_string(),
            _ => format!("minus the vector's {} instructions of jump", jump(row)),
        };
        say(&format!(
            "detail {name}: fewest-tick round of {rounds}, ticks x {} / {iterations} {less}; \
             spread over rounds {} instr/op",
            clock::instructions_per_tick(),
            per_irq_less(worst - best, iterations, 0)
        ));
        let c = best_round[row];
        if row == SPI {
            say(&format!(
                "detail {name}: KVM_IRQ_LINE lowering the line again (untimed), timed alone: {} \
                 instr",
                per_irq_less(c.lower, iterations, 0)
            ));
        }
        if let Some(s) = c.pmu {
            let mut line = format!("split {name}{}", split_text(s, iterations));
            let all: u64 = s.0.iter().sum();
            line.push_str(&format!(
                " (sum {}, whole loop per interrupt{})",
                two_places(i128::from(all) * 100 / i128::from(iterations)),
                if row == SPI {
                    ", the lowering KVM_IRQ_LINE included"
                } else {
                    ""
                }
            ));
            say(&line);
        }
        if !settled {
            say(&format!(
                "warning: {name}: the machine never settled; see the clock lines"
            ));
        }
    }
    Ok(())
}
