//! The case table's own rules: the matrix is complete, names unique, every boot guarded.

use super::*;

#[test]
fn the_matrix_has_twelve_boots_plus_the_special_cases() {
    assert!(CASES.len() >= 14);
    for cpu in ["max", "cortex-a72", "cortex-a57"] {
        for gic in [2, 3] {
            for smp in [1, 4] {
                let name = format!("boot-{cpu}-gicv{gic}-smp{smp}");
                let case = CASES.iter().find(|c| c.name == name).expect(&name);
                assert_eq!((case.cpu, case.gic, case.smp), (cpu, gic, smp));
                let fwb = u8::from(cpu == "max");
                assert!(case.expect.contains(&Expect::CpuFeatures { fwb }), "{name}");
                let cpus = format!("stile: cpus: {smp}");
                assert!(case
                    .expect
                    .iter()
                    .any(|e| matches!(e, Expect::Starts(p) if *p == cpus)));
            }
        }
    }
}

#[test]
fn names_are_unique() {
    let mut names: Vec<_> = all().map(|c| c.name).collect();
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count);
}

#[test]
fn every_boot_forbids_errors_and_panics() {
    for c in all()
        .filter(|c| c.load == Load::Kernel && c.extra_args.is_empty() && c.initrd == Initrd::Host)
    {
        assert!(
            c.expect.contains(&Expect::Never("stile: fatal:")),
            "{}",
            c.name
        );
        assert!(c.expect.contains(&HOST_ALL_PASSED), "{}", c.name);
    }
}

#[test]
fn the_512m_boot_expects_512_mib() {
    let c = select(Some("boot-512m"));
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].mem, "512M");
    assert!(c[0].expect.contains(&Expect::Starts("stile: ram: 512 MiB")));
}

#[test]
fn filter_selects_by_substring() {
    assert_eq!(select(None).len(), all().count());
    assert_eq!(select(Some("boot-cortex-a57")).len(), 4);
    assert_eq!(select(Some("smp4")).len(), 6);
    assert!(select(Some("nothing-like-this")).is_empty());
}

#[test]
fn kernel_boot_command_line() {
    let c = select(Some("boot-cortex-a72-gicv2-smp4"))[0];
    let args: Vec<_> = c.qemu_args(Path::new("b/stile.bin"), None);
    let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
    assert_eq!(
        args.join(" "),
        "-M virt,virtualization=on,gic-version=2 -cpu cortex-a72 -smp 4 -m 1G \
         -nographic -no-reboot -serial stdio -monitor none -kernel b/stile.bin"
    );
}

#[test]
fn the_bench_smoke_boot_runs_a_quick_bench_under_icount() {
    let c = select(Some("bench-smoke"))[0];
    let args = c.qemu_args(Path::new("s.bin"), Some(Path::new("h.bin")));
    let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
    assert!(args
        .join(" ")
        .ends_with("-initrd h.bin -append bench=100 -icount shift=0,sleep=off"));
    assert!(c.expect.contains(&Expect::Never(HOST_CHECK_FAILED)));
    // Every metric, but no figure: the smoke test holds no thresholds.
    assert!(!c
        .expect
        .iter()
        .any(|e| matches!(e, Expect::NumberAtMost { .. })));
}

#[test]
fn no_dtb_boot_loads_the_elf_without_kernel() {
    let c = select(Some("no-dtb"))[0];
    assert_eq!(
        c.image(Path::new("x.bin"), Path::new("x.elf")),
        PathBuf::from("x.elf")
    );
    let args = c.qemu_args(Path::new("x.elf"), None);
    assert!(args.contains(&"loader,file=x.elf,cpu-num=0".into()));
    assert!(!args.contains(&"-kernel".into()));
    assert_eq!(c.max_secs, Some(10));
    assert_eq!(c.exit, ExitRule::AnyStatus);
}

#[test]
fn the_ipi_checks_are_wanted_wherever_two_cpus_share_a_gicv3() {
    let ok = Expect::Starts("check vgic-ipi-across-cpus: ok");
    let at_traps = Expect::Starts("check vgic-ipi-at-traps-across-cpus: ok");
    for c in CASES
        .iter()
        .filter(|c| c.name.starts_with("boot-") || c.name.starts_with("guests-"))
    {
        if c.load != Load::Kernel || c.name == "boot-512m" {
            continue;
        }
        let wanted = c.smp > 1 && c.gic == 3;
        assert_eq!(c.expect.contains(&ok), wanted, "{}", c.name);
        assert_eq!(c.expect.contains(&at_traps), wanted, "{}", c.name);
        if c.smp > 1 {
            assert_eq!(c.max_secs, Some(60), "{}", c.name);
        }
    }
    assert_eq!(
        select(Some("guests-"))
            .iter()
            .filter(|c| c.smp == 2)
            .count(),
        4
    );
}
