//! stile-vmm: the command line around the library (see `stile-vmm --help`).

#[cfg(target_os = "linux")]
mod fuzz;
mod guest_load;
#[cfg(target_os = "linux")]
mod vmm;

use stile_vmm::args::{self, Command};

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match args::parse(&argv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stile-vmm: {e}\n{}", args::USAGE);
            std::process::exit(2);
        }
    };
    let code = match cmd {
        Command::Help => {
            print!("{}", args::USAGE);
            0
        }
        #[cfg(target_os = "linux")]
        Command::Caps => vmm::caps(),
        #[cfg(target_os = "linux")]
        Command::Run(r) => vmm::run(&r),
        #[cfg(target_os = "linux")]
        Command::Region { restore, base } => vmm::region(restore, base),
        #[cfg(target_os = "linux")]
        Command::Fuzz { seed, count } => fuzz::run(seed, count),
        #[cfg(not(target_os = "linux"))]
        _ => {
            eprintln!("stile-vmm: /dev/stile exists only on Linux");
            1
        }
    };
    std::process::exit(code);
}
