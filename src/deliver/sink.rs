//! The event sink that feeds a real Open Zaak directly (`zaaklink serve --sink <Open Zaak>`
//! with `OPEN_ZAAK_CLIENT_ID` / `OPEN_ZAAK_SECRET`): each event goes through the same
//! [`Deliverer`] as in the `deliver` Lambda — ZGW JWT, order and once per place, refusals
//! of silent drops, 4xx parked — with an embedded or in-process delivery log.

use async_trait::async_trait;

use super::log::DeliveryLog;
use super::{ConfigError, Deliverer, Outcome};
use crate::cloudevent::OutboxEvent;
use crate::sink::{EventSink, SinkError};

/// The Open Zaak root of a `--sink` URL: `{root}/events` and `{root}` both name it.
pub fn open_zaak_root(sink: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(sink.trim()).map_err(|e| ConfigError::Invalid {
        name: "--sink / ZAAKLINK_SINK",
        reason: format!("{:?}: {e}", crate::secret::redact(sink)),
    })?;
    let s = url.as_str().trim_end_matches('/');
    Ok(s.strip_suffix("/events").unwrap_or(s).to_owned())
}

pub struct OpenZaakSink<L> {
    deliverer: Deliverer<L>,
    /// At most this many onderwerpobjecten are being delivered at once (None: no bound).
    at_once: Option<Bound>,
}

/// The bound of [`OpenZaakSink::at_most`], with publishes of one onderwerpobject (a hint's, a
/// look-up's: a relink or a delete) first: a many-object publish (a burst's batch) waits for
/// its permits behind `bulk`, one object of it at a time in the permits' queue, so one object
/// published meanwhile waits for at most that one; when none is waiting, a burst has every
/// permit.
struct Bound {
    permits: tokio::sync::Semaphore,
    bulk: tokio::sync::Mutex<()>,
}

impl<L: DeliveryLog> OpenZaakSink<L> {
    pub fn new(deliverer: Deliverer<L>) -> Self {
        OpenZaakSink {
            deliverer,
            at_once: None,
        }
    }

    /// Deliver at most `n` onderwerpobjecten' events at once (each object's in order, one
    /// publish at a time: its callers reconcile different objects side by side), so a burst
    /// never has more than `n` POSTs in flight at Open Zaak; a publish of one object goes
    /// ahead of a burst's waiting objects ([`Bound`]).
    pub fn at_most(mut self, n: usize) -> Self {
        self.at_once = Some(Bound {
            permits: tokio::sync::Semaphore::new(n.max(1)),
            bulk: tokio::sync::Mutex::new(()),
        });
        self
    }
}

impl Bound {
    /// A permit for one onderwerpobject's delivery; `single`: the publish is of it alone.
    async fn permit(&self, single: bool) -> tokio::sync::SemaphorePermit<'_> {
        let _turn = if single {
            None
        } else {
            Some(self.bulk.lock().await)
        };
        self.permits
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }
}

impl<L: DeliveryLog> OpenZaakSink<L> {
    /// One onderwerpobject's events, in order, holding one of [`Self::at_most`]'s permits
    /// (`single`: the publish is of this object alone).
    /// `Err((index of the first event not delivered, reason))`.
    async fn deliver_object(&self, events: &[Parsed<'_>], single: bool) -> Result<(), (usize, String)> {
        let _permit = match &self.at_once {
            Some(lanes) => Some(lanes.permit(single).await),
            None => None,
        };
        for (i, e, cloudevent) in events {
            let cloudevent = cloudevent
                .as_ref()
                .map_err(|err| (*i, format!("event {}: {err}", e.id)))?;
            match self.deliverer.deliver(cloudevent).await {
                Ok(Outcome::Parked { reason }) => {
                    // logged with alarm=parked by the deliverer; later events go on
                    tracing::error!(event_id = %e.id, reason = %reason, "event parked; fix the cause and re-run `zaaklink sweep`/resync");
                }
                Ok(_) => {}
                Err(err) => return Err((*i, err.to_string())),
            }
        }
        Ok(())
    }
}

/// An event of a batch: its place in the batch, the event, its CloudEvent parsed once.
type Parsed<'a> = (
    usize,
    &'a OutboxEvent,
    Result<serde_json::Value, serde_json::Error>,
);

/// The events grouped by their onderwerpobject (`data.linkTo`; an event without one is a
/// group of its own), each group in the order given, the groups in the order first seen.
fn by_object(events: &[OutboxEvent]) -> Vec<Vec<Parsed<'_>>> {
    let mut groups: Vec<Vec<Parsed<'_>>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let parsed = serde_json::from_str::<serde_json::Value>(&e.json);
        let key = parsed
            .as_ref()
            .ok()
            .and_then(|v| v.pointer("/data/linkTo")?.as_str().map(str::to_owned));
        let e = (i, e, parsed);
        match key {
            Some(k) => match index.get(&k) {
                Some(g) => groups[*g].push(e),
                None => {
                    index.insert(k, groups.len());
                    groups.push(vec![e]);
                }
            },
            None => groups.push(vec![e]),
        }
    }
    groups
}

type Delivery<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), (usize, String)>> + Send + 'a>>;

/// Every delivery driven at once in this task (a join of a few dozen: a batch's objects).
async fn all<'a>(mut futs: Vec<Delivery<'a>>) -> Vec<Result<(), (usize, String)>> {
    use std::task::Poll;
    let mut out: Vec<Option<Result<(), (usize, String)>>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(r) => *slot = Some(r),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|r| r.expect("every delivery finished"))
        .collect()
}

#[async_trait]
impl<L: DeliveryLog + 'static> EventSink for OpenZaakSink<L> {
    /// Each onderwerpobject's events in order; different objects side by side (at most
    /// [`Self::at_most`] at once), so a batch of a pass or a head poll is a burst delivered
    /// in parallel, not one POST after another; a publish of one object goes ahead of such a
    /// batch's waiting objects ([`Bound`]).
    async fn publish(&self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        let groups = by_object(events);
        let single = groups.len() == 1;
        let results = all(groups
            .iter()
            .map(|g| Box::pin(self.deliver_object(g, single)) as Delivery<'_>)
            .collect())
        .await;
        match results
            .into_iter()
            .filter_map(Result::err)
            .min_by_key(|(i, _)| *i)
        {
            None => Ok(()),
            Some((i, reason)) => Err(SinkError::Rejected {
                sink: "Open Zaak",
                failed: events.len() - i,
                total: events.len(),
                reason,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sink_urls_name_the_root() {
        for (sink, root) in [
            ("https://oz.example/events", "https://oz.example"),
            ("https://oz.example/events/", "https://oz.example"),
            ("https://oz.example", "https://oz.example"),
            ("https://oz.example/base/events", "https://oz.example/base"),
        ] {
            assert_eq!(super::open_zaak_root(sink).unwrap(), root, "{sink}");
        }
    }
}
