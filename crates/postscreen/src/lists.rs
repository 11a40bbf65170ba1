//! postscreen_dnsbl_sites, asked by a fixed pool of workers, each with a
//! resolver of its own: one question per list and client, the lists of
//! one client asked side by side. A question whose client no longer waits
//! (its greet wait is over) is not asked; when the queue of questions is
//! full, a client's lists are not asked at all, and its score is
//! incomplete.

use crate::settings::Site;
use std::net::IpAddr;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How many questions are asked at once, over all clients, at most (each
/// worker asks one at a time, and waits at most [`QUERY_TIMEOUT`] for it,
/// so that one list that does not answer cannot hold all of them).
const WORKERS_MAX: usize = 32;

/// How long one try of one question may take, once.
pub const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// One question: is `ip` on site `site`? The answer goes to `answer`
/// unless `deadline` has passed.
struct Question {
    key: String,
    site: usize,
    deadline: Instant,
    answer: Sender<(usize, bool)>,
}

/// The worker pool.
pub struct Lists {
    sites: Arc<Vec<Site>>,
    questions: SyncSender<Question>,
}

/// What the lists said about one client so far.
#[derive(Debug, Clone, Default)]
pub struct Score {
    pub score: i64,
    /// The listing site with the greatest weight (for the reply).
    pub worst: String,
    /// Every list answered.
    pub complete: bool,
}

/// The answers for one client, as they come.
pub struct Pending {
    answers: Receiver<(usize, bool)>,
    asked: usize,
    sites: Arc<Vec<Site>>,
    answered: usize,
    score: Score,
    worst_weight: i64,
}

impl Lists {
    /// Starts the workers with their resolvers (made before the chroot);
    /// at most `queue` questions wait.
    pub fn start(sites: Vec<Site>, resolvers: Vec<dns::Resolver>, queue: usize) -> Lists {
        let sites = Arc::new(sites);
        let (tx, rx) = mpsc::sync_channel::<Question>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for resolver in resolvers {
            let (rx, sites) = (Arc::clone(&rx), Arc::clone(&sites));
            let spawned = std::thread::Builder::new()
                .name("dnsbl".into())
                .spawn(move || work(&resolver, &rx, &sites));
            if let Err(e) = spawned {
                maillog::warning!("postscreen_dnsbl_sites: cannot start a worker: {e}");
            }
        }
        Lists {
            sites,
            questions: tx,
        }
    }

    /// How many resolvers [`Lists::start`] wants for `sites` lists:
    /// enough for eight clients' questions at once.
    pub fn workers(sites: usize) -> usize {
        (sites * 8).clamp(4, WORKERS_MAX)
    }

    /// Asks every list about `ip`; answers after `deadline` are not
    /// waited for.
    pub fn ask(&self, ip: IpAddr, deadline: Instant) -> Pending {
        let (tx, rx) = mpsc::channel();
        let key = dns::list::reversed(ip);
        let mut asked = 0;
        for site in 0..self.sites.len() {
            let q = Question {
                key: key.clone(),
                site,
                deadline,
                answer: tx.clone(),
            };
            match self.questions.try_send(q) {
                Ok(()) => asked += 1,
                Err(TrySendError::Full(_)) => {
                    maillog::warning!(
                        "postscreen_dnsbl_sites: too many questions waiting; {ip} not asked"
                    );
                    break;
                }
                Err(TrySendError::Disconnected(_)) => break,
            }
        }
        Pending {
            answers: rx,
            asked,
            sites: Arc::clone(&self.sites),
            answered: 0,
            score: Score::default(),
            worst_weight: i64::MIN,
        }
    }
}

impl Pending {
    /// Takes the answers that come by `until`; true once every list has
    /// answered.
    pub fn gather(&mut self, until: Instant) -> bool {
        while self.answered < self.asked {
            let left = until.saturating_duration_since(Instant::now());
            let Ok((site, listed)) = self.answers.recv_timeout(left) else {
                break;
            };
            self.answered += 1;
            let Some(site) = self.sites.get(site) else {
                continue;
            };
            if listed {
                self.score.score += site.weight;
                if site.weight > self.worst_weight {
                    self.worst_weight = site.weight;
                    self.score.worst = site.entry.zone.clone();
                }
            }
        }
        self.score.complete = self.answered == self.sites.len();
        self.score.complete
    }

    /// The score from the answers gathered.
    pub fn score(&self) -> &Score {
        &self.score
    }
}

/// A worker: takes questions until postscreen ends.
fn work(resolver: &dns::Resolver, questions: &Mutex<Receiver<Question>>, sites: &[Site]) {
    loop {
        let q = {
            let rx = questions.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(q) => q,
                Err(_) => return,
            }
        };
        if Instant::now() >= q.deadline {
            continue;
        }
        let Some(site) = sites.get(q.site) else {
            continue;
        };
        let name = site.entry.query(&q.key);
        let listed = match resolver.list_entry(&name) {
            Ok(Some(answer)) => site.entry.listed(&answer),
            Ok(None) => false,
            Err(e) => {
                maillog::warning!("dnsblog_query: lookup error for DNS query {name}: {e}");
                continue;
            }
        };
        // The client may have gone: then nobody reads this.
        let _ = q.answer.send((q.site, listed));
    }
}
