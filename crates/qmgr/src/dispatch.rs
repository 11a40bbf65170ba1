//! Delivery jobs run by a pool of threads, each job one connection to a
//! delivery agent's socket `private/<transport>` (the master starts agents
//! as connections come, up to their maxproc). At most the destination's
//! concurrency limit of jobs run at once for one (transport, destination).

use ipc::delivery::{Outcome, RcptResult, Request, Response};
use ipc::frame::{read_frame, write_frame};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
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
        })
        .collect()
}

/// Talks to one agent.
fn deliver(socket: &PathBuf, req: &Request, timeout: Duration) -> Result<Response, String> {
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
struct Shared {
    queues: HashMap<String, VecDeque<Job>>,
    /// Destinations in the order their first job came, for fairness.
    order: Vec<String>,
    running: HashMap<String, usize>,
    waiting: usize,
}

impl Shared {
    /// The next job whose destination is under its concurrency limit. The
    /// search is over destinations, not jobs: thousands of messages to one
    /// mailbox cost one look-up each, not a scan of every waiting job.
    fn pick(&mut self) -> Option<Job> {
        for dest in &self.order {
            let Some(q) = self.queues.get_mut(dest) else {
                continue;
            };
            let Some(front) = q.front() else { continue };
            let running = self.running.get(dest).copied().unwrap_or(0);
            if running < front.limit.max(1) {
                let job = q.pop_front()?;
                *self.running.entry(dest.clone()).or_insert(0) += 1;
                self.waiting -= 1;
                return Some(job);
            }
        }
        None
    }
}

/// Runs `jobs` on up to `threads` threads, sending each result to `done`;
/// returns when every job has finished.
pub fn run(
    jobs: Vec<Job>,
    threads: usize,
    private_dir: PathBuf,
    timeout: Duration,
    done: Sender<Done>,
) {
    let total = jobs.len();
    if total == 0 {
        return;
    }
    let mut shared = Shared {
        queues: HashMap::new(),
        order: Vec::new(),
        running: HashMap::new(),
        waiting: total,
    };
    for job in jobs {
        if !shared.queues.contains_key(&job.destination) {
            shared.order.push(job.destination.clone());
        }
        shared
            .queues
            .entry(job.destination.clone())
            .or_default()
            .push_back(job);
    }
    let shared = Arc::new((Mutex::new(shared), Condvar::new()));
    let mut handles = Vec::new();
    for _ in 0..threads.clamp(1, total) {
        let shared = Arc::clone(&shared);
        let done = done.clone();
        let private_dir = private_dir.clone();
        handles.push(std::thread::spawn(move || loop {
            let (lock, cvar) = &*shared;
            let job = {
                let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if st.waiting == 0 {
                        return;
                    }
                    match st.pick() {
                        Some(job) => break job,
                        None => st = cvar.wait(st).unwrap_or_else(|e| e.into_inner()),
                    }
                }
            };
            let socket = private_dir.join(&job.transport);
            let (results, agent_logged) = match deliver(&socket, &job.request, timeout) {
                Ok(r) => (r.results, true),
                Err(e) => {
                    let reason = if e.starts_with("connect ") {
                        maillog::warning!("{e}: mail transport unavailable");
                        "mail transport unavailable".to_string()
                    } else {
                        maillog::warning!(
                            "{}: transport {}: {e}",
                            job.request.queue_id,
                            job.transport
                        );
                        "unknown mail transport error".to_string()
                    };
                    (unavailable(job.recipients.len(), &reason), false)
                }
            };
            {
                let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(n) = st.running.get_mut(&job.destination) {
                    *n = n.saturating_sub(1);
                }
                cvar.notify_all();
            }
            let _ = done.send(Done {
                message: job.message,
                recipients: job.recipients,
                results,
                agent_logged,
            });
        }));
    }
    drop(done);
    for h in handles {
        let _ = h.join();
    }
}
