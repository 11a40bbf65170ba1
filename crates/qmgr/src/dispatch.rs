//! Delivery jobs run by a pool of threads, each job one connection to a
//! delivery agent's socket `private/<transport>` (the master starts agents
//! as connections come, up to their maxproc). At most the destination's
//! concurrency window of jobs run at once for one (transport, destination);
//! the window follows the deliveries' feedback ([`crate::feedback`]).

use crate::feedback::{Policy, Suspended, Windows};
use ipc::delivery::{Outcome, RcptResult, Request};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One delivery request for one agent.
pub struct Job {
    /// The message's index in the batch.
    pub message: usize,
    /// Indexes of the message's recipients in this job, in request order.
    pub recipients: Vec<usize>,
    pub transport: String,
    /// The key concurrency is counted by.
    pub destination: String,
    /// The transport's concurrency limit and feedback.
    pub policy: Policy,
    pub request: Request,
}

/// A job's results; `agent_logged` is false when the agent was never
/// reached and qmgr must log the outcome itself.
pub struct Done {
    pub message: usize,
    pub recipients: Vec<usize>,
    pub results: Vec<RcptResult>,
    pub agent_logged: bool,
}

fn unavailable(n: usize, dsn: &str, reason: &str) -> Vec<RcptResult> {
    (0..n)
        .map(|_| RcptResult::none(Outcome::Deferred, dsn, reason))
        .collect()
}

/// The jobs waiting, grouped by destination, and how many run per destination.
#[derive(Default)]
struct Shared {
    queues: HashMap<String, VecDeque<Job>>,
    /// Destinations with jobs waiting, in round-robin order: the one served
    /// last goes to the back, so one busy destination cannot starve the others.
    order: VecDeque<String>,
    running: HashMap<String, usize>,
    /// Each destination's concurrency window, kept across queue runs.
    windows: Windows,
    waiting: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// No more jobs will come: the threads exit once the queues are empty.
    closed: bool,
}

/// What to do with a job taken from the queues.
enum Picked {
    Run(Job),
    /// Its destination is dead: the job is deferred without a try.
    Suspended(Job, Suspended),
}

impl Shared {
    /// The next job whose destination is under its concurrency window, or
    /// whose destination is dead. The search is over destinations, not
    /// jobs: thousands of messages to one mailbox cost one look-up each,
    /// not a scan of every waiting job.
    fn pick(&mut self) -> Option<Picked> {
        let now = Instant::now();
        let mut found = None;
        for i in 0..self.order.len() {
            let dest = &self.order[i];
            let Some(front) = self.queues.get(dest).and_then(|q| q.front()) else {
                continue;
            };
            let policy = front.policy;
            if let Some(why) = self.windows.suspended(dest, now) {
                found = Some((i, Some(why)));
                break;
            }
            if self
                .windows
                .rate_wait(dest, &front.transport, &policy, now)
                .is_some()
            {
                continue;
            }
            let running = self.running.get(dest).copied().unwrap_or(0);
            if running < self.windows.size(dest, &policy).max(1) {
                found = Some((i, None));
                break;
            }
        }
        let (i, suspended) = found?;
        let dest = self.order.remove(i)?;
        let q = self.queues.get_mut(&dest)?;
        let job = q.pop_front()?;
        if q.is_empty() {
            self.queues.remove(&dest);
        } else {
            self.order.push_back(dest.clone());
        }
        self.waiting -= 1;
        if let Some(why) = suspended {
            return Some(Picked::Suspended(job, why));
        }
        self.windows
            .rate_start(&dest, &job.transport, &job.policy, now);
        *self.running.entry(dest).or_insert(0) += 1;
        Some(Picked::Run(job))
    }

    /// The earliest time a destination now held back by a rate delay may
    /// have its next delivery.
    fn next_ready(&self, now: Instant) -> Option<Instant> {
        self.order
            .iter()
            .filter_map(|dest| {
                let front = self.queues.get(dest)?.front()?;
                self.windows
                    .rate_wait(dest, &front.transport, &front.policy, now)
            })
            .min()
    }

    /// How many waiting jobs could start now (counting no further than `cap`).
    fn runnable(&self, cap: usize) -> usize {
        let mut n = 0;
        for dest in &self.order {
            if n >= cap {
                break;
            }
            let Some(q) = self.queues.get(dest) else {
                continue;
            };
            let Some(front) = q.front() else { continue };
            if self
                .windows
                .rate_wait(dest, &front.transport, &front.policy, Instant::now())
                .is_some()
            {
                continue;
            }
            let running = self.running.get(dest).copied().unwrap_or(0);
            let window = match self.windows.size(dest, &front.policy) {
                // Dead: every job is dealt with at once.
                0 => q.len(),
                // Rate-delayed: one at a time.
                _ if !front.policy.destination_rate_delay.is_zero() => 1,
                w => w,
            };
            n += q.len().min(window.saturating_sub(running));
        }
        n.min(cap)
    }

    fn add(&mut self, job: Job) {
        if !self.queues.contains_key(&job.destination) {
            self.order.push_back(job.destination.clone());
        }
        self.queues
            .entry(job.destination.clone())
            .or_default()
            .push_back(job);
        self.waiting += 1;
    }

    /// A job has run: its destination's window takes the feedback.
    fn finished(&mut self, ran: &Ran, feedback: Feedback) {
        let (destination, policy) = (ran.destination.as_str(), &ran.policy);
        self.windows
            .rate_end(destination, &ran.transport, policy, Instant::now());
        let busy = self.running.get(destination).copied().unwrap_or(0);
        match feedback {
            Feedback::Good => self.windows.good(destination, policy, busy),
            Feedback::SiteFailed(why) => {
                self.windows
                    .failed(destination, policy, why, Instant::now())
            }
            Feedback::None => {}
        }
        if let Some(n) = self.running.get_mut(destination) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.running.remove(destination);
            }
        }
        if !self.running.contains_key(destination) && !self.queues.contains_key(destination) {
            self.windows.idle(destination);
        }
    }

    /// Runs what `pick` chose, here; a suspended job gets its results
    /// without a try.
    fn outcome(
        picked: Picked,
        private_dir: &Path,
        timeout: Duration,
    ) -> (Ran, Done, Option<Feedback>) {
        match picked {
            Picked::Run(job) => {
                let ran = Ran::of(&job);
                let (done, feedback) = run_job(job, private_dir, timeout);
                (ran, done, Some(feedback))
            }
            Picked::Suspended(job, why) => {
                let reason = format!("delivery temporarily suspended: {}", why.reason);
                let ran = Ran::of(&job);
                let done = Done {
                    message: job.message,
                    results: unavailable(job.recipients.len(), &why.dsn, &reason),
                    recipients: job.recipients,
                    agent_logged: false,
                };
                (ran, done, None)
            }
        }
    }
}

/// Where a job went, for its destination's bookkeeping once it is done.
struct Ran {
    destination: String,
    transport: String,
    policy: Policy,
}

impl Ran {
    fn of(job: &Job) -> Ran {
        Ran {
            destination: job.destination.clone(),
            transport: job.transport.clone(),
            policy: job.policy,
        }
    }
}

/// What a finished job says about its destination.
enum Feedback {
    /// It was reached (whatever became of the recipients).
    Good,
    /// The agent could not get a session with it.
    SiteFailed(Suspended),
    /// Nothing: the agent itself could not be reached.
    None,
}

type Lock = Arc<(Mutex<Shared>, Condvar)>;

/// Delivery threads that live for one queue run: jobs are handed to them as
/// each message comes into the active queue, so deliveries start while
/// the queue manager is still taking in mail. Threads are started as jobs
/// wait with none idle, up to the pool's size.
pub struct Pool {
    shared: Lock,
    handles: Vec<std::thread::JoinHandle<()>>,
    max: usize,
    private_dir: PathBuf,
    timeout: Duration,
    done: Sender<Done>,
}

impl Pool {
    /// A pool of at most `threads` delivery threads that send each result
    /// to `done`, starting from the destinations' `windows` of the last run.
    pub fn new(
        threads: usize,
        private_dir: PathBuf,
        timeout: Duration,
        done: Sender<Done>,
        windows: Windows,
    ) -> Pool {
        let shared = Shared {
            windows,
            ..Shared::default()
        };
        Pool {
            shared: Arc::new((Mutex::new(shared), Condvar::new())),
            handles: Vec::new(),
            max: threads.max(1),
            private_dir,
            timeout,
            done,
        }
    }

    fn spawn(&mut self) -> bool {
        let shared = Arc::clone(&self.shared);
        let done = self.done.clone();
        let private_dir = self.private_dir.clone();
        let timeout = self.timeout;
        let spawned = std::thread::Builder::new()
            .name(format!("delivery{}", self.handles.len()))
            .spawn(move || worker(&shared, &private_dir, timeout, &done));
        match spawned {
            Ok(h) => {
                self.handles.push(h);
                true
            }
            Err(e) => {
                maillog::warning!("start a delivery thread: {e}");
                false
            }
        }
    }

    /// Queues jobs for delivery; when no thread can be started, runs them
    /// here and now.
    pub fn submit(&mut self, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let (more, waiting) = {
            let (lock, cvar) = &*self.shared;
            let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
            for job in jobs {
                st.add(job);
            }
            // Wake only as many threads as there are jobs that may start
            // now: waking every idle thread for each job costs more than
            // the deliveries themselves when one destination is at its limit.
            let spare = self.max.saturating_sub(self.handles.len());
            let runnable = st.runnable(st.idle + spare);
            for _ in 0..runnable.min(st.idle) {
                cvar.notify_one();
            }
            // Jobs all held back by rate delays still need one thread to
            // wait for them.
            let needed = runnable.saturating_sub(st.idle);
            let needed = if needed == 0 && st.waiting > 0 && self.handles.is_empty() {
                1
            } else {
                needed
            };
            (needed, st.waiting)
        };
        let mut started = 0;
        while started < more && self.handles.len() < self.max && self.spawn() {
            started += 1;
        }
        if self.handles.is_empty() && waiting > 0 {
            // No thread at all: deliver here, one at a time.
            loop {
                let picked = {
                    let mut st = self.shared.0.lock().unwrap_or_else(|e| e.into_inner());
                    match st.pick() {
                        Some(p) => p,
                        None => break,
                    }
                };
                let (ran, result, feedback) =
                    Shared::outcome(picked, &self.private_dir, self.timeout);
                if let Some(feedback) = feedback {
                    self.shared
                        .0
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .finished(&ran, feedback);
                }
                let _ = self.done.send(result);
            }
        }
    }

    /// Lets the threads finish the jobs queued, waits for them, and gives
    /// back the destinations' windows for the next run.
    pub fn close(self) -> Windows {
        {
            let (lock, cvar) = &*self.shared;
            let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
            st.closed = true;
            cvar.notify_all();
        }
        for h in self.handles {
            let _ = h.join();
        }
        let mut st = self.shared.0.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut st.windows)
    }
}

fn run_job(job: Job, private_dir: &Path, timeout: Duration) -> (Done, Feedback) {
    let socket = private_dir.join(&job.transport);
    let (results, agent_logged, feedback) =
        match ipc::delivery::call(&socket, &job.request, timeout) {
            Ok(r) => {
                let feedback = match r.results.first() {
                    // The mail held for a dead site waits: a 4.X.X status,
                    // whatever a delivery status filter made of the first.
                    Some(first) if r.site_failed => Feedback::SiteFailed(Suspended {
                        dsn: match first.dsn.split_once('.') {
                            Some((_, rest)) => format!("4.{rest}"),
                            None => "4.4.1".into(),
                        },
                        reason: first.reason.clone(),
                    }),
                    _ => Feedback::Good,
                };
                (r.results, true, feedback)
            }
            Err(e) => {
                let reason = if e.starts_with("connect ") {
                    maillog::warning!("{e}: mail transport unavailable");
                    "mail transport unavailable".to_string()
                } else {
                    maillog::warning!("{}: transport {}: {e}", job.request.queue_id, job.transport);
                    "unknown mail transport error".to_string()
                };
                (
                    unavailable(job.recipients.len(), "4.3.0", &reason),
                    false,
                    Feedback::None,
                )
            }
        };
    let done = Done {
        message: job.message,
        recipients: job.recipients,
        results,
        agent_logged,
    };
    (done, feedback)
}

fn worker(shared: &Lock, private_dir: &Path, timeout: Duration, done: &Sender<Done>) {
    let (lock, cvar) = &**shared;
    loop {
        let picked = {
            let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(p) = st.pick() {
                    break p;
                }
                if st.closed && st.waiting == 0 {
                    return;
                }
                st.idle += 1;
                // Jobs held back by a rate delay: wake up when the first may go.
                st = match st.next_ready(Instant::now()) {
                    Some(t) => {
                        let wait = t.saturating_duration_since(Instant::now());
                        cvar.wait_timeout(st, wait)
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                    }
                    None => cvar.wait(st).unwrap_or_else(|e| e.into_inner()),
                };
                st.idle -= 1;
            }
        };
        let (ran, result, feedback) = Shared::outcome(picked, private_dir, timeout);
        // This thread looks for the next job itself: a finished delivery
        // makes at most one more job runnable (its destination's).
        if let Some(feedback) = feedback {
            lock.lock()
                .unwrap_or_else(|e| e.into_inner())
                .finished(&ran, feedback);
        }
        if done.send(result).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::Amount;

    fn job(dest: &str, limit: usize, n: usize) -> Job {
        Job {
            message: n,
            recipients: vec![0],
            transport: "t".into(),
            destination: dest.into(),
            policy: Policy {
                limit,
                initial: limit,
                positive: Amount::Fixed(1.0),
                negative: Amount::Fixed(1.0),
                cohort_limit: 1.0,
                dead_time: Duration::from_secs(60),
                destination_rate_delay: Duration::ZERO,
                transport_rate_delay: Duration::ZERO,
            },
            request: Request::default(),
        }
    }

    fn run(p: Picked) -> Job {
        match p {
            Picked::Run(j) => j,
            Picked::Suspended(..) => panic!("suspended"),
        }
    }

    #[test]
    fn destinations_take_turns_within_their_limits() {
        let mut s = Shared::default();
        for n in 0..4 {
            s.add(job("a", 2, n));
        }
        s.add(job("b", 2, 10));
        s.add(job("b", 2, 11));
        assert_eq!(s.runnable(100), 4);
        let picked: Vec<usize> = std::iter::from_fn(|| s.pick())
            .map(|p| run(p).message)
            .collect();
        // a, b, a, b: then both are at their limit of 2.
        assert_eq!(picked, vec![0, 10, 1, 11]);
        assert_eq!(s.waiting, 2);
        assert_eq!(s.runnable(100), 0);
        s.finished(&Ran::of(&job("a", 2, 0)), Feedback::None);
        assert_eq!(s.runnable(100), 1);
        assert_eq!(s.pick().map(|p| run(p).message), Some(2));
        assert!(s.pick().is_none());
    }

    #[test]
    fn a_rate_delay_spaces_deliveries_one_at_a_time() {
        let mut s = Shared::default();
        let delayed = |dest: &str, n| {
            let mut j = job(dest, 20, n);
            // Long enough that the checks below come within it on a busy
            // machine.
            j.policy.destination_rate_delay = Duration::from_secs(2);
            j
        };
        for n in 0..3 {
            s.add(delayed("slow", n));
        }
        s.add(job("fast", 20, 10));
        s.add(job("fast", 20, 11));
        // One to the delayed destination at a time; the others as usual.
        assert_eq!(s.runnable(100), 3);
        let first: Vec<usize> = std::iter::from_fn(|| s.pick())
            .map(|p| run(p).message)
            .collect();
        assert_eq!(first, vec![0, 10, 11]);
        assert_eq!(s.next_ready(Instant::now()).map(|_| ()), Some(()));
        let ended = Instant::now();
        s.finished(&Ran::of(&delayed("slow", 0)), Feedback::Good);
        // Not before the delay has passed since the delivery ended.
        assert!(s.pick().is_none());
        assert_eq!(s.runnable(100), 0);
        let ready = s.next_ready(Instant::now()).expect("held back");
        assert!(ready >= ended + Duration::from_secs(2));
        std::thread::sleep(ready.saturating_duration_since(Instant::now()));
        assert_eq!(s.pick().map(|p| run(p).message), Some(1));
        assert!(s.pick().is_none(), "one at a time");
    }

    #[test]
    fn a_dead_destination_gets_its_jobs_back_at_once_while_others_run() {
        let mut s = Shared::default();
        for n in 0..4 {
            s.add(job("a", 1, n));
        }
        s.add(job("b", 1, 10));
        let first = run(s.pick().unwrap());
        assert_eq!(first.message, 0);
        let why = Suspended {
            dsn: "4.4.1".into(),
            reason: "connect to a[192.0.2.1]:25: Connection refused".into(),
        };
        s.finished(&Ran::of(&first), Feedback::SiteFailed(why.clone()));
        // a's window was 1: one failed cohort, dead. Its jobs come back
        // without a try; b's runs.
        assert_eq!(s.runnable(100), 4);
        let mut suspended = Vec::new();
        let mut ran = Vec::new();
        while let Some(p) = s.pick() {
            match p {
                Picked::Suspended(j, w) => {
                    assert_eq!(w, why);
                    suspended.push(j.message)
                }
                Picked::Run(j) => ran.push(j.message),
            }
        }
        assert_eq!(suspended, vec![1, 2, 3]);
        assert_eq!(ran, vec![10]);
        let (_, done, feedback) = Shared::outcome(
            Picked::Suspended(job("a", 1, 5), why),
            Path::new("/nonexistent"),
            Duration::from_secs(1),
        );
        assert!(feedback.is_none() && !done.agent_logged);
        assert_eq!(
            done.results[0].reason,
            "delivery temporarily suspended: connect to a[192.0.2.1]:25: Connection refused"
        );
        assert_eq!(done.results[0].dsn, "4.4.1");
    }

    #[test]
    fn a_pool_delivers_as_jobs_come_and_reports_unreachable_agents() {
        let dir = std::env::temp_dir().join(format!("qmgr-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut pool = Pool::new(
            4,
            dir.clone(),
            Duration::from_secs(1),
            tx,
            Windows::default(),
        );
        pool.submit((0..3).map(|n| job("a", 1, n)).collect());
        pool.submit(vec![job("b", 1, 7)]);
        let mut got: Vec<usize> = (0..4).map(|_| rx.recv().unwrap().message).collect();
        got.sort();
        assert_eq!(got, vec![0, 1, 2, 7]);
        pool.close();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
