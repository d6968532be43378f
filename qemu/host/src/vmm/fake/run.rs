//! The fake's running half: the guest thread's CPU (every access a message), the ops it
//! turned into exits, and VCPU_RUN stepping the guest until the next exit.

use super::*;

/// What the guest thread asks.
#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
    Hvc([u64; 8]),
    Load(Load, Ipa),
    Store(Store, Ipa, u64),
    Pair(Ipa),
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Resume {
    Hvc([u64; 4]),
    Loaded(Loaded),
    Stored(Option<Abort>),
    Pair(LoadedPair),
}

/// The guest's CPU: every operation is a round trip to the fake.
struct ChannelCpu {
    ops: Sender<Op>,
    resumes: Receiver<Resume>,
}

impl ChannelCpu {
    fn ask(&mut self, op: Op) -> Option<Resume> {
        self.ops.send(op).ok()?;
        self.resumes.recv().ok()
    }
}

impl Cpu for ChannelCpu {
    fn hvc(&mut self, x: [u64; 8]) -> [u64; 4] {
        match self.ask(Op::Hvc(x)) {
            Some(Resume::Hvc(r)) => r,
            _ => [0; 4],
        }
    }

    fn load(&mut self, load: Load, addr: Ipa) -> Loaded {
        match self.ask(Op::Load(load, addr)) {
            Some(Resume::Loaded(l)) => l,
            _ => Loaded {
                value: LOAD_PRESET,
                abort: None,
            },
        }
    }

    fn store(&mut self, store: Store, addr: Ipa, value: u64) -> Option<Abort> {
        match self.ask(Op::Store(store, addr, value)) {
            Some(Resume::Stored(a)) => a,
            _ => None,
        }
    }

    fn load_pair(&mut self, addr: Ipa) -> LoadedPair {
        match self.ask(Op::Pair(addr)) {
            Some(Resume::Pair(p)) => p,
            _ => LoadedPair {
                first: LOAD_PRESET,
                second: LOAD_PRESET,
                abort: None,
            },
        }
    }
}

/// An op the fake turned into an exit, waiting for the host's reply.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pending {
    Mmio(Op),
    Replay(Op),
    Hvc([u64; 8]),
}

impl FakeStile {
    pub(super) fn vcpu_run(&mut self, vm: u64, vcpu: u64) -> [u64; 4] {
        if let Err(r) = self.vm_ok(vm) {
            return Self::refuse(r);
        }
        let Some((entry, x0, runnable)) = self.vcpu.filter(|_| vcpu == 0) else {
            return Self::refuse(Reason::NoSuchVcpu);
        };
        if !runnable {
            return Self::refuse(Reason::NoSuchVcpu);
        }
        let action = match self.page.host_action {
            0 => HostAction::Complete,
            1 => HostAction::Skip,
            2 => HostAction::InjectAbort,
            _ if self.has(Bug::AcceptBadHostAction) => HostAction::Complete,
            _ => return Self::refuse(Reason::BadArgument),
        };
        if action == HostAction::InjectAbort
            && matches!(self.pending, Some(Pending::Hvc(_)))
            && !self.has(Bug::AcceptBadHostAction)
        {
            return Self::refuse(Reason::BadArgument);
        }
        self.page.host_action = 0;
        if self.guest.is_none() {
            // The real guest's first instruction fetch maps its entry page.
            if self.slot_at(entry).is_some() && self.mapped.insert(entry / PAGE) {
                self.stats[0] += 1;
            }
            let (op_tx, op_rx) = channel();
            let (res_tx, res_rx) = channel();
            let handle = std::thread::spawn(move || {
                let mut cpu = ChannelCpu {
                    ops: op_tx,
                    resumes: res_rx,
                };
                stile_guest::run::main(&mut cpu, x0, Ipa(entry));
            });
            self.guest = Some((res_tx, op_rx, handle));
        }
        let mut next = self.pending.take().and_then(|p| self.resolve(p, action));
        loop {
            let op = match next.take() {
                Some(op) => op,
                None => match self.guest.as_ref().map(|g| g.1.recv()) {
                    Some(Ok(op)) => op,
                    _ => return Self::refuse(Reason::NoSuchVcpu),
                },
            };
            if let Some(reason) = self.step(op) {
                self.page.exit_count +=
                    if self.has(Bug::ExitCountSkips) && self.page.exit_count == 40 {
                        2
                    } else {
                        1
                    };
                self.page.exit_reason = reason as u32;
                self.stats[1] += 1;
                return [0, reason as u64, 0, 0];
            }
        }
    }

    fn answer(&mut self, r: Resume) {
        if let Some(g) = &self.guest {
            let _ = g.0.send(r);
        }
    }

    /// The host's reply to the pending exit: answers the guest, or gives the op back to
    /// re-execute.
    fn resolve(&mut self, p: Pending, action: HostAction) -> Option<Op> {
        let abort = |far: u64| Abort {
            esr: 0x25 << 26 | 1 << 25 | 0x10,
            far,
        };
        let skipped = |op: Op| match op {
            Op::Load(..) => Resume::Loaded(Loaded {
                value: LOAD_PRESET,
                abort: None,
            }),
            Op::Store(..) => Resume::Stored(None),
            Op::Pair(_) => Resume::Pair(LoadedPair {
                first: LOAD_PRESET,
                second: LOAD_PRESET,
                abort: None,
            }),
            Op::Hvc(x) => Resume::Hvc([x[0], x[1], x[2], x[3]]),
        };
        let aborted = |op: Op| {
            let far = match op {
                Op::Load(_, a) | Op::Store(_, a, _) | Op::Pair(a) => a.0,
                Op::Hvc(_) => 0,
            };
            match op {
                Op::Load(..) => Resume::Loaded(Loaded {
                    value: LOAD_PRESET,
                    abort: Some(abort(far)),
                }),
                Op::Store(..) => Resume::Stored(Some(abort(far))),
                Op::Pair(_) => Resume::Pair(LoadedPair {
                    first: LOAD_PRESET,
                    second: LOAD_PRESET,
                    abort: Some(abort(far)),
                }),
                Op::Hvc(x) => Resume::Hvc([x[0], x[1], x[2], x[3]]),
            }
        };
        let (op, resume) = match (p, action) {
            (Pending::Hvc(_), HostAction::Complete) => {
                let r = self.page.hvc;
                (None, Some(Resume::Hvc([r[0], r[1], r[2], r[3]])))
            }
            (Pending::Hvc(x), _) => (None, Some(skipped(Op::Hvc(x)))),
            (Pending::Mmio(Op::Load(l, _)), HostAction::Complete) => {
                let data = self.page.data & stile_guest::device::mask(l.size());
                let value = if self.has(Bug::NoSignExtend) && l.sign_extend() {
                    data
                } else {
                    l.result(data)
                };
                (None, Some(Resume::Loaded(Loaded { value, abort: None })))
            }
            (Pending::Mmio(op), HostAction::InjectAbort)
            | (Pending::Replay(op), HostAction::InjectAbort) => {
                self.stats[2] += 1;
                (None, Some(aborted(op)))
            }
            (Pending::Mmio(op), _) => (None, Some(skipped(op))),
            (Pending::Replay(op), HostAction::Complete) => (Some(op), None),
            (Pending::Replay(op), HostAction::Skip) => (None, Some(skipped(op))),
        };
        if let Some(r) = resume {
            self.answer(r);
        }
        op
    }

    /// One guest op: `None` if handled inside (the guest is answered), else the exit.
    fn step(&mut self, op: Op) -> Option<ExitReason> {
        let clean = RunPage {
            version: self.page.version,
            exit_count: self.page.exit_count,
            host_action: self.page.host_action,
            ..RunPage::default()
        };
        self.page = clean;
        let (addr, write, size) = match op {
            Op::Hvc(x) if x[0] == PSCI_SYSTEM_OFF => {
                self.vcpu = self.vcpu.map(|(e, x0, _)| (e, x0, false));
                self.page.system_event = x[0];
                return Some(ExitReason::SystemEvent);
            }
            Op::Hvc(mut x) => {
                if self.has(Bug::HvcArgsTruncated) {
                    x[4..].fill(0);
                }
                self.page.hvc = x;
                self.pending = Some(Pending::Hvc(x));
                return Some(ExitReason::Hvc);
            }
            Op::Load(l, a) => (a.0, false, l.size()),
            Op::Store(s, a, _) => (a.0, true, s.size()),
            Op::Pair(a) => (a.0, false, 16),
        };
        self.page.ipa = addr;
        self.page.far = addr;
        self.page.access = if write { ACCESS_WRITE } else { ACCESS_READ };
        let Some(slot) = self.slot_at(addr) else {
            if self.has(Bug::GuestSeesHostRam) && !write {
                let value = self.read_mem(addr, 8);
                self.answer(Resume::Loaded(Loaded { value, abort: None }));
                return None;
            }
            self.page.fault_reason = Reason::NoSlot as u64;
            self.page.esr = DABT_LOWER | 0x04;
            self.pending = Some(Pending::Replay(op));
            return Some(ExitReason::MemoryFault);
        };
        if slot.kind == SlotKind::Mmio {
            let (srt, flags, data) = match op {
                Op::Load(l, _) => (
                    l.srt(),
                    (u8::from(l.sign_extend()) * MMIO_SIGN_EXTEND)
                        | (u8::from(l.reg64()) * MMIO_REG64),
                    0,
                ),
                Op::Store(s, _, v) => {
                    let data = if self.has(Bug::WriteDataUnmasked) {
                        v
                    } else {
                        v & stile_guest::device::mask(s.size())
                    };
                    (
                        s.srt(),
                        MMIO_WRITE | (u8::from(s.reg64()) * MMIO_REG64),
                        data,
                    )
                }
                _ => {
                    self.page.esr = DABT_LOWER | 0x06;
                    self.pending = Some(Pending::Replay(op));
                    return Some(ExitReason::Nisv);
                }
            };
            self.page.size = size;
            self.page.srt = if self.has(Bug::WrongSrt) {
                srt + 1
            } else {
                srt
            };
            self.page.flags = flags;
            self.page.data = data;
            self.page.esr = DABT_LOWER | 1 << 24 | 0x06;
            self.pending = Some(Pending::Mmio(op));
            return Some(ExitReason::Mmio);
        }
        let allowed = if write {
            slot.word & PERM_WRITE != 0
        } else {
            slot.word & PERM_READ != 0
        };
        if !allowed {
            self.page.fault_reason = Reason::Permission as u64;
            self.page.size = size;
            self.pending = Some(Pending::Replay(op));
            return Some(ExitReason::MemoryFault);
        }
        if self.mapped.insert(addr / PAGE) {
            if self.has(Bug::LazyFaultsExit) {
                self.mapped.remove(&(addr / PAGE));
                self.page.fault_reason = Reason::NoSlot as u64;
                self.pending = Some(Pending::Replay(op));
                return Some(ExitReason::MemoryFault);
            }
            self.stats[0] += 1;
        }
        let pa = slot.pa + (addr - slot.ipa);
        let resume = match op {
            Op::Load(l, _) => Resume::Loaded(Loaded {
                value: l.result(self.read_mem(pa, l.size().into())),
                abort: None,
            }),
            Op::Store(s, _, v) => {
                let n = usize::from(s.size());
                self.write_mem(pa, &v.to_le_bytes()[..n]);
                Resume::Stored(None)
            }
            Op::Pair(_) => Resume::Pair(LoadedPair {
                first: self.read_mem(pa, 8),
                second: self.read_mem(pa + 8, 8),
                abort: None,
            }),
            Op::Hvc(_) => return None,
        };
        self.answer(resume);
        None
    }
}
