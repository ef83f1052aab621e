//! Reading the list ahead: the next list page is read while the current page's work runs —
//! one page ahead, never more — so that a pass costs about the list's time, not the list's
//! plus the work's (DESIGN §7, "The list read ahead"). The page read ahead is only a read:
//! it is worked, and checkpointed, after the page before it is done, as if read then.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::link::Onderwerpobject;
use crate::openklant::{OpenKlant, OpenKlantError, Page};

/// A list page's read: the page (None: past the end), or why it failed.
pub(super) type PageRead = Result<Option<Page<Onderwerpobject>>, OpenKlantError>;

/// One read of a list page, as done: what it got, when it was sent, how long it took.
pub(super) struct Read {
    pub got: PageRead,
    /// When the request was sent (RFC 3339, milliseconds, as the store's `updated_at`): the
    /// page shows Open Klant as it was then, or later.
    pub sent: String,
    pub took: Duration,
}

/// A list page being read ahead; dropped = the read abandoned.
pub(super) struct Ahead {
    pub page: u32,
    task: tokio::task::JoinHandle<Read>,
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Ahead {
    /// Start reading list page `page` (pages of `size`) now, beside the caller's work.
    pub fn start(klant: Arc<dyn OpenKlant>, page: u32, size: u32) -> Self {
        let task = tokio::spawn(async move { read(klant.as_ref(), page, size).await });
        Ahead { page, task }
    }

    /// The read, once it has finished.
    pub async fn take(mut self) -> Read {
        match (&mut self.task).await {
            Ok(read) => read,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Read {
                got: Err(OpenKlantError::Unreachable {
                    url: format!("the zaak list, page {}", self.page),
                    reason: e.to_string(),
                }),
                sent: now(),
                took: Duration::ZERO,
            },
        }
    }
}

/// Read list page `page` now.
pub(super) async fn read(klant: &dyn OpenKlant, page: u32, size: u32) -> Read {
    let sent = now();
    let started = Instant::now();
    let got = klant.zaak_onderwerpobjecten(page, size).await;
    Read {
        got,
        sent,
        took: started.elapsed(),
    }
}

/// Now, formatted as the store's `updated_at`.
fn now() -> String {
    timestamp(Utc::now())
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
