//! The queue manager's parts: routing ([`resolve`]), delivery through the
//! agents ([`dispatch`]) with per-destination concurrency
//! ([`feedback`]), and what happens to each message ([`manager`]).

pub mod dispatch;
pub mod feedback;
pub mod manager;
pub mod resolve;
