//! The queue manager's parts: routing ([`resolve`]), delivery through the
//! agents ([`dispatch`]) and what happens to each message ([`manager`]).

pub mod dispatch;
pub mod manager;
pub mod resolve;
