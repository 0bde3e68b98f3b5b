//! The relayer is down for the whole transfer: the leecher opens and closes on chain itself, and the
//! seeder settles on chain itself — once the value is worth the gas, and before the close deadline.

mod common;

use std::time::Duration;

use common::*;
use piecepay_agent::{Event, config::RelayerConfig};

/// A relayer URL nothing listens on.
const DEAD_RELAYER: &str = "http://127.0.0.1:9";

#[test]
fn with_the_relayer_down_the_seeder_settles_on_chain_before_the_deadline() {
    let net = Net::start(1, 1, false);
    let dead = RelayerConfig {
        urls: vec![DEAD_RELAYER.into()],
        timeout_ms: 500,
    };
    let mut policy = payee_policy(PRICE, 4);
    policy.settle.self_settle_min_value = Some(10 * PRICE);
    let seeder = seller(&net, policy, |c| c.relayer = dead.clone());
    let leecher = buyer(&net, payer_policy(1_000 * PRICE), |c| c.relayer = dead);
    let (s, l) = connect(&seeder, &leecher);
    assert_eq!(transfer(&s, &l, 20, Duration::from_secs(60)), 20);
    settle_down(&s, &l, Duration::from_secs(10), || !l.state().payment_due);
    let channel = leecher.report().peers[0].channel_id;

    // Worth the gas: no relayer takes the receipt, so the seeder settles it itself once 10 pieces' worth
    // is unsettled (what comes after, below that value, waits).
    assert!(
        eventually(Duration::from_secs(30), || net.channel(channel).settled
            >= 10 * PRICE),
        "{:?}",
        drain_events(&seeder)
    );
    assert!(matches!(
        net.channel(channel).status,
        piecepay_sdk::chain::ChannelStatus::Open
    ));

    // A little more, below that value; then the leecher leaves and asks to close.
    assert_eq!(transfer(&s, &l, 5, Duration::from_secs(30)), 5);
    settle_down(&s, &l, Duration::from_secs(10), || !l.state().payment_due);
    assert_eq!(leecher.report().spent, 25 * PRICE);
    drop((s, l));
    leecher.close_all().unwrap();
    let closing = net.channel(channel);
    assert!(
        matches!(
            closing.status,
            piecepay_sdk::chain::ChannelStatus::Closing { .. }
        ),
        "{closing:?}"
    );
    // The challenge window ends within the self-settle margin: the seeder settles before it.
    assert!(
        eventually(Duration::from_secs(30), || net.channel(channel).settled
            == 25 * PRICE),
        "{:?}",
        drain_events(&seeder)
    );
    let seen: Vec<_> = std::iter::from_fn(|| seeder.next_event())
        .map(|e| e.event)
        .collect();
    assert!(
        seen.iter()
            .filter(|e| matches!(e, Event::SelfSettled { .. }))
            .count()
            >= 1,
        "{seen:?}"
    );

    // After the window the leecher finalizes; the rest of its deposit returns to its free balance.
    net.advance(3_601);
    assert!(
        net.closes_within(channel, Duration::from_secs(30)),
        "{:?}",
        drain_events(&leecher)
    );
    assert!(eventually(Duration::from_secs(10), || leecher
        .report()
        .peers
        .iter()
        .all(|p| p.state == "closed" && p.locked == 0)));
    assert!(eventually(Duration::from_secs(10), || seeder
        .report()
        .wallet
        .withdrawable
        == Some(25 * PRICE)));
    assert_eq!(
        leecher.report().wallet.withdrawable,
        Some(DEPOSIT - 25 * PRICE),
        "the unspent deposit came back"
    );
}
