//! The smallest VMM that runs the guest program: one VM, one vCPU, one memslot, and a run loop
//! that answers MMIO reads and records the guest's reports.

use crate::guest::{self, Inputs, Ipa, Phase};
use crate::{clock, pmu};
use kvm_bindings::{
    kvm_device_attr, kvm_smccc_filter, kvm_smccc_filter_action_KVM_SMCCC_FILTER_FWD_TO_USER,
    kvm_userspace_memory_region, kvm_vcpu_init, KVM_ARM_VCPU_PSCI_0_2, KVM_ARM_VM_SMCCC_CTRL,
    KVM_ARM_VM_SMCCC_FILTER, KVM_REG_ARM64, KVM_REG_ARM_CORE, KVM_REG_SIZE_U64,
};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};

/// Why the VMM stopped. Printed as `bench-kvm: error: <this>`.
#[derive(Debug)]
pub enum Failure {
    OpenKvm(kvm_ioctls::Error),
    CreateVm(kvm_ioctls::Error),
    GuestMemory(std::io::Error),
    Memslot(kvm_ioctls::Error),
    CreateVcpu(kvm_ioctls::Error),
    PreferredTarget(kvm_ioctls::Error),
    VcpuInit(kvm_ioctls::Error),
    SetReg {
        reg: &'static str,
        err: kvm_ioctls::Error,
    },
    Run(kvm_ioctls::Error),
    Vgic {
        step: &'static str,
        err: kvm_ioctls::Error,
    },
    IrqLine(kvm_ioctls::Error),
    UnexpectedExit(String),
    BadReport(String),
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Failure::OpenKvm(e) => write!(f, "cannot open /dev/kvm ({e})"),
            Failure::CreateVm(e) => write!(f, "KVM_CREATE_VM failed ({e})"),
            Failure::GuestMemory(e) => write!(f, "cannot map guest RAM ({e})"),
            Failure::Memslot(e) => write!(f, "KVM_SET_USER_MEMORY_REGION failed ({e})"),
            Failure::CreateVcpu(e) => write!(f, "KVM_CREATE_VCPU failed ({e})"),
            Failure::PreferredTarget(e) => write!(f, "KVM_ARM_PREFERRED_TARGET failed ({e})"),
            Failure::VcpuInit(e) => write!(f, "KVM_ARM_VCPU_INIT failed ({e})"),
            Failure::SetReg { reg, err } => write!(f, "KVM_SET_ONE_REG {reg} failed ({err})"),
            Failure::Run(e) => write!(f, "KVM_RUN failed ({e})"),
            Failure::Vgic { step, err } => write!(f, "in-kernel vGICv3: {step} failed ({err})"),
            Failure::IrqLine(e) => write!(f, "KVM_IRQ_LINE failed ({e})"),
            Failure::UnexpectedExit(what) => write!(f, "unexpected exit ({what})"),
            Failure::BadReport(what) => write!(f, "guest report does not add up ({what})"),
        }
    }
}

/// What one KVM_RUN return means to this VMM: decoded once, then matched.
enum Exit {
    /// A load from the MMIO device: answer it.
    DeviceRead,
    /// The guest reports the start of its first round.
    Start,
    /// The guest finished a phase that took `ticks` CNTVCT ticks by its own count.
    PhaseEnd { ticks: u64 },
    /// The guest finished every round.
    Done,
    /// An HVC the SMCCC filter forwarded to userspace.
    Hypercall { fid: u64 },
}

/// One phase of one round, as measured.
#[derive(Clone, Copy, Debug)]
pub struct PhaseResult {
    pub phase: Phase,
    /// CNTVCT ticks around the loop, read by the guest (only the loop is inside).
    pub guest_ticks: u64,
    /// CNTVCT ticks between the VMM's reading at the previous report exit and at this one:
    /// the loop plus one report round trip (exit, VMM, re-entry) and the counter reads.
    pub host_ticks: u64,
    /// MMIO exits the VMM handled during the phase.
    pub mmio_exits: u64,
    /// HVC exits the VMM handled during the phase.
    pub hypercall_exits: u64,
    /// Instructions by where they ran, over the same interval as `host_ticks`.
    pub pmu: Option<pmu::Sample>,
    /// Host interrupts taken during the interval (all lines of /proc/interrupts), if readable.
    pub irqs: Option<u64>,
}

/// The host's state at a report exit: what a phase's numbers are differences of.
#[derive(Clone, Copy)]
struct Snapshot {
    ticks: u64,
    pmu: Option<pmu::Sample>,
    irqs: Option<u64>,
}

/// Interrupts taken so far on CPU 0, summed over every line of /proc/interrupts.
pub(crate) fn interrupts_so_far() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/interrupts").ok()?;
    let mut total = 0;
    for line in text.lines().skip(1) {
        let mut words = line.split_whitespace();
        if words.next().is_some_and(|w| w.ends_with(':')) {
            total += words
                .next()
                .and_then(|w| w.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Some(total)
}

pub struct Outcome {
    pub results: Vec<PhaseResult>,
    pub ipa_bits: u32,
    pub last_mmio_value: u64,
    pub hvc_ret: u64,
    pub hvc_user_ret: Option<u64>,
}

/// Whether this kernel can forward guest HVCs to userspace (SMCCC filter, Linux 6.4+).
pub fn smccc_filter_supported(vm: &VmFd) -> Result<(), kvm_ioctls::Error> {
    vm.has_device_attr(&kvm_device_attr {
        group: KVM_ARM_VM_SMCCC_CTRL,
        attr: u64::from(KVM_ARM_VM_SMCCC_FILTER),
        addr: 0,
        flags: 0,
    })
}

fn forward_to_user(vm: &VmFd, fid: u32) -> Result<(), kvm_ioctls::Error> {
    let filter = kvm_smccc_filter {
        base: fid,
        nr_functions: 1,
        action: kvm_smccc_filter_action_KVM_SMCCC_FILTER_FWD_TO_USER as u8,
        pad: [0; 15],
    };
    vm.set_device_attr(&kvm_device_attr {
        group: KVM_ARM_VM_SMCCC_CTRL,
        attr: u64::from(KVM_ARM_VM_SMCCC_FILTER),
        addr: &filter as *const kvm_smccc_filter as u64,
        flags: 0,
    })
}

/// KVM_REG_ARM_CORE register id for a field at `byte_offset` in struct kvm_regs.
const fn core_reg(byte_offset: u64) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE as u64 | (byte_offset / 4)
}
/// x<n> is at regs.regs[n]; pc follows regs[31] and sp.
pub(crate) const fn reg_x(n: u8) -> u64 {
    core_reg(8 * n as u64)
}
pub(crate) const REG_PC: u64 = core_reg(8 * 32);

/// Anonymous, zeroed, page-aligned host memory backing the guest RAM slot.
pub(crate) struct GuestRam {
    pub(crate) ptr: *mut u8,
    len: usize,
}

impl GuestRam {
    pub(crate) fn new(len: usize) -> Result<GuestRam, std::io::Error> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(GuestRam {
            ptr: ptr.cast(),
            len,
        })
    }

    pub(crate) fn write(&mut self, at: Ipa, bytes: &[u8]) {
        let off = (at.0 - guest::RAM.0) as usize;
        assert!(off + bytes.len() <= self.len, "guest write outside RAM");
        // SAFETY: in bounds (checked above) of a mapping we own; the vCPU is not running.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(off), bytes.len()) };
    }

    fn read_u64(&self, at: Ipa) -> u64 {
        let off = (at.0 - guest::RAM.0) as usize;
        assert!(
            off + 8 <= self.len && off.is_multiple_of(8),
            "guest read outside RAM"
        );
        // SAFETY: aligned and in bounds of a mapping we own; read while the vCPU is stopped.
        unsafe { core::ptr::read_volatile(self.ptr.add(off).cast::<u64>()) }
    }
}

impl Drop for GuestRam {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made; the VM using it is dropped first.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// The guest's RAM ([`guest::RAM_SIZE`] at [`guest::RAM`]) holding `code`, registered as
/// `vm`'s memory slot 0.
///
/// # Safety
/// The caller drops `vm` and everything made from it (vCPUs, devices) before the RAM.
pub(crate) unsafe fn guest_ram(vm: &VmFd, code: &[u8]) -> Result<GuestRam, Failure> {
    let mut ram = GuestRam::new(guest::RAM_SIZE).map_err(Failure::GuestMemory)?;
    ram.write(guest::RAM, code);
    let slot = kvm_userspace_memory_region {
        slot: 0,
        flags: 0,
        guest_phys_addr: guest::RAM.0,
        memory_size: guest::RAM_SIZE as u64,
        userspace_addr: ram.ptr as u64,
    };
    // SAFETY: the region is our mapping of exactly memory_size bytes, and the caller keeps
    // it mapped for as long as the VM exists (this function's contract).
    unsafe { vm.set_user_memory_region(slot) }.map_err(Failure::Memslot)?;
    Ok(ram)
}

/// KVM_ARM_VCPU_INIT for the host's preferred target, with PSCI 0.2. After it the vCPU is at
/// EL1h with DAIF masked and its MMU off.
pub(crate) fn init_vcpu(vm: &VmFd, vcpu: &VcpuFd) -> Result<(), Failure> {
    let mut init = kvm_vcpu_init::default();
    vm.get_preferred_target(&mut init)
        .map_err(Failure::PreferredTarget)?;
    init.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
    vcpu.vcpu_init(&init).map_err(Failure::VcpuInit)
}

/// The guest starts at the first byte of its RAM with its inputs in x19..x25.
pub(crate) fn start_at_ram(vcpu: &VcpuFd, inputs: [(u8, u64); 7]) -> Result<(), Failure> {
    vcpu.set_one_reg(REG_PC, &guest::RAM.0.to_le_bytes())
        .map_err(|err| Failure::SetReg { reg: "pc", err })?;
    for (n, value) in inputs {
        vcpu.set_one_reg(reg_x(n), &value.to_le_bytes())
            .map_err(|err| Failure::SetReg {
                reg: "x19..x25",
                err,
            })?;
    }
    Ok(())
}

pub struct Bench {
    // Field order is drop order: the vCPU and VM go before the memory they map.
    vcpu: VcpuFd,
    vm: VmFd,
    ram: GuestRam,
    ipa_bits: u32,
    user_hvc: bool,
}

impl Bench {
    /// Creates the VM and vCPU and loads the guest. `try_user_hvc`: install the SMCCC filter
    /// that forwards [`guest::HVC_USER_FID`] to us, if the kernel has it.
    pub fn new(kvm: &Kvm, inputs: &mut Inputs, try_user_hvc: bool) -> Result<Bench, Failure> {
        let ipa_bits = kvm.get_host_ipa_limit().max(0) as u32;
        let vm = kvm.create_vm().map_err(Failure::CreateVm)?;

        // SAFETY: `Bench` drops the vCPU and the VM before the RAM (its field order).
        let ram = unsafe { guest_ram(&vm, guest::code()) }?;

        let user_hvc = try_user_hvc
            && smccc_filter_supported(&vm).is_ok()
            && forward_to_user(&vm, guest::HVC_USER_FID).is_ok();
        inputs.hvc_user_fid = if user_hvc { guest::HVC_USER_FID } else { 0 };

        let vcpu = vm.create_vcpu(0).map_err(Failure::CreateVcpu)?;
        init_vcpu(&vm, &vcpu)?;
        start_at_ram(&vcpu, inputs.registers())?;
        Ok(Bench {
            vcpu,
            vm,
            ram,
            ipa_bits,
            user_hvc,
        })
    }

    pub fn user_hvc(&self) -> bool {
        self.user_hvc
    }

    fn next_exit(&mut self) -> Result<Exit, Failure> {
        let exit = self.vcpu.run().map_err(Failure::Run)?;
        match exit {
            VcpuExit::MmioRead(addr, data) if Ipa(addr) == guest::MMIO_DEVICE => {
                let value = guest::MMIO_DEVICE_VALUE.to_le_bytes();
                let n = data.len().min(8);
                data[..n].copy_from_slice(&value[..n]);
                Ok(Exit::DeviceRead)
            }
            VcpuExit::MmioWrite(addr, data) if addr >= guest::MARK.0 && data.len() == 8 => {
                let value = u64::from_le_bytes(data.try_into().expect("8 bytes"));
                match addr - guest::MARK.0 {
                    guest::MARK_START => Ok(Exit::Start),
                    guest::MARK_PHASE_END => Ok(Exit::PhaseEnd { ticks: value }),
                    guest::MARK_DONE => Ok(Exit::Done),
                    off => Err(Failure::UnexpectedExit(format!("write to MARK+{off:#x}"))),
                }
            }
            VcpuExit::Hypercall(call) => Ok(Exit::Hypercall { fid: call.nr }),
            VcpuExit::MmioRead(addr, _) => {
                Err(Failure::UnexpectedExit(format!("MMIO read at {addr:#x}")))
            }
            VcpuExit::MmioWrite(addr, d) => Err(Failure::UnexpectedExit(format!(
                "MMIO write of {} bytes at {addr:#x}",
                d.len()
            ))),
            other => Err(Failure::UnexpectedExit(format!("{other:?}"))),
        }
    }

    /// Runs the guest to the end and collects one [`PhaseResult`] per phase per round.
    pub fn run(
        &mut self,
        inputs: &Inputs,
        mut counters: Option<&mut pmu::Counters>,
    ) -> Result<Outcome, Failure> {
        let order = Phase::round(self.user_hvc);
        let mut results = Vec::new();
        let (mut mmio_exits, mut hypercall_exits) = (0u64, 0u64);
        // At each report: the phase's end is read first, the next phase's start last, so that
        // reading /proc/interrupts and the counters falls in neither phase.
        let mut last: Option<Snapshot> = None;
        let snapshot_end = |counters: &mut Option<&mut pmu::Counters>| {
            let ticks = clock::ticks();
            let pmu = counters.as_deref_mut().map(pmu::Counters::read);
            Snapshot {
                ticks,
                pmu,
                irqs: interrupts_so_far(),
            }
        };
        let snapshot_start = |counters: &mut Option<&mut pmu::Counters>| {
            let irqs = interrupts_so_far();
            let pmu = counters.as_deref_mut().map(pmu::Counters::read);
            Snapshot {
                ticks: clock::ticks(),
                pmu,
                irqs,
            }
        };
        loop {
            match self.next_exit()? {
                Exit::DeviceRead => mmio_exits += 1,
                Exit::Hypercall { fid } if fid == u64::from(guest::HVC_USER_FID) => {
                    // The guest's PC is already past the HVC; the return value goes in x0.
                    self.vcpu
                        .set_one_reg(reg_x(0), &guest::SMCCC_RET_NOT_SUPPORTED.to_le_bytes())
                        .map_err(|err| Failure::SetReg { reg: "x0", err })?;
                    hypercall_exits += 1;
                }
                Exit::Hypercall { fid } => {
                    return Err(Failure::UnexpectedExit(format!("hypercall {fid:#x}")))
                }
                Exit::Start => last = Some(snapshot_start(&mut counters)),
                Exit::PhaseEnd { ticks } => {
                    let end = snapshot_end(&mut counters);
                    let Some(start) = last else {
                        return Err(Failure::BadReport("phase end before start".into()));
                    };
                    let phase = order[results.len() % order.len()];
                    results.push(PhaseResult {
                        phase,
                        guest_ticks: ticks,
                        host_ticks: end.ticks - start.ticks,
                        mmio_exits,
                        hypercall_exits,
                        pmu: end.pmu.zip(start.pmu).map(|(e, s)| e.since(s)),
                        irqs: end.irqs.zip(start.irqs).map(|(e, s)| e - s),
                    });
                    (mmio_exits, hypercall_exits) = (0, 0);
                    last = Some(snapshot_start(&mut counters));
                }
                Exit::Done => break,
            }
        }
        if results.len() != order.len() * inputs.rounds as usize {
            return Err(Failure::BadReport(format!(
                "{} phase reports for {} rounds of {} phases",
                results.len(),
                inputs.rounds,
                order.len()
            )));
        }
        Ok(Outcome {
            results,
            ipa_bits: self.ipa_bits,
            last_mmio_value: self.ram.read_u64(guest::SCRATCH_LAST_MMIO),
            hvc_ret: self.ram.read_u64(guest::SCRATCH_HVC_RET),
            hvc_user_ret: self
                .user_hvc
                .then(|| self.ram.read_u64(guest::SCRATCH_HVC_USER_RET)),
        })
    }

    pub fn vm(&self) -> &VmFd {
        &self.vm
    }
}
