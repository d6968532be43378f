//! Runs work items on up to `jobs` threads and hands back results in table order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

/// Calls `work` on every item, at most `jobs` at a time, and `done(index, result)` in item
/// order, each as soon as it and every earlier item are finished: the log reads the same on
/// every run however the boots race.
pub fn run_in_order<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> R + Sync,
    mut done: impl FnMut(usize, R),
) {
    let jobs = jobs.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, work) = (&next, &work);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if tx.send((i, work(item))).is_err() {
                    break;
                }
            });
        }
        // Only the workers hold senders now, so `rx` ends when the last one finishes.
        drop(tx);
        let mut pending: Vec<Option<R>> = items.iter().map(|_| None).collect();
        let mut reported = 0;
        for (i, r) in rx {
            pending[i] = Some(r);
            while let Some(r) = pending.get_mut(reported).and_then(Option::take) {
                done(reported, r);
                reported += 1;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn results_come_back_in_order_and_concurrency_is_capped() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        // Later items finish first, so out-of-order completion is exercised.
        let items: Vec<u64> = (0..8).rev().collect();
        let mut seen = Vec::new();
        run_in_order(
            &items,
            3,
            |&ms| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(ms * 5));
                running.fetch_sub(1, Ordering::SeqCst);
                ms * 10
            },
            |i, r| seen.push((i, r)),
        );
        let want: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, &ms)| (i, ms * 10))
            .collect();
        assert_eq!(seen, want);
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(peak.load(Ordering::SeqCst) >= 2, "work should overlap");
    }

    #[test]
    fn no_items_and_zero_jobs_are_fine() {
        let mut n = 0;
        run_in_order(&[] as &[u8], 0, |_| (), |_, _| n += 1);
        assert_eq!(n, 0);
        run_in_order(&[1, 2], 0, |x| x * 2, |_, _| n += 1);
        assert_eq!(n, 2);
    }
}
