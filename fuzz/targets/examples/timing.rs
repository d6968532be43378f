//! Times every input of a corpus directory through its target (release build):
//! `cargo run --release --example timing -- <target> <dir>`; prints the slowest inputs.

use std::time::Instant;
use stile_fuzz_targets::TARGETS;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (name, dir) = (&args[1], &args[2]);
    let run = TARGETS.iter().find(|(n, _)| n == name).expect("a target").1;
    let mut times = Vec::new();
    let start = Instant::now();
    for entry in std::fs::read_dir(dir).expect("a directory").flatten() {
        let data = std::fs::read(entry.path()).expect("readable");
        let t = Instant::now();
        run(&data);
        times.push((t.elapsed(), entry.path()));
    }
    let total = start.elapsed();
    times.sort();
    for (t, p) in times.iter().rev().take(5) {
        println!("{t:?} {}", p.display());
    }
    println!("{} inputs in {total:?}", times.len());
}
