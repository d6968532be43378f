//! Edge tests of the syndrome decoder: each field read from exactly its bits, on and off
//! alone, and every class and fault-status family at its boundaries (mutation testing,
//! docs/FUZZING.md).

use super::*;

/// Every bit of ESR_EL2 set but `bit`.
fn all_but(bit: u32) -> Esr {
    Esr(!(1u64 << bit) & 0xffff_ffff)
}

/// A one-bit field's reader.
type Flag = fn(Esr) -> bool;

#[test]
fn each_flag_is_its_own_bit_alone() {
    let flags: [(u32, Flag); 6] = [
        (25, Esr::il),
        (24, Esr::isv),
        (21, Esr::sse),
        (15, Esr::sf),
        (7, Esr::s1ptw),
        (6, Esr::wnr),
    ];
    for (bit, read) in flags {
        assert!(read(Esr(1 << bit)), "bit {bit} alone");
        assert!(!read(Esr(0)), "bit {bit} clear, nothing set");
        assert!(!read(all_but(bit)), "bit {bit} clear, every other set");
    }
}

#[test]
fn iss_is_the_low_25_bits() {
    assert_eq!(Esr(0).iss(), 0);
    assert_eq!(Esr(u64::MAX).iss(), 0x1ff_ffff);
    assert_eq!(Esr(1 << 25 | 0x12_3456).iss(), 0x12_3456);
    assert_eq!(Esr(0x24 << 26 | 2).iss(), 2);
}

#[test]
fn fields_take_their_bits_and_no_neighbours() {
    assert_eq!(Esr(0x1f << 16).srt(), 31);
    assert_eq!(Esr(!(0x1f << 16)).srt(), 0);
    assert_eq!(Esr(3 << 22).sas_bytes(), 8);
    assert_eq!(Esr(!(3 << 22)).sas_bytes(), 1);
    assert_eq!(Esr(1 << 22).sas_bytes(), 2);
    assert_eq!(Esr(0x3f).fsc(), 0x3f);
    assert_eq!(Esr(!0x3f).fsc(), 0);
    assert_eq!(Esr(0x3f << 26).ec_raw(), 0x3f);
    assert_eq!(Esr(!(0x3fu64 << 26)).ec_raw(), 0);
    assert_eq!(Esr(0x0e).fault_level(), 2);
    assert_eq!(Esr(0x0c).fault_level(), 0);
}

#[test]
fn every_named_class_and_its_neighbours() {
    use ExceptionClass as C;
    let named = [
        (0x00, C::Unknown),
        (0x01, C::WfiWfe),
        (0x0e, C::IllegalState),
        (0x15, C::Svc64),
        (0x16, C::Hvc64),
        (0x17, C::Smc64),
        (0x18, C::SysReg),
        (0x20, C::InstAbortLower),
        (0x21, C::InstAbortSame),
        (0x22, C::PcAlignment),
        (0x24, C::DataAbortLower),
        (0x25, C::DataAbortSame),
        (0x26, C::SpAlignment),
        (0x2f, C::SError),
        (0x3c, C::Brk),
    ];
    for ec in 0u8..0x40 {
        let want = named
            .iter()
            .find(|(n, _)| *n == ec)
            .map_or(C::Other(ec), |(_, c)| *c);
        assert_eq!(Esr(u64::from(ec) << 26).ec(), want, "EC {ec:#x}");
    }
}

#[test]
fn only_the_four_abort_classes_are_aborts() {
    for ec in 0u64..0x40 {
        let want = matches!(ec, 0x20 | 0x21 | 0x24 | 0x25);
        assert_eq!(Esr(ec << 26).is_abort(), want, "EC {ec:#x}");
    }
}

#[test]
fn fault_status_families_end_where_the_arm_arm_says() {
    let n = |fsc: u64| Esr(fsc).fsc_name();
    for (fsc, name) in [
        (0x00, "address size fault"),
        (0x03, "address size fault"),
        (0x04, "translation fault"),
        (0x07, "translation fault"),
        (0x08, "access flag fault"),
        (0x0b, "access flag fault"),
        (0x0c, "permission fault"),
        (0x0f, "permission fault"),
        (0x10, "synchronous external abort"),
        (0x11, "other fault"),
        (0x20, "other fault"),
        (0x21, "alignment fault"),
        (0x22, "other fault"),
    ] {
        assert_eq!(n(fsc), name, "FSC {fsc:#x}");
    }
}

#[test]
fn every_class_has_its_words() {
    use ExceptionClass as C;
    for (c, words) in [
        (C::Unknown, "unknown reason"),
        (C::WfiWfe, "WFI/WFE"),
        (C::IllegalState, "illegal execution state"),
        (C::Svc64, "SVC"),
        (C::Hvc64, "HVC"),
        (C::Smc64, "SMC"),
        (C::SysReg, "MSR/MRS trap"),
        (C::InstAbortLower, "instruction abort from lower EL"),
        (C::InstAbortSame, "instruction abort at EL2"),
        (C::PcAlignment, "PC alignment fault"),
        (C::DataAbortLower, "data abort from lower EL"),
        (C::DataAbortSame, "data abort at EL2"),
        (C::SpAlignment, "SP alignment fault"),
        (C::SError, "SError"),
        (C::Brk, "BRK"),
        (C::Other(0x3f), "EC 0x3f"),
    ] {
        assert_eq!(c.to_string(), words);
    }
}

#[test]
fn aborts_print_their_access_and_others_do_not() {
    let write_isv = Esr(0x24 << 26 | 1 << 24 | 3 << 22 | 7 << 16 | 1 << 6 | 0x05);
    assert_eq!(
        write_isv.to_string(),
        format!(
            "ESR {:#x}: data abort from lower EL, translation fault level 1, write of 8 bytes \
             via x7",
            write_isv.0
        )
    );
    // An instruction abort has no read/write, a data abort without ISV no size.
    let fetch = Esr(0x20 << 26 | 1 << 6 | 0x0d);
    assert_eq!(
        fetch.to_string(),
        format!(
            "ESR {:#x}: instruction abort from lower EL, permission fault level 1",
            fetch.0
        )
    );
    let no_isv = Esr(0x24 << 26 | 3 << 22 | 0x06);
    assert_eq!(
        no_isv.to_string(),
        format!(
            "ESR {:#x}: data abort from lower EL, translation fault level 2, read",
            no_isv.0
        )
    );
    // A class that is no abort prints no fault status, whatever its ISS holds.
    let hvc = Esr(0x16 << 26 | 0x07);
    assert_eq!(hvc.to_string(), format!("ESR {:#x}: HVC", hvc.0));
}
