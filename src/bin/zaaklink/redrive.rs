//! `zaaklink redrive`: the delivery dead-letter queue back to the delivery queue.

/// Move at most `max` messages from `from` to `to`.
pub(crate) async fn redrive(from: String, to: String, max: usize) -> Result<(), String> {
    let sdk = zaaklink::aws::sdk_config().await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let moved = zaaklink::deliver::redrive::redrive(&client, &from, &to, max).await?;
    eprintln!("redrive done: {moved} messages moved from {from} to {to}");
    Ok(())
}
