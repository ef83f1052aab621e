//! Redrive: move every message of the dead-letter (parked) queue back to the delivery
//! queue, where `deliver` applies the same order and once-only rules to it: a redriven event
//! whose place was applied is skipped; a parked event that is still its object's latest
//! place is tried again; a parked event its object has moved past is skipped as superseded
//! (sending it would undo later transitions) — see DESIGN §4.

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::Client;

/// Moves messages from `from` to `to` (send, then delete), until `from` is empty or `max`
/// were moved. Returns how many were moved.
pub async fn redrive(client: &Client, from: &str, to: &str, max: usize) -> Result<usize, String> {
    let mut moved = 0;
    while moved < max {
        let out = client
            .receive_message()
            .queue_url(from)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| format!("ReceiveMessage from {from}: {}", DisplayErrorContext(&e)))?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let body = m.body.unwrap_or_default();
            client
                .send_message()
                .queue_url(to)
                .message_body(&body)
                .send()
                .await
                .map_err(|e| format!("SendMessage to {to}: {}", DisplayErrorContext(&e)))?;
            if let Some(h) = m.receipt_handle {
                client
                    .delete_message()
                    .queue_url(from)
                    .receipt_handle(h)
                    .send()
                    .await
                    .map_err(|e| format!("DeleteMessage from {from}: {}", DisplayErrorContext(&e)))?;
            }
            moved += 1;
        }
    }
    Ok(moved)
}
