//! Power cuts, simulated through redb's `StorageBackend`: writes stay volatile until
//! `sync_data`; when the power goes, the disk keeps its last synced image plus a random
//! half of the 512-byte sectors written since (torn and reordered writes, as a card with
//! a volatile cache does). Every append that returned Ok must survive, byte for byte;
//! every ack that returned Ok must stay acked; an append cut mid-commit is all or nothing.
//! A negative control with non-durable commits must see loss, proving the harness can.

use super::Rng;
use crate::store::{Kind, NewRecord, Outbox};
use redb::StorageBackend;

/// What redb 4 backends return (without its `experimental-api-5` feature).
type BackendIoError = std::io::Error;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

const SECTOR: u64 = 512;

#[derive(Debug)]
pub(super) struct Disk {
    durable: Vec<u8>,
    volatile: Vec<u8>,
    /// Sectors written since the last sync.
    dirty: BTreeSet<u64>,
    /// Writes, resizes and syncs left before the power goes.
    fuse: Option<u64>,
    /// The image the disk came back with, once the power went.
    cut: Option<Vec<u8>>,
    rng: Rng,
    /// Writes past this size fail with ENOSPC.
    pub(super) capacity: u64,
}

impl Disk {
    pub(super) fn new(image: Vec<u8>, seed: u64) -> Arc<Mutex<Disk>> {
        Arc::new(Mutex::new(Disk {
            durable: image.clone(),
            volatile: image,
            dirty: BTreeSet::new(),
            fuse: None,
            cut: None,
            rng: Rng::new(seed),
            capacity: u64::MAX,
        }))
    }

    /// Counts one operation against the fuse; cuts the power when it blows.
    fn tick(&mut self) -> Result<(), BackendIoError> {
        if self.cut.is_some() {
            return Err(dead());
        }
        if let Some(f) = self.fuse.as_mut() {
            *f -= 1;
            if *f == 0 {
                self.power_cut();
                return Err(dead());
            }
        }
        Ok(())
    }

    fn power_cut(&mut self) {
        let len = if self.rng.chance(0.5) {
            self.durable.len()
        } else {
            self.volatile.len()
        };
        let mut image = self.durable.clone();
        image.resize(len, 0);
        for &s in &self.dirty {
            if self.rng.chance(0.5) {
                let from = (s * SECTOR) as usize;
                let to = (from + SECTOR as usize).min(len).min(self.volatile.len());
                if from < to {
                    image[from..to].copy_from_slice(&self.volatile[from..to]);
                }
            }
        }
        self.cut = Some(image);
    }

    fn mark(&mut self, from: u64, to: u64) {
        for s in from / SECTOR..to.div_ceil(SECTOR) {
            self.dirty.insert(s);
        }
    }
}

fn full() -> BackendIoError {
    std::io::Error::from_raw_os_error(libc::ENOSPC)
}

fn dead() -> BackendIoError {
    std::io::Error::other("power cut")
}

#[derive(Debug, Clone)]
struct SimBackend(Arc<Mutex<Disk>>);

impl SimBackend {
    fn disk(&self) -> MutexGuard<'_, Disk> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl StorageBackend for SimBackend {
    fn len(&self) -> Result<u64, BackendIoError> {
        Ok(self.disk().volatile.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendIoError> {
        let d = self.disk();
        let end = offset as usize + out.len();
        if d.cut.is_some() || end > d.volatile.len() {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
        out.copy_from_slice(&d.volatile[offset as usize..end]);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), BackendIoError> {
        let mut d = self.disk();
        d.tick()?;
        if len > d.capacity {
            return Err(full());
        }
        let old = d.volatile.len() as u64;
        d.volatile.resize(len as usize, 0);
        d.mark(old.min(len), old.max(len));
        Ok(())
    }

    fn sync_data(&self) -> Result<(), BackendIoError> {
        let mut d = self.disk();
        d.tick()?;
        let len = d.volatile.len();
        let dirty = std::mem::take(&mut d.dirty);
        let Disk {
            durable, volatile, ..
        } = &mut *d;
        durable.resize(len, 0);
        for s in dirty {
            let from = (s * SECTOR) as usize;
            let to = (from + SECTOR as usize).min(len);
            if from < to {
                durable[from..to].copy_from_slice(&volatile[from..to]);
            }
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendIoError> {
        let mut d = self.disk();
        d.tick()?;
        let end = offset as usize + data.len();
        if end as u64 > d.capacity {
            return Err(full());
        }
        if end > d.volatile.len() {
            d.volatile.resize(end, 0);
        }
        d.volatile[offset as usize..end].copy_from_slice(data);
        d.mark(offset, end as u64);
        Ok(())
    }
}

fn open(disk: &Arc<Mutex<Disk>>, durable: bool) -> Result<Outbox, crate::store::StoreError> {
    open_sized(disk, durable, 1 << 30)
}

/// An outbox of `max_bytes` on the simulated disk.
pub(super) fn open_sized(
    disk: &Arc<Mutex<Disk>>,
    durable: bool,
    max_bytes: u64,
) -> Result<Outbox, crate::store::StoreError> {
    let disk = Arc::clone(disk);
    Outbox::open_with(
        Box::new(move |b| b.create_with_backend(SimBackend(Arc::clone(&disk)))),
        max_bytes,
        durable,
    )
}

/// Payloads are a function of the seq, so any surviving record can be checked.
fn payload(seq: u64) -> Vec<u8> {
    let pad = "p".repeat((seq % 97) as usize);
    format!("{{\"v\":1,\"seq\":{seq},\"pad\":\"{pad}\"}}").into_bytes()
}

fn batch(rng: &mut Rng) -> Vec<NewRecord> {
    (0..1 + rng.below(20))
        .map(|_| {
            let kind = if rng.chance(0.2) {
                Kind::Alarm
            } else {
                Kind::Summary
            };
            NewRecord::new(kind, "p/summary/dev", false, 0, payload)
        })
        .collect()
}

#[derive(Debug, Default)]
struct Report {
    checks: u64,
    lost: u64,
    corrupt: u64,
    open_failures: u64,
}

/// Runs `rounds` power cuts on one simulated disk and reports what the checks found.
fn run(seed: u64, rounds: usize, durable: bool) -> Report {
    let mut rng = Rng::new(seed);
    let mut disk = Disk::new(Vec::new(), seed);
    let mut report = Report::default();
    // What must be on disk: seq → payload of every committed, unacked record.
    let mut model: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut next_seq = 1;
    for _ in 0..rounds {
        let ob = match open(&disk, durable) {
            Ok(ob) => ob,
            Err(_) => {
                // Only the negative control may get here: start over on a blank disk.
                report.open_failures += 1;
                report.lost += model.len() as u64;
                model.clear();
                disk = Disk::new(Vec::new(), rng.next_u64());
                continue;
            }
        };
        disk.lock().unwrap().fuse = Some(1 + rng.below(300));
        // Work until the power goes; remember what was in flight when it did.
        let mut maybe_added: Vec<u64> = Vec::new();
        let mut maybe_acked: Vec<u64> = Vec::new();
        loop {
            // The power also goes between operations, not only inside a write.
            if rng.chance(0.05) {
                disk.lock().unwrap().power_cut();
                break;
            }
            if rng.chance(0.7) || model.is_empty() {
                let items = batch(&mut rng);
                let n = items.len() as u64;
                match ob.append(items, &[]) {
                    Ok(seqs) => {
                        assert_eq!(seqs, (next_seq..next_seq + n).collect::<Vec<_>>());
                        for s in seqs {
                            model.insert(s, payload(s));
                        }
                        next_seq += n;
                    }
                    Err(_) => {
                        maybe_added = (next_seq..next_seq + n).collect();
                        break;
                    }
                }
            } else {
                let acks: Vec<u64> = model.keys().copied().filter(|_| rng.chance(0.4)).collect();
                match ob.ack(&acks) {
                    Ok(()) => acks.iter().for_each(|s| {
                        model.remove(s);
                    }),
                    Err(_) => {
                        maybe_acked = acks;
                        break;
                    }
                }
            }
        }
        drop(ob);
        let image = disk.lock().unwrap().cut.take().expect("the power went");
        disk = Disk::new(image, rng.next_u64());
        let ob = match open(&disk, durable) {
            Ok(ob) => ob,
            Err(e) => {
                assert!(!durable, "reopen after a power cut failed: {e}");
                report.open_failures += 1;
                report.lost += model.len() as u64;
                model.clear();
                disk = Disk::new(Vec::new(), rng.next_u64());
                continue;
            }
        };
        let mut found: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for r in ob
            .alarms_after(0, usize::MAX)
            .unwrap()
            .into_iter()
            .chain(ob.others_after(0, usize::MAX).unwrap())
        {
            found.insert(r.seq, r.payload);
        }
        for (seq, want) in &model {
            report.checks += 1;
            match found.get(seq) {
                None if maybe_acked.contains(seq) => {}
                None => report.lost += 1,
                Some(p) if p != want => report.corrupt += 1,
                Some(_) => {}
            }
        }
        for s in &maybe_acked {
            if !found.contains_key(s) {
                model.remove(s);
            }
        }
        // An append cut mid-commit is all or nothing.
        let landed = maybe_added.iter().filter(|s| found.contains_key(s)).count();
        if durable {
            assert!(
                landed == 0 || landed == maybe_added.len(),
                "torn append: {landed} of {}",
                maybe_added.len()
            );
        }
        for s in &maybe_added {
            if let Some(p) = found.get(s) {
                report.checks += 1;
                report.corrupt += u64::from(*p != payload(*s));
                model.insert(*s, p.clone());
            }
        }
        // Nothing appears that was never appended.
        let unknown = found.keys().filter(|s| !model.contains_key(s)).count();
        report.corrupt += unknown as u64;
        // Seqs never go back: the next one is above everything ever returned.
        let stats = ob.stats().unwrap();
        if durable {
            assert!(
                stats.next_seq >= next_seq,
                "seq went back: {} < {next_seq}",
                stats.next_seq
            );
        }
        next_seq = stats.next_seq;
        model.retain(|s, _| found.contains_key(s));
    }
    report
}

#[test]
fn committed_records_survive_power_cuts() {
    let started = std::time::Instant::now();
    let mut total = Report::default();
    for seed in 1..=4 {
        let r = run(seed, 25, true);
        assert_eq!(
            (r.lost, r.corrupt, r.open_failures),
            (0, 0, 0),
            "seed {seed}: {r:?}"
        );
        total.checks += r.checks;
    }
    println!(
        "power cuts: 100 rounds, {} record checks, 0 lost, 0 corrupt in {:?}",
        total.checks,
        started.elapsed()
    );
    assert!(
        total.checks > 1000,
        "the harness checked too little: {total:?}"
    );
}

#[test]
fn non_durable_commits_lose_records_and_the_harness_sees_it() {
    let r = run(99, 20, false);
    println!("negative control: {r:?}");
    assert!(
        r.lost > 0,
        "the harness failed to notice non-durable commits: {r:?}"
    );
}
