//! The command line.

use crate::numbers;
use crate::slots::SlotSpec;

pub const USAGE: &str = "\
usage: stile-vmm caps
       stile-vmm run --image FILE [--mem SIZE] [--ram-ipa ADDR] [--ram-size SIZE]
                     [--slot SPEC]... [--config FILE] [--cpus N] [--pin] [--x0 VALUE]
                     [--uart ADDR|none] [--checks] [--translate IPA]...
                     [--revoke-after N [--revoke-region PA]]
       stile-vmm region revoke|restore PA
                     [--linux] [--initrd FILE] [--cmdline TEXT]
       stile-vmm fuzz [--seed N] [--count N]

  caps       what this Stile supports, and for each thing it does not, why
  run        load an arm64 Image into a new VM's memory, donate it, run its vCPUs
             (one thread each, pinned to CPU 0, 1, ... with --pin); a PL011 at --uart
             (default 0x9000000) prints the guest's console on stdout
    --mem        VM memory (default 4M; the driver allows up to 4M)
    --ram-ipa    where guest RAM starts (default 0x80000000); the image goes at its
                 text_offset from there
    --ram-size   the RAM slot's size (default: all of --mem)
    --slot       ipa=A,size=S,kind=ram|device|device-nc|cacheable-device|mmio
                 [,backing=OFFSET-or-PA][,perms=rwx][,slot=N][,opt-in][,eager][,on-fault]
    --config     a file of --slot specs, one per line (# comments)
    --checks     the repo's guest payload (make guest): its slots, its protocol, and
                 a `check <name>: ok|FAIL` line per scenario
    --translate  after the run, TRANSLATE these IPAs and print the memory type
    --revoke-after  after N exits, revoke the board region behind the first device
                 slot (or --revoke-region): the guest's next access there exits
                 SLOT_CHANGED; the VMM restores the region, registers the slot again
                 and replays (a device reset behind the VMM's back, end to end)
  region     revoke a board region (by its base PA) from every guest, or restore it
    --linux      boot the image as a Linux kernel: stile-vmm writes a device tree for the
                 VM (RAM, vCPUs with PSCI, timer, GICv3, the PL011, chosen) at the end of
                 guest RAM and enters the kernel with x0 = its address
    --initrd     an initramfs for --linux, placed below the device tree
    --cmdline    the kernel's command line for --linux (at most 2047 bytes)
  fuzz       a seeded loop of random ioctls on /dev/stile (driver robustness)
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    pub image: String,
    pub mem: u64,
    pub ram_ipa: u64,
    pub ram_size: Option<u64>,
    pub slots: Vec<SlotSpec>,
    pub config: Option<String>,
    pub cpus: u32,
    pub pin: bool,
    pub x0: u64,
    pub uart: Option<u64>,
    pub checks: bool,
    pub translate: Vec<u64>,
    pub revoke_after: Option<u64>,
    pub revoke_region: Option<u64>,
    pub linux: bool,
    pub initrd: Option<String>,
    pub cmdline: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Caps,
    /// Boxed: far larger than the other commands.
    Run(Box<RunArgs>),
    Fuzz {
        seed: u64,
        count: u64,
    },
    /// REGION_REVOKE (`restore` false) or REGION_RESTORE.
    Region {
        restore: bool,
        base: u64,
    },
    Help,
}

fn value<'a>(it: &mut impl Iterator<Item = &'a str>, flag: &str) -> Result<&'a str, String> {
    it.next().ok_or_else(|| format!("{flag} needs a value"))
}

fn number<'a>(it: &mut impl Iterator<Item = &'a str>, flag: &str) -> Result<u64, String> {
    let v = value(it, flag)?;
    numbers::parse(v).ok_or_else(|| format!("{flag}: '{v}' is not a number"))
}

pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut it = args.iter().map(String::as_str);
    match it.next() {
        None | Some("-h") | Some("--help") | Some("help") => Ok(Command::Help),
        Some("caps") => match it.next() {
            None => Ok(Command::Caps),
            Some(a) => Err(format!("caps takes no arguments ('{a}')")),
        },
        Some("fuzz") => {
            let (mut seed, mut count) = (1, 10_000);
            while let Some(a) = it.next() {
                match a {
                    "--seed" => seed = number(&mut it, a)?,
                    "--count" => count = number(&mut it, a)?,
                    _ => return Err(format!("fuzz: unknown argument '{a}'")),
                }
            }
            Ok(Command::Fuzz { seed, count })
        }
        Some("region") => {
            let restore = match it.next() {
                Some("revoke") => false,
                Some("restore") => true,
                _ => return Err("region: revoke or restore?".into()),
            };
            let base = number(&mut it, "region")?;
            match it.next() {
                None => Ok(Command::Region { restore, base }),
                Some(a) => Err(format!("region: unknown argument '{a}'")),
            }
        }
        Some("run") => {
            let mut r = RunArgs {
                image: String::new(),
                mem: 4 << 20,
                ram_ipa: 0x8000_0000,
                ram_size: None,
                slots: Vec::new(),
                config: None,
                cpus: 1,
                pin: false,
                x0: 0,
                uart: Some(0x0900_0000),
                checks: false,
                translate: Vec::new(),
                revoke_after: None,
                revoke_region: None,
                linux: false,
                initrd: None,
                cmdline: String::new(),
            };
            while let Some(a) = it.next() {
                match a {
                    "--image" => r.image = value(&mut it, a)?.to_string(),
                    "--mem" => r.mem = number(&mut it, a)?,
                    "--ram-ipa" => r.ram_ipa = number(&mut it, a)?,
                    "--ram-size" => r.ram_size = Some(number(&mut it, a)?),
                    "--slot" => r.slots.push(SlotSpec::parse(value(&mut it, a)?)?),
                    "--config" => r.config = Some(value(&mut it, a)?.to_string()),
                    "--cpus" => {
                        let n = number(&mut it, a)?;
                        if !(1..=4).contains(&n) {
                            return Err("--cpus: Stile gives a guest 1 to 4 vCPUs".into());
                        }
                        r.cpus = n as u32;
                    }
                    "--pin" => r.pin = true,
                    "--x0" => r.x0 = number(&mut it, a)?,
                    "--uart" => {
                        let v = value(&mut it, a)?;
                        r.uart = match v {
                            "none" => None,
                            _ => Some(
                                numbers::parse(v)
                                    .ok_or(format!("--uart: '{v}' is not an address"))?,
                            ),
                        };
                    }
                    "--checks" => r.checks = true,
                    "--translate" => r.translate.push(number(&mut it, a)?),
                    "--revoke-after" => r.revoke_after = Some(number(&mut it, a)?),
                    "--revoke-region" => r.revoke_region = Some(number(&mut it, a)?),
                    "--linux" => r.linux = true,
                    "--initrd" => r.initrd = Some(value(&mut it, a)?.to_string()),
                    "--cmdline" => r.cmdline = value(&mut it, a)?.to_string(),
                    _ => return Err(format!("run: unknown argument '{a}'")),
                }
            }
            if r.image.is_empty() {
                return Err("run needs --image FILE".into());
            }
            if (r.initrd.is_some() || !r.cmdline.is_empty()) && !r.linux {
                return Err("--initrd and --cmdline are for a Linux guest: add --linux".into());
            }
            if r.checks && r.linux {
                return Err("--checks runs the guest payload, not a Linux kernel".into());
            }
            if r.checks && r.cpus != 1 {
                return Err("--checks runs the guest payload on one vCPU".into());
            }
            if r.revoke_region.is_some() && r.revoke_after.is_none() {
                return Err("--revoke-region goes with --revoke-after".into());
            }
            Ok(Command::Run(Box::new(r)))
        }
        Some(c) => Err(format!("unknown command '{c}'")),
    }
}

/// The slot specs of a config file: one per line, `#` starts a comment.
pub fn parse_config(text: &str) -> Result<Vec<SlotSpec>, String> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| SlotSpec::parse(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn run_takes_every_flag() {
        let c = parse(&args("run --image g.bin --mem 2M --ram-ipa 0x40000000 --ram-size 1M --slot ipa=0x9000000,size=4K,kind=mmio --cpus 2 --pin --x0 0x44 --uart none --translate 0x40000000 --linux --initrd i.cpio --cmdline console=ttyAMA0")).unwrap();
        let Command::Run(r) = c else { panic!("{c:?}") };
        assert_eq!(r.image, "g.bin");
        assert_eq!(
            (r.mem, r.ram_ipa, r.ram_size),
            (2 << 20, 0x4000_0000, Some(1 << 20))
        );
        assert_eq!((r.cpus, r.pin, r.x0, r.uart), (2, true, 0x44, None));
        assert_eq!(r.slots.len(), 1);
        assert_eq!(r.translate, [0x4000_0000]);
        assert_eq!(
            (r.linux, r.initrd.as_deref(), r.cmdline.as_str()),
            (true, Some("i.cpio"), "console=ttyAMA0")
        );
    }

    #[test]
    fn run_defaults_give_a_4m_vm_with_a_pl011() {
        let Command::Run(r) = parse(&args("run --image g.bin")).unwrap() else {
            panic!()
        };
        assert_eq!(
            (r.mem, r.ram_ipa, r.cpus, r.uart),
            (4 << 20, 0x8000_0000, 1, Some(0x0900_0000))
        );
    }

    #[test]
    fn mistakes_are_named() {
        for (line, why) in [
            ("run", "needs --image"),
            ("run --image", "needs a value"),
            ("run --image g --mem lots", "not a number"),
            ("run --image g --cpus 5", "1 to 4"),
            ("run --image g --checks --cpus 2", "one vCPU"),
            ("run --image g --slot ipa=1", "needs at least"),
            ("run --image g --bogus", "unknown argument"),
            ("run --image g --initrd i", "add --linux"),
            ("run --image g --linux --checks", "not a Linux kernel"),
            ("caps now", "no arguments"),
            ("region", "revoke or restore"),
            ("region revoke", "needs a value"),
            ("region restore 0x7b000000 now", "unknown argument"),
            (
                "run --image g --revoke-region 0x7b000000",
                "goes with --revoke-after",
            ),
            ("dance", "unknown command"),
        ] {
            let e = parse(&args(line)).unwrap_err();
            assert!(e.contains(why), "{line}: {e}");
        }
    }

    #[test]
    fn region_and_revoke_after() {
        assert_eq!(
            parse(&args("region revoke 0x7b000000")),
            Ok(Command::Region {
                restore: false,
                base: 0x7b00_0000
            })
        );
        assert_eq!(
            parse(&args("region restore 0x7c000000")),
            Ok(Command::Region {
                restore: true,
                base: 0x7c00_0000
            })
        );
        let c = parse(&args(
            "run --image g --revoke-after 3 --revoke-region 0x7b000000",
        ));
        let Ok(Command::Run(r)) = c else {
            panic!("{c:?}")
        };
        assert_eq!(
            (r.revoke_after, r.revoke_region),
            (Some(3), Some(0x7b00_0000))
        );
    }

    #[test]
    fn caps_fuzz_and_help() {
        assert_eq!(parse(&args("caps")), Ok(Command::Caps));
        assert_eq!(parse(&args("")), Ok(Command::Help));
        assert_eq!(
            parse(&args("fuzz --seed 7 --count 20000")),
            Ok(Command::Fuzz {
                seed: 7,
                count: 20000
            })
        );
        assert_eq!(
            parse(&args("fuzz")),
            Ok(Command::Fuzz {
                seed: 1,
                count: 10_000
            })
        );
    }

    #[test]
    fn config_files_are_slot_specs_with_comments() {
        let s = parse_config("# board\nipa=0xA0000000,size=64K,kind=device,backing=0x50000000 # uart\n\nipa=0x90000000,size=4K,kind=ram,on-fault\n").unwrap();
        assert_eq!(s.len(), 2);
        assert!(parse_config("\nipa=1").unwrap_err().starts_with("line 2:"));
    }
}
