//! `fuzz`: a hostile userspace for the driver. A seeded loop of random ioctls (real ones
//! with random arguments, and random command numbers), random mmaps, and fds opened and
//! closed at random. The kernel must answer each with a value, never an oops; afterwards
//! every VM must be gone: the loop ends by creating Stile's maximum of 8 VMs at once.

use stile_vmm::dev::Device;
use stile_vmm::uapi;

/// xorshift64*: the same seed, the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A value that is often interesting: small, page-ish, a board address, or anything.
    fn arg(&mut self) -> u64 {
        match self.below(6) {
            0 => self.below(20),
            1 => self.below(1025) * 4096,
            2 => 0x0900_0000 + self.below(16) * 0x1000,
            3 => 0x8000_0000 + self.below(1024) * 0x1000,
            4 => u64::MAX - self.below(4),
            _ => self.next(),
        }
    }
}

pub fn run(seed: u64, count: u64) -> i32 {
    let mut rng = Rng(seed.max(1));
    let mut fds: Vec<Device> = Vec::new();
    let (mut ok, mut refused, mut mmaps) = (0u64, 0u64, 0u64);
    for _ in 0..count {
        if fds.is_empty() || rng.below(200) == 0 {
            match Device::open() {
                Ok(d) => fds.push(d),
                Err(e) => {
                    println!("fuzz: cannot open /dev/stile: {e}");
                    return 1;
                }
            }
            if fds.len() > 12 {
                fds.remove(rng.below(fds.len() as u64) as usize);
            }
        }
        let fd = fds[rng.below(fds.len() as u64) as usize].raw_fd();
        let mut buf = [0u64; 8];
        for w in buf.iter_mut() {
            *w = rng.arg();
        }
        let cmd = match rng.below(20) {
            0 => rng.next() & 0xffff_ffff,
            1 => {
                // Small VMs often, so that later calls find a VM to work on.
                buf[0] = rng.below(5) * 4096;
                buf[1] = 0;
                uapi::CREATE_VM
            }
            2 => {
                // A user buffer that is real, or not.
                buf[2] = if rng.below(2) == 0 {
                    buf.as_ptr() as u64
                } else {
                    rng.arg()
                };
                buf[1] = rng.below(64);
                uapi::WRITE_MEM
            }
            3 => {
                // mmap of a random page offset, then unmap.
                // SAFETY: a fresh mapping of our own fd, unmapped right away, never read.
                unsafe {
                    let p = libc::mmap(
                        core::ptr::null_mut(),
                        4096,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_SHARED,
                        fd,
                        (rng.below(6) * 4096) as libc::off_t,
                    );
                    if p != libc::MAP_FAILED {
                        libc::munmap(p, 4096);
                    }
                }
                mmaps += 1;
                continue;
            }
            _ => uapi::ALL[rng.below(uapi::ALL.len() as u64) as usize].1,
        };
        if cmd == uapi::RUN {
            buf[0] = rng.below(5); // vcpu; the guest runs zeroes (an UNKNOWN exit), fine
        }
        // SAFETY: every driver ioctl reads or writes at most its struct's size, which is
        // at most 48 bytes; `buf` has 64. Unknown numbers are refused with ENOTTY.
        let r = unsafe { libc::ioctl(fd, cmd as _, buf.as_mut_ptr()) };
        if r == 0 {
            ok += 1;
        } else {
            refused += 1;
        }
    }
    drop(fds);
    println!(
        "fuzz: seed {seed}: {count} calls: {ok} ioctls succeeded, {refused} refused, {mmaps} mmaps"
    );
    // No VM may be left behind: all 8 of Stile's VMs can be created now.
    let mut vms = Vec::new();
    for i in 0..8 {
        let d = match Device::open() {
            Ok(d) => d,
            Err(e) => {
                println!("fuzz: FAIL cannot open /dev/stile: {e}");
                return 1;
            }
        };
        if let Err(e) = d.create_vm(4096).and_then(|_| d.donate()) {
            println!(
                "fuzz: FAIL VM {} of 8 after the loop: {e} (a VM leaked)",
                i + 1
            );
            return 1;
        }
        vms.push(d);
    }
    println!("fuzz: ok: no oops, 8 VMs created afterwards: none leaked");
    0
}
