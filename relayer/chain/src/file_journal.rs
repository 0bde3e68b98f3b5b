//! [`FileJournal`]: a durable [`TxJournal`] in one append-only JSON-lines file, fsynced on every write.
//!
//! Each line is a job's whole record after a change; on open the last line of each id wins. A crash
//! mid-write leaves at most a torn last line (no newline), which open cuts off: its write never returned,
//! so the submitter never acted on it. Meant for tests (the kill -9 tests run a submitter on it) and small
//! single-process tools; it fsyncs on the calling thread and never compacts.

use std::{
    collections::BTreeMap,
    fs::{File, OpenOptions},
    io::{Read, Write},
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard},
};

use alloy::primitives::Bytes;

use crate::{Error, Result, TxId, TxJournal, TxRecord, journal::JournalOp, memory::enqueue_into};

#[derive(Debug)]
struct Inner {
    file: File,
    records: BTreeMap<TxId, TxRecord>,
}

/// A [`TxJournal`] in a JSON-lines file.
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    inner: Mutex<Inner>,
}

impl FileJournal {
    /// Opens (or creates) the journal at `path` and replays it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(Error::store)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(Error::store)?;
        // A torn final write (no newline) was never acknowledged: cut it off, so the next record starts
        // on a line of its own.
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len() {
            file.set_len(complete as u64).map_err(Error::store)?;
            file.sync_data().map_err(Error::store)?;
        }
        let mut records = BTreeMap::new();
        for line in bytes[..complete].split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            let record: TxRecord = serde_json::from_slice(line).map_err(Error::store)?;
            records.insert(record.id, record);
        }
        Ok(Self {
            path,
            inner: Mutex::new(Inner { file, records }),
        })
    }

    /// Where the journal lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every job, final ones included, in id order.
    pub fn all(&self) -> Vec<TxRecord> {
        self.lock().records.values().cloned().collect()
    }

    /// One job.
    pub fn get(&self, id: TxId) -> Option<TxRecord> {
        self.lock().records.get(&id).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn write(&mut self, record: &TxRecord) -> Result<()> {
        let mut line = serde_json::to_vec(record).map_err(Error::store)?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(Error::store)?;
        self.file.sync_data().map_err(Error::store)
    }
}

impl TxJournal for FileJournal {
    async fn enqueue(&self, id: TxId, calldata: Bytes) -> Result<()> {
        let mut inner = self.lock();
        let mut records = std::mem::take(&mut inner.records);
        let result = enqueue_into(&mut records, id, calldata);
        let written = match result {
            Ok(true) => {
                let record = records[&id].clone();
                inner.write(&record).inspect_err(|_| {
                    records.remove(&id);
                })
            }
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        inner.records = records;
        written
    }

    async fn unfinished(&self) -> Result<Vec<TxRecord>> {
        Ok(self
            .lock()
            .records
            .values()
            .filter(|r| !r.state.is_final())
            .cloned()
            .collect())
    }

    async fn apply(&self, id: TxId, op: JournalOp) -> Result<()> {
        let mut inner = self.lock();
        let record = inner.records.get(&id).ok_or(Error::UnknownTx(id.0))?;
        let Some(state) = record.state.after(id, &op)? else {
            return Ok(());
        };
        let record = TxRecord {
            state,
            ..record.clone()
        };
        inner.write(&record)?;
        inner.records.insert(id, record);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::B256;

    use super::*;
    use crate::{
        BlockRef, Fees, TxState,
        journal::{Inclusion, SignedAttempt, TxIntent},
    };

    fn temp(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "piecepay-chain-{name}-{}.jsonl",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        path
    }

    fn intent() -> TxIntent {
        TxIntent {
            nonce: 4,
            gas_limit: 90_000,
            fees: Fees::Eip1559 {
                max_fee_per_gas: u128::MAX,
                max_priority_fee_per_gas: 1,
            },
        }
    }

    #[tokio::test]
    async fn replays_the_last_record_of_each_job_and_ignores_a_torn_tail() {
        let path = temp("replay");
        let attempt = SignedAttempt {
            hash: B256::repeat_byte(1),
            raw: vec![1, 2].into(),
            fees: intent().fees,
            cancel: false,
        };
        {
            let journal = FileJournal::open(&path).unwrap();
            journal.enqueue(TxId(1), vec![0xaa].into()).await.unwrap();
            journal.enqueue(TxId(2), vec![0xbb].into()).await.unwrap();
            journal
                .apply(TxId(1), JournalOp::RecordIntent(intent()))
                .await
                .unwrap();
            journal
                .apply(TxId(1), JournalOp::RecordSigned(attempt.clone()))
                .await
                .unwrap();
            journal
                .apply(TxId(1), JournalOp::RecordSigned(attempt.clone()))
                .await
                .unwrap(); // no-op, no line
            journal
                .apply(TxId(2), JournalOp::MarkFailed("reverted".into()))
                .await
                .unwrap();
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, 5);
        // A crash in the middle of the next write.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"id":1,"calldata":"0xaa","state":{"sta"#)
            .unwrap();
        drop(file);

        let journal = FileJournal::open(&path).unwrap();
        assert_eq!(
            journal.get(TxId(1)).unwrap().state,
            TxState::Pending {
                intent: intent(),
                attempts: vec![attempt.clone()]
            }
        );
        assert_eq!(journal.get(TxId(2)).unwrap().state.name(), "failed");
        assert_eq!(journal.unfinished().await.unwrap().len(), 1);
        // Writes continue on a fresh line after the torn one.
        let inclusion = Inclusion {
            tx_hash: attempt.hash,
            block: BlockRef::new(9, B256::repeat_byte(9)),
            success: true,
            gas_used: 50_000,
            cancel: false,
        };
        journal
            .apply(TxId(1), JournalOp::MarkIncluded(inclusion))
            .await
            .unwrap();
        drop(journal);
        let journal = FileJournal::open(&path).unwrap();
        assert_eq!(journal.get(TxId(1)).unwrap().state.name(), "included");
        assert_eq!(journal.all().len(), 2);
        assert_eq!(journal.path(), path.as_path());
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_journal_written_before_legacy_fees_reads_as_eip1559() {
        let path = temp("before-legacy");
        // A pending job as the version without legacy transactions wrote it (fees without a type).
        let fees = r#"{"max_fee_per_gas":"20","max_priority_fee_per_gas":"2"}"#;
        let old = format!(
            r#"{{"id":3,"calldata":"0xaa","state":{{"state":"pending","intent":{{"nonce":0,"gas_limit":21000,"fees":{fees}}},"attempts":[{{"hash":"0x{}","raw":"0x01","fees":{fees},"cancel":false}}]}}}}"#,
            "11".repeat(32)
        );
        std::fs::write(&path, format!("{old}\n")).unwrap();
        let journal = FileJournal::open(&path).unwrap();
        let TxState::Pending { intent, attempts } = journal.get(TxId(3)).unwrap().state else {
            panic!("not pending");
        };
        let want = Fees::Eip1559 {
            max_fee_per_gas: 20,
            max_priority_fee_per_gas: 2,
        };
        assert_eq!((intent.fees, attempts[0].fees), (want, want));
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_corrupt_line_in_the_middle_is_an_error() {
        let path = temp("corrupt");
        std::fs::write(&path, "not json\n{}\n").unwrap();
        assert_eq!(FileJournal::open(&path).unwrap_err().code(), "store");
        let _ = std::fs::remove_file(&path);
    }
}
