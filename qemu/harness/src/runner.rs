//! Spawns one program with a hard timeout and collects its stdout and stderr.
//!
//! Generic over the program so the timeout path is tested with a fake (`sh -c '...; sleep 30'`)
//! rather than only with QEMU.

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How often a running child is polled; short enough that a boot's duration is measured well.
const POLL: Duration = Duration::from_millis(10);

/// How long to wait for the output pipe to close once the child has ended. A descendant that
/// outlives the child (e.g. `sleep` forked by `sh`) keeps the pipe open; we must not hang on it.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Output kept per run. A runaway guest printing in a loop must not eat the machine's memory;
/// the lines the checks look for come early in a boot.
const MAX_OUTPUT: usize = 8 << 20;

/// One program to run.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub timeout: Duration,
}

impl Invocation {
    /// The command line as a person would type it, for failure reports.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| {
                let a = a.to_string_lossy();
                if a.is_empty() || a.contains(char::is_whitespace) {
                    format!("'{a}'")
                } else {
                    a.into_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Exited by itself with this status.
    Code(i32),
    /// Died of this signal without us sending it.
    Signal(i32),
    /// Still running at the deadline: we killed it.
    TimedOut(Duration),
    /// We killed it once its output held the line we waited for ([`run_until`]).
    Stopped,
}

impl From<ExitStatus> for End {
    fn from(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => End::Code(code),
            (None, Some(sig)) => End::Signal(sig),
            // Neither code nor signal only happens for stopped children, which wait() never
            // returns; treat it as a failure rather than inventing success.
            (None, None) => End::Code(-1),
        }
    }
}

/// What one run produced.
#[derive(Clone, Debug)]
pub struct Run {
    /// stdout and stderr through one pipe, so they interleave as the program wrote them.
    pub output: String,
    pub end: End,
    pub elapsed: Duration,
}

/// Kills and reaps the child unless it was reaped already, so a panic or an early return can
/// never leave QEMU running.
struct Reaper(Option<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `inv` with stdin at /dev/null, kills it at the deadline, and returns its output.
///
/// Errors only when the program cannot be started (or polled); everything the program itself
/// does, including hanging, is reported in [`Run`].
pub fn run(inv: &Invocation) -> io::Result<Run> {
    run_until(inv, None)
}

/// [`run`], ending the program early once its output contains `stop_at` (for a program
/// that never exits by itself, e.g. a machine whose CPU parks).
pub fn run_until(inv: &Invocation, stop_at: Option<&str>) -> io::Result<Run> {
    let (mut reader, writer) = io::pipe()?;
    let start = Instant::now();
    let child = {
        let mut cmd = Command::new(&inv.program);
        cmd.args(&inv.args)
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer);
        // `cmd` holds our copies of the pipe's write end; it is dropped at the end of this
        // block so the reader sees end-of-file once the child (and its descendants) are gone.
        cmd.spawn()?
    };
    let mut reaper = Reaper(Some(child));

    let output = Arc::new(Mutex::new(Vec::new()));
    let (eof_tx, eof_rx) = mpsc::channel();
    {
        let output = Arc::clone(&output);
        // Detached on purpose: if a descendant keeps the pipe open, this thread waits for it
        // while we report what we have.
        thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut out = output.lock().unwrap_or_else(|e| e.into_inner());
                        let room = MAX_OUTPUT.saturating_sub(out.len());
                        out.extend_from_slice(&chunk[..n.min(room)]);
                    }
                }
            }
            let _ = eof_tx.send(());
        });
    }

    let deadline = start + inv.timeout;
    let end = loop {
        let child = reaper.0.as_mut().expect("child is reaped only below");
        if let Some(status) = child.try_wait()? {
            reaper.0 = None;
            break End::from(status);
        }
        if let Some(line) = stop_at {
            let out = output.lock().unwrap_or_else(|e| e.into_inner());
            if out.windows(line.len()).any(|w| w == line.as_bytes()) {
                drop(out);
                let _ = child.kill();
                let _ = child.wait();
                reaper.0 = None;
                break End::Stopped;
            }
        }
        let now = Instant::now();
        if now >= deadline {
            // SIGKILL: QEMU gets no chance to linger. Then reap it so no zombie is left.
            let _ = child.kill();
            let _ = child.wait();
            reaper.0 = None;
            break End::TimedOut(inv.timeout);
        }
        thread::sleep(POLL.min(deadline - now));
    };
    let elapsed = start.elapsed();

    let _ = eof_rx.recv_timeout(DRAIN_GRACE);
    let bytes = output.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut output = String::from_utf8_lossy(&bytes).into_owned();
    if bytes.len() >= MAX_OUTPUT {
        output.push_str("\n[harness: output truncated]\n");
    }
    Ok(Run {
        output,
        end,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> Invocation {
        Invocation {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            timeout,
        }
    }

    #[test]
    fn output_and_exit_status_are_collected() {
        let run = run(&sh(
            "echo out; echo err >&2; exit 3",
            Duration::from_secs(10),
        ))
        .unwrap();
        assert_eq!(run.end, End::Code(3));
        assert_eq!(run.output, "out\nerr\n");
    }

    #[test]
    fn stdin_is_empty_not_inherited() {
        // `cat` would block forever on an inherited terminal; with /dev/null it ends at once.
        let run = run(&sh("cat; echo done", Duration::from_secs(10))).unwrap();
        assert_eq!(run.end, End::Code(0));
        assert_eq!(run.output, "done\n");
    }

    #[test]
    fn timeout_kills_the_child_and_keeps_its_output() {
        let start = Instant::now();
        // `exec` makes `sleep` the child itself; it prints its pid first so we can see it die.
        let run = run(&sh("echo $$; exec sleep 30", Duration::from_millis(500))).unwrap();
        assert_eq!(run.end, End::TimedOut(Duration::from_millis(500)));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        let pid = run.output.trim();
        assert!(pid.parse::<u32>().is_ok(), "{pid:?}");
        // Killed and reaped: not even a zombie is left.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn a_descendant_holding_the_pipe_does_not_hang_the_run() {
        // dash forks `sleep` instead of exec'ing it: killing `sh` leaves `sleep` holding the
        // pipe, and the run must still end at the deadline plus the drain grace.
        let start = Instant::now();
        // Generous margins: a loaded machine may take a while to even start `sh`; a hang
        // would last the whole 60 s `sleep`.
        let run = run(&sh(
            "echo before; sleep 60; echo after",
            Duration::from_secs(3),
        ))
        .unwrap();
        assert!(matches!(run.end, End::TimedOut(_)));
        assert_eq!(run.output, "before\n");
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn death_by_signal_is_not_a_timeout() {
        let run = run(&sh("kill -9 $$", Duration::from_secs(10))).unwrap();
        assert_eq!(run.end, End::Signal(9));
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let inv = Invocation {
            program: "/nonexistent/qemu".into(),
            args: vec![],
            timeout: Duration::from_secs(1),
        };
        assert_eq!(run(&inv).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn display_quotes_arguments_with_spaces() {
        let inv = sh("echo a b", Duration::from_secs(1));
        assert_eq!(inv.display(), "sh -c 'echo a b'");
    }
}
