//! Epochs: event ids and sequences that stay unique when the links table is restored (pure;
//! DESIGN §5, "Epochs").
//!
//! A point-in-time restore of the links table brings back records with old `version`s and
//! `seq`s. Without more, the transitions written after the restore would repeat event ids and
//! sequence places that were already delivered, and `deliver` would skip them as "already
//! applied". So every store has an **epoch**: the creation time (unix ms) of the data it holds —
//! for DynamoDB the links table's `CreationDateTime` (a restore always creates a new table), for
//! the embedded store the state file's, 0 for the in-memory store. A record remembers the epoch
//! it was written in; event ids are derived from the epoch too; and the first event written for
//! an onderwerpobject in an epoch starts that object's sequence at
//! [`first_seq`]`(epoch)` = `epoch · 2^20 + 1`, a place greater than any place of an older
//! epoch. `deliver` recognises such an **epoch start** ([`is_epoch_start`]) and applies it when
//! everything applied so far is older, instead of waiting for place n − 1.

/// Places per onderwerpobject per epoch (2^20); the sequence of epoch `e` is
/// `e · 2^20 + 1, e · 2^20 + 2, …`.
pub const EPOCH_SHIFT: u32 = 20;
const PLACE_MASK: u64 = (1 << EPOCH_SHIFT) - 1;

/// Where a transition's events come from: the epoch of the store, the record's new version
/// and the place of the first event in the onderwerpobject's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub epoch: u64,
    pub version: u64,
    pub seq: u64,
}

/// The first place of epoch `epoch` (1 for epoch 0: the in-memory store).
pub fn first_seq(epoch: u64) -> u64 {
    (epoch << EPOCH_SHIFT) + 1
}

/// Whether `seq` is the first place of an epoch after epoch 0: `deliver` may apply it once
/// every applied place is older, without waiting for `seq − 1`.
pub fn is_epoch_start(seq: u64) -> bool {
    seq >> EPOCH_SHIFT != 0 && seq & PLACE_MASK == 1
}

/// The last place a record has used, as seen from epoch `current`: the place the next event
/// follows. A record of this epoch continues its sequence; a record from before epochs existed
/// (`epoch` unset but written: same table, older code) continues too; an absent record or one
/// from another epoch (restored) starts this epoch's sequence.
pub fn last_seq(record_epoch: Option<u64>, record_version: u64, record_seq: u64, current: u64) -> u64 {
    match record_epoch {
        Some(e) if e == current => record_seq,
        None if record_version > 0 => record_seq,
        _ => first_seq(current) - 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_2026: u64 = 1_795_000_000_000; // unix ms

    #[test]
    fn the_next_place_per_record_kind() {
        // (record epoch, version, seq, current epoch) -> last place used
        let cases: [(Option<u64>, u64, u64, u64, u64); 7] = [
            (None, 0, 0, 0, 0),                                       // absent, memory store
            (None, 0, 0, NOV_2026, NOV_2026 << 20),                   // absent, a real store
            (Some(NOV_2026), 4, 3, NOV_2026, 3),                      // this epoch: continue
            (None, 4, 3, NOV_2026, 3),                                // before epochs, same table
            (Some(NOV_2026 - 5_000), 4, 3, NOV_2026, NOV_2026 << 20), // restored: new start
            (Some(0), 2, 2, 0, 2),                                    // memory store: continue
            (
                Some(NOV_2026),
                9,
                (NOV_2026 << 20) + 7,
                NOV_2026,
                (NOV_2026 << 20) + 7,
            ),
        ];
        for (epoch, version, seq, current, want) in cases {
            assert_eq!(
                last_seq(epoch, version, seq, current),
                want,
                "{epoch:?} v{version} seq {seq} in epoch {current}"
            );
        }
    }

    #[test]
    fn epoch_starts_are_recognised_and_outrank_older_epochs() {
        assert!(
            !is_epoch_start(first_seq(0)),
            "epoch 0 starts at place 1, an ordinary place"
        );
        assert!(is_epoch_start(first_seq(NOV_2026)));
        assert!(!is_epoch_start(first_seq(NOV_2026) + 1));
        assert!(!is_epoch_start(2));
        assert!(!is_epoch_start(1 << EPOCH_SHIFT));
        // a later epoch's first place is above every place of an earlier one
        assert!(first_seq(NOV_2026 + 1) > first_seq(NOV_2026) + PLACE_MASK - 1);
        assert!(first_seq(NOV_2026) > 1_000_000);
        // and fits: unix ms until the year 2500 shifted by 20 bits stays below u64::MAX
        assert!(16_725_225_600_000u64.leading_zeros() >= EPOCH_SHIFT);
    }
}
