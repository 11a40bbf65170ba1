//! Delivery jobs run by a pool of threads, each job one connection to a
//! delivery agent's socket `private/<transport>` (the master starts agents
//! as connections come, up to their maxproc). At most the destination's
//! concurrency limit of jobs run at once for one (transport, destination).

use ipc::delivery::{Outcome, RcptResult, Request, Response};
use ipc::frame::{read_frame, write_frame};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// One delivery request for one agent.
pub struct Job {
    /// The message's index in the batch.
    pub message: usize,
    /// Indexes of the message's recipients in this job, in request order.
    pub recipients: Vec<usize>,
    pub transport: String,
    /// The key concurrency is counted by.
    pub destination: String,
    pub limit: usize,
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

fn unavailable(n: usize, reason: &str) -> Vec<RcptResult> {
    (0..n)
        .map(|_| RcptResult {
            outcome: Outcome::Deferred,
            dsn: "4.3.0".into(),
            relay: "none".into(),
            reason: reason.into(),
            success: Default::default(),
        })
        .collect()
}

/// Talks to one agent.
fn deliver(socket: &Path, req: &Request, timeout: Duration) -> Result<Response, String> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("connect {}: {e}", socket.display()))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let (k, p) = req.encode();
    write_frame(&mut s, k, &p).map_err(|e| format!("send request: {e}"))?;
    match read_frame(&mut s) {
        Ok(Some((k, p))) => {
            Response::decode(k, &p, req.recipients.len()).map_err(|e| format!("bad response: {e}"))
        }
        Ok(None) => Err("the delivery agent closed the connection".into()),
        Err(e) => Err(format!("read response: {e}")),
    }
}

/// The jobs waiting, grouped by destination, and how many run per destination.
#[derive(Default)]
struct Shared {
    queues: HashMap<String, VecDeque<Job>>,
    /// Destinations with jobs waiting, in round-robin order: the one served
    /// last goes to the back, so one busy destination cannot starve the others.
    order: VecDeque<String>,
    running: HashMap<String, usize>,
    waiting: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// No more jobs will come: the threads exit once the queues are empty.
    closed: bool,
}

impl Shared {
    /// The next job whose destination is under its concurrency limit. The
    /// search is over destinations, not jobs: thousands of messages to one
    /// mailbox cost one look-up each, not a scan of every waiting job.
    fn pick(&mut self) -> Option<Job> {
        let mut found = None;
        for (i, dest) in self.order.iter().enumerate() {
            let Some(front) = self.queues.get(dest).and_then(|q| q.front()) else {
                continue;
            };
            let running = self.running.get(dest).copied().unwrap_or(0);
            if running < front.limit.max(1) {
                found = Some(i);
                break;
            }
        }
        let dest = self.order.remove(found?)?;
        let q = self.queues.get_mut(&dest)?;
        let job = q.pop_front()?;
        if q.is_empty() {
            self.queues.remove(&dest);
        } else {
            self.order.push_back(dest.clone());
        }
        *self.running.entry(dest).or_insert(0) += 1;
        self.waiting -= 1;
        Some(job)
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
            let running = self.running.get(dest).copied().unwrap_or(0);
            n += q.len().min(front.limit.max(1).saturating_sub(running));
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

    fn finished(&mut self, destination: &str) {
        if let Some(n) = self.running.get_mut(destination) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.running.remove(destination);
            }
        }
    }
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
    /// A pool of at most `threads` delivery threads that send each result to `done`.
    pub fn new(
        threads: usize,
        private_dir: PathBuf,
        timeout: Duration,
        done: Sender<Done>,
    ) -> Pool {
        Pool {
            shared: Arc::new((Mutex::new(Shared::default()), Condvar::new())),
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
            (runnable.saturating_sub(st.idle), st.waiting)
        };
        let mut started = 0;
        while started < more && self.handles.len() < self.max && self.spawn() {
            started += 1;
        }
        if self.handles.is_empty() && waiting > 0 {
            // No thread at all: deliver here, one at a time.
            loop {
                let job = {
                    let mut st = self.shared.0.lock().unwrap_or_else(|e| e.into_inner());
                    match st.pick() {
                        Some(j) => j,
                        None => break,
                    }
                };
                let destination = job.destination.clone();
                let result = run_job(job, &self.private_dir, self.timeout);
                self.shared
                    .0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .finished(&destination);
                let _ = self.done.send(result);
            }
        }
    }

    /// Lets the threads finish the jobs queued, then waits for them.
    pub fn close(self) {
        {
            let (lock, cvar) = &*self.shared;
            let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
            st.closed = true;
            cvar.notify_all();
        }
        for h in self.handles {
            let _ = h.join();
        }
    }
}

fn run_job(job: Job, private_dir: &Path, timeout: Duration) -> Done {
    let socket = private_dir.join(&job.transport);
    let (results, agent_logged) = match deliver(&socket, &job.request, timeout) {
        Ok(r) => (r.results, true),
        Err(e) => {
            let reason = if e.starts_with("connect ") {
                maillog::warning!("{e}: mail transport unavailable");
                "mail transport unavailable".to_string()
            } else {
                maillog::warning!("{}: transport {}: {e}", job.request.queue_id, job.transport);
                "unknown mail transport error".to_string()
            };
            (unavailable(job.recipients.len(), &reason), false)
        }
    };
    Done {
        message: job.message,
        recipients: job.recipients,
        results,
        agent_logged,
    }
}

fn worker(shared: &Lock, private_dir: &Path, timeout: Duration, done: &Sender<Done>) {
    let (lock, cvar) = &**shared;
    loop {
        let job = {
            let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(job) = st.pick() {
                    break job;
                }
                if st.closed && st.waiting == 0 {
                    return;
                }
                st.idle += 1;
                st = cvar.wait(st).unwrap_or_else(|e| e.into_inner());
                st.idle -= 1;
            }
        };
        let destination = job.destination.clone();
        let result = run_job(job, private_dir, timeout);
        // This thread looks for the next job itself: a finished delivery
        // makes at most one more job runnable (its destination's).
        lock.lock()
            .unwrap_or_else(|e| e.into_inner())
            .finished(&destination);
        if done.send(result).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(dest: &str, limit: usize, n: usize) -> Job {
        Job {
            message: n,
            recipients: vec![0],
            transport: "t".into(),
            destination: dest.into(),
            limit,
            request: Request::default(),
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
        let picked: Vec<usize> = std::iter::from_fn(|| s.pick()).map(|j| j.message).collect();
        // a, b, a, b: then both are at their limit of 2.
        assert_eq!(picked, vec![0, 10, 1, 11]);
        assert_eq!(s.waiting, 2);
        assert_eq!(s.runnable(100), 0);
        s.finished("a");
        assert_eq!(s.runnable(100), 1);
        assert_eq!(s.pick().map(|j| j.message), Some(2));
        assert!(s.pick().is_none());
    }

    #[test]
    fn a_pool_delivers_as_jobs_come_and_reports_unreachable_agents() {
        let dir = std::env::temp_dir().join(format!("qmgr-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut pool = Pool::new(4, dir.clone(), Duration::from_secs(1), tx);
        pool.submit((0..3).map(|n| job("a", 1, n)).collect());
        pool.submit(vec![job("b", 1, 7)]);
        let mut got: Vec<usize> = (0..4).map(|_| rx.recv().unwrap().message).collect();
        got.sort();
        assert_eq!(got, vec![0, 1, 2, 7]);
        pool.close();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
