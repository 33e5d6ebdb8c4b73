//! The broker resets connections mid-flight, again and again: the uplink may publish twice,
//! but it deletes from the outbox only what the broker acknowledged on that connection.
//!
//! A real Mosquitto cannot be made to reset a connection at will, so this runs the real
//! uplink task in-process against a tiny hand-written MQTT 3.1.1 peer on loopback.
//! Connections alternate: one acknowledges everything and is reset mid-stream (the uplink
//! is writing, so a publish's write fails and rumqttc keeps that publish's `Outgoing`
//! event); the next acknowledges up to its first summary, then falls silent until its
//! reset. Before the fix, the stale event shifted the next connection's pkid→seq mapping
//! by one, and the PUBACK of one summary deleted the record after it, unacknowledged.

use sitewarden::health::Health;
use sitewarden::store::{CommandLog, Kind, NewRecord, Outbox};
use sitewarden::uplink::{
    self, UplinkParams, acks,
    command::{Router, RouterParams, Routes},
};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const RECORDS: u64 = 50_000;
const RESETS: usize = 20;

#[test]
fn a_broker_resetting_connections_mid_flight_gets_only_acked_records_deleted() {
    // The uplink's log, shown when the test fails (or with --nocapture).
    tracing_subscriber::fmt()
        .with_env_filter("sitewarden=debug")
        .with_test_writer()
        .try_init()
        .ok();
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind the peer");
    let port = listener.local_addr().expect("addr").port();
    let text = format!(
        "[gateway]\nsite = \"test\"\nid = \"gw-1\"\ndata_dir = \"{}\"\n\n[uplink]\nbroker = \"mqtt://127.0.0.1:{port}\"\nsummary_interval = \"60s\"\n",
        dir.path().display()
    );
    let site =
        Arc::new(sitewarden::config::load_from(&text, "resets.toml", &[], &[]).expect("config"));
    let outbox = Arc::new(Outbox::open(&dir.path().join("outbox"), 1 << 30).expect("outbox"));
    let recs = (0..RECORDS)
        .map(|i| {
            NewRecord::new(
                Kind::Summary,
                format!("sitewarden/test/gw-1/summary/d{i}"),
                false,
                0,
                |seq| format!(r#"{{"v":1,"seq":{seq}}}"#).into_bytes(),
            )
        })
        .collect();
    outbox.append(recs, &[]).expect("append");

    let health = Arc::new(Health::new(0));
    let wake = Arc::new(tokio::sync::Notify::new());
    let (ack_tx, ack_thread) = acks::spawn(Arc::clone(&outbox), Arc::clone(&health));
    let ack_flush = ack_tx.clone();
    let params = UplinkParams {
        site: Arc::clone(&site),
        password: None,
        transport: rumqttc::Transport::tcp(),
        outbox: Arc::clone(&outbox),
        wake: Arc::clone(&wake),
        health: Arc::clone(&health),
        acks: ack_tx,
        commands: {
            let _in_rt = rt.enter();
            Router::start(RouterParams {
                routes: Routes {
                    site: Arc::clone(&site),
                    writes: Vec::new(),
                },
                outbox: Arc::clone(&outbox),
                wake,
                health,
                log: CommandLog::open(&dir.path().join("commands.log"), 0).expect("command log"),
                key: None,
            })
        },
        started_ms: 0,
        sites: tokio::sync::watch::channel(Arc::clone(&site)).1,
        live: None,
    };
    let stop = CancellationToken::new();
    let (wrong, checked) = rt.block_on(async {
        let task = tokio::spawn(uplink::run(params, stop.clone()));
        let (mut wrong, mut checked) = (Vec::new(), 0);
        let peer = tokio::time::timeout(Duration::from_secs(60), async {
            for i in 0..RESETS {
                let (conn, _) = listener.accept().await.expect("accept");
                // The acks of the last connection were flushed (deleted) after it.
                let before = pending(&outbox);
                let busy = i % 2 == 0;
                let within = Duration::from_millis(if busy { 10 + 3 * i as u64 } else { 50 });
                let acked = serve_then_reset(conn, busy, within).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                // Acks are deleted in batches of up to a second: wait for this
                // connection's to be done before comparing.
                let flush = ack_flush.clone();
                tokio::task::spawn_blocking(move || flush.flush())
                    .await
                    .expect("ack flush");
                let deleted: BTreeSet<u64> =
                    before.difference(&pending(&outbox)).copied().collect();
                if !busy {
                    checked += acked.len();
                    wrong.extend(deleted.difference(&acked).map(|s| (i, *s)));
                }
            }
        });
        peer.await
            .expect("the uplink kept reconnecting within 60 s");
        stop.cancel();
        task.await.expect("uplink task");
        (wrong, checked)
    });
    // The ack thread ends once every sender is gone.
    drop(ack_flush);
    ack_thread.join().expect("ack thread");
    assert!(
        checked >= RESETS / 4,
        "silent connections acknowledged a summary: {checked}"
    );
    assert_eq!(
        wrong,
        Vec::<(usize, u64)>::new(),
        "(connection, seq) deleted without a PUBACK for it on that connection"
    );
}

/// One connection of the peer: CONNACK, then PUBACK for QoS 1 publishes in the order
/// they arrive (as a broker must), then a reset. `busy`: every publish is acknowledged
/// and the reset comes after `within`, mid-stream, while the uplink is writing (so a
/// publish's write fails). Otherwise only publishes up to the first summary are
/// acknowledged and the peer reads on in silence (a broker dying) until the reset.
/// Returns the seq of every summary it acknowledged.
async fn serve_then_reset(mut conn: TcpStream, busy: bool, within: Duration) -> BTreeSet<u64> {
    let mut acked = BTreeSet::new();
    // The time limit is the reset's cue, not a failure.
    let _elapsed = tokio::time::timeout(within, async {
        while let Ok((header, body)) = read_packet(&mut conn).await {
            match header >> 4 {
                // CONNECT: accept, no session present.
                1 => conn.write_all(&[0x20, 2, 0, 0]).await.ok()?,
                // PUBLISH; QoS 0 (health) has no packet id and wants no ack.
                3 => {
                    let Some((topic, pkid, payload)) = publish(header, &body) else {
                        continue;
                    };
                    if pkid == 0 || (!busy && !acked.is_empty()) {
                        continue;
                    }
                    let [hi, lo] = pkid.to_be_bytes();
                    conn.write_all(&[0x40, 2, hi, lo]).await.ok()?;
                    if topic.contains("/summary/") {
                        let seq = serde_json::from_slice::<serde_json::Value>(payload)
                            .ok()
                            .and_then(|v| v["seq"].as_u64())
                            .expect("a summary carries its seq");
                        acked.insert(seq);
                    }
                }
                _ => {}
            }
        }
        Some(())
    })
    .await;
    // A reset, not a close: the uplink's next write fails. (Deprecated because a
    // non-zero linger blocks the dropping thread; a zero linger resets at once.)
    #[allow(deprecated)]
    conn.set_linger(Some(Duration::ZERO)).ok();
    acked
}

/// The seqs pending in the outbox.
fn pending(outbox: &Outbox) -> BTreeSet<u64> {
    outbox
        .others_after(0, usize::MAX)
        .expect("read the outbox")
        .into_iter()
        .map(|r| r.seq)
        .collect()
}

/// One MQTT packet: (first header byte, body).
async fn read_packet(conn: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let header = conn.read_u8().await?;
    let mut len = 0usize;
    for shift in [0, 7, 14, 21] {
        let b = conn.read_u8().await?;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0; len];
    conn.read_exact(&mut body).await?;
    Ok((header, body))
}

/// A PUBLISH body: (topic, packet id, payload); QoS 0 publishes have no packet id.
fn publish(header: u8, body: &[u8]) -> Option<(String, u16, &[u8])> {
    let qos = (header >> 1) & 3;
    let tlen = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let topic = std::str::from_utf8(body.get(2..2 + tlen)?)
        .ok()?
        .to_string();
    let mut at = 2 + tlen;
    let mut pkid = 0;
    if qos > 0 {
        pkid = u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]);
        at += 2;
    }
    Some((topic, pkid, body.get(at..)?))
}
