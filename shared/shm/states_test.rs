//! The type states of [`Mapping`] on real segments: which handle may reach
//! the lock, and when. The sequence that once broke mutual exclusion
//! (create; open again; lock through the second; re-initialize through the
//! first; lock again) cannot be written with these types (see
//! `Mapping`'s `# Invariants`); these tests pin the runtime half of the
//! argument: a second handle cannot become `Ready` before the first is
//! published, and no handle is `Exclusive` while another exists.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use super::layout::{segment_size, ABI_FINGERPRINT, LAYOUT_VERSION, MAGIC};
use super::segment::Access;
use super::{remove, Exclusive, Mapping, Opened};
use crate::address::SegmentAddress;
use crate::error::Error;

/// A segment address unique to this test, removed when dropped.
struct Scratch {
    address: SegmentAddress,
    dir: Option<tempfile::TempDir>,
}

impl Scratch {
    fn new(kind: &str) -> Scratch {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let n = COUNT.fetch_add(1, Relaxed);
        let pid = std::process::id();
        let (text, dir) = match kind {
            "posix" => (format!("posix:/shmx-states-{pid}-{n}"), None),
            "sysv" => (
                format!("sysv:{}", 0x5300_0000 + (pid % 0x10000) * 64 + n),
                None,
            ),
            _ => {
                let dir = tempfile::tempdir().unwrap();
                (
                    format!("file:{}", dir.path().join("x").display()),
                    Some(dir),
                )
            }
        };
        Scratch {
            address: text.parse().unwrap(),
            dir,
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = remove(&self.address);
        let _ = self.dir.take();
    }
}

/// Mode 0600, the creator's group.
const PRIVATE: Access = Access {
    mode: 0o600,
    group: None,
};

/// What the market writes before publishing, enough for the checks.
fn seeded(address: &SegmentAddress) -> Mapping<Exclusive> {
    let mapping = Mapping::create(address, segment_size(1), PRIVATE).unwrap();
    let header = mapping.header();
    let write = mapping.write();
    header.magic.store(MAGIC, Relaxed, write);
    header.layout_version.store(LAYOUT_VERSION, Relaxed, write);
    header.abi.store(ABI_FINGERPRINT, Relaxed, write);
    header
        .total_size
        .store(segment_size(1) as u64, Relaxed, write);
    mapping
}

fn shared(opened: Opened) -> Mapping<super::mapping::Unverified> {
    match opened {
        Opened::Shared(mapping) => mapping,
        Opened::Sole(_) => panic!("opened as the sole handle while another exists"),
    }
}

#[test]
fn an_unpublished_segment_cannot_be_verified_so_its_lock_is_unreachable() {
    // System V has no lock, so the second open succeeds at once.
    let scratch = Scratch::new("sysv");
    let first = seeded(&scratch.address);
    let second = shared(Mapping::open(&scratch.address).unwrap());
    // Its creator (this process) is alive: still being created.
    match second.verify(&scratch.address) {
        Err(Error::BeingCreated { .. }) => {}
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("an unpublished segment was verified"),
    }
    let ready = first.publish(&scratch.address).unwrap();
    let again = shared(Mapping::open(&scratch.address).unwrap())
        .verify(&scratch.address)
        .unwrap();
    drop(ready.lock(crate::caller::uid()).unwrap());
    drop(again.lock(crate::caller::uid()).unwrap());
}

#[test]
fn publishing_refuses_an_unseeded_header() {
    let scratch = Scratch::new("posix");
    let bare = Mapping::create(&scratch.address, segment_size(1), PRIVATE).unwrap();
    assert!(matches!(
        bare.publish(&scratch.address),
        Err(Error::NotAnExchange { .. })
    ));
}

#[test]
fn a_file_is_exclusive_only_when_no_other_handle_exists() {
    let scratch = Scratch::new("file");
    let ready = seeded(&scratch.address).publish(&scratch.address).unwrap();
    let guard = ready.lock(crate::caller::uid()).unwrap();
    // Another handle while one exists: shared, never allowed to re-init.
    let other = shared(Mapping::open(&scratch.address).unwrap());
    drop(other);
    drop(guard);
    drop(ready);
    // Alone (after a reboot, say): exclusive, and it may publish again.
    match Mapping::open(&scratch.address).unwrap() {
        Opened::Sole(alone) => drop(
            alone
                .publish(&scratch.address)
                .unwrap()
                .lock(crate::caller::uid())
                .unwrap(),
        ),
        Opened::Shared(_) => panic!("the only handle was not exclusive"),
    }
}

#[test]
fn a_posix_object_opened_as_a_file_is_never_exclusive_while_attached() {
    // `posix:/NAME` is also the file `/dev/shm/NAME`: its handles hold the
    // OFD lock, so a `file:` opener cannot take it for a sole opener and
    // re-initialize a mutex held through the POSIX handle.
    let scratch = Scratch::new("posix");
    let SegmentAddress::Posix { name } = &scratch.address else {
        unreachable!()
    };
    let alias: SegmentAddress = format!("file:/dev/shm{name}").parse().unwrap();
    let ready = seeded(&scratch.address).publish(&scratch.address).unwrap();
    let guard = ready.lock(crate::caller::uid()).unwrap();
    let other = shared(Mapping::open(&alias).unwrap());
    assert!(other.verify(&alias).is_ok());
    drop(guard);
}
