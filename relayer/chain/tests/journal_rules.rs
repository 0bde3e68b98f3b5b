//! The provided journals keep the rules of every `TxJournal` (one suite, in the test support crate, that
//! the relayer's database runs too).

use piecepay_relayer_chain::{FileJournal, MemoryJournal};
use piecepay_test_support::{journal::rules, temp_dir};

#[tokio::test]
async fn the_memory_journal_keeps_the_rules() {
    let journal = MemoryJournal::new();
    rules(&journal).await;
    assert_eq!(journal.all().len(), 2);
}

#[tokio::test]
async fn the_file_journal_keeps_the_rules_and_replays_them() {
    let dir = temp_dir();
    let path = dir.path().join("journal.jsonl");
    let journal = FileJournal::open(&path).unwrap();
    rules(&journal).await;
    // What it wrote replays to what it held.
    let reopened = FileJournal::open(&path).unwrap();
    assert_eq!(reopened.all(), journal.all());
    assert_eq!(reopened.all().len(), 2);
}
