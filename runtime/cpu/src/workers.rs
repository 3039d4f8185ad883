//! The executor's worker threads: a fork-join pool whose idle workers spin a while before they
//! sleep.
//!
//! Why not rayon's pool: a train step is a chain of short steps (tens to hundreds of
//! microseconds), some split between threads, with sequential steps between them. A rayon
//! worker idle for more than about 20 us goes to sleep, and waking it took 27 us (median, 2
//! cores, measured with a join of two 100 us halves after an idle gap): a parallel step paid a
//! wake-up nearly every time. Here an idle worker spins for [`SPIN`] before it sleeps, so within
//! a step it is handed work in well under a microsecond, and it sleeps between runs.
//!
//! A job is `parts` calls of one closure with the part's index. The thread that asks
//! ([`for_each`]) runs parts too, and returns when every part has run. Parallelism does not
//! nest: a job asked for inside a part runs its parts in order on that thread. A panic in a part
//! is carried to the thread that asked, after the other parts have finished.

use crate::fpenv::flush_denormals_forever;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins for the next job before it sleeps: longer than the gaps
/// between the parallel steps of a train step, short against a step.
const SPIN: Duration = Duration::from_micros(300);

/// A part's closure, with its lifetime erased: [`Pool::run`] does not return while a worker
/// can still call it.
type Part = *const (dyn Fn(usize) + Sync);

/// The job workers may join: its closure and number of parts, with the epoch it was published
/// in (`None` between jobs).
struct Job {
    epoch: u64,
    f: Part,
    parts: usize,
}

// SAFETY: the closure is `Sync`, and only called while `Pool::run` keeps it alive.
unsafe impl Send for Job {}

struct Shared {
    /// Bumped for every job; workers wait for it to change.
    epoch: AtomicU64,
    job: Mutex<Option<Job>>,
    /// The next part to claim, and the parts not finished yet.
    next: AtomicUsize,
    unfinished: AtomicUsize,
    /// Workers that took the current job and may still claim parts of it.
    attached: AtomicUsize,
    /// A part's panic, carried to the thread that asked.
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    /// Workers asleep (waiting on `wake`), and the lock they sleep under.
    sleeping: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
    stop: AtomicBool,
}

/// A pool of worker threads (`threads - 1` of them: the thread that asks is the last).
pub struct Pool {
    threads: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// One job at a time: a second thread asking waits here.
    busy: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A part's panic is caught before it could poison a lock, so this never sees one; if it
    // did, the data (counters, an optional job) are still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pool {
    /// Starts `threads - 1` workers, named `hg-cpu-N`, with denormals flushed.
    pub fn new(threads: usize) -> std::io::Result<Pool> {
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            job: Mutex::new(None),
            next: AtomicUsize::new(0),
            unfinished: AtomicUsize::new(0),
            attached: AtomicUsize::new(0),
            panic: Mutex::new(None),
            sleeping: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let mut pool = Pool { threads: threads.max(1), shared, workers: Vec::new(), busy: Mutex::new(()) };
        for i in 1..pool.threads {
            let shared = Arc::clone(&pool.shared);
            let worker = std::thread::Builder::new().name(format!("hg-cpu-{i}")).spawn(move || work(&shared))?;
            // On an error the workers started so far are stopped by `Drop`.
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Calls `f(i)` for every `i < parts`, on the workers and this thread, and returns when all
    /// have returned.
    pub fn run(&self, parts: usize, f: &(dyn Fn(usize) + Sync)) {
        if parts <= 1 || self.workers.is_empty() {
            (0..parts).for_each(f);
            return;
        }
        let _one_job = lock(&self.busy);
        let s = &*self.shared;
        // SAFETY (lifetime): the erased closure is called only by workers attached to this
        // job, and this function waits for every part to finish and every worker to detach
        // before it returns.
        let f_static: Part = unsafe { std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), Part>(f) };
        {
            let mut job = lock(&s.job);
            s.next.store(0, Relaxed);
            s.unfinished.store(parts, Relaxed);
            let epoch = s.epoch.load(Relaxed) + 1;
            *job = Some(Job { epoch, f: f_static, parts });
            s.epoch.store(epoch, SeqCst);
        }
        if s.sleeping.load(SeqCst) > 0 {
            let _g = lock(&s.sleep);
            s.wake.notify_all();
        }
        IN_PART.set(true);
        claim_parts(s, f, parts);
        IN_PART.set(false);
        wait_until(|| s.unfinished.load(Acquire) == 0);
        // No worker attaches after this, and those attached are done claiming once they leave.
        *lock(&s.job) = None;
        wait_until(|| s.attached.load(Acquire) == 0);
        if let Some(p) = lock(&s.panic).take() {
            resume_unwind(p);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, SeqCst);
        {
            let _g = lock(&self.shared.sleep);
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            // A worker never panics (parts' panics are caught), so there is nothing to report.
            let _ = w.join();
        }
    }
}

/// Spins until `done()`, yielding the core after a while: a worker descheduled in the middle of
/// a part (more threads than cores) needs it to finish.
fn wait_until(done: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !done() {
        spins = spins.saturating_add(1);
        if spins < 1 << 14 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Claims and runs parts of the current job until none is left.
fn claim_parts(s: &Shared, f: &(dyn Fn(usize) + Sync), parts: usize) {
    loop {
        let i = s.next.fetch_add(1, Relaxed);
        if i >= parts {
            return;
        }
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(i))) {
            lock(&s.panic).get_or_insert(p);
        }
        s.unfinished.fetch_sub(1, Release);
    }
}

/// A worker: wait for a new epoch (spinning, then asleep), join its job, repeat.
fn work(s: &Shared) {
    flush_denormals_forever();
    let mut seen = 0u64;
    loop {
        let spun = Instant::now();
        let mut spins = 0u32;
        while s.epoch.load(Acquire) == seen && !s.stop.load(Relaxed) {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) && spun.elapsed() > SPIN {
                let mut g = lock(&s.sleep);
                s.sleeping.fetch_add(1, SeqCst);
                while s.epoch.load(SeqCst) == seen && !s.stop.load(SeqCst) {
                    g = s.wake.wait(g).unwrap_or_else(|e| e.into_inner());
                }
                s.sleeping.fetch_sub(1, SeqCst);
                break;
            }
        }
        if s.stop.load(SeqCst) {
            return;
        }
        seen = s.epoch.load(Acquire);
        let job = {
            let job = lock(&s.job);
            match &*job {
                Some(j) if j.epoch == seen => {
                    s.attached.fetch_add(1, AcqRel);
                    Some((j.f, j.parts))
                }
                // That job has ended (or a newer one began: the next loop sees its epoch).
                _ => None,
            }
        };
        if let Some((f, parts)) = job {
            // SAFETY: attached to a live job, whose closure outlives this call (`Pool::run`).
            claim_parts(s, unsafe { &*f }, parts);
            s.attached.fetch_sub(1, AcqRel);
        }
    }
}

thread_local! {
    /// The pool of the executor running on this thread ([`with_pool`]).
    static CURRENT: Cell<*const Pool> = const { Cell::new(std::ptr::null()) };
    /// Whether this thread is running a part (parallelism does not nest).
    static IN_PART: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with `pool` as this thread's pool for [`for_each`].
pub fn with_pool<R>(pool: &Pool, f: impl FnOnce() -> R) -> R {
    struct Restore(*const Pool);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.set(self.0);
        }
    }
    let _restore = Restore(CURRENT.replace(pool));
    f()
}

/// Calls `f(i)` for every `i < parts`: on this thread's pool when there is one and this is not
/// already a part, else in order on this thread.
pub fn for_each(parts: usize, f: impl Fn(usize) + Sync) {
    let pool = CURRENT.get();
    if pool.is_null() || IN_PART.get() || parts <= 1 {
        (0..parts).for_each(f);
        return;
    }
    // SAFETY: `with_pool` keeps the pool alive while it is this thread's.
    unsafe { &*pool }.run(parts, &f);
}

/// Runs `f` on every item (taking it by value), as [`for_each`] splits parts; the first error by
/// item order is returned.
pub fn try_for_each_owned<T: Send, E: Send>(items: Vec<T>, f: impl Fn(T) -> Result<(), E> + Sync) -> Result<(), E> {
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let errors: Vec<Mutex<Option<E>>> = slots.iter().map(|_| Mutex::new(None)).collect();
    for_each(slots.len(), |i| {
        if let Some(item) = lock(&slots[i]).take()
            && let Err(e) = f(item)
        {
            *lock(&errors[i]) = Some(e);
        }
    });
    match errors.into_iter().find_map(|e| e.into_inner().unwrap_or_else(|e| e.into_inner())) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_part_runs_once_on_every_pool_size() {
        for threads in [1, 2, 3, 5] {
            let pool = Pool::new(threads).unwrap();
            for parts in [0, 1, 2, 7, 64] {
                let hits: Vec<AtomicU32> = (0..parts).map(|_| AtomicU32::new(0)).collect();
                with_pool(&pool, || for_each(parts, |i| _ = hits[i].fetch_add(1, Relaxed)));
                assert!(hits.iter().all(|h| h.load(Relaxed) == 1), "{threads} threads, {parts} parts");
            }
        }
    }

    #[test]
    fn sleeping_workers_wake_for_the_next_job() {
        let pool = Pool::new(2).unwrap();
        let on_worker = AtomicU32::new(0);
        let me = std::thread::current().id();
        for _ in 0..3 {
            std::thread::sleep(SPIN * 4);
            // Two parts that each wait for the other to start can only finish on two threads.
            let started = AtomicU32::new(0);
            with_pool(&pool, || {
                for_each(2, |_| {
                    started.fetch_add(1, SeqCst);
                    let t = Instant::now();
                    while started.load(SeqCst) < 2 && t.elapsed() < Duration::from_secs(10) {
                        std::hint::spin_loop();
                    }
                    if std::thread::current().id() != me {
                        on_worker.fetch_add(1, SeqCst);
                    }
                })
            });
            assert_eq!(started.load(SeqCst), 2);
        }
        assert_eq!(on_worker.load(SeqCst), 3, "each job had a part on the worker");
    }

    #[test]
    fn nested_jobs_run_in_order_and_panics_reach_the_caller() {
        let pool = Pool::new(2).unwrap();
        let total = AtomicU32::new(0);
        with_pool(&pool, || {
            for_each(4, |_| for_each(3, |_| _ = total.fetch_add(1, Relaxed)));
        });
        assert_eq!(total.load(Relaxed), 12);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            with_pool(&pool, || for_each(4, |i| assert_ne!(i, 2, "part two fails")));
        }));
        assert!(caught.is_err());
        // The pool still works after a part panicked.
        let after = AtomicU32::new(0);
        with_pool(&pool, || for_each(5, |_| _ = after.fetch_add(1, Relaxed)));
        assert_eq!(after.load(Relaxed), 5);
    }

    #[test]
    fn owned_items_and_the_first_error_by_order() {
        let pool = Pool::new(2).unwrap();
        let mut out = vec![0u32; 6];
        let items: Vec<(usize, &mut u32)> = out.iter_mut().enumerate().collect();
        let r: Result<(), String> = with_pool(&pool, || {
            try_for_each_owned(items, |(i, o)| {
                *o = i as u32 * 10;
                if i == 4 || i == 2 { Err(format!("item {i}")) } else { Ok(()) }
            })
        });
        assert_eq!(r.unwrap_err(), "item 2");
        assert_eq!(out, [0, 10, 20, 30, 40, 50]);
    }
}
