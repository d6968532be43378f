//! `make bench`'s table: reads text with `bench: <name> <value>` lines on stdin (anything
//! else is skipped) and prints the Markdown table of stile_host::bench::table (metric,
//! instructions per operation, EL2 share, goal, met?). A build-machine tool:
//! `cargo run -q -p stile-host --example bench-table < lines`.

use std::io::Read;

fn main() {
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("bench-table: reading stdin: {e}");
        std::process::exit(2);
    }
    let mut table = String::new();
    if stile_host::bench::table::render(&text, &mut table).is_err() {
        eprintln!("bench-table: formatting failed");
        std::process::exit(2);
    }
    print!("{table}");
}
