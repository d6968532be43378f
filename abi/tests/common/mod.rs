//! The ABI as data, read from the `stile-abi` crate: every constant a C host needs (with the
//! C name it gets) and the run page's fields with their offsets. The C header
//! (`tests/c_header.rs`) and the checks on docs/ABI.md (`tests/abi_doc.rs`) are built from
//! this, so neither can say something the crate does not.
//!
//! Where the crate has no list to iterate (`Status`, `SlotKind`, `HostAction`, the run page's
//! fields), the list here is written so that it stops compiling when the crate gains a
//! variant or a field: see [`every_variant!`] and [`run_page_fields`].
#![allow(dead_code)] // each test binary uses its own part of the model

use core::mem::{offset_of, size_of, size_of_val};
use stile_abi::run_page::{self, ExitReason, HostAction, RunPage};
use stile_abi::slot::{self, SlotKind};
use stile_abi::{caps, Function, Reason, Status};

/// The C type a constant has (decides its literal suffix and how the C probe prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A 32-bit register value or field: `u` suffix.
    U32,
    /// A 64-bit value: `ull` suffix.
    U64,
    /// A signed 64-bit value (SMCCC status): `ll` suffix.
    I64,
}

/// How a constant's value is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Dec,
    Hex,
    /// A single bit, spelled `(1u << n)` or `(1ull << n)`.
    Bit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Const {
    /// The C name, `STILE_...`.
    pub name: String,
    /// The value's bits (a negative status as its two's complement).
    pub value: u64,
    pub ty: Ty,
    pub form: Form,
    /// The ABI's own name for it (`"NEEDS_FWB"`, `"device-nc"`), which the group's name
    /// function returns.
    pub label: Option<String>,
}

impl Const {
    fn new(name: String, value: u64, ty: Ty, form: Form) -> Const {
        Const {
            name,
            value,
            ty,
            form,
            label: None,
        }
    }

    fn labelled(mut self, label: &str) -> Const {
        self.label = Some(label.to_string());
        self
    }

    /// The C literal.
    pub fn literal(&self) -> String {
        match (self.ty, self.form) {
            (Ty::I64, _) => {
                let v = self.value as i64;
                if v < 0 {
                    format!("({v}ll)")
                } else {
                    format!("{v}ll")
                }
            }
            (ty, Form::Bit) => {
                assert!(self.value.is_power_of_two(), "{} is not one bit", self.name);
                let one = if ty == Ty::U32 { "1u" } else { "1ull" };
                format!("({one} << {})", self.value.trailing_zeros())
            }
            (Ty::U32, Form::Hex) => format!("0x{:08x}u", self.value),
            (Ty::U32, Form::Dec) => format!("{}u", self.value),
            (Ty::U64, Form::Hex) => format!("0x{:x}ull", self.value),
            (Ty::U64, Form::Dec) => format!("{}ull", self.value),
        }
    }
}

/// A `static inline const char *<name>(<arg> v)` returning the label of the group's
/// constant equal to `v`, or NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameFn {
    pub name: &'static str,
    pub arg: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub title: &'static str,
    /// Comment lines under the title.
    pub note: Vec<String>,
    pub consts: Vec<Const>,
    pub name_fn: Option<NameFn>,
}

fn lines(l: &[&str]) -> Vec<String> {
    l.iter().map(|s| s.to_string()).collect()
}

/// Each call's registers, for the header (docs/ABI.md has the whole contract). Stops
/// compiling when a call is added until it is described here.
pub fn signature(f: Function) -> &'static str {
    match f {
        Function::Translate => {
            "TRANSLATE(x1 vm, x2 address) -> x1 PA, x2 PAR_EL1.ATTR, x3 stage-2 attribute bits"
        }
        Function::GetCaps => "GET_CAPS() -> x1 STILE_CAP_* bits, x2 reason bytes",
        Function::Stats => "STATS(x1 vm) -> x1 faults mapped in EL2, x2 exits, x3 aborts injected",
        Function::VmCreate => "VM_CREATE(x1 RAM PA, x2 RAM size, x3 flags = 0) -> x1 vm",
        Function::VmDestroy => "VM_DESTROY(x1 vm)",
        Function::VcpuCreate => {
            "VCPU_CREATE(x1 vm, x2 entry IPA, x3 run page PA, x4 guest x0) -> x1 vcpu"
        }
        Function::VcpuRun => "VCPU_RUN(x1 vm, x2 vcpu) -> x1 STILE_EXIT_*",
        Function::MemslotSet => {
            "MEMSLOT_SET(x1 vm, x2 slot, x3 IPA, x4 PA, x5 size, x6 descriptor word)"
        }
        Function::MemslotClear => "MEMSLOT_CLEAR(x1 vm, x2 slot)",
        Function::RegionRevoke => "REGION_REVOKE(x1 region base PA) -> x1 slots unmapped, x2 VMs",
        Function::RegionRestore => "REGION_RESTORE(x1 region base PA)",
        Function::VgicConfig => {
            "VGIC_CONFIG(x1 vm, x2 GICD IPA, x3 GICR IPA; on a GICv2 machine the GICC IPA)"
        }
        Function::IrqLine => "IRQ_LINE(x1 vm, x2 SPI INTID, x3 level 0/1)",
        Function::VcpuPending => {
            "VCPU_PENDING(x1 vm, x2 vcpu) -> x1 pending 0/1, x2 INTID, x3 timer deadline"
        }
    }
}

/// `SCREAMING_SNAKE` from a Rust `CamelCase` variant name.
pub fn screaming(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// `[Enum::A, Enum::B, ...]` — and a compile error here when `Enum` gains a variant that
/// the list does not name (the closure's `match` must be exhaustive).
macro_rules! every_variant {
    ($ty:ident { $($v:ident),* $(,)? }) => {{
        let _exhaustive = |x: $ty| match x {
            $($ty::$v => ()),*
        };
        [$(($ty::$v, stringify!($v))),*]
    }};
}

/// `Const`s named `STILE_<prefix><IDENT>` from crate constants, e.g.
/// `idents!(U64, Bit, "SLOT_", slot::PERM_READ)`.
macro_rules! idents {
    ($ty:ident, $form:ident, $prefix:literal, $($path:ident)::+) => {
        Const::new(
            format!("STILE_{}{}", $prefix, last_ident(stringify!($($path)::+))),
            $($path)::+ as u64,
            Ty::$ty,
            Form::$form,
        )
    };
}

fn last_ident(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path).trim()
}

pub fn statuses() -> [(Status, &'static str); 4] {
    every_variant!(Status {
        Success,
        NotSupported,
        InvalidParameters,
        Denied
    })
}

pub fn slot_kinds() -> [(SlotKind, &'static str); 5] {
    every_variant!(SlotKind {
        Ram,
        Device,
        DeviceNc,
        CacheableDevice,
        Mmio
    })
}

pub fn host_actions() -> [(HostAction, &'static str); 3] {
    every_variant!(HostAction {
        Complete,
        Skip,
        InjectAbort
    })
}

/// The C name of a slot kind: its ABI name in capitals, `-` as `_`.
pub fn slot_kind_c_name(k: SlotKind) -> String {
    format!(
        "STILE_SLOT_KIND_{}",
        k.name().to_uppercase().replace('-', "_")
    )
}

/// Every constant of the ABI, in header order.
pub fn groups() -> Vec<Group> {
    let mut g = Vec::new();

    let mut fns = vec![
        idents!(U32, Hex, "", stile_abi::FN_BASE),
        Const::new(
            "STILE_FN_CALL_UID".into(),
            stile_abi::FN_CALL_UID as u64,
            Ty::U32,
            Form::Hex,
        )
        .labelled("CALL_UID"),
        Const::new(
            "STILE_FN_REVISION".into(),
            stile_abi::FN_REVISION as u64,
            Ty::U32,
            Form::Hex,
        )
        .labelled("REVISION"),
    ];
    for f in Function::ALL {
        fns.push(
            Const::new(
                format!("STILE_FN_{}", f.name()),
                f as u64,
                Ty::U32,
                Form::Hex,
            )
            .labelled(f.name()),
        );
    }
    g.push(Group {
        title: "Function IDs (x0 of the HVC): SMCCC fast calls",
        note: {
            let mut n = lines(&[
                "Stile's own calls are SMC64 calls of the vendor-specific hypervisor service",
                "(STILE_FN_BASE | n); CALL_UID and REVISION are the standard SMC32 queries.",
                "On return x0 = STILE_STATUS_*, with an error x1 = STILE_REASON_*.",
                "",
            ]);
            n.extend(Function::ALL.iter().map(|f| format!("  {}", signature(*f))));
            n
        },
        consts: fns,
        name_fn: Some(NameFn {
            name: "stile_fn_name",
            arg: "uint32_t",
        }),
    });

    let mut ident = Vec::new();
    for (i, w) in stile_abi::UID.iter().enumerate() {
        ident.push(Const::new(
            format!("STILE_UID_{i}"),
            *w as u64,
            Ty::U32,
            Form::Hex,
        ));
    }
    ident.push(Const::new(
        "STILE_REVISION_MAJOR".into(),
        stile_abi::REVISION.0 as u64,
        Ty::U32,
        Form::Dec,
    ));
    ident.push(Const::new(
        "STILE_REVISION_MINOR".into(),
        stile_abi::REVISION.1 as u64,
        Ty::U32,
        Form::Dec,
    ));
    g.push(Group {
        title:
            "CALL_UID answers STILE_UID_0..3 in w0..w3; REVISION answers major in x0, minor in x1",
        note: lines(&["A host should refuse a different major revision."]),
        consts: ident,
        name_fn: None,
    });

    g.push(Group {
        title: "Status (x0 on return): signed 64-bit",
        note: lines(&["With an error status, x1 holds a reason code (STILE_REASON_*)."]),
        consts: statuses()
            .iter()
            .map(|(s, _)| {
                Const::new(
                    format!("STILE_STATUS_{}", s.name()),
                    s.as_u64(),
                    Ty::I64,
                    Form::Dec,
                )
                .labelled(s.name())
            })
            .collect(),
        name_fn: Some(NameFn {
            name: "stile_status_name",
            arg: "int64_t",
        }),
    });

    g.push(Group {
        title: "Reason codes: why a call was refused or a fault was not handled",
        note: lines(&[
            "In x1 with an error status, in the run page's fault_reason, and one per byte in",
            "GET_CAPS' x2. Logs print the same names: `stile: error: ... (NEEDS_FWB)`.",
        ]),
        consts: Reason::ALL
            .iter()
            .map(|r| {
                Const::new(
                    format!("STILE_REASON_{}", r.name()),
                    *r as u64,
                    Ty::U64,
                    Form::Dec,
                )
                .labelled(r.name())
            })
            .collect(),
        name_fn: Some(NameFn {
            name: "stile_reason_name",
            arg: "uint64_t",
        }),
    });

    g.push(Group {
        title: "GET_CAPS capability bits (x1)",
        note: lines(&[
            "For each bit n that is off, byte n of x2 is the reason (stile_cap_reason()).",
        ]),
        consts: caps::ALL
            .iter()
            .map(|(bit, name)| {
                Const::new(format!("STILE_CAP_{name}"), *bit, Ty::U64, Form::Bit).labelled(name)
            })
            .collect(),
        name_fn: Some(NameFn {
            name: "stile_cap_name",
            arg: "uint64_t",
        }),
    });

    g.push(Group {
        title: "MEMSLOT_SET descriptor word (x6): slot kinds, bits [7:0]",
        note: Vec::new(),
        consts: slot_kinds()
            .iter()
            .map(|(k, _)| {
                Const::new(slot_kind_c_name(*k), *k as u64, Ty::U64, Form::Dec).labelled(k.name())
            })
            .collect(),
        name_fn: Some(NameFn {
            name: "stile_slot_kind_name",
            arg: "uint64_t",
        }),
    });

    g.push(Group {
        title: "MEMSLOT_SET descriptor word (x6): permissions [10:8], flags from bit 16",
        note: lines(&["Any bit outside STILE_SLOT_KNOWN_BITS is refused (BAD_ARGUMENT)."]),
        consts: vec![
            Const::new("STILE_SLOT_KIND_MASK".into(), 0xff, Ty::U64, Form::Hex),
            idents!(U64, Bit, "SLOT_", slot::PERM_READ),
            idents!(U64, Bit, "SLOT_", slot::PERM_WRITE),
            idents!(U64, Bit, "SLOT_", slot::PERM_EXEC),
            idents!(U64, Bit, "SLOT_", slot::FLAG_CACHEABLE_OPT_IN),
            idents!(U64, Bit, "SLOT_", slot::FLAG_EAGER),
            idents!(U64, Hex, "SLOT_", slot::KNOWN_BITS),
        ],
        name_fn: None,
    });

    g.push(Group {
        title: "VCPU_CREATE flags (x5)",
        note: lines(&["Any other bit is refused (BAD_ARGUMENT)."]),
        consts: vec![
            idents!(U64, Bit, "VCPU_", stile_abi::vcpu::START_OFF),
            idents!(U64, Hex, "VCPU_", stile_abi::vcpu::KNOWN_FLAGS),
        ],
        name_fn: None,
    });

    g.push(Group {
        title: "VCPU_RUN exit reasons (x1 on return; run page exit_reason)",
        note: Vec::new(),
        consts: ExitReason::ALL
            .iter()
            .map(|e| {
                Const::new(
                    format!("STILE_EXIT_{}", e.name()),
                    *e as u64,
                    Ty::U32,
                    Form::Dec,
                )
                .labelled(e.name())
            })
            .collect(),
        name_fn: Some(NameFn {
            name: "stile_exit_reason_name",
            arg: "uint32_t",
        }),
    });

    g.push(Group {
        title: "What the next VCPU_RUN does with the exited instruction (run page host_action)",
        note: lines(&[
            "The host writes one before VCPU_RUN; Stile resets it to COMPLETE afterwards.",
        ]),
        consts: host_actions()
            .iter()
            .map(|(a, v)| {
                let name = screaming(v);
                Const::new(
                    format!("STILE_HOST_ACTION_{name}"),
                    *a as u64,
                    Ty::U32,
                    Form::Dec,
                )
                .labelled(&name)
            })
            .collect(),
        name_fn: None,
    });

    g.push(Group {
        title: "Run page: access values, MMIO flag bits, layout version",
        note: Vec::new(),
        consts: vec![
            idents!(U32, Dec, "", run_page::ACCESS_READ),
            idents!(U32, Dec, "", run_page::ACCESS_WRITE),
            idents!(U32, Dec, "", run_page::ACCESS_EXEC),
            idents!(U32, Bit, "", run_page::MMIO_WRITE),
            idents!(U32, Bit, "", run_page::MMIO_SIGN_EXTEND),
            idents!(U32, Bit, "", run_page::MMIO_REG64),
            idents!(U32, Dec, "", run_page::RUN_PAGE_VERSION),
        ],
        name_fn: None,
    });

    g.push(Group {
        title: "Limits of this revision (exceeding one is refused with LIMIT)",
        note: lines(&[
            "Addresses and sizes in VM_CREATE, VCPU_CREATE and MEMSLOT_SET are multiples of",
            "STILE_PAGE_SIZE; a run page is one page of host RAM the host maps Normal-WB.",
        ]),
        consts: vec![
            idents!(U64, Dec, "", stile_abi::limits::MAX_GUESTS),
            idents!(U64, Dec, "", stile_abi::limits::MAX_VCPUS),
            idents!(U64, Dec, "", stile_abi::limits::MAX_SLOTS),
            idents!(U64, Dec, "", stile_abi::limits::PAGE_SIZE),
            idents!(U64, Dec, "", stile_abi::limits::RUN_PAGE_SIZE),
        ],
        name_fn: None,
    });

    g.push(Group {
        title: "PSCI and SMCCC architecture function IDs (Arm DEN0022, DEN0028)",
        note: lines(&[
            "What a guest may call over HVC/SMC, and what Stile relays for the host:",
            "docs/ABI.md. The _64 IDs are the SMC64 forms.",
        ]),
        consts: stile_abi::psci::ALL
            .iter()
            .map(|(id, name)| {
                let c_name = match *id {
                    stile_abi::psci::PSCI_CPU_SUSPEND_64
                    | stile_abi::psci::PSCI_CPU_ON_64
                    | stile_abi::psci::PSCI_AFFINITY_INFO_64
                    | stile_abi::psci::PSCI_SYSTEM_RESET2_64 => format!("STILE_PSCI_{name}_64"),
                    _ if name.starts_with("PSCI_") || name.starts_with("SMCCC_") => {
                        format!("STILE_{name}")
                    }
                    _ => format!("STILE_PSCI_{name}"),
                };
                Const::new(c_name, *id as u64, Ty::U32, Form::Hex).labelled(name)
            })
            .collect(),
        name_fn: Some(NameFn {
            name: "stile_psci_fn_name",
            arg: "uint32_t",
        }),
    });

    g
}

/// One field of [`RunPage`] as C declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
    /// `uint64_t`, ...
    pub c_type: &'static str,
    /// `Some(n)` for an array of `n` elements.
    pub len: Option<usize>,
    pub comment: &'static str,
}

/// The C type of a Rust field type.
pub trait CType {
    const C: &'static str;
    const LEN: Option<usize> = None;
}
impl CType for u8 {
    const C: &'static str = "uint8_t";
}
impl CType for u16 {
    const C: &'static str = "uint16_t";
}
impl CType for u32 {
    const C: &'static str = "uint32_t";
}
impl CType for u64 {
    const C: &'static str = "uint64_t";
}
impl<const N: usize> CType for [u64; N] {
    const C: &'static str = "uint64_t";
    const LEN: Option<usize> = Some(N);
}

fn c_type_of<T: CType>(get: fn(&RunPage) -> &T) -> (&'static str, Option<usize>, usize) {
    let p = RunPage::default();
    (T::C, T::LEN, size_of_val(get(&p)))
}

macro_rules! fields {
    ($($f:ident: $comment:literal),* $(,)?) => {{
        // Stops compiling when RunPage gains or loses a field: list it here too.
        let RunPage { $($f: _),* } = RunPage::default();
        vec![$({
            let (c_type, len, size) = c_type_of(|p: &RunPage| &p.$f);
            Field { name: stringify!($f), offset: offset_of!(RunPage, $f), size, c_type, len, comment: $comment }
        }),*]
    }};
}

/// Every field of the run page, in memory order.
pub fn run_page_fields() -> Vec<Field> {
    let mut f = fields!(
        version: "STILE_RUN_PAGE_VERSION",
        exit_reason: "STILE_EXIT_*",
        esr: "ESR_EL2 of the exit",
        far: "FAR_EL2 of the exit",
        hpfar: "HPFAR_EL2 of the exit",
        ipa: "faulting IPA (aborts)",
        pc: "guest PC of the exiting instruction",
        fault_reason: "STILE_REASON_* (MEMORY_FAULT)",
        access: "STILE_ACCESS_*",
        size: "access size in bytes, 0 if unknown",
        srt: "register of an MMIO access (31 = xzr)",
        flags: "STILE_MMIO_* bits",
        host_action: "host writes: STILE_HOST_ACTION_*",
        data: "MMIO: value written; host writes the value to load",
        hvc: "HVC: guest x0..x7; host writes results to hvc[0..3]",
        system_event: "SYSTEM_EVENT: PSCI function ID",
        exit_count: "exits of this vCPU so far",
    );
    f.sort_by_key(|f| f.offset);
    f
}

pub const RUN_PAGE_SIZE: usize = size_of::<RunPage>();
