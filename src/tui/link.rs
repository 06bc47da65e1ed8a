//! Where the UI's fleet lives when it is not in this process: the server `fleetdeck
//! attach` reads, and whether its stream is live. The header shows it.

use std::time::SystemTime;

/// The state of the stream from an attached server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Connecting for the first time.
    Connecting,
    /// The stream is live.
    Live,
    /// The stream was lost at `since`; a new one is being tried (the fleet shown is as
    /// it was then).
    Lost { since: SystemTime, error: String },
}

/// The attached server and its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The server's URL, as given.
    pub server: String,
    pub state: LinkState,
}

impl Link {
    pub fn is_live(&self) -> bool {
        self.state == LinkState::Live
    }
}
