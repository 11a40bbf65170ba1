//! The daemon around [`crate::deliver`]: one delivery request per client
//! of `private/smtp` (or `private/lmtp`), handed to the server skeleton.

use crate::deliver::{handle, Protocol, Settings};
use server::{Client, Context, Service, SingleService};

struct Agent {
    proto: Protocol,
    settings: Option<Settings>,
}

impl Service for Agent {
    /// Before the privilege drop: the password tables are often readable
    /// by root only, and resolv.conf may be outside a chroot.
    fn pre_jail(&mut self, ctx: &Context) -> Result<(), server::HookError> {
        self.settings = Some(Settings::for_protocol(
            &ctx.config,
            ctx.queue_dir(),
            self.proto,
        ));
        Ok(())
    }
}

impl SingleService for Agent {
    fn serve(&mut self, _ctx: &Context, client: Client) {
        let Some(s) = &self.settings else { return };
        server::serve_delivery(client, |req| handle(s, req));
    }
}

/// Runs the agent under the single-client skeleton.
pub fn run(program: &'static str, proto: Protocol) {
    server::single_server(
        program,
        Agent {
            proto,
            settings: None,
        },
    )
}
